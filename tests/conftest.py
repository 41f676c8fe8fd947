"""Shared fixtures. Tests marked ``slurm`` need the local single-node Slurm from
``deploy/local-slurm``; they skip without it, except under ``CI=true``, where a missing
Slurm is a failure (CI must prove the real thing)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _slurm_up() -> str | None:
    """None when a controller answers and a node is usable, else why not."""
    if shutil.which("sinfo") is None:
        return "Slurm is not installed (run 'make slurm-up' as root)"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out: slurmctld is not answering"
    states = out.stdout.split()
    if out.returncode != 0 or not any(
        s.rstrip("*~#") in {"idle", "mixed", "allocated"} for s in states
    ):
        return f"no usable Slurm node (sinfo: {out.stdout.strip() or out.stderr.strip()})"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    problem = _slurm_up()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the local Slurm: {problem}")
    pytest.skip(problem)


@pytest.fixture
def repo_root() -> Path:
    return ROOT

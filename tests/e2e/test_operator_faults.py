"""Operator-level faults on the local executor: a second operator on the same state
directory refuses to start, and an unwritable status directory is reported while the
workers keep running."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.operator import ROOT, Operator, demo_deployment

pytestmark = pytest.mark.slow


def test_a_second_operator_on_the_same_state_dir_refuses_to_start(tmp_path: Path) -> None:
    op = Operator(tmp_path)
    op.write("demo", demo_deployment(replicas=1))
    op.start()
    try:
        op.wait(lambda: op.ready("demo", 1), what="ready")
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "sgorch",
                "run",
                "--slurm",
                "local",
                "--resources",
                str(op.resources),
                "--status-dir",
                str(tmp_path / "status2"),
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert second.returncode == 2
        assert "another sgorch operator" in second.stderr and "--state-dir" in second.stderr
    finally:
        (op.resources / "demo.yaml").unlink()
        op.wait(lambda: op.status("demo") is None, what="cleanup")
        assert op.stop() == 0


def test_an_unwritable_status_dir_is_reported_and_jobs_keep_running(tmp_path: Path) -> None:
    op = Operator(tmp_path)
    op.write("demo", demo_deployment(replicas=1))
    op.start()
    try:
        op.wait(lambda: op.ready("demo", 1), what="ready")
        deployments = op.status_dir / "deployments"
        shutil.rmtree(deployments)
        deployments.write_text("not a directory")  # every status write now fails
        op.write("demo", demo_deployment(replicas=2))
        op.wait(lambda: "cannot write" in op.log(), what="the write error in the log")
        deployments.unlink()
        op.wait(lambda: op.ready("demo", 2), what="status written again, scaled to 2")
    finally:
        (op.resources / "demo.yaml").unlink()
        op.wait(lambda: op.status("demo") is None, what="cleanup")
        assert op.stop() == 0

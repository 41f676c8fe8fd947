"""deploy/local-slurm brings up a single-node Slurm that runs jobs, idempotently."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

UP = Path(__file__).resolve().parents[2] / "deploy" / "local-slurm" / "up.sh"

pytestmark = pytest.mark.usefixtures("slurm_cluster")


def test_up_check_reports_the_running_cluster() -> None:
    assert subprocess.run([str(UP), "--check"], capture_output=True, timeout=60).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="up.sh changes the system: needs root")
def test_up_is_idempotent_and_fast_when_already_up() -> None:
    started = time.monotonic()
    result = subprocess.run([str(UP)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "local-slurm:" in result.stdout
    assert time.monotonic() - started < 60


def test_the_node_runs_a_job_to_completion(tmp_path: Path) -> None:
    out = tmp_path / "hello.out"
    submit = subprocess.run(
        [
            "sbatch",
            "--parsable",
            f"--output={out}",
            "--job-name=sgorch-up-test",
            "--wrap",
            "echo hello from $SLURM_JOB_ID",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    job_id = submit.stdout.strip().split(";")[0]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if out.exists() and f"hello from {job_id}" in out.read_text():
                return
            time.sleep(0.5)
        pytest.fail(f"job {job_id} did not run within 90 s")
    finally:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)

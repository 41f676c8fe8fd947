"""The operator side of the pyslurm client, without a worker: the submit description it
builds (checked against the contract fake's JobSubmitDescription), how it reads job
records, and that importing it never imports pyslurm."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import fakes.pyslurm
from sgorch.errors import SlurmRejected
from sgorch.slurm import JobRequest, JobState, SbatchOptions
from sgorch.slurm.pyslurm_client import parse_job_record, render_submit_description

ENVIRON = {"PATH": "/usr/bin:/bin", "HOME": "/root", "SLURM_JWT": "operator-secret"}


def make_request(**options: Any) -> JobRequest:
    return JobRequest(
        name="tei-embed-1",
        script="#!/bin/bash\nexec text-embeddings-router\n",
        comment="sgorch:v1;instance=op;deployment=embed;slot=1;hash=0123abcd",
        options=SbatchOptions(**options),
        working_dir="/var/log/sgorch",
        stdout_path="/var/log/sgorch/%x-%j.out",
        environment={"HF_TOKEN": "hf_secret"},
    )


def test_describes_every_scheduling_option_with_pyslurm_25_11_names() -> None:
    description = render_submit_description(
        make_request(
            partition="gpu",
            account="proj",
            qos="high",
            reservation="maint",
            gres="gpu:1",
            constraint="a100",
            exclude=("gpu7", "gpu8"),
            cpus_per_task=4,
            mem_mb=32000,
            time_limit_min=120,
        ),
        ENVIRON,
    )

    assert description == {
        "name": "tei-embed-1",
        "script": "#!/bin/bash\nexec text-embeddings-router\n",
        "comment": "sgorch:v1;instance=op;deployment=embed;slot=1;hash=0123abcd",
        "working_directory": "/var/log/sgorch",
        "standard_output": "/var/log/sgorch/%x-%j.out",
        "log_files_open_mode": "append",
        "nodes": 1,
        "ntasks": 1,
        "cpus_per_task": 4,
        "environment": {
            "PATH": "/usr/bin:/bin",
            "HOME": "/root",
            "HF_TOKEN": "hf_secret",
            "SLURM_JOB_NAME": "tei-embed-1",
        },
        "partitions": "gpu",
        "account": "proj",
        "qos": "high",
        "reservations": "maint",
        "gres_per_node": "gpu:1",
        "constraints": "a100",
        "excluded_nodes": ["gpu7", "gpu8"],
        "memory_per_node": 32000,
        "time_limit": "120",
    }
    fakes.pyslurm.JobSubmitDescription(**description)  # every name exists in pyslurm


def test_an_unlimited_time_limit_is_pyslurms_unlimited_string() -> None:
    assert render_submit_description(make_request(time_limit_min=-1), ENVIRON)["time_limit"] == (
        "UNLIMITED"
    )


def test_unset_options_are_left_out() -> None:
    description = render_submit_description(make_request(), ENVIRON)

    assert {"partitions", "reservations", "excluded_nodes", "time_limit"}.isdisjoint(description)


def test_free_form_sbatch_options_are_refused_with_a_way_out() -> None:
    with pytest.raises(SlurmRejected, match=r"--exclusive.*--slurm cli"):
        render_submit_description(make_request(extra=("--exclusive",)), ENVIRON)


def record(**fields: Any) -> dict[str, Any]:
    return {
        "job_id": 1001,
        "name": "tei-embed-1",
        "state": "RUNNING",
        "state_reason": "None",
        "nodes": "gpu01",
        "start_time": 1795614000,
        "end_time": 1795617600,
        "time_limit": 60,
        "exit_code": 0,
        "exit_signal": 0,
        "comment": "sgorch:v1;instance=op;deployment=embed;slot=1;hash=0123abcd",
        **fields,
    }


def test_reads_a_running_job_record() -> None:
    job = parse_job_record(record(), now=1795614600.0)

    assert (job.job_id, job.state, job.reason, job.nodes) == (
        "1001",
        JobState.RUNNING,
        None,
        "gpu01",
    )
    assert job.start_time == datetime.fromtimestamp(1795614000, tz=UTC)
    assert (job.time_limit_min, job.time_left_s, job.exit_code) == (60, 3000, None)


def test_reads_a_pending_job_record_without_times() -> None:
    job = parse_job_record(
        record(
            state="PENDING",
            state_reason="PartitionConfig",
            nodes=None,
            start_time=None,
            end_time=None,
            time_limit=None,
        ),
        now=0.0,
    )

    assert (job.state, job.reason, job.start_time, job.nodes) == (
        JobState.PENDING,
        "PartitionConfig",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("state", "exit_code", "exit_signal", "expected"),
    [
        ("FAILED", 3, 0, 3),
        ("COMPLETED", 0, 0, 0),
        ("CANCELLED", 0, 15, 143),
        ("RUNNING", 0, 0, None),
    ],
)
def test_reads_exit_codes_of_finished_jobs_only(
    state: str, exit_code: int, exit_signal: int, expected: int | None
) -> None:
    job = parse_job_record(record(state=state, exit_code=exit_code, exit_signal=exit_signal), 0.0)

    assert job.exit_code == expected


def test_importing_the_client_does_not_import_pyslurm(tmp_path: Path) -> None:
    trap = tmp_path / "pyslurm"
    trap.mkdir()
    (trap / "__init__.py").write_text("raise SystemExit('pyslurm was imported')\n")
    code = "import sgorch.slurm, sgorch.slurm.pyslurm_client, sgorch.slurm.pyslurm_worker"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}

    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr

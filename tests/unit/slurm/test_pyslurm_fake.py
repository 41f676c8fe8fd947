"""The pyslurm contract fake keeps the binding's surface and quirks, so the client cannot
pass against the fake and break on the real pyslurm for the reasons checked here."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import fakes.pyslurm as pyslurm
from fakes.pyslurm._cluster import ENV_DIR, FakeCluster


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCluster]:
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    fake = FakeCluster(tmp_path)
    try:
        yield fake
    finally:
        fake.shutdown()


def submit(tmp_path: Path, script: str = "true", **fields: object) -> int:
    options = {
        "script": f"#!/bin/bash\n{script}\n",
        "working_directory": str(tmp_path),
        "environment": {"PATH": "/usr/bin:/bin"},
        **fields,
    }
    return pyslurm.JobSubmitDescription(**options).submit()


def wait_ended(job_id: int) -> pyslurm.Job:
    deadline = time.monotonic() + 10
    while (job := pyslurm.Jobs.load()[job_id]).state in {"PENDING", "RUNNING"}:
        assert time.monotonic() < deadline, job.state
        time.sleep(0.05)
    return job


def test_unknown_attributes_fail_loudly_like_the_binding(cluster: FakeCluster) -> None:
    with pytest.raises(AttributeError):
        pyslurm.JobSubmitDescription(partition="debug")  # pyslurm says partitions
    with pytest.raises(AttributeError):
        _ = pyslurm.Job(1).nodes  # pyslurm says allocated_nodes


def test_output_names_expand_x_from_slurm_job_name_or_to_null(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    named = submit(
        tmp_path,
        name="job",
        standard_output="%x-%j.out",
        environment={"PATH": "/usr/bin:/bin", "SLURM_JOB_NAME": "job"},
    )
    unnamed = submit(tmp_path, name="job", standard_output="%x-%j.out")
    wait_ended(named), wait_ended(unnamed)

    assert (tmp_path / f"job-{named}.out").exists()
    assert (tmp_path / f"(null)-{unnamed}.out").exists()


def test_exit_codes_above_127_lose_128_as_in_pyslurm(cluster: FakeCluster, tmp_path: Path) -> None:
    job = wait_ended(submit(tmp_path, "exit 143"))

    assert (job.state, job.exit_code, job.exit_code_signal) == ("FAILED", 15, 0)


def test_cancel_is_silent_for_unknown_jobs_but_other_signals_are_not(cluster: FakeCluster) -> None:
    pyslurm.Job(424242).cancel()

    with pytest.raises(pyslurm.RPCError) as caught:
        pyslurm.Job(424242).send_signal("SIGUSR1")
    assert caught.value.errno == 2017


def test_signals_skip_the_batch_shell_unless_all_steps_are_asked_for(
    cluster: FakeCluster, tmp_path: Path
) -> None:
    job_id = submit(tmp_path, f"trap 'touch {tmp_path}/got' USR1\nsleep 30 &\nwait")
    time.sleep(0.5)

    pyslurm.Job(job_id).send_signal("SIGUSR1")
    time.sleep(0.5)
    assert not (tmp_path / "got").exists()
    pyslurm.Job(job_id).send_signal("SIGUSR1", steps="all")
    wait_ended(job_id)
    assert (tmp_path / "got").exists()


def test_an_unknown_partition_is_rpc_error_2000(cluster: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(pyslurm.RPCError) as caught:
        submit(tmp_path, partitions="gpu")
    assert (caught.value.errno, caught.value.msg) == (2000, "Invalid partition name specified")


def test_a_script_without_shebang_is_a_value_error(cluster: FakeCluster, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="#!"):
        pyslurm.JobSubmitDescription(script="true", environment={}).submit()

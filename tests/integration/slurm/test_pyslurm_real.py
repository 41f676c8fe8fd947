"""The pyslurm client on the real binding and the local Slurm. They run only where a
pyslurm built for the cluster's Slurm imports: a pyslurm release builds only against the
same Slurm major.minor, PyPI has 25.11 and no Debian suite ships Slurm 25.11, so on the
Slurm 22.05 / 24.11 machines here they skip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from sgorch.errors import SlurmRejected
from sgorch.slurm import JobId, JobInfo, JobRequest, JobState, OwnerTag, SbatchOptions
from sgorch.slurm.pyslurm_client import PySlurmClient, pyslurm_usable
from sgorch.slurm.tags import instance_prefix

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


@pytest.fixture
async def client() -> AsyncIterator[PySlurmClient]:
    usable, why = await pyslurm_usable()
    if not usable:
        pytest.skip(
            f"no pyslurm for this cluster's Slurm ({why}): a pyslurm release builds only "
            "against its own Slurm major.minor, and PyPI's 25.11 cannot build against 22.05"
        )
    pyslurm = PySlurmClient(timeout_s=30)
    try:
        yield pyslurm
    finally:
        await pyslurm.aclose()


def make_request(workdir: Path, instance: str, script: str, **options: object) -> JobRequest:
    return JobRequest(
        name="pyslurm-real",
        script=f"#!/bin/bash\n{script}\n",
        comment=OwnerTag(instance, "real", 0, "0123abcd").render(),
        options=SbatchOptions(**options),  # type: ignore[arg-type]
        working_dir=str(workdir),
        stdout_path=str(workdir / "%x-%j.out"),
        environment={"SGORCH_TEST_VALUE": "from the request"},
    )


async def wait_terminal(client: PySlurmClient, instance: str, job_id: JobId) -> JobInfo:
    with anyio.fail_after(60):
        while True:
            jobs = await client.list_jobs(instance_prefix(instance))
            job = next((job for job in jobs if job.job_id == job_id), None)
            if job is not None and job.state.is_terminal:
                return job
            await anyio.sleep(0.5)


async def test_a_job_runs_with_its_environment_and_its_output_named_by_name_and_id(
    client: PySlurmClient, tmp_path: Path
) -> None:
    instance = f"pyreal-{uuid.uuid4().hex[:8]}"
    job_id = await client.submit(make_request(tmp_path, instance, 'echo "$SGORCH_TEST_VALUE"'))
    try:
        job = await wait_terminal(client, instance, job_id)
    finally:
        await client.cancel(job_id)

    assert (job.state, job.exit_code) == (JobState.COMPLETED, 0)
    assert (tmp_path / f"pyslurm-real-{job_id}.out").read_text() == "from the request\n"


async def test_a_failing_job_reports_its_exit_code(client: PySlurmClient, tmp_path: Path) -> None:
    instance = f"pyreal-{uuid.uuid4().hex[:8]}"
    job_id = await client.submit(make_request(tmp_path, instance, "exit 3"))

    job = await wait_terminal(client, instance, job_id)

    assert (job.state, job.exit_code) == (JobState.FAILED, 3)


async def test_an_unknown_partition_is_rejected(client: PySlurmClient, tmp_path: Path) -> None:
    with pytest.raises(SlurmRejected, match=r"\(Slurm error 2000\)"):
        await client.submit(make_request(tmp_path, "pyreal", "true", partition="no-such-part"))


async def test_unknown_jobs_cancel_silently_and_the_controller_answers_ping(
    client: PySlurmClient,
) -> None:
    await client.ping()
    await client.cancel(JobId("99999999"))
    await client.cancel(JobId("99999999"), "USR1")

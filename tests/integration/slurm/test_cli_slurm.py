"""What the cli client adds to the contract, against the real local Slurm: exit codes
from squeue, Slurm's own words in rejections and connection failures, the working
directory, and a listing that stays one fast call however many jobs there are."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import anyio
import pytest

from integration.slurm.factories.cli import write_unreachable_conf
from integration.slurm.test_contract import make_request
from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobInfo, JobRequest, OwnerTag, SbatchOptions, instance_prefix
from sgorch.slurm.cli import CliSlurmClient

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

END_TIMEOUT_S = 60.0


class Submitted:
    """Jobs of one test under its own instance tag; all cancelled at the end."""

    def __init__(self, client: CliSlurmClient, workdir: Path) -> None:
        self.client = client
        self.workdir = workdir
        self.instance = f"c{uuid.uuid4().hex[:12]}"
        self.ids: list[JobId] = []

    def request(self, body: str, slot: int = 0) -> JobRequest:
        tag = OwnerTag(self.instance, "cli", slot, "c0ffee").render()
        return make_request(self.workdir, tag, body, name=f"cli-{slot}")

    async def submit(self, request: JobRequest) -> JobId:
        job_id = await self.client.submit(request)
        self.ids.append(job_id)
        return job_id

    async def wait_ended(self, job_id: JobId) -> JobInfo:
        deadline = time.monotonic() + END_TIMEOUT_S
        while True:
            listing = await self.client.list_jobs(instance_prefix(self.instance))
            info = next((job for job in listing if job.job_id == job_id), None)
            if info is not None and info.state.is_terminal:
                return info
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} not finished after {END_TIMEOUT_S:.0f} s: {info}")
            await anyio.sleep(0.5)


@pytest.fixture
async def submitted(tmp_path: Path) -> AsyncIterator[Submitted]:
    client = CliSlurmClient()
    workdir = tmp_path / "work"
    workdir.mkdir()
    jobs = Submitted(client, workdir)
    try:
        yield jobs
    finally:
        for job_id in jobs.ids:
            await client.cancel(job_id)
        await client.aclose()


async def test_the_exit_code_of_a_failed_job_is_reported(submitted: Submitted) -> None:
    job_id = await submitted.submit(submitted.request("exit 3"))
    assert (await submitted.wait_ended(job_id)).exit_code == 3


async def test_a_job_cancelled_while_running_reports_termination_by_sigterm(
    submitted: Submitted,
) -> None:
    ready = submitted.workdir / "ready"
    job_id = await submitted.submit(submitted.request(f"touch {ready}\nsleep 300"))
    deadline = time.monotonic() + END_TIMEOUT_S
    while not ready.exists():
        assert time.monotonic() < deadline, "the job never started"
        await anyio.sleep(0.5)
    await submitted.client.cancel(job_id)
    assert (await submitted.wait_ended(job_id)).exit_code == 128 + 15


async def test_the_job_runs_in_the_requested_working_directory(submitted: Submitted) -> None:
    job_id = await submitted.submit(submitted.request("pwd > pwd.txt"))
    await submitted.wait_ended(job_id)
    assert (submitted.workdir / "pwd.txt").read_text().strip() == str(submitted.workdir)


async def test_an_unknown_partition_is_rejected_with_slurms_message(submitted: Submitted) -> None:
    request = submitted.request("true")
    script = request.script.replace("set -eu", "#SBATCH --partition=nosuchpartition\nset -eu")
    bad = JobRequest(
        name=request.name,
        script=script,
        comment=request.comment,
        options=SbatchOptions(partition="nosuchpartition"),
        working_dir=request.working_dir,
        stdout_path=request.stdout_path,
    )
    with pytest.raises(SlurmRejected, match="Invalid partition name specified"):
        await submitted.submit(bad)


async def test_a_job_excluding_every_node_is_rejected(submitted: Submitted) -> None:
    """What the Deployment controller meets when a quarantine covers every node of the
    partition: it lifts the quarantine rather than take this for a bad spec."""
    nodes = subprocess.run(
        ["sinfo", "-h", "-o", "%n"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    request = submitted.request("true")
    exclude = ",".join(sorted(set(nodes)))
    bad = JobRequest(
        name=request.name,
        script=request.script.replace("set -eu", f"#SBATCH --exclude={exclude}\nset -eu"),
        comment=request.comment,
        options=SbatchOptions(exclude=tuple(sorted(set(nodes)))),
        working_dir=request.working_dir,
        stdout_path=request.stdout_path,
    )
    with pytest.raises(SlurmRejected, match="Requested node configuration is not available"):
        await submitted.submit(bad)


async def test_listing_many_jobs_stays_one_fast_call(submitted: Submitted) -> None:
    ids = {await submitted.submit(submitted.request("sleep 300", slot)) for slot in range(30)}
    started = time.monotonic()
    listing = await submitted.client.list_jobs(instance_prefix(submitted.instance))
    elapsed = time.monotonic() - started
    assert {job.job_id for job in listing} == ids
    assert elapsed < 2.0, f"listing 30 jobs took {elapsed:.2f} s"


@pytest.mark.slow
async def test_an_unreachable_controller_fails_with_slurms_own_message_before_the_timeout(
    tmp_path: Path,
) -> None:
    client = CliSlurmClient(env={"SLURM_CONF": str(write_unreachable_conf(tmp_path))})
    workdir = tmp_path / "work"
    workdir.mkdir()
    errors: dict[str, SlurmUnavailable] = {}

    async def call(name: str, action: Awaitable[object]) -> None:
        started = time.monotonic()
        with pytest.raises(SlurmUnavailable) as caught:
            await action
        assert time.monotonic() - started < client.timeout_s
        errors[name] = caught.value

    tag = instance_prefix("unreachable")
    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "list_jobs", client.list_jobs(tag))
        tg.start_soon(call, "submit", client.submit(make_request(workdir, tag, "true")))
        tg.start_soon(call, "cancel", client.cancel(JobId("12345")))
    for name, error in errors.items():
        assert "Unable to contact slurm controller" in str(error), name

"""The rest client against a real slurmrestd of the local Slurm (22.05 here: API v0.0.38):
what only slurmrestd can show, beyond the contract suite's common behaviour."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from integration.slurm.factories.rest import (
    Slurmrestd,
    SlurmrestdClient,
    make_client,
    make_unreachable_client,
)
from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobInfo, JobRequest, JobState, OwnerTag, SbatchOptions
from sgorch.slurm.rest import RestSlurmClient
from sgorch.slurm.tags import instance_prefix

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

NEWEST_API = {"22.05": 38, "23.02": 39, "23.11": 40, "24.05": 41, "24.11": 42, "25.05": 43,
              "25.11": 44}  # fmt: skip
"""The newest slurmctld API each Slurm release serves (SLURM-NOTES.md)."""


class Jobs:
    """Submits jobs under a fresh instance tag, waits for their states, and cancels
    every one of them at the end."""

    def __init__(self, client: RestSlurmClient, workdir: Path) -> None:
        self.client = client
        self.workdir = workdir
        self.instance = f"resttest-{uuid.uuid4().hex[:8]}"
        self.submitted: list[JobId] = []

    def request(self, script: str, **options: object) -> JobRequest:
        tag = OwnerTag(self.instance, "restd", len(self.submitted), "0123abcd")
        return JobRequest(
            name=f"rest-{len(self.submitted)}",
            script=f"#!/bin/bash\n{script}\n",
            comment=tag.render(),
            options=SbatchOptions(**options),  # type: ignore[arg-type]
            working_dir=str(self.workdir),
            stdout_path=str(self.workdir / "%x-%j.out"),
            environment={"SGORCH_TEST_VALUE": "hello from the request"},
        )

    async def submit(self, request: JobRequest) -> JobId:
        job_id = await self.client.submit(request)
        self.submitted.append(job_id)
        return job_id

    async def wait_for(
        self, job_id: JobId, done: Callable[[JobInfo], bool], timeout_s: float = 60
    ) -> JobInfo:
        with anyio.fail_after(timeout_s):
            while True:
                jobs = await self.client.list_jobs(instance_prefix(self.instance))
                job = next((job for job in jobs if job.job_id == job_id), None)
                if job is not None and done(job):
                    return job
                await anyio.sleep(0.5)

    async def cancel_all(self) -> None:
        for job_id in self.submitted:
            await self.client.cancel(job_id)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[SlurmrestdClient]:
    rest = await make_client(tmp_path)
    try:
        yield rest
    finally:
        await rest.aclose()


@pytest.fixture
async def jobs(client: SlurmrestdClient, tmp_path: Path) -> AsyncIterator[Jobs]:
    tracker = Jobs(client, tmp_path)
    try:
        yield tracker
    finally:
        await tracker.cancel_all()


def slurm_release() -> str:
    out = subprocess.run(["scontrol", "--version"], capture_output=True, text=True, check=True)
    return ".".join(out.stdout.split()[-1].split(".")[:2])


async def test_speaks_the_newest_api_of_the_installed_slurmrestd(client: SlurmrestdClient) -> None:
    version = await client.api_version()

    assert version.minor == NEWEST_API[slurm_release()]


async def test_a_job_gets_the_request_environment_but_not_the_operators_secrets(
    tmp_path: Path,
) -> None:
    daemon = await Slurmrestd.start()
    environ = {**os.environ, "SGORCH_OPERATOR_SECRET": "must-not-leak"}
    rest = SlurmrestdClient(daemon, timeout_s=20, environ=environ)
    tracker = Jobs(rest, tmp_path)
    try:
        script = 'echo "value=$SGORCH_TEST_VALUE secret=${SGORCH_OPERATOR_SECRET:-absent}"'
        job_id = await tracker.submit(tracker.request(script, time_limit_min=5))
        job = await tracker.wait_for(job_id, lambda j: j.state.is_terminal)
        output = (tmp_path / f"rest-0-{job_id}.out").read_text()
    finally:
        await tracker.cancel_all()
        await rest.aclose()

    assert (job.state, job.exit_code, job.time_limit_min) == (JobState.COMPLETED, 0, 5)
    assert output == "value=hello from the request secret=absent\n"


async def test_a_signal_reaches_the_batch_shell_and_a_cancel_ends_the_job(
    jobs: Jobs, tmp_path: Path
) -> None:
    marker = tmp_path / "got-usr1"
    script = f"trap 'touch {marker}' USR1\nfor i in $(seq 600); do sleep 0.2; done"
    job_id = await jobs.submit(jobs.request(script))
    await jobs.wait_for(job_id, lambda j: j.state is JobState.RUNNING)
    await anyio.sleep(0.5)  # let bash install its trap

    await jobs.client.cancel(job_id, "USR1")
    with anyio.fail_after(10):
        while not marker.exists():
            await anyio.sleep(0.2)
    await jobs.client.cancel(job_id)
    job = await jobs.wait_for(job_id, lambda j: j.state.is_terminal)

    assert job.state is JobState.CANCELLED


async def test_an_unknown_partition_is_rejected_with_slurms_own_words(jobs: Jobs) -> None:
    bad_partition = r"Invalid partition name specified \(Slurm error 2000\)"
    with pytest.raises(SlurmRejected, match=bad_partition):
        await jobs.submit(jobs.request("true", partition="no-such-partition"))


async def test_cancelling_unknown_and_finished_jobs_is_silent(jobs: Jobs) -> None:
    job_id = await jobs.submit(jobs.request("true"))
    await jobs.wait_for(job_id, lambda j: j.state.is_terminal)

    await jobs.client.cancel(job_id)
    await jobs.client.cancel(JobId("99999999"))


async def test_every_call_is_unavailable_when_slurmrestd_cannot_reach_slurmctld(
    tmp_path: Path,
) -> None:
    # The real slurm.conf with a controller port nothing listens on.
    conf = tmp_path / "slurm.conf"
    text = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    replaced = ("SlurmctldPort", "MessageTimeout")
    lines = [line for line in text.splitlines() if not line.startswith(replaced)]
    conf.write_text("\n".join([*lines, "SlurmctldPort=6999", "MessageTimeout=2", ""]))
    jobs = Jobs(SlurmrestdClient(await Slurmrestd.start(slurm_conf=conf), timeout_s=20), tmp_path)
    calls = {
        "ping": jobs.client.ping,
        "list": lambda: jobs.client.list_jobs("sgorch:"),
        "submit": lambda: jobs.client.submit(jobs.request("true")),
        "cancel": lambda: jobs.client.cancel(JobId("12345")),
    }
    try:
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(SlurmUnavailable):
                await call()
            assert time.monotonic() - started < 10, name
    finally:
        await jobs.client.aclose()


async def test_an_unreachable_slurmrestd_is_unavailable_at_once(tmp_path: Path) -> None:
    unix = RestSlurmClient(str(tmp_path / "nothing-listens.sock"), timeout_s=2)
    tcp = await make_unreachable_client(tmp_path)
    for rest in (unix, tcp):
        started = time.monotonic()
        with pytest.raises(SlurmUnavailable, match="unreachable"):
            await rest.ping()
        await rest.aclose()
        assert time.monotonic() - started < 2


async def test_closing_the_factory_client_stops_its_slurmrestd(tmp_path: Path) -> None:
    rest = await make_client(tmp_path)
    await rest.ping()

    await rest.aclose()

    assert rest.daemon.process.returncode is not None
    assert not rest.daemon.directory.exists()

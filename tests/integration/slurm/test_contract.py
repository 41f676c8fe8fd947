"""The contract every SlurmClient keeps, run against each one (``slurm_client`` is
parametrized over cli, rest, pyslurm_fake and local; see ``conftest.py``).

Each test owns a fresh instance tag, so parallel runs and other people's jobs on the
shared cluster never count, and cancels every job it submitted. Waits poll
``list_jobs`` with generous bounds: the machine is small and shared.
"""

from __future__ import annotations

import importlib
import shlex
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import (
    UNSATISFIABLE_REASONS,
    JobId,
    JobInfo,
    JobRequest,
    JobState,
    OwnerTag,
    SbatchOptions,
    SlurmClient,
    instance_prefix,
)

START_TIMEOUT_S = 60.0
"""Submit to RUNNING: ~3 s on an idle node, longer when other tests fill it."""
END_TIMEOUT_S = 60.0
"""A finished or cancelled job reaches a terminal state (or leaves the listing)."""
TIME_LIMIT_TIMEOUT_S = 150.0
"""A 1-minute job reaches TIMEOUT: 60 s, plus up to 30 s until slurmctld's periodic
limit check (measured 64-84 s after the start), plus the start itself."""
UNREACHABLE_BOUND_S = 20.0
"""Every call to an unreachable controller fails well within this (factories set short
client timeouts; the cli factory uses 5 s)."""
POLL_S = 0.5


def make_request(
    workdir: Path,
    comment: str,
    body: str,
    *,
    name: str = "contract",
    cpus_per_task: int = 1,
    time_limit_min: int | None = None,
    environment: dict[str, str] | None = None,
) -> JobRequest:
    """A tiny bash job. The script's ``#SBATCH`` lines repeat the request's fields, as
    SGOrch's rendered scripts do, so script-reading and field-reading clients agree."""
    stdout = workdir / "%x-%j.out"
    options = SbatchOptions(cpus_per_task=cpus_per_task, time_limit_min=time_limit_min)
    directives = [f"--job-name={name}", f"--output={stdout}", f"--cpus-per-task={cpus_per_task}"]
    if comment:
        directives.append(f'--comment="{comment}"')  # sbatch splits directives on spaces
    if time_limit_min is not None:
        directives.append(f"--time={time_limit_min}")
    script = "\n".join(["#!/bin/bash", *(f"#SBATCH {d}" for d in directives), "set -eu", body, ""])
    return JobRequest(
        name=name,
        script=script,
        comment=comment,
        options=options,
        working_dir=str(workdir),
        stdout_path=str(stdout),
        environment=environment or {},
    )


@dataclass
class Jobs:
    """The jobs of one test: submits under the test's own instance tag and polls."""

    client: SlurmClient
    instance: str
    workdir: Path
    submitted: list[JobId] = field(default_factory=list)

    @property
    def owner_tag(self) -> str:
        return instance_prefix(self.instance)

    def tag(self, slot: int = 0, instance: str | None = None) -> str:
        return OwnerTag(instance or self.instance, "contract", slot, "c0ffee").render()

    def request(self, body: str, *, slot: int = 0, **kwargs: object) -> JobRequest:
        comment = kwargs.pop("comment", None)
        return make_request(
            self.workdir,
            self.tag(slot) if comment is None else str(comment),
            body,
            name=f"contract-{slot}",
            **kwargs,  # type: ignore[arg-type]
        )

    async def submit(self, request: JobRequest) -> JobId:
        job_id = await self.client.submit(request)
        self.submitted.append(job_id)
        return job_id

    async def find(self, job_id: JobId) -> JobInfo | None:
        listing = await self.client.list_jobs(self.owner_tag)
        return next((job for job in listing if job.job_id == job_id), None)

    async def wait_for(
        self,
        job_id: JobId,
        done: Callable[[JobInfo | None], bool],
        what: str,
        timeout_s: float,
    ) -> JobInfo | None:
        """Poll until ``done(info)``; fail with the last picture after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = await self.find(job_id)
            if done(info):
                return info
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} not {what} after {timeout_s:.0f} s: {info}")
            await anyio.sleep(POLL_S)

    async def wait_running(self, job_id: JobId) -> JobInfo:
        info = await self.wait_for(
            job_id, lambda i: i is not None and i.state is JobState.RUNNING, "RUNNING",
            START_TIMEOUT_S,
        )  # fmt: skip
        assert info is not None
        return info

    async def wait_ended(self, job_id: JobId, timeout_s: float = END_TIMEOUT_S) -> JobInfo | None:
        return await self.wait_for(
            job_id, lambda i: i is None or i.state.is_terminal, "finished", timeout_s
        )


async def wait_for_file(path: Path, timeout_s: float = START_TIMEOUT_S) -> str:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout_s:.0f} s")
        await anyio.sleep(POLL_S)
    return path.read_text()


@pytest.fixture
async def jobs(slurm_client: SlurmClient, tmp_path: Path) -> AsyncIterator[Jobs]:
    workdir = tmp_path / "work"
    workdir.mkdir()
    tracker = Jobs(slurm_client, f"t{uuid.uuid4().hex[:12]}", workdir)
    try:
        yield tracker
    finally:
        # Also every live job under the test's tag: a submit that raised may still
        # have created one.
        listed = await slurm_client.list_jobs(tracker.owner_tag)
        live = [job.job_id for job in listed if not job.state.is_terminal]
        for job_id in dict.fromkeys([*tracker.submitted, *live]):
            await slurm_client.cancel(job_id)


# ----------------------------------------------------------------- lifecycle


async def test_a_submitted_job_is_listed_at_once_runs_and_is_cancelled(jobs: Jobs) -> None:
    request = jobs.request("sleep 300")
    job_id = await jobs.submit(request)

    listed = await jobs.find(job_id)
    assert listed is not None, "a listing that starts after submit must show the job"
    assert listed.state.is_pending or listed.state.is_running
    assert (listed.name, listed.comment) == (request.name, request.comment)

    running = await jobs.wait_running(job_id)
    assert running.nodes
    assert running.start_time is not None
    assert running.exit_code is None

    await jobs.client.cancel(job_id)
    ended = await jobs.wait_ended(job_id)
    assert ended is None or ended.state is JobState.CANCELLED


async def test_a_job_that_exits_3_is_reported_failed(jobs: Jobs) -> None:
    job_id = await jobs.submit(jobs.request("exit 3"))
    ended = await jobs.wait_for(
        job_id, lambda i: i is not None and i.state.is_terminal, "finished", END_TIMEOUT_S
    )
    assert ended is not None
    assert ended.state is JobState.FAILED
    assert ended.exit_code in (3, None)
    assert ended.end_time is not None


async def test_a_job_that_completes_is_reported_completed_with_exit_code_0(jobs: Jobs) -> None:
    job_id = await jobs.submit(jobs.request("true"))
    ended = await jobs.wait_for(
        job_id, lambda i: i is not None and i.state.is_terminal, "finished", END_TIMEOUT_S
    )
    assert ended is not None
    assert ended.state is JobState.COMPLETED
    assert ended.exit_code in (0, None)


@pytest.mark.slow
async def test_a_job_that_outlives_its_time_limit_is_reported_timeout(jobs: Jobs) -> None:
    job_id = await jobs.submit(jobs.request("sleep 600", time_limit_min=1))
    listed = await jobs.find(job_id)
    assert listed is not None and listed.time_limit_min == 1
    ended = await jobs.wait_for(
        job_id,
        lambda i: i is not None and i.state.is_terminal,
        "TIMEOUT",
        TIME_LIMIT_TIMEOUT_S,
    )
    assert ended is not None and ended.state is JobState.TIMEOUT


async def test_an_impossible_request_is_rejected_or_pends_with_an_unsatisfiable_reason(
    jobs: Jobs,
) -> None:
    try:
        job_id = await jobs.submit(jobs.request("true", cpus_per_task=999))
    except SlurmRejected as exc:
        assert str(exc)
        created = await jobs.client.list_jobs(jobs.owner_tag)
        assert created == [], f"rejected ({exc}), yet Slurm holds the job: {created}"
        return
    info = await jobs.wait_for(
        job_id,
        lambda i: i is not None and i.reason in UNSATISFIABLE_REASONS,
        "pending with an unsatisfiable reason",
        START_TIMEOUT_S,
    )
    assert info is not None and info.state is JobState.PENDING


# ----------------------------------------------------------------- cancel


async def test_cancelling_or_signalling_an_unknown_job_is_silent(jobs: Jobs) -> None:
    await jobs.client.cancel(JobId("99999999"))
    await jobs.client.cancel(JobId("99999999"), signal="USR1")


async def test_cancelling_a_finished_job_twice_is_silent(jobs: Jobs) -> None:
    job_id = await jobs.submit(jobs.request("true"))
    await jobs.wait_for(
        job_id, lambda i: i is not None and i.state.is_terminal, "finished", END_TIMEOUT_S
    )
    await jobs.client.cancel(job_id)
    await jobs.client.cancel(job_id)
    info = await jobs.find(job_id)
    assert info is None or info.state is JobState.COMPLETED


async def test_a_signal_reaches_the_batch_script(jobs: Jobs) -> None:
    ready, got = jobs.workdir / "ready", jobs.workdir / "got"
    body = (
        f"trap 'echo USR1 > {shlex.quote(str(got))}; exit 0' USR1\n"
        f"echo ready > {shlex.quote(str(ready))}\n"
        "sleep 300 &\nwait"
    )
    job_id = await jobs.submit(jobs.request(body))
    await wait_for_file(ready)
    await jobs.client.cancel(job_id, signal="USR1")
    assert (await wait_for_file(got, END_TIMEOUT_S)).strip() == "USR1"


# ----------------------------------------------------------------- listing


async def test_listing_returns_only_jobs_whose_comment_starts_with_the_owner_tag(
    jobs: Jobs,
) -> None:
    ours = {
        await jobs.submit(jobs.request("sleep 300", slot=0)),
        await jobs.submit(jobs.request("sleep 300", slot=1)),
    }
    foreign_comments = [
        jobs.tag(0, instance=f"{jobs.instance}x"),  # an instance whose name extends ours
        jobs.tag(0, instance=f"u{uuid.uuid4().hex[:12]}"),
        f"note {jobs.tag(0)}",  # contains our tag, does not start with it
        "",  # no comment at all
    ]
    foreign = {
        await jobs.submit(jobs.request("sleep 300", slot=9, comment=comment))
        for comment in foreign_comments
    }
    listing = await jobs.client.list_jobs(jobs.owner_tag)
    assert {job.job_id for job in listing} == ours
    assert not foreign & {job.job_id for job in listing}
    assert all(job.comment.startswith(jobs.owner_tag) for job in listing)


# ----------------------------------------------------------------- environment


def processes_whose_argv_contains(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # the process ended while we looked
        if text in argv:
            found.append(argv)
    return found


async def test_the_job_environment_reaches_the_job_but_not_its_script_or_any_argv(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("SGORCH_CONTRACT_OPERATOR_ONLY", "operator-secret")
    seen, operator_only = jobs.workdir / "seen", jobs.workdir / "operator-only"
    seen_q, operator_only_q = shlex.quote(str(seen)), shlex.quote(str(operator_only))
    body = (
        f'printf %s "$SECRET_X" > {seen_q}.tmp\n'
        f"mv {seen_q}.tmp {seen_q}\n"
        f'printf %s "${{SGORCH_CONTRACT_OPERATOR_ONLY:-absent}}" > {operator_only_q}\n'
        "sleep 300"
    )
    request = jobs.request(body, environment={"SECRET_X": secret})
    job_id = await jobs.submit(request)

    assert await wait_for_file(seen) == secret
    assert operator_only.read_text() == "absent", "the operator's own environment leaked"
    assert secret not in request.script
    assert processes_whose_argv_contains(secret) == []
    await jobs.client.cancel(job_id)


# ----------------------------------------------------------------- controller


async def test_ping_returns_when_the_controller_answers(slurm_client: SlurmClient) -> None:
    await slurm_client.ping()


async def test_an_unreachable_controller_is_unavailable_within_the_timeout(
    request: pytest.FixtureRequest, slurm_client: SlurmClient, tmp_path: Path
) -> None:
    factory = importlib.import_module(
        f"integration.slurm.factories.{request.node.callspec.params['slurm_client']}"
    )
    make_unreachable = getattr(factory, "make_unreachable_client", None)
    if make_unreachable is None:
        pytest.skip(f"{slurm_client.name} has no controller to be unreachable")
    client: SlurmClient = await make_unreachable(tmp_path)
    workdir = tmp_path / "work"
    workdir.mkdir()
    calls = {
        "ping": client.ping,
        "list_jobs": lambda: client.list_jobs(instance_prefix("unreachable")),
        "submit": lambda: client.submit(make_request(workdir, "", "true")),
    }
    try:
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(SlurmUnavailable):
                await call()
            elapsed = time.monotonic() - started
            assert elapsed < UNREACHABLE_BOUND_S, f"{name} took {elapsed:.1f} s"
    finally:
        await client.aclose()

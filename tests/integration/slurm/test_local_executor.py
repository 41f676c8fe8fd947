"""The local executor with real processes: queueing under a CPU budget, exit codes,
time limits, cancel and signals, output paths, environments, adoption after a restart,
and a real rendered job script serving HTTP.

Time runs fast here: a "minute" of time limit is one second and the kill grace is one
second. Every test's jobs are stopped afterwards, and the recorded process groups are
checked to be empty, so no test leaves processes behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
import pytest

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.resources import Deployment
from sgorch.slurm import (
    JobId,
    JobInfo,
    JobRequest,
    JobState,
    OwnerTag,
    SbatchOptions,
    build_job_request,
    compute_template_hash,
    endpoint_path,
)
from sgorch.slurm.local import REASON_UNKNOWN_EXIT, LocalExecutor, LocalSettings
from sgorch.slurm.local_processes import Supervisor, find_group_members, read_proc_stat
from sgorch.slurm.local_registry import JobRecord

TAG = "sgorch:v1;instance=test;"
FAST = {"time_unit_s": 1.0, "kill_grace_s": 1.0, "poll_interval_s": 0.05}


class MakeExecutor(Protocol):
    def __call__(
        self,
        cpus: int = 4,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> LocalExecutor: ...


def request(
    body: str,
    work: Path,
    *,
    name: str = "job",
    comment: str = TAG + "deployment=d;slot=0;hash=h",
    cpus: int = 1,
    time_limit_min: int | None = None,
    stdout: str = "%x-%j.out",
    environment: dict[str, str] | None = None,
) -> JobRequest:
    return JobRequest(
        name=name,
        script=f"#!/bin/bash\n{body}\n",
        comment=comment,
        options=SbatchOptions(cpus_per_task=cpus, time_limit_min=time_limit_min),
        working_dir=str(work),
        stdout_path=stdout,
        environment=environment or {},
    )


def records(state_dir: Path) -> list[JobRecord]:
    return [
        JobRecord.model_validate_json(path.read_bytes())
        for path in sorted((state_dir / "jobs").glob("*/job.json"))
    ]


def leftover_processes(recorded: list[JobRecord]) -> list[int]:
    """Live processes of the recorded jobs: their supervisors and their process groups."""
    pids = []
    for rec in recorded:
        if rec.supervisor is None:
            continue
        proc = read_proc_stat(rec.supervisor.pid)
        if proc and proc.start_ticks == rec.supervisor.start_ticks and proc.state != "Z":
            pids.append(rec.supervisor.pid)
        if rec.pgid is not None:
            pids += find_group_members(rec.pgid, rec.supervisor.pid)
    return pids


async def job(executor: LocalExecutor, job_id: JobId) -> JobInfo:
    return next(info for info in await executor.list_jobs("") if info.job_id == job_id)


async def wait_for(
    executor: LocalExecutor, job_id: JobId, done: Callable[[JobInfo], bool], timeout_s: float = 15
) -> JobInfo:
    with anyio.fail_after(timeout_s):
        while not done(info := await job(executor, job_id)):
            await anyio.sleep(0.05)
    return info


async def wait_for_state(
    executor: LocalExecutor, job_id: JobId, state: JobState, timeout_s: float = 15
) -> JobInfo:
    return await wait_for(executor, job_id, lambda info: info.state is state, timeout_s)


async def wait_for_file(path: Path, timeout_s: float = 15) -> None:
    with anyio.fail_after(timeout_s):
        while not path.exists():
            await anyio.sleep(0.02)


async def started_record(executor: LocalExecutor) -> JobRecord:
    """The only job's record, once its process group is known (each call looks for it)."""
    with anyio.fail_after(15):
        while (rec := records(executor.state_dir)[0]).pgid is None:
            await executor.list_jobs("")
            await anyio.sleep(0.02)
    return rec


async def stop_every_job(state_dir: Path) -> None:
    recorded = records(state_dir)
    async with LocalExecutor(state_dir, settings=LocalSettings(**FAST)) as executor:
        for info in await executor.list_jobs(""):
            await executor.cancel(info.job_id)
        with anyio.fail_after(15):
            while any(info.state.is_live for info in await executor.list_jobs("")):
                await anyio.sleep(0.05)
    leftovers = leftover_processes(recorded)
    for pid in leftovers:
        os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture
async def make_executor(tmp_path: Path) -> AsyncIterator[MakeExecutor]:
    made: list[LocalExecutor] = []

    def make(
        cpus: int = 4,
        *,
        state_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> LocalExecutor:
        executor = LocalExecutor(
            state_dir or tmp_path / "state",
            cpus,
            clock=clock,
            settings=LocalSettings(**{**FAST, **settings}),
        )
        made.append(executor)
        return executor

    try:
        yield make
    finally:
        for executor in made:
            await executor.aclose()
        for state_dir in {executor.state_dir for executor in made}:
            await stop_every_job(state_dir)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


# ------------------------------------------------------------------ queueing


async def test_pending_jobs_start_in_fifo_order_within_the_cpu_budget(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor(cpus=2)
    first = await executor.submit(request("sleep 60", work, name="first"))
    big = await executor.submit(request("sleep 60", work, name="big", cpus=2))
    small = await executor.submit(request("sleep 60", work, name="small"))
    states = {i.name: (i.state, i.reason) for i in await executor.list_jobs(TAG)}
    # one CPU is free, but "small" waits behind "big": no backfill
    assert states == {
        "first": (JobState.RUNNING, None),
        "big": (JobState.PENDING, "Resources"),
        "small": (JobState.PENDING, "Resources"),
    }
    await executor.cancel(first)
    await wait_for_state(executor, big, JobState.RUNNING)
    assert (await job(executor, small)).state is JobState.PENDING
    await executor.cancel(big)
    await wait_for_state(executor, small, JobState.RUNNING)


async def test_a_job_asking_more_than_the_whole_budget_pends_with_partition_config(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor(cpus=2)
    huge = await executor.submit(request("true", work, cpus=3))
    later = await executor.submit(request("true", work))
    info = await job(executor, huge)
    assert (info.state, info.reason, info.start_time, info.nodes) == (
        JobState.PENDING,
        "PartitionConfig",
        None,
        None,
    )
    await wait_for_state(executor, later, JobState.COMPLETED)
    assert (await job(executor, huge)).state is JobState.PENDING


# -------------------------------------------------------------- job endings


@pytest.mark.parametrize(
    ("body", "state", "exit_code", "reason"),
    [
        ("exit 0", JobState.COMPLETED, 0, None),
        ("exit 7", JobState.FAILED, 7, "NonZeroExitCode"),
        ("kill -USR2 $$", JobState.FAILED, 128 + signal.SIGUSR2, "NonZeroExitCode"),
    ],
)
async def test_the_exit_status_decides_between_completed_and_failed(
    make_executor: MakeExecutor,
    work: Path,
    body: str,
    state: JobState,
    exit_code: int,
    reason: str | None,
) -> None:
    executor = make_executor()
    job_id = await executor.submit(request(body, work))
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    assert (info.state, info.exit_code, info.reason) == (state, exit_code, reason)
    assert info.end_time is not None and info.start_time is not None
    assert info.end_time >= info.start_time


async def test_a_running_job_reports_its_limit_deadline_and_time_left(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor(time_unit_s=60.0)
    job_id = await executor.submit(request("sleep 60", work, time_limit_min=30))
    info = await job(executor, job_id)
    assert info.start_time is not None and info.end_time is not None
    assert info.time_limit_min == 30
    assert (info.end_time - info.start_time).total_seconds() == pytest.approx(1800)
    assert info.time_left_s is not None and 1795 <= info.time_left_s <= 1800
    assert info.nodes == os.uname().nodename.split(".")[0]


async def test_a_job_past_its_time_limit_is_terminated_and_reported_as_timeout(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    body = "trap 'echo got TERM; exit 0' TERM\nsleep 60 & wait"
    started = time.monotonic()
    job_id = await executor.submit(request(body, work, name="slow", time_limit_min=1))
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    assert (info.state, info.reason) == (JobState.TIMEOUT, "TimeLimit")
    assert 1.0 <= time.monotonic() - started < 5
    output = (work / f"slow-{job_id}.out").read_text()
    assert "got TERM" in output
    assert f"JOB {job_id} ON" in output and "DUE TO TIME LIMIT" in output


@pytest.mark.parametrize("limit", [None, 0, -1])
async def test_no_limit_zero_and_minus_one_all_mean_unlimited(
    make_executor: MakeExecutor, work: Path, limit: int | None
) -> None:
    executor = make_executor()
    job_id = await executor.submit(request("sleep 60", work, time_limit_min=limit))
    await anyio.sleep(1.3)
    info = await job(executor, job_id)
    assert (info.state, info.time_limit_min, info.time_left_s) == (JobState.RUNNING, -1, None)


async def test_a_job_whose_output_cannot_be_opened_fails_to_launch(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    executor = make_executor()
    stdout = str(tmp_path / "no-such-dir" / "%j.out")
    job_id = await executor.submit(
        request("touch ran", work, stdout=stdout, environment={"K": "v"})
    )
    info = await job(executor, job_id)
    assert (info.state, info.reason, info.exit_code) == (JobState.FAILED, "JobLaunchFailure", None)
    assert not (work / "ran").exists()
    assert not (tmp_path / "state" / "jobs" / job_id / "environment.json").exists()


async def test_a_job_whose_supervisor_is_killed_fails_and_leaves_nothing_running(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    job_id = await executor.submit(request("sleep 60 &\nsleep 60", work))
    rec = await started_record(executor)
    assert rec.supervisor is not None and rec.pgid is not None
    os.kill(rec.supervisor.pid, signal.SIGKILL)
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    assert (info.state, info.reason, info.exit_code) == (JobState.FAILED, REASON_UNKNOWN_EXIT, None)
    with anyio.fail_after(5):
        while find_group_members(rec.pgid, rec.supervisor.pid):
            await anyio.sleep(0.05)


# ------------------------------------------------------------ cancel, signal


async def test_cancelling_a_pending_job_ends_it_without_running_it(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor(cpus=1)
    blocker = await executor.submit(request("sleep 60", work))
    pending = await executor.submit(request("touch ran", work))
    await executor.cancel(pending)
    info = await job(executor, pending)
    assert (info.state, info.start_time, info.exit_code) == (JobState.CANCELLED, None, None)
    await executor.cancel(blocker)
    await wait_for_state(executor, blocker, JobState.CANCELLED)
    await anyio.sleep(0.3)
    assert not (work / "ran").exists()


async def test_cancelling_a_running_job_terminates_its_whole_process_group(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    executor = make_executor()
    job_id = await executor.submit(request("sleep 60 &\nsleep 60 &\ntouch up; wait", work))
    await wait_for_file(work / "up")
    rec = await started_record(executor)
    assert rec.pgid is not None and rec.supervisor is not None
    assert len(find_group_members(rec.pgid, rec.supervisor.pid)) == 3
    await executor.cancel(job_id)
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    assert info.state is JobState.CANCELLED
    assert find_group_members(rec.pgid, rec.supervisor.pid) == []


async def test_a_job_ignoring_sigterm_is_killed_after_the_grace_period(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor(kill_grace_s=1.0)
    job_id = await executor.submit(
        request("trap '' TERM\ntouch up\nwhile :; do sleep 0.1; done", work)
    )
    await wait_for_file(work / "up")
    cancelled = time.monotonic()
    await executor.cancel(job_id)
    assert (await job(executor, job_id)).state is JobState.COMPLETING
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    assert (info.state, info.exit_code) == (JobState.CANCELLED, 128 + signal.SIGKILL)
    assert 1.0 <= time.monotonic() - cancelled < 5


async def test_a_job_whose_log_was_removed_is_still_cancelled(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    executor = make_executor()
    logs = tmp_path / "logs"
    logs.mkdir()
    job_id = await executor.submit(request("sleep 60", tmp_path / "work", stdout=str(logs / "%j")))
    await wait_for_file(logs / job_id)
    (logs / job_id).unlink()
    logs.rmdir()
    await executor.cancel(job_id)
    assert (await wait_for(executor, job_id, lambda i: i.state.is_terminal)).state is (
        JobState.CANCELLED
    )


async def test_cancelling_unknown_or_finished_jobs_is_silent(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    done = await executor.submit(request("exit 0", work))
    await wait_for_state(executor, done, JobState.COMPLETED)
    for job_id in (done, JobId("999"), JobId("not-a-number")):
        await executor.cancel(job_id)
        await executor.cancel(job_id, "USR1")
    assert (await job(executor, done)).state is JobState.COMPLETED


async def test_a_signal_reaches_the_job_without_cancelling_it(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    body = "trap 'touch got-usr1' USR1\ntouch up\nwhile :; do sleep 0.1; done"
    job_id = await executor.submit(request(body, work))
    await wait_for_file(work / "up")
    await executor.cancel(job_id, "USR1")
    await wait_for_file(work / "got-usr1")
    assert (await job(executor, job_id)).state is JobState.RUNNING


async def test_a_signal_sent_right_after_submit_waits_for_the_job_to_start(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    job_id = await executor.submit(request("sleep 60", work))
    await executor.cancel(job_id, "TERM")
    info = await wait_for(executor, job_id, lambda i: i.state.is_terminal)
    # as `scancel --signal=TERM`: the job dies of the signal, it is not cancelled
    assert (info.state, info.exit_code) == (JobState.FAILED, 128 + signal.SIGTERM)


async def test_an_unknown_signal_name_is_rejected(make_executor: MakeExecutor, work: Path) -> None:
    executor = make_executor()
    job_id = await executor.submit(request("sleep 60", work))
    with pytest.raises(SlurmRejected, match="not a signal"):
        await executor.cancel(job_id, "SIGNOPE")


# ------------------------------------------------------- submit, output, env


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"script": "echo no shebang\n"}, "must start with '#!'"),
        ({"options": SbatchOptions(cpus_per_task=0)}, "cpus_per_task"),
        ({"options": SbatchOptions(time_limit_min=-5)}, "time limit"),
        ({"environment": {"A=B": "x"}}, "environment variable"),
    ],
)
async def test_submit_rejects_requests_sbatch_would_refuse(
    make_executor: MakeExecutor, work: Path, changes: dict[str, Any], message: str
) -> None:
    executor = make_executor()
    bad = dataclasses.replace(request("true", work), **changes)
    with pytest.raises(SlurmRejected, match=message):
        await executor.submit(bad)
    assert await executor.list_jobs("") == []


async def test_output_goes_to_the_path_with_job_id_and_name_substituted_appending(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    executor = make_executor()
    work = tmp_path / "not" / "yet" / "there"
    stdout = str(tmp_path / "%x-%j-100%%.out")
    (tmp_path / "named-1-100%.out").write_text("earlier\n")
    job_id = await executor.submit(
        request("pwd; echo to-stderr >&2", work, name="named", stdout=stdout)
    )
    assert job_id == "1"
    await wait_for_state(executor, job_id, JobState.COMPLETED)
    lines = (tmp_path / "named-1-100%.out").read_text().splitlines()
    assert lines == ["earlier", str(work), "to-stderr"]


async def test_a_job_gets_slurm_variables_and_its_request_environment_but_no_operator_secrets(
    make_executor: MakeExecutor, work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SGORCH_TEST_SECRET_NOT_FORWARDED", "hunter2")
    monkeypatch.setenv("LC_TIME", "C")
    executor = make_executor()
    req = request(
        "env > env.txt", work, name="envy", cpus=2, environment={"HF_TOKEN": "tok", "MY_FLAG": "1"}
    )
    job_id = await executor.submit(req)
    await wait_for_state(executor, job_id, JobState.COMPLETED)
    env = dict(line.split("=", 1) for line in (work / "env.txt").read_text().splitlines())
    node = os.uname().nodename.split(".")[0]
    assert {
        key: env[key]
        for key in (
            "SLURM_JOB_ID",
            "SLURM_JOBID",
            "SLURM_JOB_NAME",
            "SLURM_CPUS_PER_TASK",
            "SLURM_JOB_NODELIST",
            "SLURMD_NODENAME",
            "SLURM_SUBMIT_DIR",
            "SLURM_JOB_PARTITION",
            "HF_TOKEN",
            "MY_FLAG",
            "PATH",
            "LC_TIME",
        )
    } == {
        "SLURM_JOB_ID": job_id,
        "SLURM_JOBID": job_id,
        "SLURM_JOB_NAME": "envy",
        "SLURM_CPUS_PER_TASK": "2",
        "SLURM_JOB_NODELIST": node,
        "SLURMD_NODENAME": node,
        "SLURM_SUBMIT_DIR": str(work),
        "SLURM_JOB_PARTITION": "local",
        "HF_TOKEN": "tok",
        "MY_FLAG": "1",
        "PATH": os.environ["PATH"],
        "LC_TIME": "C",
    }
    assert "SGORCH_TEST_SECRET_NOT_FORWARDED" not in env
    job_dir = tmp_path / "state" / "jobs" / job_id
    assert not (job_dir / "environment.json").exists(), "secrets are not kept after start"
    assert stat.S_IMODE((job_dir / "script").stat().st_mode) == 0o600


async def test_list_jobs_returns_only_jobs_whose_comment_starts_with_the_owner_tag(
    make_executor: MakeExecutor, work: Path
) -> None:
    executor = make_executor()
    mine = await executor.submit(request("true", work))
    await executor.submit(request("true", work, comment="sgorch:v1;instance=other;x"))
    await executor.submit(request("true", work, comment=""))
    assert [info.job_id for info in await executor.list_jobs(TAG)] == [mine]
    assert len(await executor.list_jobs("")) == 3


async def test_finished_jobs_are_listed_for_min_job_age_then_forgotten(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    now = [1_000_000.0]
    executor = make_executor(clock=lambda: now[0], min_job_age_s=300.0)
    job_id = await executor.submit(request("exit 0", work))
    await wait_for_state(executor, job_id, JobState.COMPLETED)
    now[0] += 299
    assert [info.job_id for info in await executor.list_jobs("")] == [job_id]
    now[0] += 1
    assert await executor.list_jobs("") == []
    assert not (tmp_path / "state" / "jobs" / job_id).exists()
    assert await executor.submit(request("exit 0", work)) == "2"


# ------------------------------------------------------------- lifecycle


async def test_ping_answers_until_the_executor_is_closed(make_executor: MakeExecutor) -> None:
    executor = make_executor()
    await executor.ping()
    await executor.aclose()
    with pytest.raises(SlurmUnavailable, match="closed"):
        await executor.ping()
    with pytest.raises(SlurmUnavailable, match="closed"):
        await executor.list_jobs("")


async def test_a_second_executor_on_the_same_state_dir_is_refused_while_the_first_is_open(
    make_executor: MakeExecutor,
) -> None:
    first = make_executor()
    await first.ping()
    second = make_executor()
    with pytest.raises(SlurmUnavailable, match="another local executor"):
        await second.ping()
    await first.aclose()
    await second.ping()


# ----------------------------------------------------- restart and adoption


async def test_a_running_job_survives_a_restart_and_can_still_be_cancelled(
    make_executor: MakeExecutor, work: Path
) -> None:
    first = make_executor()
    job_id = await first.submit(request("touch up; sleep 60", work))
    await wait_for_file(work / "up")
    before = await job(first, job_id)
    await first.aclose()
    second = make_executor()
    after = await job(second, job_id)
    assert (after.state, after.start_time, after.nodes) == (
        JobState.RUNNING,
        before.start_time,
        before.nodes,
    )
    await second.cancel(job_id)
    await wait_for_state(second, job_id, JobState.CANCELLED)


async def test_the_exit_code_of_a_job_that_ended_while_no_executor_ran_is_known(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    first = make_executor()
    body = "touch up\nwhile [ ! -e go ]; do sleep 0.05; done\nexit 5"
    job_id = await first.submit(request(body, work))
    await wait_for_file(work / "up")
    await first.aclose()
    (rec,) = records(tmp_path / "state")
    (work / "go").touch()
    with anyio.fail_after(10):
        while leftover_processes([rec]):
            await anyio.sleep(0.05)
    info = await job(make_executor(), job_id)
    assert (info.state, info.exit_code, info.reason) == (JobState.FAILED, 5, "NonZeroExitCode")


async def test_a_job_ending_after_its_executor_closed_is_reaped_by_the_next_one(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    first = make_executor()
    body = "touch up\nwhile [ ! -e go ]; do sleep 0.05; done"
    await first.submit(request(body, work))
    await wait_for_file(work / "up")
    await first.aclose()
    (rec,) = records(tmp_path / "state")
    assert rec.supervisor is not None
    (work / "go").touch()
    with anyio.fail_after(10):
        while (proc := read_proc_stat(rec.supervisor.pid)) is not None and proc.state != "Z":
            await anyio.sleep(0.05)
    assert proc is not None, "nobody reaps a child of this process while no executor runs"
    await make_executor().ping()
    assert read_proc_stat(rec.supervisor.pid) is None


async def test_the_time_limit_of_an_adopted_job_is_still_enforced(
    make_executor: MakeExecutor, work: Path
) -> None:
    first = make_executor()
    job_id = await first.submit(request("sleep 60", work, time_limit_min=2))
    await first.aclose()
    second = make_executor()
    assert (await job(second, job_id)).state is JobState.RUNNING
    info = await wait_for(second, job_id, lambda i: i.state.is_terminal)
    assert info.state is JobState.TIMEOUT


async def test_pending_jobs_of_a_previous_executor_start_after_a_restart_with_their_env(
    make_executor: MakeExecutor, work: Path
) -> None:
    first = make_executor(cpus=1)
    blocker = await first.submit(request("sleep 60", work))
    waiting = await first.submit(
        request('echo "$MY_FLAG" > flag', work, environment={"MY_FLAG": "kept"})
    )
    await first.aclose()
    second = make_executor(cpus=1)
    assert (await job(second, waiting)).state is JobState.PENDING
    await second.cancel(blocker)
    await wait_for_state(second, waiting, JobState.COMPLETED)
    assert (work / "flag").read_text() == "kept\n"
    assert await second.submit(request("true", work)) == "3"


async def test_a_launch_the_operator_did_not_get_to_record_is_adopted_not_rerun(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    first = make_executor()
    job_id = await first.submit(request("echo run >> runs; sleep 60", work))
    await wait_for_file(work / "runs")
    await first.aclose()
    (rec,) = records(tmp_path / "state")
    # as if the operator died between starting the process and recording it
    unrecorded = rec.model_copy(update={"supervisor": None, "pgid": None})
    (tmp_path / "state" / "jobs" / job_id / "job.json").write_text(unrecorded.model_dump_json())
    second = make_executor()
    assert (await job(second, job_id)).state is JobState.RUNNING
    (adopted,) = records(tmp_path / "state")
    assert adopted.supervisor == rec.supervisor
    await second.cancel(job_id)
    await wait_for_state(second, job_id, JobState.CANCELLED)
    assert (work / "runs").read_text() == "run\n"


async def test_a_launch_that_never_happened_ends_failed_with_an_unknown_exit_status(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    first = make_executor(cpus=1)
    await first.submit(request("sleep 60", work))
    job_id = await first.submit(request("touch ran", work))
    await first.aclose()
    state_dir = tmp_path / "state"
    (_, pending) = records(state_dir)
    launching = pending.model_copy(update={"state": JobState.RUNNING, "started_at": 1.0})
    (state_dir / "jobs" / job_id / "job.json").write_text(launching.model_dump_json())
    info = await job(make_executor(cpus=1), job_id)
    assert (info.state, info.reason, info.exit_code) == (
        JobState.FAILED,
        REASON_UNKNOWN_EXIT,
        None,
    )
    assert not (work / "ran").exists()


async def test_a_recorded_pid_now_used_by_another_process_is_not_taken_for_the_job(
    make_executor: MakeExecutor, work: Path, tmp_path: Path
) -> None:
    first = make_executor()
    job_id = await first.submit(request("exit 0", work))
    await wait_for_state(first, job_id, JobState.COMPLETED)
    await first.aclose()
    (rec,) = records(tmp_path / "state")
    assert rec.supervisor is not None
    # the pid now belongs to this test process, which started at another time
    reused = Supervisor(os.getpid(), rec.supervisor.start_ticks, rec.supervisor.boot_id)
    stale = rec.model_copy(
        update={
            "state": JobState.RUNNING,
            "supervisor": reused,
            "exit_code": None,
            "ended_at": None,
        }
    )
    (tmp_path / "state" / "jobs" / job_id / "job.json").write_text(stale.model_dump_json())
    info = await job(make_executor(), job_id)
    assert (info.state, info.exit_code) == (JobState.COMPLETED, 0)


# ---------------------------------------------------------- a real worker


def demo_deployment() -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "sgorch.io/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "demo"},
            "spec": {
                "backend": {
                    "type": "command",
                    "command": [
                        sys.executable,
                        "-m",
                        "sgorch.demo_worker",
                        "--host",
                        "{HOST}",
                        "--port",
                        "{PORT}",
                    ],
                },
                "connectivity": {"bind_host": "127.0.0.1"},
            },
        }
    )


async def test_a_rendered_command_deployment_writes_its_endpoint_and_serves_health(
    make_executor: MakeExecutor, tmp_path: Path
) -> None:
    deployment = demo_deployment()
    tag = OwnerTag("test", "demo", 0, compute_template_hash(deployment))
    log_dir = tmp_path / "logs" / "demo"
    executor = make_executor()
    job_id = await executor.submit(build_job_request(deployment, 0, tag, log_dir, os.environ))
    endpoint_file = endpoint_path(log_dir, job_id)
    await wait_for_file(endpoint_file, timeout_s=30)
    endpoint = json.loads(endpoint_file.read_text())
    assert (endpoint["host"], endpoint["job_id"]) == ("127.0.0.1", job_id)
    url = f"http://127.0.0.1:{endpoint['port']}/health"
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        with anyio.fail_after(30):
            while True:
                try:
                    answer = await http.get(url)
                    break
                except httpx.TransportError:
                    await anyio.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["status"] == "ok"
        assert (await job(executor, job_id)).state is JobState.RUNNING
        await executor.cancel(job_id)
        await wait_for_state(executor, job_id, JobState.CANCELLED)
        with pytest.raises(httpx.TransportError):
            await http.get(url)
    log = (log_dir / f"cmd-demo-0-{job_id}.out").read_text()
    assert f"sgorch: job {job_id} serving on 127.0.0.1:{endpoint['port']}" in log

"""The ``local`` SlurmClient: runs SGOrch's batch scripts as local process groups with
Slurm-like job ids, states, environment, time limits and cancel, so that a laptop, a
single GPU box or the quickstart needs no Slurm. The app picks it when there is no Slurm.

How it works (see also ``local_registry`` and ``local_wrapper``):

- ``submit`` records the job on disk (``STATE_DIR/jobs/ID``) as PENDING. A scheduler
  starts pending jobs in id (FIFO) order while the CPU budget allows.
- Each job runs under a small supervisor process in a session of its own; the script
  runs in a process group of its own below it. The supervisor writes the script's exit
  code to a file, so exit codes survive an operator restart.
- Jobs are not the operator's: closing the executor leaves them running, and the next
  executor on the same state directory adopts them (pid plus ``/proc`` start time and
  boot id, so a reused pid is never mistaken for a job).
- Cancel and the time limit send SIGTERM to the job's group, then SIGKILL after
  ``kill_grace_s``.

The scheduler is a thread, not an anyio task: jobs must start, end and time out between
calls, whichever task created or closes the executor (pytest-asyncio, for one, sets up
and tears down fixtures in different tasks, and a task group cannot span them), and all
of its file and process work blocks. The async methods hand their work to it through
``anyio.to_thread``; one lock serialises it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import anyio
from loguru import logger

from sgorch.errors import ConfigError, SlurmRejected, SlurmUnavailable
from sgorch.resources.durations import UNLIMITED
from sgorch.slurm.local_processes import (
    build_job_environment,
    find_group_members,
    find_supervisor,
    parse_signal,
    read_boot_id,
    reap_children,
    signal_group,
    spawn_supervisor,
    supervisor_alive,
)
from sgorch.slurm.local_registry import JobRecord, JobRegistry, RegistryLocked
from sgorch.slurm.types import JobId, JobInfo, JobRequest, JobState

__all__ = [
    "LocalExecutor",
    "LocalSettings",
    "compute_pending_reason",
    "decide_starts",
    "render_output_path",
]

T = TypeVar("T")

PARTITION = "local"
REASON_UNKNOWN_EXIT = "exit status unknown (job supervisor lost)"
REASON_LAUNCH_FAILED = "JobLaunchFailure"
_SIGNAL_WAIT_S = 5.0
_OUTPUT_PATTERN = re.compile(r"%([%jx])")


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """Timing of the local executor."""

    time_unit_s: float = 60.0
    """Seconds in one minute of ``time_limit_min``. 60 for real use; tests set 1, so
    that a one-minute limit runs out after one second."""
    kill_grace_s: float = 5.0
    """Seconds between SIGTERM and SIGKILL on cancel or timeout (Slurm's KillWait), so
    an engine can finish in-flight requests and free its GPU memory."""
    min_job_age_s: float = 300.0
    """Seconds a finished job stays listed before it is forgotten (Slurm's MinJobAge),
    so the operator sees every terminal state."""
    poll_interval_s: float = 0.5
    """Seconds between scheduler passes (start pending jobs, notice ended ones, enforce
    time limits). Every call also runs a pass first, so listings are never stale."""


def render_output_path(template: str, job_id: int, name: str, working_dir: str) -> str:
    """Substitute ``%j`` (job id), ``%x`` (job name) and ``%%`` as sbatch does; a
    relative path is relative to the job's working directory. Other patterns stay."""
    replacements = {"%": "%", "j": str(job_id), "x": name}
    path = _OUTPUT_PATTERN.sub(lambda match: replacements[match[1]], template)
    return str(Path(working_dir) / path)


def decide_starts(pending: Sequence[tuple[int, int]], free_cpus: int, budget: int) -> list[int]:
    """Which of the ``(job id, cpus)`` pending jobs, in FIFO order, start now. Strict
    FIFO: a job that does not fit holds back every later one (no backfill, so big jobs
    are not starved); a job asking more than the whole budget never starts and holds
    back nothing."""
    starts = []
    for job_id, cpus in pending:
        if cpus > budget:
            continue
        if cpus > free_cpus:
            break
        starts.append(job_id)
        free_cpus -= cpus
    return starts


def compute_pending_reason(cpus: int, budget: int) -> str:
    """Slurm's pending reason: an impossible request is ``PartitionConfig``, as Slurm
    reports a request above the partition's limits."""
    return "PartitionConfig" if cpus > budget else "Resources"


def _effective_limit_min(time_limit_min: int | None) -> int | None:
    """Minutes, or None when unlimited: None (the local partition has no default
    limit), -1, or 0 (which sbatch takes as "no limit")."""
    if time_limit_min is None or time_limit_min in (0, UNLIMITED):
        return None
    return time_limit_min


def _check_request(request: JobRequest) -> None:
    if not request.script.startswith("#!"):
        raise SlurmRejected("the script must start with '#!' (sbatch refuses it too)")
    if request.options.cpus_per_task < 1:
        raise SlurmRejected(f"cpus_per_task must be at least 1: {request.options.cpus_per_task}")
    limit = request.options.time_limit_min
    if limit is not None and limit < UNLIMITED:
        raise SlurmRejected(f"invalid time limit {limit} (minutes, or -1 for unlimited)")
    for key, value in request.environment.items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise SlurmRejected(f"invalid environment variable {key!r}")


def _utc(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, tz=UTC)


class _Controller:
    """The embedded slurmctld: the registry, the process table and the scheduler thread.
    Every method runs with ``_lock`` held, in a worker or the scheduler thread."""

    def __init__(
        self,
        state_dir: Path,
        cpus: int,
        clock: Callable[[], float],
        settings: LocalSettings,
        bash: str,
    ) -> None:
        self.cpus = cpus
        self._registry = JobRegistry(state_dir)
        self._clock = clock
        self._settings = settings
        self._bash = bash
        self._node = socket.gethostname().split(".")[0]
        self._jobs: dict[int, JobRecord] = {}
        self._boot_id = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._last_error: str | None = None

    # ------------------------------------------------------------- lifecycle

    def call(self, operation: Callable[[], T]) -> T:
        """Run one operation after a scheduler pass (opening the registry on first use)."""
        with self._lock:
            if self._closed:
                raise SlurmUnavailable("the local executor is closed")
            if self._thread is None:
                self._open()
            self._tick()
            return operation()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._registry.close()

    def _open(self) -> None:
        self._boot_id = read_boot_id()
        self._jobs = self._registry.open()
        try:
            now = self._clock()
            for record in list(self._jobs.values()):
                if record.state is JobState.RUNNING and record.supervisor is None:
                    self._recover_launch(record, now)
        except BaseException:
            self._registry.close()
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"sgorch-local:{self._registry.state_dir}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._settings.poll_interval_s):
            with self._lock:
                if self._closed:
                    return
                try:
                    self._tick()
                except Exception as exc:  # keep scheduling; calls report the error
                    if str(exc) != self._last_error:
                        logger.opt(exception=exc).error("local executor: scheduler pass failed")
                    self._last_error = str(exc)
                else:
                    if self._last_error is not None:
                        logger.info("local executor: scheduler passes succeed again")
                    self._last_error = None

    # ------------------------------------------------------------ operations

    def submit(self, request: JobRequest) -> JobId:
        _check_request(request)
        job_id = self._registry.allocate_id()
        record = JobRecord(
            job_id=job_id,
            name=request.name,
            comment=request.comment,
            options=request.options,
            working_dir=request.working_dir,
            output_path=render_output_path(
                request.stdout_path, job_id, request.name, request.working_dir
            ),
            submitted_at=self._clock(),
        )
        self._registry.create(record, request.script, dict(request.environment))
        self._jobs[job_id] = record
        logger.debug("local executor: job {} ({}) submitted", job_id, request.name)
        self._start_pending(self._clock())
        return JobId(str(job_id))

    def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        now = self._clock()
        return [
            self._job_info(record, now)
            for _, record in sorted(self._jobs.items())
            if record.comment.startswith(owner_tag)
        ]

    def cancel(self, job_id: str, signal_name: str | None) -> None:
        try:
            sig = None if signal_name is None else parse_signal(signal_name)
        except ValueError as exc:
            raise SlurmRejected(str(exc)) from exc
        record = self._jobs.get(int(job_id)) if job_id.isdigit() else None
        if record is None or record.state.is_terminal:
            return
        now = self._clock()
        if sig is not None:
            if record.state.is_running:
                self._signal(record, sig)
        elif record.state is JobState.PENDING:
            self._registry.drop_environment(record.job_id)
            self._save(record, state=JobState.CANCELLED, ended_at=now)
        elif record.state is JobState.RUNNING:
            self._drive_kill(
                self._save(record, state=JobState.COMPLETING, ending=JobState.CANCELLED), now
            )

    # ------------------------------------------------------------ scheduling

    def _tick(self) -> None:
        now = self._clock()
        reap_children()
        for record in list(self._jobs.values()):
            if record.state.is_running:
                record = self._observe(record, now)
            if record.state is JobState.RUNNING and self._timed_out(record, now):
                record = self._save(record, state=JobState.COMPLETING, ending=JobState.TIMEOUT)
            if record.state is JobState.COMPLETING:
                self._drive_kill(record, now)
        self._start_pending(now)
        self._prune(now)

    def _start_pending(self, now: float) -> None:
        busy = sum(r.options.cpus_per_task for r in self._jobs.values() if r.state.is_running)
        pending = [
            (job_id, record.options.cpus_per_task)
            for job_id, record in sorted(self._jobs.items())
            if record.state is JobState.PENDING
        ]
        for job_id in decide_starts(pending, self.cpus - busy, self.cpus):
            self._start(self._jobs[job_id], now)

    def _start(self, record: JobRecord, now: float) -> None:
        # Recorded before the process exists: after a crash in between, the next executor
        # looks for the process instead of starting the job a second time.
        record = self._save(record, state=JobState.RUNNING, started_at=now, node=self._node)
        job_id = record.job_id
        try:
            environment = build_job_environment(
                os.environ, self._registry.read_environment(job_id), self._slurm_env(record)
            )
            Path(record.working_dir).mkdir(parents=True, exist_ok=True)
            supervisor = spawn_supervisor(
                job_dir=self._registry.job_dir(job_id),
                working_dir=Path(record.working_dir),
                bash=self._bash,
                script=self._registry.script_path(job_id),
                environment=environment,
                output=Path(record.output_path),
                boot_id=self._boot_id,
            )
        except OSError as exc:
            logger.warning(
                "local executor: job {} ({}) could not start: {}", job_id, record.name, exc
            )
            self._save(record, state=JobState.FAILED, reason=REASON_LAUNCH_FAILED, ended_at=now)
            return
        finally:
            self._registry.drop_environment(job_id)
        self._save(record, supervisor=supervisor)
        logger.debug(
            "local executor: job {} ({}) started, supervisor pid {}",
            job_id,
            record.name,
            supervisor.pid,
        )

    def _slurm_env(self, record: JobRecord) -> dict[str, str]:
        job_id = str(record.job_id)
        return {
            "SLURM_JOB_ID": job_id,
            "SLURM_JOBID": job_id,
            "SLURM_JOB_NAME": record.name,
            "SLURM_CPUS_PER_TASK": str(record.options.cpus_per_task),
            "SLURM_JOB_NODELIST": self._node,
            "SLURMD_NODENAME": self._node,
            "SLURM_SUBMIT_DIR": record.working_dir,
            "SLURM_JOB_PARTITION": PARTITION,
        }

    def _observe(self, record: JobRecord, now: float) -> JobRecord:
        """Notice the job's process group and the end of its supervisor."""
        supervisor = record.supervisor
        assert supervisor is not None, "launches are recovered when the registry opens"
        if record.pgid is None:
            pgid = self._registry.read_pgid(record.job_id)
            if pgid is not None:
                record = self._save(record, pgid=pgid)
        if supervisor_alive(supervisor, self._boot_id):
            return record
        return self._finish(record, now)

    def _finish(self, record: JobRecord, now: float) -> JobRecord:
        code = self._registry.read_exit_code(record.job_id)
        self._registry.drop_environment(record.job_id)
        # A supervisor that died without recording the end (killed, say) may leave part of
        # the job behind; it must not run on unsupervised.
        if (
            code is None
            and record.supervisor is not None
            and record.pgid is not None
            and find_group_members(record.pgid, record.supervisor.pid)
        ):
            signal_group(record.pgid, signal.SIGKILL)
        if record.ending is not None:
            state = record.ending
            reason = "TimeLimit" if record.ending is JobState.TIMEOUT else None
        elif code is None:
            state, reason = JobState.FAILED, REASON_UNKNOWN_EXIT
        elif code == 0:
            state, reason = JobState.COMPLETED, None
        else:
            state, reason = JobState.FAILED, "NonZeroExitCode"
        logger.debug("local executor: job {} ended {} (exit code {})", record.job_id, state, code)
        return self._save(record, state=state, reason=reason, exit_code=code, ended_at=now)

    def _recover_launch(self, record: JobRecord, now: float) -> None:
        """A job the previous executor was launching when it stopped: adopt its
        supervisor if it got started, otherwise end the job."""
        supervisor = find_supervisor(self._registry.job_dir(record.job_id), self._boot_id)
        if supervisor is not None:
            self._save(record, supervisor=supervisor)
        else:
            self._finish(record, now)

    def _timed_out(self, record: JobRecord, now: float) -> bool:
        limit = _effective_limit_min(record.options.time_limit_min)
        if limit is None or record.started_at is None:
            return False
        return now >= record.started_at + limit * self._settings.time_unit_s

    def _drive_kill(self, record: JobRecord, now: float) -> None:
        """SIGTERM to the job's group, then SIGKILL once the grace period is over."""
        if record.pgid is None:  # the supervisor has not started the script yet
            return
        if record.term_sent_at is None:
            self._note_end_in_output(record, now)
            signal_group(record.pgid, signal.SIGTERM)
            self._save(record, term_sent_at=now)
        elif (
            record.kill_sent_at is None and now >= record.term_sent_at + self._settings.kill_grace_s
        ):
            signal_group(record.pgid, signal.SIGKILL)
            self._save(record, kill_sent_at=now)

    def _note_end_in_output(self, record: JobRecord, now: float) -> None:
        """Tell the job's log why it is ending, as slurmstepd does."""
        at = datetime.fromtimestamp(now).strftime("%Y-%m-%dT%H:%M:%S")
        why = " DUE TO TIME LIMIT" if record.ending is JobState.TIMEOUT else ""
        line = f"sgorch-local: *** JOB {record.job_id} ON {self._node} CANCELLED AT {at}{why} ***\n"
        try:
            with open(record.output_path, "a") as output:
                output.write(line)
        except OSError as exc:
            logger.warning("local executor: cannot write to {}: {}", record.output_path, exc)

    def _signal(self, record: JobRecord, sig: signal.Signals) -> None:
        deadline = time.monotonic() + _SIGNAL_WAIT_S
        pgid = record.pgid
        while pgid is None:  # just started: wait for the supervisor to start the script
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"job {record.job_id} is still starting; signal it later")
            time.sleep(0.01)
            pgid = self._registry.read_pgid(record.job_id)
        signal_group(pgid, sig)

    def _prune(self, now: float) -> None:
        for job_id, record in list(self._jobs.items()):
            ended = record.ended_at
            if ended is not None and now - ended >= self._settings.min_job_age_s:
                self._registry.remove(job_id)
                del self._jobs[job_id]

    def _save(self, record: JobRecord, **changes: object) -> JobRecord:
        updated = record.model_copy(update=changes)
        self._registry.save(updated)
        self._jobs[updated.job_id] = updated
        return updated

    # ---------------------------------------------------------------- views

    def _job_info(self, record: JobRecord, now: float) -> JobInfo:
        limit = _effective_limit_min(record.options.time_limit_min)
        deadline = (
            record.started_at + limit * self._settings.time_unit_s
            if limit is not None and record.started_at is not None
            else None
        )
        if record.state is JobState.PENDING:
            reason: str | None = compute_pending_reason(record.options.cpus_per_task, self.cpus)
            end, time_left = None, None
        elif record.state.is_running:
            reason = None
            end = deadline
            time_left = None if deadline is None else max(0, int(deadline - now))
        else:
            reason, end, time_left = record.reason, record.ended_at, None
        return JobInfo(
            job_id=JobId(str(record.job_id)),
            name=record.name,
            state=record.state,
            reason=reason,
            nodes=record.node,
            start_time=_utc(record.started_at),
            end_time=_utc(end),
            time_left_s=time_left,
            time_limit_min=UNLIMITED if limit is None else limit,
            comment=record.comment,
            exit_code=record.exit_code,
        )


class LocalExecutor:
    """The embedded SlurmClient (see the module docstring). Use ``async with`` or call
    :meth:`aclose`; the registry and the scheduler start on first use.

    ``cpus`` is the CPU budget (default: ``os.cpu_count()``); a job takes
    ``options.cpus_per_task`` of it. Only ``cpus_per_task`` and ``time_limit_min`` of
    the options are honoured; partition, gres, memory and the rest are recorded and
    ignored — there is one local "node". ``clock`` gives wall-clock seconds.
    """

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        cpus: int | None = None,
        *,
        clock: Callable[[], float] = time.time,
        settings: LocalSettings | None = None,
    ) -> None:
        budget = cpus if cpus is not None else os.cpu_count() or 1
        if budget < 1:
            raise ConfigError(f"the local executor needs at least one CPU, not {budget}")
        bash = shutil.which("bash")
        if bash is None:
            raise ConfigError("the local executor runs batch scripts with bash: none on PATH")
        self.state_dir = state_dir
        self._controller = _Controller(state_dir, budget, clock, settings or LocalSettings(), bash)

    @property
    def cpus(self) -> int:
        return self._controller.cpus

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Open the registry, adopt the jobs it lists and start the scheduler (the first
        call of any other method does the same)."""
        await self._call(lambda: None)

    async def submit(self, request: JobRequest) -> JobId:
        return await self._call(partial(self._controller.submit, request))

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        return await self._call(partial(self._controller.list_jobs, owner_tag))

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        await self._call(partial(self._controller.cancel, job_id, signal))

    async def ping(self) -> None:
        await self._call(lambda: None)

    async def can_exclude_nodes(self) -> bool:
        return False  # one node: this machine

    async def aclose(self) -> None:
        """Stop the scheduler and release the state directory. Running jobs keep running,
        as Slurm jobs do when the operator stops; the next executor adopts them."""
        await anyio.to_thread.run_sync(self._controller.close)

    async def _call(self, operation: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(self._controller.call, operation)
        except RegistryLocked as exc:
            raise SlurmUnavailable(str(exc), delay_s=30.0) from exc
        except OSError as exc:
            raise SlurmUnavailable(f"local executor ({self.state_dir}): {exc}") from exc

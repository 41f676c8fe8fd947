"""An in-memory Slurm for fast, deterministic tests of the controllers: jobs change
state only when a test says so, every call is recorded, and faults are injectable —
including an operator crash (``kill -9``) right before or after a call takes effect."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobInfo, JobRequest, JobState


class OperatorCrash(BaseException):
    """Raised by a fake from inside a call to end the operator mid-reconcile, as ``kill
    -9`` would. A BaseException, so no ``except Exception`` in the operator swallows it;
    the test catches it and restarts the operator from disk."""


@dataclass
class CrashPoint:
    """Crash on the next ``call`` ('submit', 'cancel', ...), ``when`` it takes effect:
    'before' (nothing happened) or 'after' (it happened, the caller never learns)."""

    call: str
    when: str

    def hit(self, call: str, when: str) -> bool:
        return self.call == call and self.when == when


@dataclass
class FakeSlurm:
    name: str = "fake"
    jobs: dict[str, JobInfo] = field(default_factory=dict)
    requests: dict[str, JobRequest] = field(default_factory=dict)
    submits: list[str] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    unavailable: bool = False
    reject_with: str | None = None
    lose_reply_after_submit: bool = False
    """The job is created but the caller sees a timeout (sbatch killed after success)."""
    drop_submission: bool = False
    """sbatch times out before reaching the controller: no job, caller sees a timeout."""
    on_cancel: Callable[[str], None] | None = None
    """Called with the job id when a cancel takes effect (before the job's state changes)."""
    on_submit: Callable[[str], None] | None = None
    """Called with the job id right after a submission created the job."""
    crash: CrashPoint | None = None
    """One-shot: raise ``OperatorCrash`` at this point of the next matching call."""
    sticky_cancel: bool = False
    """Running jobs take their time to end after a cancel (COMPLETING until ``complete``)."""
    partition_nodes: frozenset[str] | None = None
    """The nodes jobs may run on, if known: a submission excluding all of them is
    refused, as sbatch refuses it."""
    excludes_nodes: bool = True
    """What ``can_exclude_nodes`` answers; False also rejects submissions that exclude
    nodes, as slurmrestd v0.0.38 does."""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.unavailable:
            raise SlurmUnavailable("fake controller down", delay_s=0.1)

    def _maybe_crash(self, call: str, when: str) -> None:
        if self.crash is not None and self.crash.hit(call, when):
            self.crash = None
            raise OperatorCrash(f"operator killed {when} {call}")

    async def submit(self, request: JobRequest) -> JobId:
        self._check("submit")
        self._maybe_crash("submit", "before")
        if self.reject_with:
            raise SlurmRejected(self.reject_with)
        if request.options.exclude and not self.excludes_nodes:
            raise SlurmRejected("this Slurm access cannot exclude nodes")
        if self.partition_nodes is not None and self.partition_nodes <= set(
            request.options.exclude
        ):
            raise SlurmRejected("Requested node configuration is not available")
        if self.drop_submission:
            raise SlurmUnavailable("sbatch timed out", delay_s=0.1)
        job_id = str(next(self._ids))
        self.jobs[job_id] = JobInfo(
            JobId(job_id),
            request.name,
            JobState.PENDING,
            reason="Priority",
            comment=request.comment,
        )
        self.requests[job_id] = request
        self.submits.append(job_id)
        if self.on_submit is not None:
            self.on_submit(job_id)
        self._maybe_crash("submit", "after")
        if self.lose_reply_after_submit:
            raise SlurmUnavailable("sbatch timed out", delay_s=0.1)
        return JobId(job_id)

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        self._check("list")
        return [j for j in self.jobs.values() if j.comment.startswith(owner_tag)]

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        self._check("cancel")
        self._maybe_crash("cancel", "before")
        self.cancels.append(job_id)
        if self.on_cancel is not None:
            self.on_cancel(job_id)
        job = self.jobs.get(job_id)
        if job is not None and not job.state.is_terminal:
            if self.sticky_cancel and job.state.is_running:
                self.jobs[job_id] = replace(job, state=JobState.COMPLETING, reason=None)
            else:
                self.jobs[job_id] = replace(job, state=JobState.CANCELLED, reason=None)
        self._maybe_crash("cancel", "after")

    async def ping(self) -> None:
        self._check("ping")

    async def can_exclude_nodes(self) -> bool:
        return self.excludes_nodes

    async def aclose(self) -> None:
        return None

    # --- test controls -------------------------------------------------------------

    def live(self) -> list[JobInfo]:
        return [j for j in self.jobs.values() if not j.state.is_terminal]

    def start(self, job_id: str, node: str = "node1", time_left_s: int | None = 3600) -> None:
        self.jobs[job_id] = replace(
            self.jobs[job_id],
            state=JobState.RUNNING,
            reason=None,
            nodes=node,
            start_time=datetime.now(UTC),
            time_left_s=time_left_s,
        )

    def finish(self, job_id: str, state: JobState = JobState.FAILED, exit_code: int = 1) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], state=state, exit_code=exit_code)

    def requeue(self, job_id: str, reason: str = "BeginTime") -> None:
        """Preempted with requeue (or node failure with requeue): the same job id goes
        back to PENDING and will start again, elsewhere."""
        self.jobs[job_id] = replace(
            self.jobs[job_id],
            state=JobState.PENDING,
            reason=reason,
            nodes=None,
            start_time=None,
            time_left_s=None,
        )

    def complete(self, job_id: str) -> None:
        """A job cancelled with ``sticky_cancel`` finally ends."""
        job = self.jobs[job_id]
        if job.state is JobState.COMPLETING:
            self.jobs[job_id] = replace(job, state=JobState.CANCELLED)

    def pend(self, job_id: str, reason: str) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], reason=reason)

    def forget_finished(self) -> None:
        """What squeue does after MinJobAge."""
        self.jobs = {k: v for k, v in self.jobs.items() if not v.state.is_terminal}

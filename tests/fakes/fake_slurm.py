"""An in-memory Slurm for fast, deterministic tests of the controllers: jobs change
state only when a test says so, every call is recorded, and faults are injectable."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobInfo, JobRequest, JobState


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
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.unavailable:
            raise SlurmUnavailable("fake controller down", delay_s=0.1)

    async def submit(self, request: JobRequest) -> JobId:
        self._check("submit")
        if self.reject_with:
            raise SlurmRejected(self.reject_with)
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
        if self.lose_reply_after_submit:
            raise SlurmUnavailable("sbatch timed out", delay_s=0.1)
        return JobId(job_id)

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        self._check("list")
        return [j for j in self.jobs.values() if j.comment.startswith(owner_tag)]

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        self._check("cancel")
        self.cancels.append(job_id)
        if self.on_cancel is not None:
            self.on_cancel(job_id)
        job = self.jobs.get(job_id)
        if job is not None and not job.state.is_terminal:
            self.jobs[job_id] = replace(job, state=JobState.CANCELLED, reason=None)

    async def ping(self) -> None:
        self._check("ping")

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

    def pend(self, job_id: str, reason: str) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], reason=reason)

    def forget_finished(self) -> None:
        """What squeue does after MinJobAge."""
        self.jobs = {k: v for k, v in self.jobs.items() if not v.state.is_terminal}

"""Domain types of the SLURM layer: what the rest of SGOrch knows about jobs, whichever
client (cli, rest, pyslurm, local) reached Slurm."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NewType, Protocol, runtime_checkable

__all__ = [
    "UNSATISFIABLE_REASONS",
    "JobId",
    "JobInfo",
    "JobRequest",
    "JobState",
    "SbatchOptions",
    "SlurmClient",
]

JobId = NewType("JobId", str)


class JobState(StrEnum):
    """Every job state Slurm reports (squeue %T, slurmrestd, pyslurm), plus UNKNOWN for
    anything else, so a new Slurm state never crashes a parser."""

    PENDING = "PENDING"
    CONFIGURING = "CONFIGURING"
    RUNNING = "RUNNING"
    COMPLETING = "COMPLETING"
    SUSPENDED = "SUSPENDED"
    STOPPED = "STOPPED"
    SIGNALING = "SIGNALING"
    STAGE_OUT = "STAGE_OUT"
    RESIZING = "RESIZING"
    REQUEUED = "REQUEUED"
    REQUEUE_FED = "REQUEUE_FED"
    REQUEUE_HOLD = "REQUEUE_HOLD"
    RESV_DEL_HOLD = "RESV_DEL_HOLD"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    BOOT_FAIL = "BOOT_FAIL"
    DEADLINE = "DEADLINE"
    SPECIAL_EXIT = "SPECIAL_EXIT"
    REVOKED = "REVOKED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, text: str) -> JobState:
        """Parse ``RUNNING``, ``running``, ``CANCELLED by 0``, ``CANCELLED+``, ``CA``-free
        long forms; unknown text gives :attr:`UNKNOWN`."""
        word = re.split(r"[\s+]", text.strip().upper(), maxsplit=1)[0] if text.strip() else ""
        try:
            return cls(word)
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        """The job is over and will not run again by itself."""
        return self in _TERMINAL

    @property
    def is_pending(self) -> bool:
        """Waiting to start (including held and requeued)."""
        return self in _PENDING

    @property
    def is_running(self) -> bool:
        """Started and not finished (the engine may be serving)."""
        return self in _RUNNING

    @property
    def is_live(self) -> bool:
        """Holds or may hold resources: counts against replicas + max_surge."""
        return not self.is_terminal


_TERMINAL = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
        JobState.OUT_OF_MEMORY,
        JobState.BOOT_FAIL,
        JobState.DEADLINE,
        JobState.SPECIAL_EXIT,
        JobState.REVOKED,
    }
)
_PENDING = frozenset(
    {
        JobState.PENDING,
        JobState.REQUEUED,
        JobState.REQUEUE_FED,
        JobState.REQUEUE_HOLD,
        JobState.RESV_DEL_HOLD,
    }
)
_RUNNING = frozenset(
    {
        JobState.CONFIGURING,
        JobState.RUNNING,
        JobState.COMPLETING,
        JobState.SUSPENDED,
        JobState.STOPPED,
        JobState.SIGNALING,
        JobState.STAGE_OUT,
        JobState.RESIZING,
    }
)

UNSATISFIABLE_REASONS = frozenset(
    {
        "PartitionConfig",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "PartitionDown",
        "PartitionInactive",
        "ReqNodeNotAvail",
        "BadConstraints",
        "InvalidAccount",
        "InvalidQOS",
        "QOSMaxCpuPerJobLimit",
        "QOSMaxGRESPerJob",
        "QOSMaxWallDurationPerJobLimit",
        "AccountNotAllowed",
        "QOSNotAllowed",
        "NodeDown",
        "InactiveLimit",
        "DependencyNeverSatisfied",
        "MaxMemPerLimit",
        "Licenses",
        "FrontEndDown",
        "BurstBufferResources",
    }
)
"""Pending reasons that mean "this job can never start as asked" (report a
ReplicaFailure instead of waiting forever). ``ReqNodeNotAvail`` may clear when a node
returns, so it is reported but the job is left pending."""


@dataclass(frozen=True, slots=True)
class SbatchOptions:
    """Scheduling options of a job, in units Slurm uses. Every client maps these to its
    own API; ``extra`` (free-form sbatch options) only the cli client can honour."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    gres: str | None = None
    constraint: str | None = None
    exclude: tuple[str, ...] = ()
    cpus_per_task: int = 1
    mem_mb: int | None = None
    time_limit_min: int | None = None
    """None: the partition default; -1: unlimited."""
    extra: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One job to submit. The script carries ``#SBATCH`` lines for humans and for
    sbatch; ``options`` carries the same settings for clients that do not parse scripts.
    ``environment`` holds resolved secrets and is exported to the job only through the
    submission's environment — never the script text or a command line."""

    name: str
    script: str
    comment: str
    options: SbatchOptions
    working_dir: str
    stdout_path: str
    """May contain ``%j`` (job id) and ``%x`` (job name)."""
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobInfo:
    """What Slurm says about one job at one moment."""

    job_id: JobId
    name: str
    state: JobState
    reason: str | None = None
    nodes: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    """Expected end for running jobs (start + limit), actual end for finished ones."""
    time_left_s: int | None = None
    time_limit_min: int | None = None
    comment: str = ""
    exit_code: int | None = None


@runtime_checkable
class SlurmClient(Protocol):
    """How SGOrch reaches Slurm. Implementations translate every failure into
    ``SlurmUnavailable`` (temporary: try later, cancel nothing) or ``SlurmRejected``
    (this request will never be accepted)."""

    name: str
    """Mechanism, for logs and metrics: 'cli', 'rest', 'pyslurm' or 'local'."""

    async def submit(self, request: JobRequest) -> JobId:
        """Submit one job and return its id."""
        ...

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        """Every job Slurm still knows whose comment starts with ``owner_tag``: pending,
        running and recently finished — in one call, whatever their number."""
        ...

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        """Cancel (or signal) a job; unknown and finished jobs are not an error."""
        ...

    async def ping(self) -> None:
        """Return when the controller answers; raise ``SlurmUnavailable`` otherwise."""
        ...

    async def can_exclude_nodes(self) -> bool:
        """Whether ``SbatchOptions.exclude`` reaches the scheduler (node quarantine
        relies on it)."""
        ...

    async def aclose(self) -> None:
        """Release connections, worker processes and files."""
        ...

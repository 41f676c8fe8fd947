"""The local executor's job registry on disk — its ``StateSaveLocation``: every job it
knows survives an operator restart, and job ids are never reused.

Layout of ``STATE_DIR`` (0700)::

    lock                  held (flock) by the one executor using this directory
    next_job_id           the next id to hand out
    jobs/ID/job.json      the job record (JobRecord as JSON); written last on submit
    jobs/ID/script        the batch script (0600)
    jobs/ID/environment.json   the request's environment (0600; secrets), until start
    jobs/ID/started       written by the supervisor: the job's process group
    jobs/ID/exit          written by the supervisor: the script's exit code

Every file is replaced atomically (temp file, fsync, rename). Blocking: the executor
calls this from its scheduler thread only.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, ValidationError

from sgorch.files import remove_file, write_atomic
from sgorch.slurm.local_processes import Supervisor
from sgorch.slurm.local_wrapper import EXIT_FILE, STARTED_FILE
from sgorch.slurm.types import JobState, SbatchOptions

__all__ = ["JobRecord", "JobRegistry", "RegistryLocked"]

_RECORD = "job.json"
_SCRIPT = "script"
_ENVIRONMENT = "environment.json"


class RegistryLocked(OSError):
    """Another executor (in this or another process) uses the state directory."""


class JobRecord(BaseModel):
    """What the executor knows about one job. ``state`` is PENDING, RUNNING (a RUNNING
    job without ``supervisor`` was being launched when the operator stopped), COMPLETING
    (being killed: ``ending`` says why) or terminal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    job_id: int
    name: str
    comment: str
    options: SbatchOptions
    working_dir: str
    output_path: str
    """The stdout path with ``%j``/``%x`` substituted."""
    submitted_at: float
    state: JobState = JobState.PENDING
    reason: str | None = None
    """Why a job ended, when its exit code does not say (launch failure, lost status)."""
    started_at: float | None = None
    ended_at: float | None = None
    node: str | None = None
    supervisor: Supervisor | None = None
    pgid: int | None = None
    """The job's process group (the script and everything it starts)."""
    exit_code: int | None = None
    ending: JobState | None = None
    """CANCELLED or TIMEOUT once the executor started to kill the job."""
    term_sent_at: float | None = None
    kill_sent_at: float | None = None


class JobRegistry:
    """One directory per job under ``state_dir/jobs``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._jobs_dir = state_dir / "jobs"
        self._counter = state_dir / "next_job_id"
        self._next_id = 1
        self._lock_fd: int | None = None

    def open(self) -> dict[int, JobRecord]:
        """Lock the directory and load every job; removes the leftovers of submits that
        were interrupted before their record was written."""
        self._jobs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        fd = os.open(self.state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RegistryLocked(f"{self.state_dir} is used by another local executor") from None
        self._lock_fd = fd
        records: dict[int, JobRecord] = {}
        for job_dir in self._jobs_dir.iterdir():
            if not job_dir.name.isdigit():
                continue
            record_path = job_dir / _RECORD
            if not record_path.exists():
                logger.info("local executor: removing unfinished submit {}", job_dir)
                shutil.rmtree(job_dir)
                continue
            try:
                record = JobRecord.model_validate_json(record_path.read_bytes())
            except ValidationError as exc:
                logger.error(
                    "local executor: ignoring unreadable job record {}: {}", record_path, exc
                )
                continue
            records[record.job_id] = record
        stored = int(self._counter.read_text()) if self._counter.exists() else 1
        self._next_id = max(stored, max(records, default=0) + 1)
        return records

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def allocate_id(self) -> int:
        """A new job id, persisted before use so that it is never handed out twice."""
        job_id = self._next_id
        write_atomic(self._counter, f"{job_id + 1}\n".encode(), mode=0o600)
        self._next_id = job_id + 1
        return job_id

    def job_dir(self, job_id: int) -> Path:
        return self._jobs_dir / str(job_id)

    def script_path(self, job_id: int) -> Path:
        return self.job_dir(job_id) / _SCRIPT

    def create(self, record: JobRecord, script: str, environment: dict[str, str]) -> None:
        job_dir = self.job_dir(record.job_id)
        job_dir.mkdir(mode=0o700)
        write_atomic(job_dir / _SCRIPT, script.encode(), mode=0o600)
        write_atomic(job_dir / _ENVIRONMENT, json.dumps(environment).encode(), mode=0o600)
        self.save(record)

    def save(self, record: JobRecord) -> None:
        path = self.job_dir(record.job_id) / _RECORD
        write_atomic(path, record.model_dump_json(indent=1).encode(), mode=0o600)

    def read_environment(self, job_id: int) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.job_dir(job_id) / _ENVIRONMENT).read_bytes())
        return data

    def drop_environment(self, job_id: int) -> None:
        """Forget the request's environment (it holds secrets) once it is of no more use."""
        remove_file(self.job_dir(job_id) / _ENVIRONMENT)

    def read_pgid(self, job_id: int) -> int | None:
        """The job's process group, once its supervisor has started the script."""
        with contextlib.suppress(FileNotFoundError):
            return int((self.job_dir(job_id) / STARTED_FILE).read_text())
        return None

    def read_exit_code(self, job_id: int) -> int | None:
        """The script's exit code, once its supervisor has recorded it."""
        with contextlib.suppress(FileNotFoundError):
            return int((self.job_dir(job_id) / EXIT_FILE).read_text())
        return None

    def remove(self, job_id: int) -> None:
        """Forget a job: its record first, so that a crash leaves no half-removed job."""
        job_dir = self.job_dir(job_id)
        remove_file(job_dir / _RECORD)
        shutil.rmtree(job_dir)

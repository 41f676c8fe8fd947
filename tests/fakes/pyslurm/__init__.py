"""A contract fake of pyslurm 25.11: exactly the public names SGOrch's pyslurm client uses,
with the same signatures and quirks, so the client's worker can import it instead of the
real binding (which cannot be built against the Slurm 22.05 on these machines).

Unknown attributes raise ``AttributeError`` (``__slots__`` everywhere), so a misspelt
pyslurm name fails here as it would on the real binding. State lives in
``$SGORCH_PYSLURM_FAKE_DIR`` (see ``_cluster``); batch scripts really run, as local
process groups.
"""

from __future__ import annotations

import os
import signal as _signal
from pathlib import Path
from typing import Any

from . import slurmctld
from ._cluster import RPCError, cluster

__all__ = ["Job", "JobSubmitDescription", "Jobs", "RPCError", "__version__", "slurmctld"]

__version__ = "25.11.0"


def _signal_to_num(value: int | str) -> int:
    """pyslurm's signal_to_num: a number, or a name as in the signal module (``SIGUSR1``)."""
    try:
        return int(value) if str(value).isnumeric() else int(_signal.Signals[str(value)])
    except (KeyError, ValueError):
        raise ValueError(f"Invalid Signal: {value}.") from None


def _timestr_to_mins(value: str | None) -> int | None:
    """pyslurm's timestr_to_mins for the forms SGOrch sends: minutes or UNLIMITED."""
    if value is None:
        return None
    if not isinstance(value, str):  # pyslurm parses it like sbatch --time: send text
        raise TypeError(f"time_limit must be a str such as '90' or 'UNLIMITED', not {value!r}")
    text = value.strip()
    if text.upper() == "UNLIMITED":
        return None
    if not text.isdigit():
        raise ValueError(f"Invalid Time Specification: {value}.")
    return int(text)


class JobSubmitDescription:
    """``pyslurm.JobSubmitDescription``: the attributes SGOrch sets, settable as keywords."""

    __slots__ = (
        "account",
        "comment",
        "constraints",
        "cpus_per_task",
        "environment",
        "excluded_nodes",
        "gres_per_node",
        "log_files_open_mode",
        "memory_per_node",
        "name",
        "nodes",
        "ntasks",
        "partitions",
        "qos",
        "reservations",
        "script",
        "standard_output",
        "time_limit",
        "working_directory",
    )

    def __init__(self, **kwargs: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, None)
        for name, value in kwargs.items():
            setattr(self, name, value)

    def submit(self) -> int:
        """Validate like pyslurm (ValueError), submit like slurmctld (RPCError)."""
        script = self.script
        if not script:
            raise ValueError("You need to provide a batch script.")
        if not script.startswith("#!"):
            raise ValueError("Not a valid Batch script. First line must start with '#!'")
        if "\r\n" in script:
            raise ValueError("Batch script contains DOS line breaks (\\r\\n)")
        if not isinstance(self.environment, dict):
            raise ValueError("the pyslurm fake only supports a dict environment")
        fields = {name: getattr(self, name) for name in self.__slots__}
        fields.update(
            time_limit=_timestr_to_mins(self.time_limit),
            working_directory=self.working_directory or str(Path.cwd()),
        )
        return cluster().submit(fields)


class Job:
    """``pyslurm.Job``: ``Job(id)`` to act on a job; ``Jobs.load()`` fills in the rest."""

    __slots__ = ("_record",)

    def __init__(self, job_id: int) -> None:
        self._record: dict[str, Any] = {"id": job_id}

    @property
    def id(self) -> int:
        return int(self._record["id"])

    @property
    def name(self) -> str | None:
        return self._record.get("name")

    @property
    def state(self) -> str | None:
        return self._record.get("state")

    @property
    def state_reason(self) -> str | None:
        return self._record.get("reason")

    @property
    def comment(self) -> str | None:
        return self._record.get("comment")

    @property
    def allocated_nodes(self) -> str | None:
        return self._record.get("nodes")

    @property
    def start_time(self) -> int | None:
        return self._record.get("start_time")

    @property
    def end_time(self) -> int | None:
        return self._record.get("end_time")

    @property
    def time_limit(self) -> int | None:
        return self._record.get("time_limit")

    def _exit(self) -> tuple[int, int]:
        """pyslurm's _get_exit_code, quirk included: exit statuses >= 128 lose 128."""
        raw = self._record.get("raw_status")
        if raw is None:
            return 0, 0
        if os.WIFSIGNALED(raw):
            return 0, os.WTERMSIG(raw)
        code = os.WEXITSTATUS(raw)
        return (code - 128 if code >= 128 else code), 0

    @property
    def exit_code(self) -> int:
        return self._exit()[0]

    @property
    def exit_code_signal(self) -> int:
        return self._exit()[1]

    def send_signal(self, signal: int | str, steps: str = "children", hurry: bool = False) -> None:
        """Unknown jobs and SIGKILL, or finished jobs, are silent, as in pyslurm."""
        number = _signal_to_num(signal)
        try:
            cluster().kill(self.id, number, whole_job=steps.casefold() in {"all", "batch"})
        except RPCError as exc:
            if exc.errno == 2021 or (exc.errno == 2017 and number == _signal.SIGKILL):
                return
            raise

    def cancel(self) -> None:
        self.send_signal(9)


class Jobs(dict[int, Job]):
    """``pyslurm.Jobs``: every job slurmctld holds, by id."""

    @staticmethod
    def load() -> Jobs:
        jobs = Jobs()
        for record in cluster().jobs():
            job = Job(record["id"])
            job._record = record
            jobs[job.id] = job
        return jobs

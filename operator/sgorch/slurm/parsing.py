"""Pure parsers of what the Slurm commands print (squeue, sbatch, scontrol ping), used by
the cli client. No I/O: they are tested from plain strings and recorded real output."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from loguru import logger

from sgorch.resources.durations import UNLIMITED
from sgorch.slurm.types import JobId, JobInfo, JobState

__all__ = [
    "SQUEUE_FIELDS",
    "SQUEUE_SEPARATOR",
    "ControllerStatus",
    "parse_duration_s",
    "parse_exit_status",
    "parse_job_id",
    "parse_ping_output",
    "parse_sbatch_output",
    "parse_slurm_time",
    "parse_squeue_line",
    "parse_squeue_output",
]

SQUEUE_SEPARATOR = "\x1f"
"""Between squeue fields: ASCII unit separator. Job names and comments are free text
and may contain ``|`` (both do on real clusters); they never contain this."""

SQUEUE_FIELDS = (
    "JobID",
    "Name",
    "State",
    "Reason",
    "NodeList",
    "StartTime",
    "EndTime",
    "TimeLeft",
    "TimeLimit",
    "exit_code",
    "Comment",
)
"""The ``squeue -O`` fields :func:`parse_squeue_line` reads, in order. ``-O`` (not
``-o``) because only it has ``exit_code``. ``Comment`` is last: whatever follows the
tenth separator is the comment."""

_JOB_ID = re.compile(r"^\d+(?:_\d+|_\[[0-9,%\-]+\]|\+\d+)?$")
_NO_VALUE = frozenset({"", "N/A", "NONE", "UNKNOWN", "INVALID", "NOT_SET", "(NULL)"})
_UNLIMITED = frozenset({"UNLIMITED", "INFINITE"})
_DURATION = re.compile(
    r"^(?:(?P<days>\d+)-(?P<dh>\d+)(?::(?P<dm>\d+)(?::(?P<ds>\d+))?)?"
    r"|(?P<a>\d+)(?::(?P<b>\d+)(?::(?P<c>\d+))?)?)$"
)
_T = TypeVar("_T")
_PING = re.compile(r"Slurmctld\((?P<role>[^)]*)\) at (?P<host>\S+) is (?P<status>UP|DOWN)")


def parse_slurm_time(text: str) -> datetime | None:
    """A time as squeue prints it with ``SLURM_TIME_FORMAT=standard`` and ``TZ=UTC``
    (``2026-11-25T13:30:51``), as an aware UTC datetime; ``N/A``, ``NONE``, ``Unknown``
    and ``INVALID`` are None. Raises ``ValueError`` for anything else."""
    value = text.strip()
    if value.upper() in _NO_VALUE:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def parse_duration_s(text: str) -> int | None:
    """A squeue duration (``%L``/``%l``: ``M:SS``, ``H:MM:SS``, ``D-HH:MM:SS``, also the
    sbatch forms ``M``, ``D-H``, ``D-H:M``) in seconds. ``UNLIMITED``/``INFINITE`` give
    :data:`~sgorch.resources.durations.UNLIMITED` (-1); ``NOT_SET``, ``INVALID``, ``N/A``
    give None. Raises ``ValueError`` for anything else."""
    value = text.strip().upper()
    if value in _UNLIMITED:
        return UNLIMITED
    if value in _NO_VALUE:
        return None
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{text!r} is not a Slurm duration")
    if match["days"] is not None:
        days, hours, minutes, seconds = (int(match[key] or 0) for key in ("days", "dh", "dm", "ds"))
        return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    parts = [int(part) for part in (match["a"], match["b"], match["c"]) if part is not None]
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return (parts[0] * 60 + parts[1]) * 60 + parts[2]


def parse_exit_status(text: str) -> int | None:
    """The exit code of a job from squeue's ``exit_code``: a raw wait status (``768`` is
    exit 3; ``9`` is killed by SIGKILL, reported as 128 + 9 = 137, as a shell would) or
    ``EXIT:SIGNAL`` as sacct prints it. Empty and ``N/A`` give None. Raises
    ``ValueError`` for anything else."""
    value = text.strip()
    if value.upper() in _NO_VALUE:
        return None
    if ":" in value:
        code, signal = (int(part) for part in value.split(":", 1))
        return 128 + signal if signal else code
    status = int(value)
    if status < 0:
        raise ValueError(f"{text!r} is not a wait status")
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def parse_job_id(text: str) -> JobId:
    """A job id: ``123``, an array element ``123_4`` (or pending ``123_[1-3]``), a
    heterogeneous component ``123+0``. Raises ``ValueError`` for anything else, so a
    garbled id never reaches a command line."""
    value = text.strip()
    if not _JOB_ID.match(value):
        raise ValueError(f"{text!r} is not a Slurm job id")
    return JobId(value)


def _lenient(parse: Callable[[str], _T | None], text: str, field: str, line: str) -> _T | None:
    # One odd field must not hide a job: the operator would think it gone and submit
    # a duplicate. Keep the job, drop the field, say so.
    try:
        return parse(text)
    except ValueError:
        logger.warning("squeue: cannot parse {} {!r} in line {!r}; ignoring it", field, text, line)
        return None


def _whole_minutes(seconds: int) -> int:
    return UNLIMITED if seconds == UNLIMITED else math.ceil(seconds / 60)


def _optional_text(text: str) -> str | None:
    value = text.strip()
    return None if value in {"", "(null)", "None", "N/A"} else value


def parse_squeue_line(line: str) -> JobInfo | None:
    """One line of ``squeue -h -O`` with :data:`SQUEUE_FIELDS`; None when it is not
    such a line. Unparseable field values (a time, a duration) are logged and left
    None; the job itself is kept."""
    fields = line.rstrip("\r\n").split(SQUEUE_SEPARATOR, len(SQUEUE_FIELDS) - 1)
    if len(fields) != len(SQUEUE_FIELDS) or not _JOB_ID.match(fields[0]):
        return None
    job_id, name, state_text, reason, nodes, start, end, left, limit, exit_text, comment = fields
    state = JobState.parse(state_text)
    limit_s = _lenient(parse_duration_s, limit, "time limit", line)
    left_s = _lenient(parse_duration_s, left, "time left", line)
    exit_code = _lenient(parse_exit_status, exit_text, "exit code", line)
    return JobInfo(
        job_id=JobId(job_id),
        name=name,
        state=state,
        reason=_optional_text(reason),
        nodes=_optional_text(nodes),
        start_time=_lenient(parse_slurm_time, start, "start time", line),
        end_time=_lenient(parse_slurm_time, end, "end time", line),
        time_left_s=None if left_s is None or left_s == UNLIMITED else left_s,
        time_limit_min=None if limit_s is None else _whole_minutes(limit_s),
        comment="" if comment == "(null)" else comment,
        exit_code=exit_code if state.is_terminal else None,
    )


def parse_squeue_output(text: str, owner_tag: str) -> tuple[list[JobInfo], list[str]]:
    """The jobs in ``squeue`` output whose comment starts with ``owner_tag``, and the
    lines that could not be parsed but mention ``owner_tag`` (the caller must not trust
    a listing that may miss one of its jobs). Other unparseable lines are logged and
    skipped."""
    jobs: list[JobInfo] = []
    broken: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        info = parse_squeue_line(line)
        if info is None:
            if owner_tag in line:
                broken.append(line)
            else:
                logger.debug("squeue: skipping a line that is not a job: {!r}", line)
            continue
        if info.comment.startswith(owner_tag):
            jobs.append(info)
    return jobs, broken


def parse_sbatch_output(text: str) -> JobId:
    """The job id ``sbatch --parsable`` prints: ``jobid`` or ``jobid;cluster``. Raises
    ``ValueError`` if the output holds no job id."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("sbatch printed no job id")
    job_id = lines[-1].split(";", 1)[0]
    if not job_id.isdigit():
        raise ValueError(f"sbatch printed {lines[-1]!r}, not a job id")
    return JobId(job_id)


@dataclass(frozen=True, slots=True)
class ControllerStatus:
    """One line of ``scontrol ping``: ``Slurmctld(primary) at HOST is UP``."""

    role: str
    host: str
    up: bool


def parse_ping_output(text: str) -> list[ControllerStatus]:
    """Every controller ``scontrol ping`` reports (primary, then backups)."""
    return [
        ControllerStatus(match["role"], match["host"], match["status"] == "UP")
        for match in _PING.finditer(text)
    ]

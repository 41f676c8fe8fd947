"""Slurm time-limit and memory formats, parsed once so that a typo is a load-time error
with a location instead of an ``sbatch`` rejection minutes later."""

from __future__ import annotations

import math
import re

__all__ = ["UNLIMITED", "parse_memory_mb", "parse_time_limit_min"]

UNLIMITED = -1
"""What :func:`parse_time_limit_min` returns for ``UNLIMITED``/``INFINITE``."""

_DAYS = re.compile(r"^(\d+)-(\d+)(?::(\d+)(?::(\d+))?)?$")
_CLOCK = re.compile(r"^(\d+)(?::(\d+)(?::(\d+))?)?$")
_MEMORY = re.compile(r"^(\d+)([KMGT]?)B?$", re.IGNORECASE)
_MEMORY_FACTOR_MB = {"": 1.0, "K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 * 1024}


def parse_time_limit_min(text: str) -> int:
    """Parse every time format sbatch accepts into whole minutes (seconds round up,
    as Slurm does): ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``, and
    ``UNLIMITED``/``INFINITE`` (returned as :data:`UNLIMITED`).

    Raises ``ValueError`` with the accepted formats when the text is none of them.
    """
    value = text.strip()
    if value.upper() in {"UNLIMITED", "INFINITE"}:
        return UNLIMITED
    days = _DAYS.match(value)
    if days:
        d, h, m, s = (int(part) if part else 0 for part in days.groups())
        return _to_minutes(d * 86400 + h * 3600 + m * 60 + s)
    clock = _CLOCK.match(value)
    if clock:
        parts = [int(part) for part in clock.groups() if part is not None]
        if len(parts) == 1:
            seconds = parts[0] * 60
        elif len(parts) == 2:
            seconds = parts[0] * 60 + parts[1]
        else:
            seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
        return _to_minutes(seconds)
    raise ValueError(
        f"{text!r} is not a Slurm time limit; use minutes, MM:SS, HH:MM:SS, D-HH, "
        "D-HH:MM, D-HH:MM:SS or UNLIMITED"
    )


def _to_minutes(seconds: int) -> int:
    return math.ceil(seconds / 60)


def parse_memory_mb(text: str) -> int:
    """Parse a Slurm ``--mem`` value (``64G``, ``512M``, ``1T``, ``2048``) into MiB.

    A number without a unit is MiB, as in Slurm; ``0`` means "all of the node's memory".
    """
    match = _MEMORY.match(text.strip())
    if not match:
        raise ValueError(
            f"{text!r} is not a Slurm memory size; use a number with an optional "
            "K, M, G or T suffix, e.g. 64G"
        )
    number, unit = match.groups()
    return math.ceil(int(number) * _MEMORY_FACTOR_MB[unit.upper()])

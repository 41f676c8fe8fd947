"""Durations as people read and type them: ages printed the way kubectl prints them
(``45s``, ``3m20s``, ``2h``, ``5d``) and timeouts typed as ``30s``, ``10m``, ``1h`` or
plain seconds."""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["format_age", "format_age_since", "parse_duration_s"]

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def format_age(seconds: float) -> str:
    """``seconds`` as kubectl's ``HumanDuration``: precise while short, coarser as it
    grows (``119s``, ``3m20s``, ``15m``, ``2h5m``, ``30h``, ``5d3h``, ``40d``, ``3y2d``)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"  # a clock far behind the writer's
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def format_age_since(then: datetime, now: datetime) -> str:
    return format_age((now - then).total_seconds())


def parse_duration_s(text: str) -> float:
    """Seconds in ``30s``, ``10m``, ``1h``, ``1h30m``, ``2d``, ``500ms`` or a plain number
    of seconds (``90``, ``0.5``). Raises ``ValueError`` saying what is accepted."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(
                f"{text!r} is not a duration; use e.g. 30s, 10m, 1h, 1h30m or plain seconds"
            ) from None
        seconds = sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a duration; it must be zero or more seconds")
    return seconds

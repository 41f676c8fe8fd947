"""``sgorch wait``: what to wait for, whether a status document meets it, and the
polling loop. Status files are replaced atomically, so re-reading one is always safe."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sgorch.views.documents import StatusFile, StatusUnreadable

__all__ = ["WaitFor", "WaitOutcome", "check_wait", "parse_wait_for", "wait_until"]

_CONDITION = re.compile(r"^condition=(?P<type>[A-Za-z][A-Za-z0-9]*)(?:=(?P<status>[A-Za-z]+))?$")
_STATUSES: dict[str, Literal["True", "False", "Unknown"]] = {
    "true": "True",
    "false": "False",
    "unknown": "Unknown",
}


@dataclass(frozen=True)
class WaitFor:
    """A condition type and the status it must have, or (``condition`` None) deletion."""

    condition: str | None
    status: Literal["True", "False", "Unknown"] = "True"

    def describe(self) -> str:
        if self.condition is None:
            return "delete"
        return f"condition={self.condition}={self.status}"


@dataclass(frozen=True)
class WaitOutcome:
    met: bool
    current: str
    """What the status says now, for the timeout message."""


def parse_wait_for(text: str) -> WaitFor:
    """``condition=TYPE``, ``condition=TYPE=STATUS`` (True/False/Unknown, any case) or
    ``delete``. Raises ``ValueError`` saying what is accepted."""
    if text.strip().lower() == "delete":
        return WaitFor(condition=None)
    match = _CONDITION.match(text.strip())
    status = _STATUSES.get((match["status"] or "true").lower()) if match else None
    if match is None or status is None:
        raise ValueError(
            f"{text!r}: use condition=TYPE (e.g. condition=Available), "
            "condition=TYPE=True|False|Unknown, or delete"
        )
    return WaitFor(condition=match["type"], status=status)


def check_wait(status: StatusFile | None, want: WaitFor) -> WaitOutcome:
    """Whether ``status`` (None: no status file) meets ``want``. Condition types match
    case-insensitively, as in kubectl."""
    if want.condition is None:
        if status is None:
            return WaitOutcome(met=True, current="deleted")
        return WaitOutcome(met=False, current=f"{status.path} still exists")
    if status is None:
        return WaitOutcome(met=False, current="no status file yet")
    for condition in status.document.status.conditions:
        if condition.type.lower() == want.condition.lower():
            detail = condition.reason
            if condition.message:
                detail += f": {condition.message}"
            return WaitOutcome(
                met=condition.status == want.status,
                current=f"{condition.type} is {condition.status} ({detail})",
            )
    return WaitOutcome(met=False, current=f"no {want.condition} condition reported yet")


def wait_until(
    read: Callable[[], StatusFile | None],
    want: WaitFor,
    *,
    timeout_s: float,
    interval_s: float,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WaitOutcome:
    """Re-read the status with ``read`` every ``interval_s`` until it meets ``want`` or
    ``timeout_s`` passed (checked at least once, so a timeout of 0 is a test). An
    unreadable file counts as not met: the next read may find it fixed."""
    deadline = monotonic() + timeout_s
    while True:
        try:
            outcome = check_wait(read(), want)
        except StatusUnreadable as exc:
            outcome = WaitOutcome(met=False, current=f"unreadable status: {exc}")
        if outcome.met:
            return outcome
        left = deadline - monotonic()
        if left <= 0:
            return outcome
        sleep(min(interval_s, left))

"""Conditions, as in Kubernetes: one per type, with a transition time that moves only
when the status flips (a changing message alone is not a transition)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sgorch.resources.status import Condition

__all__ = ["set_condition"]


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
) -> list[Condition]:
    """``conditions`` with the condition of ``type_`` set (new list; order kept)."""
    result: list[Condition] = []
    found = False
    for condition in conditions:
        if condition.type != type_:
            result.append(condition)
            continue
        found = True
        since = condition.last_transition_time if condition.status == status else now
        result.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=since,
            )
        )
    if not found:
        result.append(
            Condition(
                type=type_, status=status, reason=reason, message=message, last_transition_time=now
            )
        )
    return result

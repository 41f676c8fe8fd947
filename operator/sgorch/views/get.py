"""``sgorch get`` tables, rendered from status documents: one row per resource, the
columns kubectl users expect (``-o wide`` adds more). Pure: the time is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sgorch.resources.status import Condition, DeploymentStatusDocument, RouterStatusDocument
from sgorch.views.documents import StatusFile
from sgorch.views.durations import format_age_since
from sgorch.views.tables import NONE, render_table

__all__ = [
    "DEPLOYMENT_COLUMNS",
    "DEPLOYMENT_WIDE_COLUMNS",
    "ROUTER_COLUMNS",
    "ROUTER_WIDE_COLUMNS",
    "compute_created",
    "find_problem",
    "render_deployment_table",
    "render_router_table",
]

DEPLOYMENT_COLUMNS = ("NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
DEPLOYMENT_WIDE_COLUMNS = (*DEPLOYMENT_COLUMNS, "MODEL", "ROUTER", "NODES", "CONDITION")
ROUTER_COLUMNS = ("NAME", "URL", "WORKERS", "AVAILABLE", "AGE", "RESTARTS")
ROUTER_WIDE_COLUMNS = (*ROUTER_COLUMNS, "PID", "MODELS", "CONDITION")

# Conditions that are bad news when True, and those that are bad news when False.
_BAD_WHEN_TRUE = ("Invalid", "ReplicaFailure")
_BAD_WHEN_FALSE = ("Available",)


def compute_created(status: StatusFile) -> datetime:
    """When the resource appeared, as well as status tells: its earliest condition
    transition, or the status file's modification time when it has no condition."""
    times = [c.last_transition_time for c in status.document.status.conditions]
    return min(times, default=status.modified)


def find_problem(conditions: Sequence[Condition], *, has_error: bool = False) -> str | None:
    """The reason to show first: an invalid spec, then a replica failure, then an
    unavailable resource; None when all is well."""
    by_type = {c.type: c for c in conditions}
    for type_ in _BAD_WHEN_TRUE:
        condition = by_type.get(type_)
        if condition is not None and condition.status == "True":
            return condition.reason
    if has_error:
        return "InvalidSpec"
    for type_ in _BAD_WHEN_FALSE:
        condition = by_type.get(type_)
        if condition is not None and condition.status == "False":
            return condition.reason
    return None


def render_deployment_table(
    statuses: Sequence[StatusFile], now: datetime, *, wide: bool = False, prefix: str = ""
) -> str:
    """The ``get deployments`` table; ``prefix`` (``deployment/``) for ``get all``."""
    rows = []
    for status in statuses:
        document = status.document
        assert isinstance(document, DeploymentStatusDocument)
        s = document.status
        row = [
            prefix + document.metadata.name,
            f"{s.ready_replicas}/{s.desired_replicas}",
            str(s.updated_replicas),
            str(s.ready_replicas),
            format_age_since(compute_created(status), now),
        ]
        if wide:
            nodes = sorted({w.node for w in s.workers if w.node})
            problem = find_problem(s.conditions, has_error=s.error is not None)
            row += [
                s.model or NONE,
                s.router or NONE,
                ",".join(nodes) or NONE,
                problem or NONE,
            ]
        rows.append(row)
    return render_table(DEPLOYMENT_WIDE_COLUMNS if wide else DEPLOYMENT_COLUMNS, rows)


def render_router_table(
    statuses: Sequence[StatusFile], now: datetime, *, wide: bool = False, prefix: str = ""
) -> str:
    """The ``get routers`` table; ``prefix`` (``router/``) for ``get all``."""
    rows = []
    for status in statuses:
        document = status.document
        assert isinstance(document, RouterStatusDocument)
        s = document.status
        available = next((c.status for c in s.conditions if c.type == "Available"), "Unknown")
        row = [
            prefix + document.metadata.name,
            s.url or NONE,
            str(s.workers),
            available,
            format_age_since(compute_created(status), now),
            str(s.restarts),
        ]
        if wide:
            problem = find_problem(s.conditions, has_error=s.error is not None)
            row += [
                str(s.pid) if s.pid is not None else NONE,
                ",".join(s.models) or NONE,
                problem or NONE,
            ]
        rows.append(row)
    return render_table(ROUTER_WIDE_COLUMNS if wide else ROUTER_COLUMNS, rows)

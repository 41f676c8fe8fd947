"""``sgorch describe`` pages, rendered from a status document and the resource's events:
everything needed to see why a Deployment or Router is not what its file asks for.
Pure: the time is passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sgorch.resources.status import (
    Condition,
    DeploymentStatusDocument,
    ResourceError,
    RouterStatusDocument,
)
from sgorch.status.events import Event
from sgorch.views.documents import StatusFile
from sgorch.views.durations import format_age_since
from sgorch.views.tables import NONE, render_fields, render_section_table

__all__ = [
    "DESCRIBE_EVENTS",
    "render_deployment_description",
    "render_description",
    "render_router_description",
]

DESCRIBE_EVENTS = 20
"""How many of the newest events ``describe`` shows (the file keeps more)."""

_SOURCES = {"Deployment": "deployment-controller", "Router": "router-controller"}


def render_description(
    status: StatusFile, events: Sequence[Event], now: datetime, *, max_events: int = DESCRIBE_EVENTS
) -> str:
    """The ``describe`` page of a Deployment or a Router."""
    if isinstance(status.document, DeploymentStatusDocument):
        return render_deployment_description(status, events, now, max_events=max_events)
    return render_router_description(status, events, now, max_events=max_events)


def render_deployment_description(
    status: StatusFile, events: Sequence[Event], now: datetime, *, max_events: int = DESCRIBE_EVENTS
) -> str:
    document = status.document
    assert isinstance(document, DeploymentStatusDocument)
    s = document.status
    fields = [
        ("Name", document.metadata.name),
        ("Kind", document.kind),
        ("Generation", str(document.metadata.generation)),
        ("ObservedGeneration", str(s.observed_generation)),
        (
            "Replicas",
            f"{s.desired_replicas} desired | {s.updated_replicas} updated | "
            f"{s.replicas} total | {s.ready_replicas} ready | "
            f"{s.unavailable_replicas} unavailable",
        ),
        ("Model", s.model or NONE),
        ("Router", s.router or NONE),
        ("Status file", f"{status.path} (updated {format_age_since(status.modified, now)} ago)"),
        ("Error", render_error(s.error)),
    ]
    workers = [
        [
            str(w.slot),
            w.job_id or NONE,
            w.state,
            w.node or NONE,
            w.url or NONE,
            "true" if w.ready else "false",
            str(w.restarts),
            w.reason or NONE,
        ]
        for w in s.workers
    ]
    return (
        render_fields(fields)
        + _conditions_section(s.conditions, now)
        + _section(
            "Workers",
            ["Slot", "Job", "State", "Node", "URL", "Ready", "Restarts", "Reason"],
            workers,
        )
        + _events_section(document.kind, events, now, max_events)
    )


def render_router_description(
    status: StatusFile, events: Sequence[Event], now: datetime, *, max_events: int = DESCRIBE_EVENTS
) -> str:
    document = status.document
    assert isinstance(document, RouterStatusDocument)
    s = document.status
    fields = [
        ("Name", document.metadata.name),
        ("Kind", document.kind),
        ("Generation", str(document.metadata.generation)),
        ("ObservedGeneration", str(s.observed_generation)),
        ("URL", s.url or NONE),
        ("PID", str(s.pid) if s.pid is not None else NONE),
        ("Restarts", str(s.restarts)),
        ("Workers", str(s.workers)),
        ("Models", ", ".join(s.models) or NONE),
        ("Status file", f"{status.path} (updated {format_age_since(status.modified, now)} ago)"),
        ("Error", render_error(s.error)),
    ]
    return (
        render_fields(fields)
        + _conditions_section(s.conditions, now)
        + _events_section(document.kind, events, now, max_events)
    )


def render_error(error: ResourceError | None) -> str:
    """``FILE:LINE:COLUMN: FIELD: MESSAGE``, as ``sgorch validate`` prints errors."""
    if error is None:
        return NONE
    location = error.file
    if error.line is not None:
        location += f":{error.line}"
        if error.column is not None:
            location += f":{error.column}"
    field = f"{error.field}: " if error.field else ""
    return f"{location}: {field}{error.message}"


def _conditions_section(conditions: Sequence[Condition], now: datetime) -> str:
    rows = [
        [
            c.type,
            c.status,
            c.reason,
            format_age_since(c.last_transition_time, now),
            c.message or NONE,
        ]
        for c in conditions
    ]
    return _section("Conditions", ["Type", "Status", "Reason", "Age", "Message"], rows)


def _events_section(kind: str, events: Sequence[Event], now: datetime, limit: int) -> str:
    source = _SOURCES.get(kind, "sgorch")
    rows = [
        [e.type, e.reason, _event_age(e, now), source, e.message or NONE]
        for e in list(events)[-limit:]
    ]
    return _section("Events", ["Type", "Reason", "Age", "From", "Message"], rows)


def _event_age(event: Event, now: datetime) -> str:
    """``3m``, or ``3m (x5 over 20m)`` for a repeated event, as kubectl shows them."""
    age = format_age_since(event.time, now)
    if event.count > 1:
        return f"{age} (x{event.count} over {format_age_since(event.first_time, now)})"
    return age


def _section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return f"{title}:  {NONE}\n"
    return f"{title}:\n" + render_section_table(header, rows)

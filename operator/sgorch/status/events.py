"""Events: a short, human-readable history per resource (``sgorch describe`` shows it),
kept as JSON lines in ``STATUS_DIR/events/KIND/NAME.jsonl``. Controllers record what
happened (submitted, adopted, became ready, replaced, drained, cancelled, failed); the
views read it back.

Like Kubernetes events, a repeat of the last event (same type, reason and message)
bumps its ``count`` and ``time`` instead of adding a line, and only the newest
``max_events`` are kept. Events are built by the caller from non-secret data only (job
ids, slots, nodes, states, reasons, URLs without credentials): the files are as
world-readable as the status documents and must never carry a token, a password or an
environment value.

Reasons in use, CamelCase like condition reasons: ``Submitted``, ``SubmitFailed``,
``Adopted``, ``Ready``, ``NotReady``, ``WorkerFailed``, ``Replacing``, ``Draining``,
``Cancelled``, ``Registered``, ``Deregistered``, ``InvalidSpec``, ``SlurmUnavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from sgorch.files import remove_file, write_atomic

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Event",
    "EventRecorder",
    "EventType",
    "events_path",
    "parse_events",
    "read_events",
    "render_events",
]

EventType = Literal["Normal", "Warning"]

MAX_MESSAGE_CHARS = 1024
"""Longer messages are cut (as Kubernetes does), so one chatty error cannot bloat the
file that ``describe`` reads whole."""


class Event(BaseModel):
    """One line of an events file."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    time: datetime = Field(description="When it last happened.")
    type: EventType = Field(description="Normal, or Warning for something to look at.")
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = Field(default="", description="Human-readable detail.")
    count: int = Field(default=1, ge=1, description="How many times in a row it happened.")
    first_time: datetime = Field(description="When it first happened (in this run of repeats).")

    def repeats(self, type_: str, reason: str, message: str) -> bool:
        return (self.type, self.reason, self.message) == (type_, reason, message)


def events_path(status_dir: Path, kind: str, name: str) -> Path:
    """``STATUS_DIR/events/KIND/NAME.jsonl``; ``kind`` is a resource kind (``Deployment``)
    or its folder (``deployments``), the same folder names as the status documents."""
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"not a resource name: {name!r}")
    folder = kind.lower()
    if not folder.endswith("s"):
        folder += "s"
    return status_dir / "events" / folder / f"{name}.jsonl"


def parse_events(text: str) -> list[Event]:
    """The events in the text of an events file, oldest first. A torn or garbled line
    (a crash of an older writer, a hand edit) is skipped, not fatal."""
    events: list[Event] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            events.append(Event.model_validate_json(line))
        except ValidationError:
            continue
    return events


def render_events(events: list[Event]) -> bytes:
    """The file content for ``events``: one compact JSON object per line."""
    return b"".join(
        json.dumps(e.model_dump(mode="json", by_alias=True), ensure_ascii=False).encode() + b"\n"
        for e in events
    )


def read_events(status_dir: Path, kind: str, name: str) -> list[Event]:
    """The recorded events of one resource, oldest first; empty when there are none (or
    the file cannot be read). Blocking: for the command line, or a worker thread."""
    try:
        data = events_path(status_dir, kind, name).read_bytes()
    except OSError:
        return []
    return parse_events(data.decode("utf-8", errors="replace"))


@dataclass
class _Tail:
    """What the file of one resource holds, so a record needs no read."""

    events: list[Event]
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class EventRecorder:
    """Appends events to per-resource files. Never raises for I/O: a full or read-only
    disk is logged (once per distinct error) and the caller carries on, as with status
    writes. One recorder per status directory (it caches what it wrote)."""

    def __init__(
        self,
        status_dir: Path,
        *,
        max_events: int = 200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.status_dir = status_dir
        self.max_events = max_events
        self.clock = clock
        self.last_error: str | None = None
        self._tails: dict[Path, _Tail] = {}

    async def record(
        self, kind: str, name: str, type_: EventType, reason: str, message: str
    ) -> None:
        """Record that ``reason`` happened to ``kind``/``name``. ``message`` must hold no
        secret (see the module docstring)."""
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        path = events_path(self.status_dir, kind, name)
        tail = await self._tail(path)
        async with tail.lock:
            now = self.clock()
            last = tail.events[-1] if tail.events else None
            if last is not None and last.repeats(type_, reason, message):
                tail.events[-1] = last.model_copy(update={"time": now, "count": last.count + 1})
            else:
                tail.events.append(
                    Event(
                        time=now,
                        type=type_,
                        reason=reason,
                        message=message,
                        count=1,
                        first_time=now,
                    )
                )
                del tail.events[: -self.max_events]
            data = render_events(tail.events)
            try:
                await anyio.to_thread.run_sync(write_atomic, path, data)
            except OSError as exc:
                self._log_error(f"cannot write events {path}: {exc.strerror or exc}")
                return
            self.last_error = None

    async def remove(self, kind: str, name: str) -> None:
        """Forget a deleted resource's events (its file and the cache)."""
        path = events_path(self.status_dir, kind, name)
        tail = self._tails.pop(path, None)
        try:
            if tail is None:
                await anyio.to_thread.run_sync(remove_file, path)
            else:
                async with tail.lock:
                    await anyio.to_thread.run_sync(remove_file, path)
        except OSError as exc:
            self._log_error(f"cannot remove events {path}: {exc.strerror or exc}")

    async def _tail(self, path: Path) -> _Tail:
        """The cached tail of ``path``, read from disk once (events of an earlier run
        of the operator are kept, and a repeat across a restart still counts up)."""
        tail = self._tails.get(path)
        if tail is not None:
            return tail
        try:
            data = await anyio.to_thread.run_sync(_read_if_present, path)
        except OSError as exc:
            self._log_error(f"cannot read events {path}: {exc.strerror or exc}")
            data = b""
        tail = self._tails.get(path)  # another record of the same resource won the race
        if tail is None:
            events = parse_events(data.decode("utf-8", errors="replace"))
            tail = _Tail(events=events[-self.max_events :])
            self._tails[path] = tail
        return tail

    def _log_error(self, message: str) -> None:
        if message != self.last_error:
            logger.error("{}; events are not recorded until this is fixed", message)
        self.last_error = message


def _read_if_present(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""

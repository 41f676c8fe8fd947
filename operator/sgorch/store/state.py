"""The operator's own bookkeeping per Deployment, persisted in the state directory so
that a restart (or a crash at any instant) resumes with the same knowledge: submit
attempts not yet confirmed by a job listing, restart counts and backoff per slot,
workers being drained, URLs registered with the router, and a rejected spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sgorch.files import remove_file, write_atomic

__all__ = ["AttemptRecord", "DeploymentState", "KnownJob", "SlotRecord", "StateStore"]


class _State(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AttemptRecord(_State):
    """An ``sbatch`` that started at ``at`` (wall clock) for ``slot`` and whose outcome is
    not known: until a job listing that began after ``at`` plus the submit timeout shows
    no job for the slot, the slot must not be submitted again (no duplicate jobs)."""

    slot: int
    at: float
    template_hash: str


class KnownJob(_State):
    """A job we submitted or adopted, and when we first knew of it (wall clock)."""

    slot: int
    since: float
    template_hash: str = ""
    """Its template; a job not yet in a listing counts like a submission on it."""


class SlotRecord(_State):
    """Failure history of one slot."""

    restarts: int = 0
    consecutive_failures: int = 0
    backoff_until: float = 0.0
    last_failure: str | None = None
    last_job_id: str | None = None


class DeploymentState(_State):
    """Everything the Deployment controller must remember across restarts."""

    attempts: dict[int, AttemptRecord] = Field(default_factory=dict)
    slots: dict[int, SlotRecord] = Field(default_factory=dict)
    known_jobs: dict[str, KnownJob] = Field(default_factory=dict)
    """Every live job we know of (to notice jobs that vanish from listings)."""
    draining: dict[str, float] = Field(default_factory=dict)
    """Job id → wall-clock time its drain started."""
    cancelled: list[str] = Field(default_factory=list)
    """Jobs we cancelled on purpose (their end is not a failure)."""
    registered: dict[str, str] = Field(default_factory=dict)
    """Worker URL → job id, as (maybe) registered with the router: an entry is written
    before the router is asked, and removed after the router confirmed the removal."""
    router: dict[str, str | None] | None = None
    """The router the ``registered`` URLs are registered with (a RouterTarget); when the
    Deployment moves to another router, they leave this one first."""
    leaving_since: float | None = None
    """When the registered workers started leaving ``router`` (the Deployment moved)."""
    rejected: dict[str, str] = Field(default_factory=dict)
    """Spec hash → Slurm's rejection message; no resubmission until the spec changes."""
    quarantine: dict[str, float] = Field(default_factory=dict)
    """Node → wall-clock time until which it is excluded."""
    node_failures: dict[str, int] = Field(default_factory=dict)
    spec_hash: str = ""
    last_spec: dict[str, Any] | None = None
    """The Deployment last in force (JSON): after a restart, the jobs of a Deployment
    deleted meanwhile are still drained from its router, with its grace period."""


class StateStore:
    """Reads and writes ``STATE_DIR/deployments/NAME.json`` (only when it changed)."""

    def __init__(self, state_dir: Path) -> None:
        self._dir = state_dir / "deployments"
        self._written: dict[str, str] = {}

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}.json"

    async def load(self, name: str) -> DeploymentState:
        path = self._path(name)

        def read() -> str | None:
            try:
                return path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return None

        text = await anyio.to_thread.run_sync(read)
        if text is None:
            return DeploymentState()
        try:
            state = DeploymentState.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            # Losing bookkeeping is safe (listings are the truth); crashing is not.
            logger.bind(resource=name).error(
                "state file {} unreadable, starting fresh: {}", path, exc
            )
            return DeploymentState()
        self._written[name] = state.model_dump_json()
        return state

    async def save(self, name: str, state: DeploymentState) -> None:
        text = state.model_dump_json()
        if self._written.get(name) == text:
            return
        await anyio.to_thread.run_sync(write_atomic, self._path(name), text.encode())
        self._written[name] = text

    async def delete(self, name: str) -> None:
        await anyio.to_thread.run_sync(remove_file, self._path(name))
        self._written.pop(name, None)

    def names(self) -> list[str]:
        """Deployments with state on disk (including deleted ones still being cleaned up)."""
        if not self._dir.is_dir():
            return []
        return sorted(p.stem for p in self._dir.glob("*.json"))

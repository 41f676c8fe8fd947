"""A stand-in for ``ProbeManager`` whose results the test decides: no task group, no
HTTP, no timing. The truth about each worker lives in a ``WorkerWorld`` that survives
operator restarts (the workers keep running); what the operator *knows* lives in the
``FakeProbes`` of one operator process and is refreshed only by ``probe_round()``, as a
real probe loop learns only when it probes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sgorch.health import ProbePhase, WorkerHealth
from sgorch.resources.models import HealthSpec


class Truth(StrEnum):
    """What a probe of a worker's URL would find."""

    STARTING = "starting"
    """Loading the model: the startup probe fails (not for good yet)."""
    READY = "ready"
    NOT_READY = "not-ready"
    DEAD = "dead"
    """Stopped answering after it started: liveness fails for good."""
    STARTUP_FAILED = "startup-failed"
    """Never came up: the startup probe gave up."""


_HEALTH = {
    Truth.STARTING: (ProbePhase.STARTING, False),
    Truth.READY: (ProbePhase.RUNNING, True),
    Truth.NOT_READY: (ProbePhase.RUNNING, False),
    Truth.DEAD: (ProbePhase.DEAD, False),
    Truth.STARTUP_FAILED: (ProbePhase.STARTUP_FAILED, False),
}


@dataclass
class WorkerWorld:
    """The workers as they really are, keyed by URL."""

    truth: dict[str, Truth] = field(default_factory=dict)

    def set(self, url: str, truth: Truth) -> None:
        """Move ``url`` to ``truth`` if a real probe tracker could make that move."""
        current = self.truth.get(url, Truth.STARTING)
        if current in (Truth.DEAD, Truth.STARTUP_FAILED):
            return  # terminal for a tracker
        if current is Truth.STARTING and truth is Truth.DEAD:
            truth = Truth.STARTUP_FAILED
        if current in (Truth.READY, Truth.NOT_READY) and truth is Truth.STARTUP_FAILED:
            truth = Truth.DEAD
        if current in (Truth.READY, Truth.NOT_READY) and truth is Truth.STARTING:
            return
        self.truth[url] = truth

    def gone(self, url: str) -> None:
        """The process behind ``url`` exited: probes fail from now on."""
        self.set(url, Truth.DEAD)


@dataclass
class _Probed:
    url: str
    owner: str
    seen: WorkerHealth | None = None


class FakeProbes:
    """Duck-types ``ProbeManager`` (``ensure``, ``forget``, ``health``, ``keys``,
    ``aclose``)."""

    def __init__(self, world: WorkerWorld) -> None:
        self.world = world
        self._workers: dict[str, _Probed] = {}
        self.ensured: list[tuple[str, str]] = []

    def ensure(
        self, worker_key: str, owner: str, url: str, spec: HealthSpec, *, ready: bool = False
    ) -> None:
        current = self._workers.get(worker_key)
        if current is not None and current.url == url:
            return
        seen = WorkerHealth(ProbePhase.RUNNING, True, None, "ready") if ready else None
        self._workers[worker_key] = _Probed(url, owner, seen)
        self.ensured.append((worker_key, url))

    def forget(self, worker_key: str) -> None:
        self._workers.pop(worker_key, None)

    def health(self, worker_key: str) -> WorkerHealth | None:
        worker = self._workers.get(worker_key)
        if worker is None:
            return None
        if worker.seen is None:
            return WorkerHealth(ProbePhase.STARTING, False, None, "waiting for the first probe")
        return worker.seen

    def keys(self) -> set[str]:
        return set(self._workers)

    async def aclose(self) -> None:
        self._workers.clear()

    def probe_round(self) -> set[str]:
        """Every worker is probed once; returns the owners whose health changed."""
        changed = set()
        now = datetime.now(UTC)
        for worker in self._workers.values():
            truth = self.world.truth.get(worker.url, Truth.STARTING)
            phase, ready = _HEALTH[truth]
            previous = worker.seen
            if previous is not None and previous.failed:
                continue  # a tracker never leaves a failed phase
            if previous is not None and previous.phase is ProbePhase.RUNNING:
                if phase is ProbePhase.STARTING:
                    phase, ready = ProbePhase.RUNNING, False
                elif phase is ProbePhase.STARTUP_FAILED:
                    phase = ProbePhase.DEAD
            if previous is None or previous.phase is not phase or previous.ready is not ready:
                changed.add(worker.owner)
            worker.seen = WorkerHealth(phase, ready, now, truth.value)
        return changed

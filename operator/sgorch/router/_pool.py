"""The registered workers and everything the router knows about each of them.

The management API adds, removes and drains workers here; the prober feeds probe
results; the proxy picks workers and reports each request's outcome. Everything runs
on one event loop, so plain attributes need no locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum

import anyio

from ._circuit import Admission, CircuitBreaker

__all__ = ["HealthTracker", "Outcome", "Worker", "WorkerPool"]


class Outcome(Enum):
    """What a finished request says about the worker that served it."""

    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


@dataclass
class HealthTracker:
    """Turns probe results into healthy/unhealthy with consecutive-result thresholds.

    A worker starts healthy: the operator registers it only after its own readiness
    probe passed, and a static worker that is down is ejected within a few probes.
    """

    failure_threshold: int
    success_threshold: int
    healthy: bool = True
    _failures: int = 0
    _successes: int = 0

    def record(self, ok: bool) -> bool:
        """Record one probe result; return True when ``healthy`` changed."""
        if ok:
            self._failures = 0
            self._successes += 1
            if not self.healthy and self._successes >= self.success_threshold:
                self.healthy = True
                return True
        else:
            self._successes = 0
            self._failures += 1
            if self.healthy and self._failures >= self.failure_threshold:
                self.healthy = False
                return True
        return False


@dataclass(eq=False)
class Worker:
    """One registered worker; identity is the object, the pool keys it by ``url``."""

    url: str
    models: tuple[str, ...]
    deployment: str | None
    breaker: CircuitBreaker
    health: HealthTracker
    added_at: float = field(default_factory=time.time)
    draining: bool = False
    inflight: int = 0
    requests: int = 0
    errors: int = 0
    _idle_waiters: list[anyio.Event] = field(default_factory=list)

    def can_serve(self) -> bool:
        return self.health.healthy and not self.draining and self.breaker.allows_request()

    def begin(self) -> Admission:
        self.inflight += 1
        self.requests += 1
        return self.breaker.admit()

    def finish(self, admission: Admission, outcome: Outcome) -> None:
        self.inflight -= 1
        if outcome is Outcome.SUCCESS:
            self.breaker.record_success(admission)
        elif outcome is Outcome.FAILURE:
            self.errors += 1
            self.breaker.record_failure(admission)
        else:
            self.breaker.record_neutral(admission)
        if self.inflight == 0:
            for event in self._idle_waiters:
                event.set()
            self._idle_waiters.clear()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for no request to be in flight; return whether none is."""
        if self.inflight > 0:
            event = anyio.Event()
            self._idle_waiters.append(event)
            with anyio.move_on_after(timeout_s):
                await event.wait()
            if not event.is_set():
                self._idle_waiters.remove(event)
        return self.inflight == 0

    def describe(self) -> dict[str, object]:
        """The worker's state as the management API reports it."""
        return {
            "url": self.url,
            "model": self.models[0] if self.models else None,
            "models": list(self.models),
            "deployment": self.deployment,
            "healthy": self.health.healthy,
            "draining": self.draining,
            "circuit": self.breaker.state.value,
            "inflight": self.inflight,
            "requests": self.requests,
            "errors": self.errors,
        }


class WorkerPool:
    """Workers by URL, in registration order."""

    def __init__(
        self,
        *,
        make_breaker: Callable[[], CircuitBreaker],
        make_health: Callable[[], HealthTracker],
    ) -> None:
        self._make_breaker = make_breaker
        self._make_health = make_health
        self._workers: dict[str, Worker] = {}

    def __iter__(self) -> Iterator[Worker]:
        return iter(list(self._workers.values()))

    def __len__(self) -> int:
        return len(self._workers)

    def urls(self) -> list[str]:
        return list(self._workers)

    def get(self, url: str) -> Worker | None:
        return self._workers.get(url)

    def add(self, url: str, models: tuple[str, ...], deployment: str | None) -> tuple[Worker, bool]:
        """Register a worker, or update the models and deployment of a registered one.

        Re-adding a draining worker ends the drain: the operator wants it serving again.
        Returns the worker and whether it is new.
        """
        worker = self._workers.get(url)
        if worker is not None:
            worker.models = models
            worker.deployment = deployment
            worker.draining = False
            return worker, False
        worker = Worker(
            url=url,
            models=models,
            deployment=deployment,
            breaker=self._make_breaker(),
            health=self._make_health(),
        )
        self._workers[url] = worker
        return worker, True

    def remove(self, url: str) -> Worker | None:
        return self._workers.pop(url, None)

    def is_registered(self, worker: Worker) -> bool:
        return self._workers.get(worker.url) is worker

    def served_models(self) -> list[str]:
        """Every model name (aliases included) some registered worker serves, sorted."""
        return sorted({name for worker in self._workers.values() for name in worker.models})

    def ready_models(self) -> dict[str, float]:
        """Model names with a worker that can serve now, and when the first one registered."""
        ready: dict[str, float] = {}
        for worker in self._workers.values():
            if worker.can_serve():
                for name in worker.models:
                    ready[name] = min(ready.get(name, worker.added_at), worker.added_at)
        return ready

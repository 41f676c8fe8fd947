"""The controller runtime: a work queue per controller and the workers draining it.

As in controller-runtime: a key is queued at most once, never handed to two workers at
the same time (a key re-added while it is being reconciled runs again afterwards), and
failing keys are retried with capped exponential backoff per key. Reconcilers get only
the key and return when to look again.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
from loguru import logger

from sgorch.errors import TemporaryError
from sgorch.metrics import OperatorMetrics

__all__ = ["Backoff", "Reconciler", "WorkQueue", "run_workers"]

Reconciler = Callable[[str], Awaitable[float | None]]
"""``reconcile(key)`` → seconds until the key should be looked at again, or None."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff: ``base_s * 2**(failures-1)``, at most ``cap_s``."""

    base_s: float = 0.5
    cap_s: float = 60.0

    def delay_s(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.base_s * math.pow(2, min(failures - 1, 62)))


class WorkQueue:
    """A delaying, de-duplicating queue of keys."""

    def __init__(
        self, *, backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._heap: list[tuple[float, int, str]] = []
        self._due: dict[str, float] = {}
        self._processing: set[str] = set()
        self._dirty: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._seq = itertools.count()
        self._changed = anyio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._due)

    def backlog(self) -> int:
        """Keys due now that no worker has taken yet (keys queued for later are not)."""
        now = self._clock()
        return sum(1 for due in self._due.values() if due <= now)

    def add(self, key: str, delay_s: float = 0.0) -> None:
        """Queue ``key`` to run in ``delay_s`` (keeps an earlier due time if queued)."""
        due = self._clock() + max(0.0, delay_s)
        if key in self._processing:
            self._dirty[key] = min(due, self._dirty.get(key, math.inf))
            return
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._wake()

    def add_rate_limited(self, key: str, min_delay_s: float = 0.0) -> float:
        """Queue ``key`` after its backoff (which grows with each call until ``forget``)."""
        self._failures[key] = self._failures.get(key, 0) + 1
        delay = max(min_delay_s, self._backoff.delay_s(self._failures[key]))
        self.add(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the backoff of ``key`` (after a successful reconcile)."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> str:
        """Wait for the next due key and mark it as processing."""
        while True:
            if self._closed:
                raise anyio.EndOfStream
            self._drop_stale()
            wait_s = math.inf
            if self._heap:
                due, _, key = self._heap[0]
                now = self._clock()
                if due <= now:
                    heapq.heappop(self._heap)
                    del self._due[key]
                    self._processing.add(key)
                    return key
                wait_s = due - now
            changed = self._changed
            with anyio.move_on_after(wait_s):
                await changed.wait()
            if changed is self._changed and changed.is_set():
                self._changed = anyio.Event()

    def done(self, key: str) -> None:
        """Mark ``key`` as finished; if it was re-added meanwhile, queue it again."""
        self._processing.discard(key)
        if key in self._dirty:
            due = self._dirty.pop(key)
            self.add(key, max(0.0, due - self._clock()))

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def _wake(self) -> None:
        self._changed.set()


async def run_workers(
    name: str,
    queue: WorkQueue,
    reconcile: Reconciler,
    *,
    workers: int = 4,
    metrics: OperatorMetrics | None = None,
) -> None:
    """Run ``workers`` loops that reconcile keys from ``queue`` until cancelled,
    reporting durations, errors, retries and the queue depth to ``metrics``."""
    meter = metrics if metrics is not None else OperatorMetrics()
    meter.watch_queue(name, queue.backlog)

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except anyio.EndOfStream:
                return
            log = logger.bind(controller=name, resource=key)
            started = time.monotonic()
            try:
                requeue_s = await reconcile(key)
            except TemporaryError as exc:
                meter.observe_reconcile(name, time.monotonic() - started, "temporary")
                delay = queue.add_rate_limited(key, exc.delay_s)
                meter.queue_retried(name)
                log.warning("reconcile postponed {:.1f}s: {}", delay, exc)
            except Exception as exc:  # a bug must not stop the controller
                meter.observe_reconcile(name, time.monotonic() - started, "unexpected")
                delay = queue.add_rate_limited(key)
                meter.queue_retried(name)
                log.opt(exception=exc).error("reconcile failed; retrying in {:.1f}s", delay)
            else:
                meter.observe_reconcile(name, time.monotonic() - started)
                queue.forget(key)
                if requeue_s is not None:
                    queue.add(key, requeue_s)
            finally:
                queue.done(key)

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)

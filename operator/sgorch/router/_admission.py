"""A concurrency limit with a bounded first-in-first-out queue in front of the proxy.

Unlike a token bucket, it never turns a request away while a slot is free, and it
serves waiting requests in arrival order; the proxy answers 429 when the queue is full
or a request waited too long.
"""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ["AdmissionGate", "QueueFull", "QueueTimeout"]


class QueueFull(Exception):
    """Every slot is taken and the queue holds ``max_queue`` requests already."""


class QueueTimeout(Exception):
    """The request waited ``queue_timeout_s`` without getting a slot."""


class AdmissionGate:
    def __init__(self, *, max_inflight: int, max_queue: int, queue_timeout_s: float) -> None:
        self._max_inflight = max_inflight
        self._max_queue = max_queue
        self._queue_timeout_s = queue_timeout_s
        self._active = 0
        self._waiters: deque[anyio.Event] = deque()

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; raises ``QueueFull`` or ``QueueTimeout``."""
        if self._active < self._max_inflight and not self._waiters:
            self._active += 1
            return
        if len(self._waiters) >= self._max_queue:
            raise QueueFull
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            with anyio.fail_after(self._queue_timeout_s):
                await turn.wait()
        except TimeoutError:
            self._leave(turn)
            raise QueueTimeout from None
        except BaseException:
            self._leave(turn)
            raise

    def release(self) -> None:
        """Give the slot to the longest-waiting request, or free it."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._active -= 1

    def _leave(self, turn: anyio.Event) -> None:
        if turn.is_set():
            # The slot was handed over just as the wait ended: pass it on.
            self.release()
        else:
            self._waiters.remove(turn)

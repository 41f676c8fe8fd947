"""Per-worker circuit breaker: stop sending requests to a worker that keeps failing.

Pure state machine over an injected clock, so tests drive time; the worker pool owns one
breaker per worker and the proxy reports every request outcome to it.

    closed ──failure_threshold consecutive failures──► open
    open ──open_s elapsed──► half_open (admits one trial request at a time)
    half_open ──trial fails──► open         half_open ──enough trial successes──► closed
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, StrEnum

__all__ = ["Admission", "CircuitBreaker", "CircuitState", "Clock"]

Clock = Callable[[], float]


class CircuitState(StrEnum):
    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


class Admission(Enum):
    """How a request was let through; its outcome is reported back with the same value."""

    NORMAL = "normal"
    TRIAL = "trial"


class CircuitBreaker:
    """Counts consecutive failures and decides whether a worker may get a request."""

    def __init__(
        self, *, failure_threshold: int, open_s: float, half_open_successes: int, clock: Clock
    ) -> None:
        self._failure_threshold = failure_threshold
        self._open_s = open_s
        self._half_open_successes = half_open_successes
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._consecutive_failures = 0
        self._trial_successes = 0
        self._trial_in_flight = False
        self._opened_at = 0.0

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self._open_s:
            self._state = CircuitState.HALF_OPEN
            self._trial_successes = 0
            self._trial_in_flight = False
        return self._state

    def allows_request(self) -> bool:
        """Whether ``admit`` would let a request through now (a query, no side effect)."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            return not self._trial_in_flight
        return state is CircuitState.CLOSED

    def admit(self) -> Admission:
        """Let one request through; call only after ``allows_request`` returned True."""
        if self.state is CircuitState.HALF_OPEN:
            self._trial_in_flight = True
            return Admission.TRIAL
        return Admission.NORMAL

    def record_success(self, admission: Admission) -> None:
        if admission is Admission.TRIAL:
            self._trial_in_flight = False
            if self._state is CircuitState.HALF_OPEN:
                self._trial_successes += 1
                if self._trial_successes >= self._half_open_successes:
                    self._close()
        elif self._state is CircuitState.CLOSED:
            self._consecutive_failures = 0

    def record_failure(self, admission: Admission) -> None:
        if admission is Admission.TRIAL:
            self._trial_in_flight = False
            if self._state is CircuitState.HALF_OPEN:
                self._open()
        elif self._state is CircuitState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self._failure_threshold:
                self._open()

    def record_neutral(self, admission: Admission) -> None:
        """The request ended without saying anything about the worker (client went away)."""
        if admission is Admission.TRIAL:
            self._trial_in_flight = False

    def _open(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()
        self._consecutive_failures = 0

    def _close(self) -> None:
        self._state = CircuitState.CLOSED
        self._consecutive_failures = 0

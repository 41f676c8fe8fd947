"""The circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

from sgorch.router._circuit import Admission, CircuitBreaker, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_breaker(
    clock: FakeClock, *, failures: int = 3, open_s: float = 10.0, successes: int = 2
) -> CircuitBreaker:
    return CircuitBreaker(
        failure_threshold=failures, open_s=open_s, half_open_successes=successes, clock=clock
    )


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.record_failure(breaker.admit())


def test_circuit_opens_after_consecutive_failures_only() -> None:
    breaker = make_breaker(FakeClock())
    fail(breaker, 2)
    breaker.record_success(breaker.admit())
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED
    fail(breaker)
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allows_request()


def test_open_circuit_turns_half_open_after_the_cooldown() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 9.9
    assert breaker.state is CircuitState.OPEN
    clock.now += 0.1
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allows_request()


def test_half_open_admits_one_trial_at_a_time() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 10
    trial = breaker.admit()
    assert trial is Admission.TRIAL
    assert not breaker.allows_request()
    breaker.record_success(trial)
    assert breaker.allows_request()


def test_enough_trial_successes_close_the_circuit() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock, successes=2)
    fail(breaker, 3)
    clock.now += 10
    breaker.record_success(breaker.admit())
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.record_success(breaker.admit())
    assert breaker.state is CircuitState.CLOSED
    fail(breaker, 2)
    assert breaker.state is CircuitState.CLOSED


def test_failed_trial_reopens_the_circuit_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 10
    breaker.record_failure(breaker.admit())
    assert breaker.state is CircuitState.OPEN
    clock.now += 9
    assert breaker.state is CircuitState.OPEN
    clock.now += 1
    assert breaker.state is CircuitState.HALF_OPEN


def test_trial_ended_by_the_client_frees_the_trial_slot_without_a_verdict() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    fail(breaker, 3)
    clock.now += 10
    breaker.record_neutral(breaker.admit())
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allows_request()


def test_late_results_of_requests_admitted_before_opening_do_not_change_an_open_circuit() -> None:
    clock = FakeClock()
    breaker = make_breaker(clock)
    earlier = [breaker.admit() for _ in range(2)]
    fail(breaker, 3)
    opened_at = clock.now
    clock.now += 5
    breaker.record_failure(earlier[0])
    breaker.record_success(earlier[1])
    assert breaker.state is CircuitState.OPEN
    clock.now = opened_at + 10
    assert breaker.state is CircuitState.HALF_OPEN

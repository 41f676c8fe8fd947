"""Worker state: health thresholds, registration and waiting for in-flight requests."""

from __future__ import annotations

import time

import anyio
import pytest

from sgorch.router._circuit import CircuitBreaker
from sgorch.router._pool import HealthTracker, Outcome, WorkerPool


def make_pool() -> WorkerPool:
    return WorkerPool(
        make_breaker=lambda: CircuitBreaker(
            failure_threshold=2, open_s=30, half_open_successes=1, clock=time.monotonic
        ),
        make_health=lambda: HealthTracker(failure_threshold=3, success_threshold=2),
    )


def test_worker_turns_unhealthy_after_consecutive_probe_failures_only() -> None:
    health = HealthTracker(failure_threshold=3, success_threshold=2)
    assert [health.record(ok) for ok in (False, False, True, False, False)] == [False] * 5
    assert health.healthy
    assert health.record(False) is True
    assert not health.healthy


def test_unhealthy_worker_needs_consecutive_successes_to_recover() -> None:
    health = HealthTracker(failure_threshold=1, success_threshold=2, healthy=False)
    assert health.record(True) is False
    assert health.record(False) is False
    assert health.record(True) is False
    assert health.record(True) is True
    assert health.healthy


def test_re_adding_a_worker_updates_it_in_place_and_ends_its_drain() -> None:
    pool = make_pool()
    worker, created = pool.add("http://a:1", ("m1",), "d1")
    worker.draining = True
    again, created_again = pool.add("http://a:1", ("m2", "alias"), None)
    assert created and not created_again
    assert again is worker
    assert (worker.models, worker.deployment, worker.draining) == (("m2", "alias"), None, False)
    assert pool.urls() == ["http://a:1"]


def test_served_and_ready_models_include_aliases_and_ready_skips_unservable_workers() -> None:
    pool = make_pool()
    pool.add("http://a:1", ("llama", "chat"), None)
    drained, _ = pool.add("http://b:1", ("bge",), None)
    drained.draining = True
    pool.add("http://c:1", (), None)
    assert pool.served_models() == ["bge", "chat", "llama"]
    assert sorted(pool.ready_models()) == ["chat", "llama"]


def test_removed_worker_is_no_longer_registered_but_keeps_its_state() -> None:
    pool = make_pool()
    worker, _ = pool.add("http://a:1", (), None)
    worker.begin()
    assert pool.remove("http://a:1") is worker
    assert pool.remove("http://a:1") is None
    assert not pool.is_registered(worker)
    assert worker.inflight == 1


def test_failures_count_as_errors_and_open_the_circuit() -> None:
    pool = make_pool()
    worker, _ = pool.add("http://a:1", (), None)
    for _ in range(2):
        worker.finish(worker.begin(), Outcome.FAILURE)
    worker.finish(worker.begin(), Outcome.NEUTRAL)
    assert (worker.requests, worker.errors, worker.inflight) == (3, 2, 0)
    assert not worker.can_serve()


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_wait_idle_returns_when_the_last_request_finishes(outcome: Outcome) -> None:
    pool = make_pool()
    worker, _ = pool.add("http://a:1", (), None)
    admissions = [worker.begin(), worker.begin()]
    done: list[bool] = []

    async def wait() -> None:
        done.append(await worker.wait_idle(5))

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.01)
        worker.finish(admissions[0], outcome)
        await anyio.sleep(0.01)
        assert done == []
        worker.finish(admissions[1], outcome)
    assert done == [True]


async def test_wait_idle_gives_up_after_its_timeout() -> None:
    pool = make_pool()
    worker, _ = pool.add("http://a:1", (), None)
    worker.begin()
    assert await worker.wait_idle(0.05) is False
    assert await make_pool().add("http://b:1", (), None)[0].wait_idle(0) is True

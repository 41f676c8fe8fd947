"""Metric label values stay bounded."""

from __future__ import annotations

import time

from sgorch.router._circuit import CircuitBreaker
from sgorch.router._metrics import RouterMetrics
from sgorch.router._pool import HealthTracker, WorkerPool


def make() -> tuple[WorkerPool, RouterMetrics]:
    pool = WorkerPool(
        make_breaker=lambda: CircuitBreaker(
            failure_threshold=1, open_s=1, half_open_successes=1, clock=time.monotonic
        ),
        make_health=lambda: HealthTracker(failure_threshold=1, success_threshold=1),
    )
    return pool, RouterMetrics(known_models=frozenset({"llama"}), pool=pool, gate=None)


def test_model_label_is_a_known_model_or_other() -> None:
    _, metrics = make()
    assert metrics.model_label("llama") == "llama"
    assert metrics.model_label("user-typed-anything") == "other"
    assert metrics.model_label(None) == "other"


def test_worker_label_is_a_registered_worker_or_none() -> None:
    pool, metrics = make()
    pool.add("http://a:1", (), None)
    assert metrics.worker_label("http://a:1") == "http://a:1"
    assert metrics.worker_label("http://gone:1") == "none"
    assert metrics.worker_label(None) == "none"


def test_forgetting_a_worker_removes_all_its_series_and_keeps_the_others() -> None:
    pool, metrics = make()
    pool.add("http://a:1", (), None)
    pool.add("http://b:1", (), None)
    for url in ("http://a:1", "http://b:1"):
        metrics.observe_request(model="llama", worker_url=url, status=200, duration_s=0.1)
        metrics.observe_first_byte(model="llama", worker_url=url, stream=True, delay_s=0.05)
        metrics.observe_worker_failure(url, "connect_error")
    pool.remove("http://a:1")
    metrics.forget_worker("http://a:1")
    text = metrics.render().decode()
    assert "http://a:1" not in text
    assert text.count('worker="http://b:1"') >= 3


def test_separate_routers_have_separate_registries() -> None:
    _, first = make()
    _, second = make()
    first.observe_retry("connect_error")
    assert 'sgorch_router_retries_total{reason="connect_error"} 1.0' in first.render().decode()
    assert "connect_error" not in second.render().decode()

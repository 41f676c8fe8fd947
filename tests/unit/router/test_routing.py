"""Reading ``model``/``stream`` from bodies and choosing candidate workers by model."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgorch.router._circuit import CircuitBreaker
from sgorch.router._pool import HealthTracker, WorkerPool
from sgorch.router._routing import (
    ModelRequired,
    NoWorkers,
    Route,
    RoutingFields,
    UnknownModel,
    parse_routing_fields,
    resolve_route,
)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b'{"model": "m", "stream": true}', RoutingFields("m", True)),
        (b'  \n{"stream": "yes", "model": 3}', RoutingFields(None, False)),
        (b'{"model": ""}', RoutingFields(None, False)),
        (b'["model", "m"]', RoutingFields(None, False)),
        (b"{broken", RoutingFields(None, False)),
        (b"\xff\xfe{", RoutingFields(None, False)),
        (b"", RoutingFields(None, False)),
        (b"model=m&stream=true", RoutingFields(None, False)),
    ],
)
def test_routing_fields_come_only_from_a_json_object(body: bytes, fields: RoutingFields) -> None:
    assert parse_routing_fields(body) == fields


@given(st.binary(max_size=200))
def test_reading_routing_fields_never_fails_on_any_bytes(body: bytes) -> None:
    parse_routing_fields(body)


@given(
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5),
    st.text(min_size=1),
)
def test_model_is_found_among_any_other_fields(extra: dict[str, object], model: str) -> None:
    document = {**extra, "model": model}
    assert parse_routing_fields(json.dumps(document).encode()).model == model


def make_pool(*workers: tuple[str, tuple[str, ...]]) -> WorkerPool:
    pool = WorkerPool(
        make_breaker=lambda: CircuitBreaker(
            failure_threshold=1, open_s=1, half_open_successes=1, clock=time.monotonic
        ),
        make_health=lambda: HealthTracker(failure_threshold=1, success_threshold=1),
    )
    for url, models in workers:
        pool.add(url, models, None)
    return pool


def route(
    pool: WorkerPool, model: str | None, path: str = "/v1/chat/completions", **kwargs: object
):  # type: ignore[no-untyped-def]
    return resolve_route(
        pool,
        requested=model,
        path=path,
        default_models=kwargs.get("defaults", {}),  # type: ignore[arg-type]
        expected_models=kwargs.get("expected", frozenset()),  # type: ignore[arg-type]
    )


def urls(result: object) -> list[str]:
    assert isinstance(result, Route)
    return [worker.url for worker in result.workers]


def test_named_model_and_its_aliases_select_their_workers() -> None:
    pool = make_pool(
        ("http://a:1", ("llama", "chat")), ("http://b:1", ("bge",)), ("http://c:1", ("llama",))
    )
    assert urls(route(pool, "llama")) == ["http://a:1", "http://c:1"]
    assert urls(route(pool, "chat")) == ["http://a:1"]


def test_missing_model_uses_the_endpoint_default() -> None:
    pool = make_pool(("http://a:1", ("llama",)), ("http://b:1", ("bge",)))
    result = route(pool, None, "/v1/embeddings", defaults={"/v1/embeddings": "bge"})
    assert urls(result) == ["http://b:1"]
    assert isinstance(result, Route) and result.model == "bge"


def test_missing_model_goes_to_any_worker_when_one_model_is_served() -> None:
    pool = make_pool(
        ("http://a:1", ("llama", "chat")), ("http://b:1", ("llama",)), ("http://c:1", ())
    )
    result = route(pool, None)
    assert urls(result) == ["http://a:1", "http://b:1", "http://c:1"]
    assert isinstance(result, Route) and result.model == "llama"


def test_missing_model_with_several_served_models_must_be_named() -> None:
    pool = make_pool(("http://a:1", ("llama",)), ("http://b:1", ("bge",)))
    assert route(pool, None) == ModelRequired(["bge", "llama"])


def test_unknown_model_lists_served_models_unless_workers_without_a_model_exist() -> None:
    pool = make_pool(("http://a:1", ("llama", "chat")))
    assert route(pool, "gpt") == UnknownModel("gpt", ["chat", "llama"])
    pool.add("http://any:1", (), None)
    assert urls(route(pool, "gpt")) == ["http://any:1"]


def test_expected_model_without_workers_and_an_empty_pool_mean_no_workers_yet() -> None:
    pool = make_pool(("http://a:1", ("llama",)))
    assert route(pool, "bge", expected=frozenset({"bge"})) == NoWorkers("bge")
    assert route(make_pool(), "anything") == NoWorkers("anything")
    assert route(make_pool(), None) == NoWorkers(None)

"""Retries, the circuit breaker and worker loss under load, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any

import aiohttp

from sgorch.router import serve_router

from .conftest import EngineFactory
from .engines import Engine
from .support import ADMIN_ENV, ADMIN_HEADERS, make_config


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _request_ids(*engines: Engine) -> Counter[tuple[str, str | None]]:
    return Counter(
        (engine.name, seen.header("X-Request-Id")) for engine in engines for seen in engine.received
    )


async def _workers(http: aiohttp.ClientSession, router_url: str) -> dict[str, dict[str, Any]]:
    async with http.get(router_url + "/workers", headers=ADMIN_HEADERS) as response:
        return {worker["url"]: worker for worker in (await response.json())["workers"]}


async def test_retry_never_hits_the_worker_that_just_failed(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    failing = [await start_engine(f"failing-{n}", status=503) for n in range(2)]
    good = await start_engine("good")
    config = make_config(
        *failing, good, retry={"max_attempts": 3}, circuit_breaker={"failure_threshold": 1000}
    )
    async with serve_router(config, environ=ADMIN_ENV) as router:
        for _ in range(30):
            async with http.post(router.url + "/v1/completions", data=b"{}") as response:
                assert (await response.json())["engine"] == "good"
    seen = _request_ids(*failing, good)
    assert max(seen.values()) == 1
    assert good.requests == 30


async def test_when_every_worker_fails_the_last_worker_answer_reaches_the_client(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engines = [await start_engine(f"failing-{n}", status=503) for n in range(2)]
    async with (
        serve_router(make_config(*engines, retry={"max_attempts": 5}), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b"{}") as response,
    ):
        assert response.status == 503
        assert (await response.json()) == {"error": {"message": "engine failure"}}
    assert [engine.requests for engine in engines] == [1, 1]


async def test_statuses_not_configured_for_retry_are_passed_through_at_once(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    failing = await start_engine("failing", status=500)
    other = await start_engine("other", status=500)
    async with (
        serve_router(make_config(failing, other), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b"{}") as response,
    ):
        assert response.status == 500
    assert failing.requests + other.requests == 1


async def test_connection_refused_is_retried_on_another_worker(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    good = await start_engine("good")
    config = make_config(good, health={"enabled": False}, policy="round_robin")
    async with serve_router(config, environ=ADMIN_ENV) as router:
        dead = _closed_port_url()
        async with http.post(
            f"{router.url}/workers/add?url={dead}", headers=ADMIN_HEADERS
        ) as added:
            assert added.status == 200
        for _ in range(6):
            async with http.post(router.url + "/v1/completions", data=b"{}") as response:
                assert response.status == 200
        workers = await _workers(http, router.url)
        async with http.get(router.url + "/metrics") as metrics:
            exposition = await metrics.text()
    assert workers[dead]["errors"] >= 1
    assert 'sgorch_router_retries_total{reason="connect_error"}' in exposition


async def test_only_failing_worker_with_no_alternative_gives_502(
    http: aiohttp.ClientSession,
) -> None:
    dead = _closed_port_url()
    config = make_config(health={"enabled": False}, workers=[{"url": dead}])
    async with (
        serve_router(config, environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b"{}") as response,
    ):
        assert response.status == 502
        assert (await response.json())["error"]["code"] == "connect_error"


async def test_a_stream_that_broke_after_its_first_byte_is_never_retried(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engines = [
        await start_engine(f"dying-{n}", stream_chunks=4, die_after_chunks=1) for n in range(2)
    ]
    async with (
        serve_router(make_config(*engines), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b'{"stream": true}') as response,
    ):
        text = await response.text()
    assert "event: error" in text
    assert sum(engine.requests for engine in engines) == 1


async def test_killing_a_worker_under_concurrent_load_fails_no_request(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engines = [await start_engine(f"engine-{n}", delay_s=0.005) for n in range(3)]
    victim = engines[0]
    config = make_config(*engines, health={"interval_s": 0.2, "timeout_s": 0.5})
    async with serve_router(config, environ=ADMIN_ENV) as router:
        statuses: list[int] = []
        pending = iter(range(200))

        async def client() -> None:
            for index in pending:
                if index == 60:
                    await victim.stop()
                async with http.post(router.url + "/v1/completions", data=b'{"n": 1}') as response:
                    await response.read()
                    statuses.append(response.status)

        await asyncio.gather(*(client() for _ in range(4)))
        victim_state = (await _workers(http, router.url))[victim.url]
    assert victim_state["errors"] >= 1, "the victim never failed: the test proved nothing"
    assert len(statuses) == 200
    assert Counter(statuses) == {200: 200}
    assert all(engine.requests > 0 for engine in engines)


async def test_hung_worker_is_ejected_by_the_circuit_breaker_and_readmitted_after_recovery(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    hung = await start_engine("hung", hang=True)
    good = await start_engine("good")
    config = make_config(
        hung,
        good,
        policy="round_robin",
        health={"enabled": False},
        timeouts={"first_byte_s": 0.3},
        retry={"max_attempts": 2},
        circuit_breaker={"failure_threshold": 2, "open_s": 1.0, "half_open_successes": 1},
    )
    async with serve_router(config, environ=ADMIN_ENV) as router:
        for _ in range(8):
            async with http.post(router.url + "/v1/completions", data=b"{}") as response:
                assert (await response.json())["engine"] == "good"
        assert hung.requests == 2
        assert (await _workers(http, router.url))[hung.url]["circuit"] == "open"

        hung.behaviour.hang = False
        await asyncio.sleep(1.1)
        assert (await _workers(http, router.url))[hung.url]["circuit"] == "half_open"
        served_by = set()
        for _ in range(4):
            async with http.post(router.url + "/v1/completions", data=b"{}") as response:
                served_by.add((await response.json())["engine"])
        assert served_by == {"hung", "good"}
        assert (await _workers(http, router.url))[hung.url]["circuit"] == "closed"

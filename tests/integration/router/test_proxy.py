"""The proxy over real HTTP: transparency, streaming, limits and client auth."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from yarl import URL

from sgorch.router import serve_router
from sgorch.router._server import build_session

from .conftest import EngineFactory
from .support import ADMIN_ENV, make_config

ODD_BODY = (
    b'{ "zeta" :1,"model":"m1" ,  "max_tokens": 7, "unknown_field": {"nested": [1, 2.50, null]},'
    b'\n\t"alpha": "\\u00e9t\\u00e9", "messages": [{"role":"user","content":"hi"}]}   \n'
)


async def test_worker_receives_exactly_the_body_bytes_the_client_sent(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with (
        serve_router(make_config((engine, "m1")), environ=ADMIN_ENV) as router,
        http.post(
            router.url + "/v1/chat/completions",
            data=ODD_BODY,
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 200
    assert engine.received[0].body == ODD_BODY


async def test_body_that_is_not_json_is_forwarded_unchanged(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    payload = bytes(range(256)) * 3
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        target = URL(router.url + "/upload?x=1&y=%2F", encoded=True)
        async with http.put(target, data=payload) as response:
            assert response.status == 200
    assert engine.received[0].body == payload
    assert engine.received[0].method == "PUT"
    assert engine.received[0].path == "/upload?x=1&y=%2F"


async def test_hop_by_hop_headers_are_dropped_and_forwarding_headers_added(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        headers = {
            "Connection": "keep-alive, X-Private-Hop",
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "X-Custom": "kept",
            "X-Forwarded-For": "203.0.113.9",
        }
        async with http.post(
            router.url + "/v1/completions", data=b"{}", headers=headers
        ) as response:
            assert response.status == 200
            echoed_id = response.headers["X-Request-Id"]
    seen = engine.received[0]
    assert seen.header("X-Custom") == "kept"
    assert seen.header("X-Private-Hop") is None
    assert seen.header("Keep-Alive") is None
    assert seen.header("X-Forwarded-For") == "203.0.113.9, 127.0.0.1"
    assert seen.header("X-Forwarded-Proto") == "http"
    assert seen.header("X-Forwarded-Host") == router.url.removeprefix("http://")
    assert seen.header("Host") == engine.url.removeprefix("http://")
    assert seen.header("X-Request-Id") == echoed_id
    assert len(echoed_id) >= 16


async def test_router_adds_no_headers_the_client_did_not_send(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with (
        serve_router(make_config(engine), environ=ADMIN_ENV) as router,
        http.post(
            router.url + "/v1/completions",
            data=b"{}",
            skip_auto_headers=("Content-Type", "Accept-Encoding"),
        ) as response,
    ):
        assert response.status == 200
    seen = engine.received[0]
    assert seen.header("Content-Type") is None
    assert seen.header("Accept-Encoding") is None


async def test_client_request_id_is_forwarded_and_echoed(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with (
        serve_router(make_config(engine), environ=ADMIN_ENV) as router,
        http.post(
            router.url + "/v1/completions", data=b"{}", headers={"X-Request-Id": "req-42"}
        ) as response,
    ):
        assert response.headers["X-Request-Id"] == "req-42"
    assert engine.received[0].header("X-Request-Id") == "req-42"


async def test_sockets_to_clients_and_to_workers_have_tcp_nodelay(
    start_engine: EngineFactory,
) -> None:
    engine = await start_engine(stream_chunks=2, stream_interval_s=0.2)
    session = build_session(make_config(engine))
    try:
        # A streaming response keeps the connection attached while it is read.
        async with session.post(engine.url + "/v1/completions", data=b"{}") as response:
            assert response.connection is not None and response.connection.transport is not None
            client_socket = response.connection.transport.get_extra_info("socket")
            assert client_socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        await session.close()
    # The engine is an aiohttp server like the router: its accepted socket has it too.
    assert engine.received[0].nodelay


async def test_streamed_chunks_reach_the_client_as_the_worker_flushes_them(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(stream_chunks=5, stream_interval_s=0.3)
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        arrivals: list[float] = []
        async with http.post(router.url + "/v1/completions", data=b'{"stream": true}') as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n\n" in buffer:
                    event, buffer = buffer.split(b"\n\n", 1)
                    if b'"index"' in event:
                        arrivals.append(time.monotonic())
    assert len(arrivals) == 5
    delays = [
        arrived - flushed for arrived, flushed in zip(arrivals, engine.flush_times, strict=True)
    ]
    assert max(delays) < 0.2, delays


async def test_worker_dying_mid_stream_ends_the_stream_with_an_sse_error_event(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(stream_chunks=5, die_after_chunks=2)
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        async with http.post(
            router.url + "/v1/chat/completions", data=b'{"stream": true}'
        ) as response:
            assert response.status == 200
            text = (await response.read()).decode()
        async with http.get(
            router.url + "/workers", headers={"Authorization": "Bearer admin-secret-token"}
        ) as listing:
            workers = (await listing.json())["workers"]
    events = [event for event in text.split("\n\n") if event]
    assert [json.loads(e.removeprefix("data: "))["index"] for e in events[:2]] == [0, 1]
    assert events[-1].startswith("event: error\ndata: ")
    error = json.loads(events[-1].split("data: ", 1)[1])["error"]
    assert error["type"] == "worker_failed"
    assert workers[0]["errors"] == 1


async def test_worker_dying_mid_body_cuts_the_connection_so_the_client_sees_it_incomplete(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(chunked_json_parts=5, die_after_chunks=2)
    async with (
        serve_router(make_config(engine), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b"{}") as response,
    ):
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


@pytest.mark.slow
async def test_long_stream_with_gaps_below_the_idle_timeout_is_never_cut(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(stream_chunks=8, stream_interval_s=1.0)
    config = make_config(engine, timeouts={"idle_s": 3.0, "first_byte_s": 3.0})
    async with (
        serve_router(config, environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b'{"stream": true}') as response,
    ):
        text = (await response.read()).decode()
    assert text.count('"index"') == 8
    assert text.endswith("data: [DONE]\n\n")
    assert "event: error" not in text


async def test_stream_idle_longer_than_idle_timeout_ends_with_an_error_event(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(stream_chunks=3, stream_interval_s=1.0)
    config = make_config(engine, timeouts={"idle_s": 0.3})
    async with (
        serve_router(config, environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/completions", data=b'{"stream": true}') as response,
    ):
        text = (await response.read()).decode()
    assert text.count('"index"') == 1
    assert "event: error" in text


async def test_body_larger_than_the_limit_gets_413(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with serve_router(make_config(engine, max_body_bytes=100), environ=ADMIN_ENV) as router:
        async with http.post(router.url + "/v1/completions", data=b"x" * 100) as fits:
            assert fits.status == 200
        async with http.post(router.url + "/v1/completions", data=b"x" * 101) as too_big:
            assert too_big.status == 413
            assert (await too_big.json())["error"]["type"] == "invalid_request_error"

        async def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(3):
                yield b"y" * 50

        async with http.post(router.url + "/v1/completions", data=chunks()) as chunked:
            assert chunked.status == 413
    assert engine.requests == 1


async def test_client_tokens_guard_proxied_requests_and_are_not_forwarded(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    config = make_config((engine, "m1"), client_token_envs=["TOKEN_A", "TOKEN_B"])
    environ = {**ADMIN_ENV, "TOKEN_A": "alpha", "TOKEN_B": "beta"}
    async with serve_router(config, environ=environ) as router:
        url = router.url + "/v1/completions"
        async with http.post(url, data=b"{}") as anonymous:
            assert anonymous.status == 401
            assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        async with http.post(url, data=b"{}", headers={"Authorization": "Bearer gamma"}) as wrong:
            assert wrong.status == 401
        for token in ("alpha", "beta"):
            async with http.post(
                url, data=b"{}", headers={"Authorization": f"Bearer {token}"}
            ) as ok:
                assert ok.status == 200
        async with http.get(router.url + "/v1/models") as models:
            assert models.status == 401
        async with http.get(router.url + "/healthz") as health:
            assert health.status == 200
    assert engine.requests == 2
    assert all(seen.header("Authorization") is None for seen in engine.received)


async def test_concurrency_limit_queues_then_answers_429_with_retry_after(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(delay_s=0.5)
    config = make_config(
        engine, concurrency={"max_inflight": 1, "max_queue": 1, "retry_after_s": 7}
    )
    async with serve_router(config, environ=ADMIN_ENV) as router:

        async def call() -> tuple[int, str | None]:
            async with http.post(router.url + "/v1/completions", data=b"{}") as response:
                return response.status, response.headers.get("Retry-After")

        first = asyncio.ensure_future(call())
        await asyncio.sleep(0.1)
        second = asyncio.ensure_future(call())
        await asyncio.sleep(0.1)
        async with http.get(router.url + "/metrics") as metrics:
            exposition = await metrics.text()
        assert "sgorch_router_admitted_requests 1.0" in exposition
        assert "sgorch_router_queue_waiting 1.0" in exposition
        third = await call()
        assert third == (429, "7")
        assert await first == (200, None)
        assert await second == (200, None)

"""``RouterClient`` against our router and against stand-ins of the other routers' APIs."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sgorch.errors import ConfigError, RouterUnavailable
from sgorch.router import HeaderAuth, RouterClient, RouterDialect, serve_router

from .conftest import EngineFactory
from .routers import LegacyRouter, SglangRouter
from .support import ADMIN_ENV, ADMIN_TOKEN, make_config

AUTH = HeaderAuth.bearer(ADMIN_TOKEN)


async def test_client_manages_workers_on_our_router(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(delay_s=0.8)
    async with (
        serve_router(make_config(), environ=ADMIN_ENV) as router,
        RouterClient(router.url, auth=AUTH) as client,
    ):
        await client.ping()
        assert await client.list_workers() == []
        await client.add_worker(engine.url, model="llama-3,chat", deployment="llama")
        await client.add_worker(engine.url, model="llama-3,chat", deployment="llama")
        assert await client.list_workers() == [engine.url]
        async with http.post(
            router.url + "/v1/chat/completions", data=b'{"model": "chat"}'
        ) as served:
            assert served.status == 200

        in_flight = asyncio.ensure_future(http.post(router.url + "/v1/completions", data=b"{}"))
        await asyncio.sleep(0.3)
        assert await client.drain_worker(engine.url) == 1
        assert await client.drain_worker(engine.url, wait_s=5) == 0
        (await in_flight).release()

        await client.remove_worker(engine.url)
        await client.remove_worker(engine.url)
        assert await client.list_workers() == []
        assert await client.drain_worker(engine.url) == 0


async def test_client_with_a_wrong_token_gets_a_config_error() -> None:
    async with (
        serve_router(make_config(), environ=ADMIN_ENV) as router,
        RouterClient(router.url, auth=HeaderAuth.bearer("wrong")) as client,
    ):
        with pytest.raises(ConfigError, match="401"):
            await client.ping()


async def test_client_reports_an_unreachable_router_as_temporarily_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with RouterClient(closed, timeout_s=2) as client:
        with pytest.raises(RouterUnavailable):
            await client.list_workers()


async def test_client_rejects_an_invalid_worker_url_before_calling_the_router() -> None:
    async with RouterClient("http://127.0.0.1:9", timeout_s=1) as client:
        with pytest.raises(ConfigError, match="port"):
            await client.add_worker("http://no-port.example")


@pytest.fixture
async def sglang_router() -> AsyncIterator[SglangRouter]:
    router = SglangRouter()
    await router.start()
    yield router
    await router.stop()


@pytest.fixture
async def legacy_router() -> AsyncIterator[LegacyRouter]:
    router = LegacyRouter()
    await router.start()
    yield router
    await router.stop()


async def test_sglang_dialect_adds_by_json_and_removes_by_looked_up_id(
    sglang_router: SglangRouter,
) -> None:
    worker = "http://127.0.0.1:9101"
    async with RouterClient(sglang_router.url, dialect=RouterDialect.SGLANG, auth=AUTH) as client:
        await client.add_worker(worker + "/", model="llama-3,chat", deployment="llama")
        await client.add_worker("http://127.0.0.1:9102")
        assert sorted(await client.list_workers()) == [worker, "http://127.0.0.1:9102"]
        worker_id = next(wid for wid, url in sglang_router.workers.items() if url == worker)
        await client.remove_worker(worker)
        await client.remove_worker(worker)
        assert await client.drain_worker("http://127.0.0.1:9102") == 0
        assert await client.list_workers() == []
    method, path, _, body = sglang_router.calls[0]
    assert (method, path) == ("POST", "/workers")
    assert body is not None
    assert json.loads(body) == {
        "url": "http://127.0.0.1:9101",
        "model_id": "llama-3",
        "labels": {"deployment": "llama"},
    }
    assert ("DELETE", f"/workers/{worker_id}", {}, None) in sglang_router.calls
    assert set(sglang_router.auth_headers) == {f"Bearer {ADMIN_TOKEN}"}


async def test_legacy_dialect_uses_query_parameters_and_treats_404_on_remove_as_done(
    legacy_router: LegacyRouter,
) -> None:
    worker = "http://127.0.0.1:9201"
    async with RouterClient(legacy_router.url, dialect=RouterDialect.SGLANG_LEGACY) as client:
        await client.ping()
        await client.add_worker(worker, model="ignored-by-this-dialect")
        assert await client.list_workers() == [worker]
        assert await client.drain_worker(worker) == 0
        await client.remove_worker(worker)
        assert await client.list_workers() == []
    assert ("POST", "/add_worker", {"url": worker}, None) in legacy_router.calls
    assert ("POST", "/remove_worker", {"url": worker}, None) in legacy_router.calls


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_until_answering(client: RouterClient, process: asyncio.subprocess.Process) -> None:
    for _ in range(100):
        if process.returncode is not None:
            pytest.fail(f"the router exited with {process.returncode} before answering")
        try:
            await client.ping()
            return
        except RouterUnavailable:
            await asyncio.sleep(0.1)
    pytest.fail("the router did not answer within 10 s")


async def _eventually_listed(client: RouterClient, expected: list[str]) -> list[str]:
    """The worker list once it matches ``expected``: sglang-router registers in the background."""
    for _ in range(50):
        listed = await client.list_workers()
        if listed == expected:
            break
        await asyncio.sleep(0.1)
    return listed


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("sglang_router") is None, reason="sglang-router is not installed"
)
async def test_sglang_dialect_against_the_real_sglang_router(
    start_engine: EngineFactory, tmp_path: Path
) -> None:
    engine = await start_engine()
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    port = _free_port()
    with (tmp_path / "sglang-router.log").open("wb") as log:
        command = ["-m", "sglang_router.launch_router", "--host", "127.0.0.1", "--port", str(port)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command, env=env, stdout=log, stderr=log
        )
    try:
        async with RouterClient(f"http://127.0.0.1:{port}", dialect=RouterDialect.SGLANG) as client:
            await _wait_until_answering(client, process)
            await client.add_worker(engine.url, model="m1")
            assert await _eventually_listed(client, [engine.url]) == [engine.url]
            await client.remove_worker(engine.url)
            assert await _eventually_listed(client, []) == []
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()

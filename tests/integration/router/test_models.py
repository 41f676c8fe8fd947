"""Model-aware routing, per-endpoint default models, /v1/models and metrics labels."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from sgorch.router import serve_router

from .conftest import EngineFactory
from .support import ADMIN_ENV, ADMIN_HEADERS, make_config


async def _engine_for(http: aiohttp.ClientSession, url: str, body: bytes) -> str:
    async with http.post(url, data=body) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["engine"])


async def test_requests_go_to_the_workers_of_the_model_they_name(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    llama = await start_engine("llama")
    bge = await start_engine("bge")
    config = make_config((llama, "llama-3,chat"), (bge, "bge-m3"))
    async with serve_router(config, environ=ADMIN_ENV) as router:
        chat = router.url + "/v1/chat/completions"
        assert await _engine_for(http, chat, b'{"model": "llama-3"}') == "llama"
        assert await _engine_for(http, chat, b'{"model": "chat"}') == "llama"
        assert (
            await _engine_for(http, router.url + "/v1/embeddings", b'{"model": "bge-m3"}') == "bge"
        )


async def test_request_without_model_uses_the_endpoint_default(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    llama = await start_engine("llama")
    bge = await start_engine("bge")
    config = make_config(
        (llama, "llama-3"),
        (bge, "bge-m3"),
        default_models={"/v1/embeddings": "bge-m3", "/v1/chat/completions": "llama-3"},
    )
    async with serve_router(config, environ=ADMIN_ENV) as router:
        assert await _engine_for(http, router.url + "/v1/embeddings", b'{"input": "x"}') == "bge"
        assert await _engine_for(http, router.url + "/v1/chat/completions", b"{}") == "llama"
        async with http.post(router.url + "/v1/completions", data=b"{}") as ambiguous:
            assert ambiguous.status == 400
            assert (await ambiguous.json())["error"]["served_models"] == ["bge-m3", "llama-3"]


async def test_request_without_model_goes_anywhere_when_one_model_is_served(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with serve_router(make_config((engine, "only,alias")), environ=ADMIN_ENV) as router:
        assert await _engine_for(http, router.url + "/v1/completions", b"not json") == "engine"


async def test_unknown_model_gets_404_listing_the_served_models(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with (
        serve_router(make_config((engine, "llama-3,chat")), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/chat/completions", data=b'{"model": "gpt-9"}') as response,
    ):
        assert response.status == 404
        error = (await response.json())["error"]
    assert error["code"] == "model_not_found"
    assert error["served_models"] == ["chat", "llama-3"]
    assert "gpt-9" in error["message"]
    assert engine.requests == 0


async def test_expected_model_without_registered_workers_gets_503_not_404(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    config = make_config((engine, "llama-3"), models=["bge-m3"])
    async with (
        serve_router(config, environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/embeddings", data=b'{"model": "bge-m3"}') as response,
    ):
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.json())["error"]["type"] == "no_workers"


async def test_router_without_workers_answers_503_with_retry_after(
    http: aiohttp.ClientSession,
) -> None:
    async with (
        serve_router(make_config(), environ=ADMIN_ENV) as router,
        http.post(router.url + "/v1/chat/completions", data=b'{"model": "x"}') as response,
    ):
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        body = await response.json()
    assert body["error"]["type"] == "no_workers"
    assert body["error"]["message"]


async def test_workers_registered_without_model_serve_any_model_name(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        assert (
            await _engine_for(http, router.url + "/v1/completions", b'{"model": "whatever"}')
            == "engine"
        )


async def test_models_endpoint_lists_models_with_ready_workers_in_openai_format(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    llama = await start_engine("llama")
    down = await start_engine("down", health_status=503)
    health = {"interval_s": 0.05, "timeout_s": 0.5, "failure_threshold": 1}
    config = make_config((llama, "llama-3,chat"), (down, "bge-m3"), health=health)
    async with serve_router(config, environ=ADMIN_ENV) as router:
        await asyncio.sleep(0.3)
        async with http.get(router.url + "/v1/models") as response:
            listing = await response.json()
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == ["chat", "llama-3"]
    assert all(
        model["object"] == "model" and isinstance(model["created"], int)
        for model in listing["data"]
    )
    assert llama.requests == 0


def _series(exposition: str, metric: str) -> list[str]:
    return [line for line in exposition.splitlines() if line.startswith(metric + "{")]


async def test_metrics_use_bounded_labels_and_forget_removed_workers(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    named = await start_engine("named")
    anything = await start_engine("anything")
    config = make_config((named, "llama-3"), anything, models=["llama-3"])
    async with serve_router(config, environ=ADMIN_ENV) as router:
        for model in ("llama-3", "made-up-1", "made-up-2"):
            async with http.post(
                router.url + "/v1/completions", data=f'{{"model": "{model}", "stream": true}}'
            ):
                pass
        async with http.get(router.url + "/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            before = await response.text()
        async with http.post(
            f"{router.url}/workers/remove?url={anything.url}", headers=ADMIN_HEADERS
        ):
            pass
        async with http.get(router.url + "/metrics") as response:
            after = await response.text()

    requests = _series(before, "sgorch_router_requests_total")
    models = set(re.findall(r'model="([^"]*)"', "\n".join(requests)))
    assert models == {"llama-3", "other"}
    labels = f'model="other",status_class="2xx",worker="{anything.url}"'
    assert f"sgorch_router_requests_total{{{labels}}} 2.0" in before
    assert _series(before, "sgorch_router_time_to_first_byte_seconds_count")
    assert f'sgorch_router_worker_healthy{{worker="{anything.url}"}} 1.0' in before
    assert f'sgorch_router_worker_circuit_state{{worker="{named.url}"}} 0.0' in before
    assert "sgorch_router_request_duration_seconds_bucket" in before
    assert anything.url not in after
    assert named.url in after

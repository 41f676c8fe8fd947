"""The management API over real HTTP: auth, idempotent registration, drain, health."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from sgorch.errors import ConfigError
from sgorch.router import serve_router

from .conftest import EngineFactory
from .support import ADMIN_ENV, ADMIN_HEADERS, make_config


async def _json(response: aiohttp.ClientResponse) -> Any:
    assert response.status == 200, await response.text()
    return await response.json()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/workers/list"),
        ("GET", "/workers"),
        ("POST", "/workers/add?url=http://127.0.0.1:9001"),
        ("POST", "/workers/remove?url=http://127.0.0.1:9001"),
        ("POST", "/workers/drain?url=http://127.0.0.1:9001"),
        ("POST", "/add_worker?url=http://127.0.0.1:9001"),
        ("POST", "/remove_worker?url=http://127.0.0.1:9001"),
        ("GET", "/list_workers"),
    ],
)
async def test_management_calls_without_the_right_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with serve_router(make_config(), environ=ADMIN_ENV) as router:
        async with http.request(method, router.url + path) as anonymous:
            assert anonymous.status == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        async with http.request(method, router.url + path, headers=wrong) as mistaken:
            assert mistaken.status == 401
        async with http.get(router.url + "/workers/list", headers=ADMIN_HEADERS) as listing:
            assert (await _json(listing)) == {"workers": []}


async def test_without_a_configured_token_loopback_clients_may_manage_workers(
    http: aiohttp.ClientSession,
) -> None:
    async with serve_router(make_config(), environ={}) as router:
        async with http.post(router.url + "/workers/add?url=http://127.0.0.1:9001") as added:
            assert (await _json(added)) == {"status": "ok"}
        async with http.get(router.url + "/workers/list") as listing:
            assert (await _json(listing)) == {"workers": ["http://127.0.0.1:9001"]}


async def test_add_and_remove_are_idempotent_and_add_updates_the_model(
    http: aiohttp.ClientSession,
) -> None:
    async with serve_router(make_config(), environ=ADMIN_ENV) as router:

        async def call(method: str, path: str) -> Any:
            async with http.request(method, router.url + path, headers=ADMIN_HEADERS) as response:
                return await _json(response)

        worker = "http://127.0.0.1:9001"
        assert await call("POST", f"/workers/add?url={worker}&model=a&deployment=d1") == {
            "status": "ok"
        }
        assert await call("POST", f"/workers/add?url={worker}/&model=b,b-alias") == {"status": "ok"}
        described = (await call("GET", "/workers"))["workers"]
        assert len(described) == 1
        assert described[0]["model"] == "b"
        assert described[0]["models"] == ["b", "b-alias"]
        assert described[0]["deployment"] is None
        assert await call("GET", "/workers/list") == {"workers": [worker]}
        assert (await call("POST", f"/workers/remove?url={worker}"))["status"] == "ok"
        assert (await call("POST", f"/workers/remove?url={worker}"))["status"] == "ok"
        assert await call("GET", "/workers/list") == {"workers": []}


async def test_legacy_sglang_paths_register_list_and_remove(http: aiohttp.ClientSession) -> None:
    async with serve_router(make_config(), environ=ADMIN_ENV) as router:
        worker = "http://127.0.0.1:9002"
        async with http.post(
            f"{router.url}/add_worker?url={worker}", headers=ADMIN_HEADERS
        ) as added:
            await _json(added)
        async with http.get(router.url + "/list_workers", headers=ADMIN_HEADERS) as listing:
            assert await _json(listing) == {"urls": [worker]}
        async with http.post(
            f"{router.url}/remove_worker?url={worker}", headers=ADMIN_HEADERS
        ) as gone:
            await _json(gone)
        async with http.get(router.url + "/list_workers", headers=ADMIN_HEADERS) as listing:
            assert await _json(listing) == {"urls": []}


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://127.0.0.1:9000", "scheme"),
        ("http://127.0.0.1", "port"),
        ("http://:9000", "host"),
        ("http://127.0.0.1:9000/v1", "scheme://host:port"),
        ("not a url", "scheme"),
        ("", "required"),
    ],
)
async def test_invalid_worker_urls_are_rejected_with_400_and_a_reason(
    http: aiohttp.ClientSession, url: str, complaint: str
) -> None:
    async with (
        serve_router(make_config(), environ=ADMIN_ENV) as router,
        http.post(
            router.url + "/workers/add", params={"url": url}, headers=ADMIN_HEADERS
        ) as response,
    ):
        assert response.status == 400
        assert complaint in (await response.json())["error"]["message"]


async def test_management_paths_with_the_wrong_method_get_405_not_proxied(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with (
        serve_router(make_config(engine), environ=ADMIN_ENV) as router,
        http.delete(router.url + "/workers/list", headers=ADMIN_HEADERS) as response,
    ):
        assert response.status == 405
    assert engine.requests == 0


async def test_drain_stops_new_requests_and_waits_for_in_flight_ones(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    slow = await start_engine("slow", delay_s=1.0)
    async with serve_router(make_config(slow), environ=ADMIN_ENV) as router:
        in_flight = asyncio.ensure_future(http.post(router.url + "/v1/completions", data=b"{}"))
        await asyncio.sleep(0.3)
        drain = f"{router.url}/workers/drain?url={slow.url}"
        async with http.post(drain, headers=ADMIN_HEADERS) as first:
            assert await _json(first) == {
                "status": "ok",
                "url": slow.url,
                "inflight": 1,
                "drained": False,
            }
        async with http.post(router.url + "/v1/completions", data=b"{}") as refused:
            assert refused.status == 503
        started = time.monotonic()
        async with http.post(drain + "&wait_s=5", headers=ADMIN_HEADERS) as waited:
            assert (await _json(waited))["inflight"] == 0
        assert 0.3 < time.monotonic() - started < 2.0
        response = await in_flight
        assert response.status == 200
        response.release()
        async with http.get(router.url + "/workers", headers=ADMIN_HEADERS) as listing:
            assert (await _json(listing))["workers"][0]["draining"] is True


async def test_drain_of_an_unknown_worker_is_404_and_bad_wait_is_400(
    http: aiohttp.ClientSession,
) -> None:
    async with serve_router(make_config(), environ=ADMIN_ENV) as router:
        unknown = f"{router.url}/workers/drain?url=http://127.0.0.1:9009"
        async with http.post(unknown, headers=ADMIN_HEADERS) as response:
            assert response.status == 404
        async with http.post(unknown + "&wait_s=-1", headers=ADMIN_HEADERS) as response:
            assert response.status == 400


async def test_re_adding_a_draining_worker_puts_it_back_in_service(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine()
    async with serve_router(make_config(engine), environ=ADMIN_ENV) as router:
        async with http.post(
            f"{router.url}/workers/drain?url={engine.url}", headers=ADMIN_HEADERS
        ) as r:
            await _json(r)
        async with http.post(
            f"{router.url}/workers/add?url={engine.url}", headers=ADMIN_HEADERS
        ) as r:
            await _json(r)
        async with http.post(router.url + "/v1/completions", data=b"{}") as served:
            assert served.status == 200


async def test_healthz_stays_200_and_reports_unhealthy_workers(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    good = await start_engine("good")
    bad = await start_engine("bad", health_status=503)
    config = make_config(
        good, bad, health={"interval_s": 0.05, "timeout_s": 0.5, "failure_threshold": 2}
    )
    async with serve_router(config, environ=ADMIN_ENV) as router:
        await asyncio.sleep(0.5)
        async with http.get(router.url + "/healthz") as response:
            report = await _json(response)
        assert report["status"] == "degraded"
        assert report["ready"] == 1
        assert [worker["url"] for worker in report["unready"]] == [bad.url]
        for _ in range(10):
            async with http.post(router.url + "/v1/completions", data=b"{}") as served:
                assert (await _json(served))["engine"] == "good"


async def test_healthz_is_200_with_no_workers_at_all(http: aiohttp.ClientSession) -> None:
    async with (
        serve_router(make_config(), environ=ADMIN_ENV) as router,
        http.get(router.url + "/healthz") as response,
    ):
        assert (await _json(response)) == {
            "status": "ok",
            "workers": 0,
            "ready": 0,
            "unready": [],
        }


async def test_unhealthy_worker_comes_back_after_enough_good_probes(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(health_status=500)
    health = {"interval_s": 0.05, "timeout_s": 0.5, "failure_threshold": 1, "success_threshold": 2}
    async with serve_router(make_config(engine, health=health), environ=ADMIN_ENV) as router:
        await asyncio.sleep(0.3)
        async with http.post(router.url + "/v1/completions", data=b"{}") as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "1"
        engine.behaviour.health_status = 200
        await asyncio.sleep(0.4)
        async with http.post(router.url + "/v1/completions", data=b"{}") as served:
            assert served.status == 200


async def test_a_probe_that_hangs_past_its_timeout_counts_as_failed(
    start_engine: EngineFactory, http: aiohttp.ClientSession
) -> None:
    engine = await start_engine(health_hang=True)
    health = {"interval_s": 0.05, "timeout_s": 0.1, "failure_threshold": 2}
    async with serve_router(make_config(engine, health=health), environ=ADMIN_ENV) as router:
        await asyncio.sleep(0.6)
        async with http.get(router.url + "/workers", headers=ADMIN_HEADERS) as listing:
            worker = (await _json(listing))["workers"][0]
    assert engine.health_probes >= 2
    assert worker["healthy"] is False


async def test_an_error_inside_the_serving_block_surfaces_unwrapped() -> None:
    with pytest.raises(LookupError, match="from the block"):
        async with serve_router(make_config(), environ=ADMIN_ENV):
            raise LookupError("from the block")


async def test_a_missing_client_token_variable_stops_the_router_before_it_listens() -> None:
    config = make_config(client_token_envs=["MISSING_TOKEN"])
    with pytest.raises(ConfigError, match="MISSING_TOKEN"):
        async with serve_router(config, environ=ADMIN_ENV):
            pytest.fail("the router must not start")

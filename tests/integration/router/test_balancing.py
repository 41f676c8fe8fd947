"""How each balancing policy spreads real requests over real workers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from sgorch.router import BalancingPolicy, serve_router

from .conftest import EngineFactory
from .support import ADMIN_ENV, make_config


async def _send(http: aiohttp.ClientSession, url: str, count: int, concurrency: int) -> None:
    pending = iter(range(count))

    async def client() -> None:
        for _ in pending:
            async with http.post(url + "/v1/completions", data=b"{}") as response:
                assert response.status == 200

    await asyncio.gather(*(client() for _ in range(concurrency)))


@pytest.mark.parametrize("policy", [BalancingPolicy.ROUND_ROBIN, BalancingPolicy.LEAST_INFLIGHT])
async def test_sequential_requests_are_spread_evenly(
    start_engine: EngineFactory, http: aiohttp.ClientSession, policy: BalancingPolicy
) -> None:
    engines = [await start_engine(f"engine-{n}") for n in range(3)]
    async with serve_router(make_config(*engines, policy=policy), environ=ADMIN_ENV) as router:
        await _send(http, router.url, 60, concurrency=1)
    assert [engine.requests for engine in engines] == [20, 20, 20]


@pytest.mark.parametrize("policy", [BalancingPolicy.RANDOM, BalancingPolicy.POWER_OF_TWO])
async def test_randomised_policies_reach_every_worker(
    start_engine: EngineFactory, http: aiohttp.ClientSession, policy: BalancingPolicy
) -> None:
    engines = [await start_engine(f"engine-{n}") for n in range(3)]
    async with serve_router(make_config(*engines, policy=policy), environ=ADMIN_ENV) as router:
        await _send(http, router.url, 60, concurrency=2)
    assert all(engine.requests >= 5 for engine in engines), [e.requests for e in engines]


@pytest.mark.parametrize("policy", [BalancingPolicy.LEAST_INFLIGHT, BalancingPolicy.POWER_OF_TWO])
async def test_load_aware_policies_send_less_to_a_slow_worker(
    start_engine: EngineFactory, http: aiohttp.ClientSession, policy: BalancingPolicy
) -> None:
    fast = await start_engine("fast", delay_s=0.01)
    slow = await start_engine("slow", delay_s=0.2)
    async with serve_router(make_config(fast, slow, policy=policy), environ=ADMIN_ENV) as router:
        await _send(http, router.url, 80, concurrency=4)
    assert slow.requests < fast.requests / 3, (fast.requests, slow.requests)

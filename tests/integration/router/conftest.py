"""Fixtures for router integration tests: engines on 127.0.0.1 and an HTTP client.

The router itself is entered inside each test (``async with serve_router(...)``): its
background prober runs in an anyio task group, which must be entered and left by the
same task, and pytest-asyncio runs fixture setup and teardown in different tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from .engines import Behaviour, Engine

EngineFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def start_engine() -> AsyncIterator[EngineFactory]:
    """Start engines on free ports; every one is stopped after the test."""
    started: list[Engine] = []

    async def start(name: str = "engine", **behaviour: Any) -> Engine:
        engine = await Engine(name=name, behaviour=Behaviour(**behaviour)).start()
        started.append(engine)
        return engine

    yield start
    for engine in started:
        await engine.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session

"""``python -m sgorch.router`` as a real process: serve, register, proxy, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from sgorch.router import HeaderAuth, RouterClient

from .conftest import EngineFactory

OPERATOR_ROOT = Path(__file__).resolve().parents[3] / "operator"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _start(*args: str, log: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "ROUTER_TOKEN": "process-token", "PYTHONPATH": str(OPERATOR_ROOT)}
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sgorch.router", *args, env=env, stdout=sink, stderr=sink
        )


async def _wait_for_health(
    http: aiohttp.ClientSession, url: str, process: asyncio.subprocess.Process
) -> None:
    for _ in range(100):
        if process.returncode is not None:
            pytest.fail(f"router exited early with {process.returncode}")
        try:
            async with http.get(url + "/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    pytest.fail("router did not become healthy within 10 s")


async def test_router_process_proxies_then_finishes_in_flight_requests_and_exits_0_on_sigterm(
    start_engine: EngineFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    engine = await start_engine()
    port = _free_port()
    log = tmp_path / "router.log"
    process = await _start("--port", str(port), "--probe-interval", "0.2", log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_for_health(http, url, process)
        async with RouterClient(url, auth=HeaderAuth.bearer("process-token")) as client:
            await client.add_worker(engine.url, model="m1")
        async with http.post(url + "/v1/chat/completions", data=b'{"model": "m1"}') as response:
            assert response.status == 200
            assert (await response.json())["engine"] == "engine"
        engine.behaviour.delay_s = 1.0
        in_flight = asyncio.ensure_future(http.post(url + "/v1/chat/completions", data=b"{}"))
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        response = await in_flight  # finishes although SIGTERM arrived while it was in flight
        assert response.status == 200
        response.release()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = log.read_text()
    assert "SIGTERM received" in text
    assert "process-token" not in text


async def test_router_process_exits_2_on_invalid_options(tmp_path: Path) -> None:
    process = await _start("--worker", "ftp://127.0.0.1:1", log=tmp_path / "router.log")
    assert await asyncio.wait_for(process.wait(), timeout=10) == 2
    assert "scheme must be http or https" in (tmp_path / "router.log").read_text()

"""Active health probing: ``GET <health path>`` on every worker, every interval.

Runs as one task in the router's task group; a probe round probes all workers at once,
so one hung worker delays nothing but its own verdict.
"""

from __future__ import annotations

import aiohttp
import anyio
from loguru import logger

from ._pool import Worker, WorkerPool
from .config import HealthCheckConfig

__all__ = ["probe_forever", "probe_once"]


async def probe_once(
    session: aiohttp.ClientSession, worker: Worker, settings: HealthCheckConfig
) -> None:
    """Probe one worker and record the result; log when its health changes."""
    detail = "timed out"
    ok = False
    with anyio.move_on_after(settings.timeout_s):
        try:
            async with session.get(worker.url + settings.path, allow_redirects=False) as response:
                ok = 200 <= response.status < 300
                detail = f"status {response.status}"
        except (aiohttp.ClientError, OSError) as exc:
            detail = repr(exc)
    if worker.health.record(ok):
        if ok:
            logger.info("worker {} is healthy again", worker.url)
        else:
            logger.warning("worker {} is unhealthy: last probe {}", worker.url, detail)


async def probe_forever(
    session: aiohttp.ClientSession, pool: WorkerPool, settings: HealthCheckConfig
) -> None:
    while True:
        async with anyio.create_task_group() as group:
            for worker in pool:
                group.start_soon(probe_once, session, worker, settings)
        await anyio.sleep(settings.interval_s)

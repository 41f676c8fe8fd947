"""The probe manager against real HTTP workers on 127.0.0.1: closing it stops every
probe loop before its HTTP client closes, whatever the loops were doing."""

from __future__ import annotations

import anyio
from aiohttp import web

from fakes.harness import free_port
from sgorch.demo_worker import build_app
from sgorch.health import ProbeManager
from sgorch.resources.models import HealthSpec

FAST = HealthSpec.model_validate(
    {
        "startup": {"period_s": 0.001, "timeout_s": 1},
        "readiness": {"period_s": 0.001, "timeout_s": 1},
        "liveness": {"period_s": 0.001, "timeout_s": 1},
    }
)


async def test_closing_waits_for_every_probe_loop_and_then_refuses_new_ones() -> None:
    """Was: a loop whose sleep had just ended when ``aclose`` cancelled it resumed
    after the client closed ("Cannot send a request, as the client has been closed"),
    failing the operator's task group (seen once in a full run)."""
    port = free_port()
    runner = web.AppRunner(build_app("demo"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        for round_ in range(5):  # many loops, many resumptions: the race is likely
            async with anyio.create_task_group() as tg:
                probes = ProbeManager(tg, on_change=lambda _: None)
                for worker in range(20):
                    probes.ensure(f"{round_}-{worker}", "web", url, FAST)
                with anyio.fail_after(10):
                    while not all(
                        (h := probes.health(f"{round_}-{w}")) is not None and h.ready
                        for w in range(20)
                    ):
                        await anyio.sleep(0.005)
                await probes.aclose()
                assert probes.keys() == set()
                probes.ensure("late", "web", url, FAST)
                assert probes.health("late") is None, "no loop starts after closing"
    finally:
        await runner.cleanup()

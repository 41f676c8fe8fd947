"""Drives the Deployment controller step by step against the in-memory Slurm, with real
HTTP workers on 127.0.0.1, a fake wall clock, and "operator restarts" that rebuild every
in-memory object from the same directories (as a new process would).

``make_probes`` and ``make_routers`` swap the probe manager and the router directory
for test doubles (``fakes.fake_probes``, ``fakes.fake_router``); with both swapped the
harness needs no task group and no HTTP at all (the model-based tests run it so)."""

from __future__ import annotations

import functools
import inspect
import json
import socket
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.abc
from aiohttp import web

from fakes.fake_slurm import FakeSlurm
from sgorch.controllers.context import OperatorContext
from sgorch.controllers.deployment import DeploymentController
from sgorch.controllers.routing import RouterDirectory
from sgorch.demo_worker import build_app
from sgorch.health import ProbeManager
from sgorch.slurm import instance_prefix
from sgorch.slurm.watcher import JobWatcher
from sgorch.status import StatusWriter
from sgorch.status.events import EventRecorder
from sgorch.store import ResourceStore, StateStore

INSTANCE = "test"


@dataclass
class FakeClock:
    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def deployment_yaml(
    name: str = "web", replicas: int = 2, args: list[str] | None = None, extra: str = ""
) -> str:
    return f"""\
apiVersion: sgorch.io/v1alpha1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  backend: {{type: command, command: [server, "{{PORT}}"], args: {json.dumps(args or [])}}}
  connectivity: {{bind_host: 127.0.0.1}}
  health:
    startup: {{period_s: 0.05, timeout_s: 2, failure_threshold: 100}}
    readiness: {{period_s: 0.05, timeout_s: 2}}
    liveness: {{period_s: 0.05, timeout_s: 2, failure_threshold: 2}}
  policy: {{restart_backoff_base_s: 10, restart_backoff_cap_s: 100, drain_grace_s: 5}}
{extra}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    root: Path
    tg: anyio.abc.TaskGroup | None
    slurm: FakeSlurm = field(default_factory=FakeSlurm)
    clock: FakeClock = field(default_factory=FakeClock)
    environ: dict[str, str] = field(default_factory=dict)
    runners: dict[str, web.AppRunner] = field(default_factory=dict)
    make_probes: Callable[[], object] | None = None
    """Builds the probe manager of each operator "process" (default: real probes)."""
    make_routers: Callable[[ResourceStore], RouterDirectory] | None = None
    """Builds the router directory of each operator "process" (default: real clients)."""

    def __post_init__(self) -> None:
        self.resources = self.root / "resources"
        self.resources.mkdir(parents=True, exist_ok=True)
        self.status_dir = self.root / "status"
        self.state_dir = self.root / "state"
        self.build()

    def build(self) -> None:
        """(Re)create every in-memory object, as a freshly started operator would."""
        self.store = ResourceStore(self.resources, self.state_dir)
        self.watcher = JobWatcher(self.slurm, instance_prefix(INSTANCE), wall_clock=self.clock)
        if self.make_probes is not None:
            self.probes = cast(ProbeManager, self.make_probes())
        else:
            assert self.tg is not None, "real probes need a task group"
            self.probes = ProbeManager(self.tg, on_change=lambda _: None)
        self.ctx = OperatorContext(
            instance=INSTANCE,
            slurm=self.slurm,
            watcher=self.watcher,
            resources=self.store,
            state=StateStore(self.state_dir),
            status=StatusWriter(self.status_dir, INSTANCE),
            probes=self.probes,
            log_root=self.root / "logs",
            environ=self.environ,
            submit_timeout_s=30,
            resync_s=5,
            wall_clock=self.clock,
            events=EventRecorder(self.status_dir),
        )
        if self.make_routers is not None:
            self.routers = self.make_routers(self.store)
        else:
            self.routers = RouterDirectory(self.store, self.environ)
        self.controller = DeploymentController(self.ctx, self.routers)

    async def restart(self) -> None:
        await self.probes.aclose()
        await self.routers.aclose()
        self.build()

    def write(self, name: str, text: str) -> None:
        (self.resources / f"{name}.yaml").write_text(text)

    def delete(self, name: str) -> None:
        (self.resources / f"{name}.yaml").unlink()

    async def step(self, name: str = "web") -> float | None:
        await self.store.scan()
        await self.watcher.poll_once()
        return await self.controller.reconcile(name)

    async def serve(self, job_id: str, app: web.Application | None = None) -> str:
        """Start the job in Slurm and a real worker for it; write its endpoint file."""
        port = free_port()
        runner = web.AppRunner(app or build_app("demo"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.runners[job_id] = runner
        self.slurm.start(job_id)
        request = self.slurm.requests[job_id]
        endpoints = Path(request.working_dir) / "endpoints"
        endpoints.mkdir(parents=True, exist_ok=True)
        (endpoints / f"{job_id}.json").write_text(
            json.dumps({"host": "127.0.0.1", "port": port, "job_id": job_id})
        )
        return f"http://127.0.0.1:{port}"

    async def kill_worker(self, job_id: str) -> None:
        runner = self.runners.pop(job_id, None)
        if runner is not None:
            await runner.cleanup()

    async def close(self) -> None:
        for job_id in list(self.runners):
            await self.kill_worker(job_id)
        await self.probes.aclose()
        await self.routers.aclose()

    def status(self, name: str = "web") -> dict[str, Any]:
        path = self.status_dir / "deployments" / f"{name}.json"
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def condition(self, type_: str, name: str = "web") -> dict[str, Any]:
        (found,) = [c for c in self.status(name)["status"]["conditions"] if c["type"] == type_]
        return found  # type: ignore[no-any-return]

    async def until(
        self,
        predicate: Callable[[], bool | Awaitable[bool]],
        name: str = "web",
        timeout_s: float = 10.0,
    ) -> None:
        """Reconcile repeatedly until ``predicate`` holds."""
        with anyio.fail_after(timeout_s):
            while True:
                await self.step(name)
                result = predicate()
                if not isinstance(result, bool):
                    result = await result
                if result:
                    return
                await anyio.sleep(0.05)


def harnessed(
    test: Callable[[Harness], Coroutine[None, None, None]],
) -> Callable[[Path], Coroutine[None, None, None]]:
    """Run ``test(h)`` with a Harness whose task group lives in the test's own task (an
    async fixture would enter and exit it in different tasks)."""

    @functools.wraps(test)
    async def wrapper(tmp_path: Path) -> None:
        async with anyio.create_task_group() as tg:
            harness = Harness(tmp_path, tg)
            try:
                await test(harness)
            finally:
                await harness.close()
                tg.cancel_scope.cancel()

    wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("tmp_path", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    return wrapper

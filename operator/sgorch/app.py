"""The operator process: wires the stores, the job watcher, the probes and the
controllers under one root task group, and stops them cleanly on SIGTERM/SIGINT
(leaving every Slurm job running, to be adopted by the next start)."""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import hashlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import watchfiles
from aiohttp import web
from loguru import logger

from sgorch.board import build_board_app
from sgorch.controllers.context import OperatorContext
from sgorch.controllers.deployment import DeploymentController
from sgorch.controllers.routers import RouterController
from sgorch.controllers.routing import RouterDirectory
from sgorch.controllers.runtime import WorkQueue, run_workers
from sgorch.errors import ConfigError
from sgorch.health import ProbeManager
from sgorch.metrics import OperatorMetrics, build_metrics_app
from sgorch.slurm import SlurmClient, instance_prefix
from sgorch.slurm.metered import MeteredSlurmClient
from sgorch.slurm.selection import SlurmMode, select_client
from sgorch.slurm.watcher import JobWatcher
from sgorch.status import StatusWriter
from sgorch.status.events import EventRecorder
from sgorch.store import ResourceKey, ResourceStore, StateStore

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["Settings", "default_instance", "run_operator", "setup_logging"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``sgorch run`` is configured with (see ``sgorch run --help``)."""

    resources_dir: Path
    status_dir: Path
    state_dir: Path
    slurm: SlurmMode = "auto"
    instance: str | None = None
    poll: bool = False
    poll_interval_s: float = 2.0
    job_poll_interval_s: float = 5.0
    resync_s: float = 15.0
    submit_timeout_s: float = 60.0
    slurmrestd_url: str | None = None
    local_cpus: int | None = None
    metrics_port: int | None = None
    """Serve Prometheus metrics on this TCP port (None: not at all)."""
    metrics_host: str = "127.0.0.1"
    http_port: int | None = None
    """Serve the read-only status board on this TCP port (None: not at all)."""
    http_host: str = "127.0.0.1"


def default_instance(resources_dir: Path) -> str:
    """A stable instance name derived from the resources path: restarting from the same
    directory adopts the same jobs; another directory is another instance."""
    resolved = str(resources_dir.resolve())
    base = re.sub(r"[^A-Za-z0-9_.-]", "-", resources_dir.resolve().name or "root")[:40]
    return f"{base.strip('-.') or 'sgorch'}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"


def setup_logging(log_format: Literal["json", "text"] | None, level: str) -> None:
    """JSON lines when not on a terminal (or asked), human text on a terminal."""
    logger.remove()
    use_json = log_format == "json" or (log_format is None and not sys.stderr.isatty())
    if use_json:
        logger.add(sys.stderr, level=level, serialize=True)
    else:
        logger.add(sys.stderr, level=level, format=_text_format)


def _text_format(record: Record) -> str:
    resource = record["extra"].get("resource")
    prefix = f"{resource}: " if resource else ""
    return (
        "<green>{time:HH:mm:ss}</green> <level>{level: <7}</level> "
        + prefix.replace("{", "{{").replace("}", "}}").replace("<", "\\<")
        + "{message}\n{exception}"
    )


@contextmanager
def _state_lock(state_dir: Path) -> Iterator[None]:
    """One operator per state directory: a second one refuses instead of fighting."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "operator.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"another sgorch operator ({holder}) is running with state directory "
            f"{state_dir}; stop it first, or use a different --state-dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    try:
        yield
    finally:
        handle.close()


async def _watch_resources(
    store: ResourceStore, settings: Settings, on_change: Callable[[set[ResourceKey]], None]
) -> None:
    async for _ in watchfiles.awatch(
        settings.resources_dir,
        force_polling=settings.poll,
        poll_delay_ms=int(settings.poll_interval_s * 1000),
        debounce=300,
        step=100,
        recursive=True,
        ignore_permission_denied=True,
    ):
        on_change(await store.scan())


async def run_operator(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop."""
    settings = dataclasses.replace(
        settings,
        resources_dir=settings.resources_dir.resolve(),
        status_dir=settings.status_dir.resolve(),
        state_dir=settings.state_dir.resolve(),
    )
    instance = settings.instance or default_instance(settings.resources_dir)
    with _state_lock(settings.state_dir):
        client, why = await select_client(
            settings.slurm,
            settings.state_dir,
            slurmrestd_url=settings.slurmrestd_url,
            local_cpus=settings.local_cpus,
        )
        metrics = OperatorMetrics()
        try:
            async with _serve_http(settings, metrics):
                metered = MeteredSlurmClient(client, metrics)
                return await _run(settings, instance, metered, why, metrics)
        finally:
            with anyio.CancelScope(shield=True):
                await client.aclose()


@asynccontextmanager
async def _serve_http(settings: Settings, metrics: OperatorMetrics) -> AsyncIterator[None]:
    """The optional HTTP endpoints (metrics, status board): listening before anything
    else starts, so a port in use is a clear startup error, and closed after the rest."""
    apps: list[tuple[str, web.Application, str, int]] = []
    if settings.metrics_port is not None:
        metrics_app = build_metrics_app(metrics)
        apps.append(("metrics", metrics_app, settings.metrics_host, settings.metrics_port))
    if settings.http_port is not None:
        board = build_board_app(settings.status_dir, bind_host=settings.http_host)
        apps.append(("status board", board, settings.http_host, settings.http_port))
    runners: list[web.AppRunner] = []
    try:
        for what, app, host, port in apps:
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            runners.append(runner)
            try:
                await web.TCPSite(runner, host, port).start()
            except OSError as exc:
                raise ConfigError(
                    f"cannot serve the {what} on {host}:{port}: {exc.strerror or exc}"
                ) from exc
            bound_host, bound_port = runner.addresses[0][:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            logger.info("{} on http://{}:{}/", what, shown, bound_port)
        yield
    finally:
        with anyio.CancelScope(shield=True):
            for runner in reversed(runners):
                await runner.cleanup()


async def _run(
    settings: Settings, instance: str, client: SlurmClient, why: str, metrics: OperatorMetrics
) -> int:
    settings.resources_dir.mkdir(parents=True, exist_ok=True)
    logger.info("sgorch operator, instance {!r}", instance)
    logger.info(
        "watching {} ({})",
        settings.resources_dir.resolve(),
        "polling" if settings.poll else "inotify",
    )
    logger.info(
        "status in {}, state in {}", settings.status_dir.resolve(), settings.state_dir.resolve()
    )
    logger.info("Slurm access: {} ({})", client.name, why)

    deployments = WorkQueue()
    routers_queue = WorkQueue()
    store = ResourceStore(settings.resources_dir, settings.state_dir)
    state = StateStore(settings.state_dir)
    watcher = JobWatcher(client, instance_prefix(instance), interval_s=settings.job_poll_interval_s)

    def enqueue(keys: set[ResourceKey]) -> None:
        for key in keys:
            (deployments if key.kind == "Deployment" else routers_queue).add(key.name)
            if key.kind == "Deployment":
                for entry in store.entries("Router"):
                    routers_queue.add(entry.key.name)

    async with anyio.create_task_group() as tg:
        probes = ProbeManager(tg, on_change=deployments.add, metrics=metrics)
        ctx = OperatorContext(
            instance=instance,
            slurm=client,
            watcher=watcher,
            resources=store,
            state=state,
            status=StatusWriter(settings.status_dir, instance),
            probes=probes,
            log_root=settings.state_dir / "logs",
            environ=os.environ,
            submit_timeout_s=settings.submit_timeout_s,
            resync_s=settings.resync_s,
            metrics=metrics,
            events=EventRecorder(settings.status_dir),
        )
        router_directory = RouterDirectory(store, os.environ)
        deployment_controller = DeploymentController(ctx, router_directory)
        router_controller = RouterController(
            ctx, settings.state_dir, tg, on_change=routers_queue.add
        )

        def on_jobs_changed(names: set[str]) -> None:
            for name in names:
                deployments.add(name)

        watcher.subscribe(on_jobs_changed)
        changed = await store.scan()
        _log_invalid(store)
        enqueue(changed)
        for name in await anyio.to_thread.run_sync(state.names):
            deployments.add(name)  # deleted while we were away: garbage-collect

        async def watch() -> None:
            def on_change(keys: set[ResourceKey]) -> None:
                _log_invalid(store, only={str(k) for k in keys})
                enqueue(keys)

            await _watch_resources(store, settings, on_change)

        async def resync() -> None:
            while True:
                await anyio.sleep(settings.resync_s)
                enqueue(await store.scan())
                for name in watcher.deployments():
                    deployments.add(name)

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    logger.info(
                        "{}: stopping; jobs keep running and are adopted on the next start",
                        signal.Signals(signum).name,
                    )
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        tg.start_soon(watcher.run)
        tg.start_soon(watch)
        tg.start_soon(resync)
        run_metered = functools.partial(run_workers, metrics=metrics)
        tg.start_soon(run_metered, "deployments", deployments, deployment_controller.reconcile)
        tg.start_soon(run_metered, "routers", routers_queue, router_controller.reconcile)
        try:
            await anyio.sleep_forever()
        finally:
            with anyio.CancelScope(shield=True):
                await router_controller.aclose()
                await probes.aclose()
                await router_directory.aclose()
    return 0


def _log_invalid(store: ResourceStore, only: set[str] | None = None) -> None:
    for entry in store.entries():
        if entry.error is not None and (only is None or str(entry.key) in only):
            location, message = entry.error
            logger.bind(resource=entry.key.name).error(
                "{}: {}{}",
                location,
                message,
                " (the last valid spec stays in force)" if entry.resource else "",
            )

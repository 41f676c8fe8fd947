"""The Router controller: one supervised ``sgorch router`` process per Router resource.

The process gets its configuration as a JSON file (never tokens: it reads them from the
environment variables the Router names, inherited from the operator). It is restarted
with backoff when it dies, and replaced when its configuration changes; its address,
pid and restarts are written to ``STATUS_DIR/routers/NAME.json``. A pid file lets a
restarted operator stop a sidecar left behind by a killed one before starting its own.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.abc
import httpx
from loguru import logger

from sgorch.controllers.context import OperatorContext
from sgorch.controllers.routing import managed_router_url
from sgorch.files import remove_file, write_atomic
from sgorch.resources import Deployment, LocatedError, Router
from sgorch.resources.status import (
    Condition,
    ResourceError,
    RouterStatus,
    RouterStatusDocument,
    StatusMetadata,
)
from sgorch.router.config import RouterConfig
from sgorch.status import set_condition
from sgorch.status.events import EventType
from sgorch.store import ResourceKey

__all__ = ["RouterController", "render_router_config"]


def render_router_config(router: Router, deployments: list[Deployment]) -> RouterConfig:
    """The sidecar's configuration for ``router`` serving ``deployments``."""
    spec = router.spec
    models = sorted(
        {
            name
            for d in deployments
            if d.spec.model is not None
            for name in (d.spec.model.name, *d.spec.model.aliases)
        }
    )
    return RouterConfig.model_validate(
        {
            "host": spec.listen.host,
            "port": spec.listen.port,
            "admin_token_env": spec.auth.admin_token_env,
            "client_token_envs": list(spec.auth.client_token_envs),
            "policy": spec.policy,
            "health": {
                "path": spec.health.path,
                "interval_s": spec.health.interval_s,
                "timeout_s": spec.health.timeout_s,
                "failure_threshold": spec.health.failure_threshold,
                "success_threshold": spec.health.success_threshold,
            },
            "retry": {
                "max_attempts": spec.retries.max_attempts,
                "on_statuses": list(spec.retries.on_status),
                "backoff_base_s": spec.retries.backoff_base_s,
                "backoff_cap_s": spec.retries.backoff_cap_s,
            },
            "timeouts": {
                "connect_s": spec.timeouts.connect_s,
                "first_byte_s": spec.timeouts.first_byte_s,
                "idle_s": spec.timeouts.idle_s,
            },
            "circuit_breaker": {
                "failure_threshold": spec.circuit_breaker.failure_threshold,
                "open_s": spec.circuit_breaker.open_s,
                "half_open_successes": spec.circuit_breaker.half_open_successes,
            },
            "max_body_bytes": spec.max_body_bytes,
            "default_models": dict(spec.default_models),
            "models": models,
        }
    )


@dataclass
class _Sidecar:
    config_hash: str
    process: anyio.abc.Process | None = None
    restarts: int = 0
    started_at: datetime | None = None
    next_start: float = 0.0
    last_exit: str | None = None
    healthy: bool = False
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class RouterController:
    """Reconciles Router resources by name."""

    def __init__(
        self,
        ctx: OperatorContext,
        state_dir: Path,
        task_group: anyio.abc.TaskGroup,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self._dir = state_dir / "routers"
        self._tg = task_group
        self._sidecars: dict[str, _Sidecar] = {}
        self._conditions: dict[str, list[Condition]] = {}
        self._on_change = on_change
        self._http = httpx.AsyncClient(trust_env=False, timeout=2.0)

    async def reconcile(self, name: str) -> float | None:
        entry = self.ctx.resources.get(ResourceKey("Router", name))
        if entry is None:
            await self._stop(name)
            await self.ctx.status.remove("Router", name)
            if self.ctx.events is not None:
                await self.ctx.events.remove("Router", name)
            self._conditions.pop(name, None)
            return None
        if not isinstance(entry.resource, Router):
            await self._write_status(name, entry.generation, None, None, entry.error)
            return None
        router = entry.resource
        if router.spec.external is not None:
            await self._stop(name)
            await self._write_status(name, entry.generation, router, None, entry.error)
            return None
        deployments = [
            e.resource
            for e in self.ctx.resources.entries("Deployment")
            if isinstance(e.resource, Deployment)
            and e.resource.spec.router is not None
            and e.resource.spec.router.name == name
        ]
        config = render_router_config(router, deployments)
        text = config.model_dump_json(indent=1)
        config_hash = hashlib.sha256(text.encode()).hexdigest()[:12]
        sidecar = self._sidecars.get(name)
        if sidecar is not None and sidecar.config_hash != config_hash:
            logger.bind(resource=name, kind="Router").info("configuration changed: restarting")
            await self._event(name, "Normal", "ConfigChanged", "configuration changed: restarting")
            await self._stop(name)
            sidecar = None
        if sidecar is None:
            await anyio.to_thread.run_sync(self._prepare, name, text)
            sidecar = self._sidecars[name] = _Sidecar(config_hash)
            self._tg.start_soon(self._supervise, name, sidecar)
        healthy = await self._healthy(router)
        if healthy != sidecar.healthy:
            url = managed_router_url(router)
            if healthy:
                await self._event(name, "Normal", "Ready", f"answers {url}/healthz")
            elif sidecar.process is not None:  # an exit is reported by _supervise
                await self._event(name, "Warning", "NotReady", f"{url}/healthz does not answer")
        sidecar.healthy = healthy
        await self._write_status(name, entry.generation, router, sidecar, entry.error)
        return 2.0 if not sidecar.healthy else self.ctx.resync_s

    def _prepare(self, name: str, config_text: str) -> None:
        """Write the config file and stop a sidecar a previous operator left behind."""
        self._dir.mkdir(parents=True, exist_ok=True)
        write_atomic(self._dir / f"{name}.json", config_text.encode(), mode=0o600)
        pid_file = self._dir / f"{name}.pid"
        try:
            pid = int(pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return
        if _is_our_sidecar(pid, self._dir / f"{name}.json"):
            logger.bind(resource=name, kind="Router").info(
                "stopping the sidecar (pid {}) left by a previous operator", pid
            )
            os.kill(pid, signal.SIGTERM)
        remove_file(pid_file)

    async def _supervise(self, name: str, sidecar: _Sidecar) -> None:
        log = logger.bind(resource=name, kind="Router")
        log_path = self.ctx.log_root / "routers" / f"{name}.log"
        with sidecar.scope:
            while True:
                delay = sidecar.next_start - anyio.current_time()
                if delay > 0:
                    await anyio.sleep(delay)
                await anyio.Path(log_path.parent).mkdir(parents=True, exist_ok=True)
                command = [
                    sys.executable,
                    "-m",
                    "sgorch",
                    "router",
                    "--config",
                    str(self._dir / f"{name}.json"),
                    "--log-level",
                    "INFO",
                ]
                with open(log_path, "ab") as log_file:  # noqa: ASYNC230 - opened once per start
                    process = await anyio.open_process(
                        command, stdout=log_file, stderr=log_file, start_new_session=True
                    )
                sidecar.process = process
                sidecar.started_at = datetime.now(UTC)
                await anyio.Path(self._dir / f"{name}.pid").write_text(str(process.pid))
                log.info("router sidecar started (pid {}), log {}", process.pid, log_path)
                await self._event(name, "Normal", "Started", f"sidecar started (pid {process.pid})")
                self._notify(name)
                try:
                    code = await process.wait()
                finally:
                    with anyio.CancelScope(shield=True):
                        await _terminate(process)
                sidecar.process = None
                sidecar.healthy = False
                sidecar.restarts += 1
                sidecar.last_exit = f"exited with status {code}"
                backoff = min(60.0, 0.5 * 2 ** min(sidecar.restarts - 1, 8))
                sidecar.next_start = anyio.current_time() + backoff
                log.warning(
                    "router sidecar {}; restarting in {:.1f}s (see {})",
                    sidecar.last_exit,
                    backoff,
                    log_path,
                )
                await self._event(
                    name,
                    "Warning",
                    "Exited",
                    f"sidecar {sidecar.last_exit}; restarting in {backoff:.1f}s (log {log_path})",
                )
                self._notify(name)

    async def _event(self, name: str, type_: EventType, reason: str, message: str) -> None:
        if self.ctx.events is not None:
            await self.ctx.events.record("Router", name, type_, reason, message)

    def _notify(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name)

    async def _stop(self, name: str) -> None:
        sidecar = self._sidecars.pop(name, None)
        if sidecar is None:
            return
        sidecar.scope.cancel()
        if sidecar.process is not None:
            await _terminate(sidecar.process)
        await anyio.to_thread.run_sync(remove_file, self._dir / f"{name}.pid")

    async def aclose(self) -> None:
        for name in list(self._sidecars):
            await self._stop(name)
        await self._http.aclose()

    async def _healthy(self, router: Router) -> bool:
        try:
            response = await self._http.get(managed_router_url(router) + "/healthz")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _write_status(
        self,
        name: str,
        generation: int,
        router: Router | None,
        sidecar: _Sidecar | None,
        error: LocatedError | None,
    ) -> None:
        now = datetime.now(UTC)
        conditions = self._conditions.get(name, [])
        if router is not None and router.spec.external is not None:
            url: str | None = router.spec.external.url
            conditions = set_condition(
                conditions,
                "Available",
                "True",
                "External",
                "an external router; SGOrch only registers workers",
                now,
            )
        elif sidecar is not None and router is not None:
            url = managed_router_url(router)
            healthy = sidecar.healthy
            conditions = set_condition(
                conditions,
                "Available",
                "True" if healthy else "False",
                "Serving" if healthy else "NotServing",
                f"listening on {url}"
                if healthy
                else f"sidecar not answering on {url}"
                + (f" ({sidecar.last_exit})" if sidecar.last_exit else ""),
                now,
            )
        else:
            url = None
            conditions = set_condition(
                conditions,
                "Available",
                "False",
                "InvalidSpec",
                "the resource has never been valid",
                now,
            )
        location = error[0] if error is not None else None
        conditions = set_condition(
            conditions,
            "Invalid",
            "True" if location else "False",
            "InvalidSpec" if location else "Valid",
            "the file's current content is invalid; the last valid spec stays in force"
            if location
            else "",
            now,
        )
        self._conditions[name] = conditions
        models = sorted(
            {
                d.spec.model.name
                for d in (e.resource for e in self.ctx.resources.entries("Deployment"))
                if isinstance(d, Deployment)
                and d.spec.model
                and d.spec.router
                and d.spec.router.name == name
            }
        )
        process = sidecar.process if sidecar else None
        await self.ctx.status.write(
            RouterStatusDocument(
                api_version="sgorch.io/v1alpha1",
                kind="Router",
                metadata=StatusMetadata(name=name, generation=generation),
                status=RouterStatus(
                    observed_generation=generation,
                    url=url,
                    pid=process.pid if process else None,
                    restarts=sidecar.restarts if sidecar else 0,
                    models=models,
                    conditions=conditions,
                    error=ResourceError.located(error),
                ),
            )
        )


def _is_our_sidecar(pid: int, config_path: Path) -> bool:
    """True if ``pid`` runs ``sgorch router --config CONFIG_PATH`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"router" in cmdline and str(config_path).encode() in cmdline


async def _terminate(process: anyio.abc.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    with anyio.move_on_after(10):
        await process.wait()
        return
    process.kill()
    await process.wait()

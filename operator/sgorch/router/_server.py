"""Wires one router: pool, prober, proxy and management API behind one aiohttp server.

``serve_router`` is what the CLI runs and what the tests enter; it owns the upstream
HTTP session, the listening socket and the background probe task, and tears them down
in order (stop accepting, let in-flight requests finish, close the session).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import anyio
from aiohttp import web
from loguru import logger

from ._admin import MANAGEMENT_PATHS, ManagementApi
from ._admission import AdmissionGate
from ._auth import read_client_tokens, read_token
from ._circuit import CircuitBreaker, Clock
from ._metrics import RouterMetrics
from ._policies import Balancer
from ._pool import HealthTracker, WorkerPool
from ._prober import probe_forever
from ._proxy import Proxy
from ._responses import error_response, unauthorized_response
from ._urls import parse_model_names
from .config import RouterConfig

__all__ = ["RunningRouter", "serve_router"]

# Headers the HTTP client would otherwise invent; the proxy forwards the client's own.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "Content-Type", "User-Agent")


@dataclass(frozen=True, slots=True)
class RunningRouter:
    """A router that is accepting connections."""

    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def build_pool(config: RouterConfig, clock: Clock) -> WorkerPool:
    breaker = config.circuit_breaker
    health = config.health
    pool = WorkerPool(
        make_breaker=lambda: CircuitBreaker(
            failure_threshold=breaker.failure_threshold,
            open_s=breaker.open_s,
            half_open_successes=breaker.half_open_successes,
            clock=clock,
        ),
        make_health=lambda: HealthTracker(
            failure_threshold=health.failure_threshold, success_threshold=health.success_threshold
        ),
    )
    for worker in config.workers:
        pool.add(worker.url, parse_model_names(worker.model), worker.deployment)
    return pool


def build_session(config: RouterConfig) -> aiohttp.ClientSession:
    """One keep-alive pool to all workers; aiohttp enables TCP_NODELAY on its sockets."""
    timeouts = config.timeouts
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=timeouts.upstream_keepalive_s)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_s),
        auto_decompress=False,
        skip_auto_headers=_NO_AUTO_HEADERS,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class _RouterEndpoints:
    """The endpoints the router answers itself: health, metrics and the model list."""

    def __init__(self, *, pool: WorkerPool, metrics: RouterMetrics, proxy: Proxy) -> None:
        self._pool = pool
        self._metrics = metrics
        self._proxy = proxy

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        """Always 200 while the process runs: one dead worker must not take the router out.

        The body says how many workers can serve; ``status`` is ``ok`` when all can,
        ``degraded`` when some cannot, ``no_ready_workers`` when none can.
        """
        workers = list(self._pool)
        unready = [worker.describe() for worker in workers if not worker.can_serve()]
        ready = len(workers) - len(unready)
        if not unready:
            status = "ok"
        elif ready:
            status = "degraded"
        else:
            status = "no_ready_workers"
        return web.json_response(
            {"status": status, "workers": len(workers), "ready": ready, "unready": unready}
        )

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(body=self._metrics.render())
        response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
        return response

    async def models(self, request: web.Request) -> web.StreamResponse:
        if not self._proxy.client_authorized(request):
            return unauthorized_response()
        ready = self._pool.ready_models()
        data = [
            {"id": name, "object": "model", "created": int(ready[name]), "owned_by": "sgorch"}
            for name in sorted(ready)
        ]
        return web.json_response({"object": "list", "data": data})

    async def proxy(self, request: web.Request) -> web.StreamResponse:
        if request.path in MANAGEMENT_PATHS:
            return error_response(
                405, f"{request.method} is not allowed on {request.path}", "invalid_request_error"
            )
        return await self._proxy.handle(request)


def build_app(
    config: RouterConfig,
    *,
    pool: WorkerPool,
    session: aiohttp.ClientSession,
    environ: Mapping[str, str],
    clock: Clock,
    rng: random.Random,
) -> web.Application:
    gate = (
        AdmissionGate(
            max_inflight=config.concurrency.max_inflight,
            max_queue=config.concurrency.max_queue,
            queue_timeout_s=config.concurrency.queue_timeout_s,
        )
        if config.concurrency.max_inflight is not None
        else None
    )
    metrics = RouterMetrics(known_models=config.known_models, pool=pool, gate=gate)
    proxy = Proxy(
        config=config,
        pool=pool,
        balancer=Balancer(config.policy, rng),
        metrics=metrics,
        gate=gate,
        session=session,
        client_tokens=read_client_tokens(environ, config.client_token_envs),
        clock=clock,
        rng=rng,
    )
    admin_token = read_token(environ, config.admin_token_env)
    if admin_token is None:
        logger.warning(
            "{} is unset: the management API only answers clients on loopback addresses",
            config.admin_token_env,
        )
    app = web.Application(client_max_size=config.max_body_bytes)
    ManagementApi(pool=pool, metrics=metrics, token=admin_token).add_routes(app)
    endpoints = _RouterEndpoints(pool=pool, metrics=metrics, proxy=proxy)
    app.router.add_get("/healthz", endpoints.healthz)
    app.router.add_get("/health", endpoints.healthz)
    app.router.add_get("/metrics", endpoints.metrics)
    app.router.add_get("/v1/models", endpoints.models)
    app.router.add_route("*", "/{tail:.*}", endpoints.proxy)
    return app


@asynccontextmanager
async def serve_router(
    config: RouterConfig,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> AsyncIterator[RunningRouter]:
    """Run a router until the ``async with`` block ends.

    ``environ`` (default ``os.environ``) supplies the tokens named in the config.
    Raises ``ConfigError`` before listening when a configured client token is missing.
    """
    pool = build_pool(config, clock)
    session = build_session(config)
    try:
        app = build_app(
            config,
            pool=pool,
            session=session,
            environ=os.environ if environ is None else environ,
            clock=clock,
            rng=rng or random.Random(),
        )
        runner = web.AppRunner(
            app,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=config.shutdown_grace_s,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, config.host, config.port)
            await site.start()
            host, port = runner.addresses[0][:2]
            running = RunningRouter(host=host, port=port)
            logger.info(
                "router listening on {} ({} static workers, policy {})",
                running.url,
                len(pool),
                config.policy.value,
            )
            async with _background_probes(config, session, pool):
                yield running
        finally:
            with anyio.CancelScope(shield=True):
                await runner.cleanup()
    finally:
        with anyio.CancelScope(shield=True):
            await session.close()


@asynccontextmanager
async def _background_probes(
    config: RouterConfig, session: aiohttp.ClientSession, pool: WorkerPool
) -> AsyncIterator[None]:
    """Probe workers in a task group while the block runs.

    An exception of the block is re-raised as itself, not wrapped in the task group's
    ``ExceptionGroup``, so callers of ``serve_router`` see their own errors.
    """
    if not config.health.enabled:
        yield
        return
    body_error: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(probe_forever, session, pool, config.health)
        try:
            yield
        except Exception as exc:
            body_error = exc
        finally:
            group.cancel_scope.cancel()
    if body_error is not None:
        raise body_error

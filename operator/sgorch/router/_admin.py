"""The management API the operator (or a person) uses to register and drain workers.

Protected by ``Authorization: Bearer TOKEN``; with no token configured it answers only
loopback clients. Also serves the legacy SGLang router paths older tooling calls.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from loguru import logger

from ._auth import bearer_matches, is_loopback
from ._metrics import RouterMetrics
from ._pool import WorkerPool
from ._responses import error_response, unauthorized_response
from ._urls import normalize_worker_url, parse_model_names

__all__ = ["MANAGEMENT_PATHS", "ManagementApi"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_DRAIN_WAIT_S = 3600.0

MANAGEMENT_PATHS = frozenset(
    {
        "/workers",
        "/workers/list",
        "/workers/add",
        "/workers/remove",
        "/workers/drain",
        "/add_worker",
        "/remove_worker",
        "/list_workers",
    }
)


class _BadRequest(Exception):
    pass


def _worker_url(request: web.Request) -> str:
    raw = request.query.get("url")
    if not raw:
        raise _BadRequest("the query parameter 'url' is required")
    try:
        return normalize_worker_url(raw)
    except ValueError as exc:
        raise _BadRequest(str(exc)) from exc


def _drain_wait_s(request: web.Request) -> float:
    raw = request.query.get("wait_s")
    if raw is None:
        return 0.0
    try:
        wait_s = float(raw)
    except ValueError:
        raise _BadRequest(f"wait_s must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(wait_s) or not 0 <= wait_s <= MAX_DRAIN_WAIT_S:
        raise _BadRequest(f"wait_s must be between 0 and {MAX_DRAIN_WAIT_S:g}, got {raw!r}")
    return wait_s


class ManagementApi:
    def __init__(self, *, pool: WorkerPool, metrics: RouterMetrics, token: bytes | None) -> None:
        self._pool = pool
        self._metrics = metrics
        self._token = token

    def add_routes(self, app: web.Application) -> None:
        routes = [
            ("GET", "/workers/list", self.list_workers),
            ("POST", "/workers/add", self.add_worker),
            ("POST", "/workers/remove", self.remove_worker),
            ("POST", "/workers/drain", self.drain_worker),
            ("GET", "/workers", self.describe_workers),
            ("POST", "/add_worker", self.add_worker),
            ("POST", "/remove_worker", self.remove_worker),
            ("GET", "/list_workers", self.list_workers_legacy),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._guarded(handler))

    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if self._token is not None:
                if not bearer_matches(request.headers.get("Authorization"), (self._token,)):
                    return unauthorized_response()
            elif not is_loopback(request.remote):
                return error_response(
                    403,
                    "no management token is configured: only loopback clients may manage workers",
                    "permission_error",
                )
            try:
                return await handler(request)
            except _BadRequest as exc:
                return error_response(400, str(exc), "invalid_request_error")

        return guarded

    async def list_workers(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"workers": self._pool.urls()})

    async def list_workers_legacy(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"urls": self._pool.urls()})

    async def describe_workers(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"workers": [worker.describe() for worker in self._pool]})

    async def add_worker(self, request: web.Request) -> web.StreamResponse:
        url = _worker_url(request)
        try:
            models = parse_model_names(request.query.get("model"))
        except ValueError as exc:
            raise _BadRequest(str(exc)) from exc
        deployment = request.query.get("deployment") or None
        _, created = self._pool.add(url, models, deployment)
        logger.info(
            "{} worker {} (models {}, deployment {})",
            "registered" if created else "updated",
            url,
            list(models),
            deployment,
        )
        return web.json_response({"status": "ok"})

    async def remove_worker(self, request: web.Request) -> web.StreamResponse:
        url = _worker_url(request)
        removed = self._pool.remove(url)
        if removed is not None:
            self._metrics.forget_worker(url)
            logger.info("removed worker {} ({} requests in flight)", url, removed.inflight)
        return web.json_response({"status": "ok", "removed": removed is not None})

    async def drain_worker(self, request: web.Request) -> web.StreamResponse:
        url = _worker_url(request)
        wait_s = _drain_wait_s(request)
        worker = self._pool.get(url)
        if worker is None:
            return error_response(404, f"worker {url} is not registered", "not_found")
        if not worker.draining:
            worker.draining = True
            logger.info("draining worker {} ({} requests in flight)", url, worker.inflight)
        drained = await worker.wait_idle(wait_s) if wait_s > 0 else worker.inflight == 0
        return web.json_response(
            {"status": "ok", "url": url, "inflight": worker.inflight, "drained": drained}
        )

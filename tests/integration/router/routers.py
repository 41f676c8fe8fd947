"""Recording stand-ins for other routers' registration APIs, for ``RouterClient`` tests.

``SglangRouter`` follows sglang-router 0.3.x (``POST /workers`` answers 202 with a worker
id, ``GET /workers`` lists ids and URLs, ``DELETE /workers/{id}``), as observed from
sglang-router 0.3.2; ``LegacyRouter`` follows older SGLang routers and vllm-router.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class _RecordingRouter(ABC):
    workers: dict[str, str] = field(default_factory=dict)  # id -> url
    calls: list[tuple[str, str, dict[str, str], str | None]] = field(default_factory=list)
    auth_headers: list[str | None] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @abstractmethod
    def routes(self, app: web.Application) -> None:
        """Add the router's registration endpoints to ``app``."""

    async def start(self) -> _RecordingRouter:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: web.Handler) -> web.StreamResponse:
        body = await request.text()
        self.calls.append((request.method, request.path, dict(request.query), body or None))
        self.auth_headers.append(request.headers.get("Authorization"))
        return await handler(request)


class SglangRouter(_RecordingRouter):
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/workers", self._add)
        app.router.add_get("/workers", self._list)
        app.router.add_delete("/workers/{worker_id}", self._delete)

    async def _add(self, request: web.Request) -> web.StreamResponse:
        spec = await request.json()
        worker_id = next((wid for wid, url in self.workers.items() if url == spec["url"]), None)
        worker_id = worker_id or str(uuid.uuid4())
        self.workers[worker_id] = spec["url"]
        answer = {"status": "accepted", "worker_id": worker_id, "url": spec["url"]}
        return web.json_response(answer, status=202)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        workers = [
            {"id": wid, "url": url, "model_id": "unknown"} for wid, url in self.workers.items()
        ]
        return web.json_response({"workers": workers, "total": len(workers), "stats": {}})

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        if self.workers.pop(request.match_info["worker_id"], None) is None:
            return web.json_response({"error": "not found", "code": "WORKER_NOT_FOUND"}, status=404)
        return web.json_response({"status": "accepted"}, status=202)


class LegacyRouter(_RecordingRouter):
    def routes(self, app: web.Application) -> None:
        app.router.add_post("/add_worker", self._add)
        app.router.add_post("/remove_worker", self._remove)
        app.router.add_get("/list_workers", self._list)

    async def _add(self, request: web.Request) -> web.StreamResponse:
        url = request.query["url"]
        self.workers[url] = url
        return web.Response(text=f"Successfully added worker: {url}")

    async def _remove(self, request: web.Request) -> web.StreamResponse:
        if self.workers.pop(request.query["url"], None) is None:
            return web.Response(status=404, text="worker not found")
        return web.Response(text="Successfully removed worker")

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"urls": list(self.workers)})

"""A small inference engine for router tests: real HTTP on 127.0.0.1, told how to misbehave.

It answers OpenAI-style paths with JSON (or SSE when the request says ``"stream": true``
or ``stream_chunks`` is set), records every request it receives, and can be slow, fail
with a status, hang, stream at an interval, die mid-response or fail its health probe.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Behaviour:
    delay_s: float = 0.0
    status: int = 200
    hang: bool = False
    stream_chunks: int = 0
    stream_interval_s: float = 0.0
    die_after_chunks: int | None = None
    health_status: int = 200
    health_hang: bool = False
    chunked_json_parts: int = 0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, list[str]]
    body: bytes
    nodelay: bool

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


@dataclass
class Engine:
    name: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)
    flush_times: list[float] = field(default_factory=list)
    health_probes: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        return len(self.received)

    async def start(self) -> Engine:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_get("/health", self._health)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop like a killed process: stop listening and drop every connection."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            server = runner.server
            if server is not None:
                for connection in list(server.connections):
                    if connection.transport is not None:
                        connection.transport.abort()
            await runner.cleanup()

    async def _health(self, request: web.Request) -> web.StreamResponse:
        self.health_probes += 1
        if self.behaviour.health_hang:
            await asyncio.sleep(3600)
        return web.json_response({"ok": True}, status=self.behaviour.health_status)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        sock = request.transport.get_extra_info("socket") if request.transport else None
        nodelay = bool(sock and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        self.received.append(Received(request.method, request.raw_path, headers, body, nodelay))
        behaviour = self.behaviour
        if behaviour.hang:
            await asyncio.sleep(3600)
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.status != 200:
            return web.json_response(
                {"error": {"message": "engine failure"}}, status=behaviour.status
            )
        if behaviour.chunked_json_parts:
            return await self._chunked_json(request)
        if behaviour.stream_chunks or _wants_stream(body):
            return await self._stream(request)
        return web.json_response({"engine": self.name, "path": request.path, "bytes": len(body)})

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        behaviour = self.behaviour
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index in range(behaviour.stream_chunks or 3):
            if behaviour.die_after_chunks is not None and index >= behaviour.die_after_chunks:
                assert request.transport is not None
                request.transport.close()
                return response
            event = {"engine": self.name, "index": index}
            await response.write(f"data: {json.dumps(event)}\n\n".encode())
            self.flush_times.append(time.monotonic())
            if behaviour.stream_interval_s:
                await asyncio.sleep(behaviour.stream_interval_s)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _chunked_json(self, request: web.Request) -> web.StreamResponse:
        """A chunked JSON body, cut after ``die_after_chunks`` parts when that is set."""
        behaviour = self.behaviour
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for index in range(behaviour.chunked_json_parts):
            if behaviour.die_after_chunks is not None and index >= behaviour.die_after_chunks:
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(b'{"part": %d}\n' % index)
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response


def _wants_stream(body: bytes) -> bool:
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("stream") is True

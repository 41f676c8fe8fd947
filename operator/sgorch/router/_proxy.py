"""The proxy: forwards each client request to a worker and streams the answer back.

Byte-transparent (the body is forwarded as received; only ``model`` and ``stream`` are
read), retried on another worker only before any response byte reached the client, and
streamed chunk by chunk as the worker flushes it.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import aiohttp
import anyio
from aiohttp import web
from loguru import logger
from multidict import CIMultiDict
from yarl import URL

from ._admission import AdmissionGate, QueueFull, QueueTimeout
from ._auth import bearer_matches
from ._circuit import Clock
from ._headers import REQUEST_ID, filter_end_to_end, render_upstream_headers
from ._metrics import RouterMetrics
from ._policies import Balancer
from ._pool import Outcome, Worker, WorkerPool
from ._responses import error_response, unauthorized_response
from ._routing import (
    ModelRequired,
    NoWorkers,
    Route,
    RoutingFields,
    UnknownModel,
    parse_routing_fields,
    resolve_route,
)
from .config import RouterConfig

__all__ = ["Proxy", "compute_backoff_s", "render_sse_error"]

# Status recorded for a request whose client went away before the answer was complete.
CLIENT_CLOSED = 499
_EVENT_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")


def compute_backoff_s(retry: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff before retry number ``retry`` (1-based)."""
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** (retry - 1)))


def render_sse_error(message: str, error_type: str, request_id: str) -> bytes:
    """A final server-sent event telling a streaming client that its stream broke."""
    payload = {
        "error": {"message": message, "type": error_type, "code": 502, "request_id": request_id}
    }
    return b"event: error\ndata: " + json.dumps(payload).encode() + b"\n\n"


class _WorkerIdle(Exception):
    """No response body byte arrived from the worker within ``idle_s``."""


class _IdleWatchdog:
    """Fails the pending read of a worker's response when it stays idle too long.

    A timer that sets an exception on the body reader, as aiohttp's own read timeout
    does, instead of a cancel scope per read: a scope costs about 10 us to enter and
    leave (measured), a timer far less, and it fails the read without cancelling the
    task, so a long stream of small chunks stays cheap.
    """

    def __init__(self, reader: aiohttp.StreamReader, idle_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader = reader
        self._idle_s = idle_s
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self._timer = self._loop.call_later(self._idle_s, self._fire)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._reader.set_exception(_WorkerIdle(f"no response byte for {self._idle_s} s"))


class _StreamEnd(Enum):
    COMPLETE = "complete"
    CLIENT_GONE = "client_gone"
    IDLE = "idle"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class _Call:
    """One client request, as it will be sent to a worker."""

    method: str
    path: str
    headers: CIMultiDict[str]
    body: bytes
    fields: RoutingFields
    request_id: str
    started_s: float


@dataclass(frozen=True, slots=True)
class _Failure:
    """An attempt that produced no response for the client."""

    reason: str
    status: int
    detail: str


@dataclass(slots=True)
class _Trace:
    """What the metrics need to know about a request, filled in as it progresses."""

    model: str | None = None
    worker_url: str | None = None
    status: int = CLIENT_CLOSED


class Proxy:
    def __init__(
        self,
        *,
        config: RouterConfig,
        pool: WorkerPool,
        balancer: Balancer,
        metrics: RouterMetrics,
        gate: AdmissionGate | None,
        session: aiohttp.ClientSession,
        client_tokens: tuple[bytes, ...],
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._pool = pool
        self._balancer = balancer
        self._metrics = metrics
        self._gate = gate
        self._session = session
        self._client_tokens = client_tokens
        self._clock = clock
        self._rng = rng
        self._known_models = config.known_models
        self._retry_statuses = frozenset(config.retry.on_statuses)
        self._failure_statuses = frozenset(config.circuit_breaker.failure_statuses)

    def client_authorized(self, request: web.Request) -> bool:
        if not self._client_tokens:
            return True
        return bearer_matches(request.headers.get("Authorization"), self._client_tokens)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started_s = self._clock()
        request_id = request.headers.get(REQUEST_ID) or secrets.token_hex(16)
        trace = _Trace()
        try:
            response = await self._serve(request, request_id, started_s, trace)
            if not response.prepared:
                response.headers[REQUEST_ID] = request_id
            trace.status = response.status
            return response
        finally:
            self._metrics.observe_request(
                model=trace.model,
                worker_url=trace.worker_url,
                status=trace.status,
                duration_s=self._clock() - started_s,
            )

    async def _serve(
        self, request: web.Request, request_id: str, started_s: float, trace: _Trace
    ) -> web.StreamResponse:
        if not self.client_authorized(request):
            return unauthorized_response()
        if not request.raw_path.startswith("/"):
            return error_response(400, "the request target must be a path", "invalid_request_error")
        body = await _read_body(request, self._config.max_body_bytes)
        if body is None:
            limit = self._config.max_body_bytes
            return error_response(
                413, f"request body larger than {limit} bytes", "invalid_request_error"
            )
        fields = parse_routing_fields(body)
        route = resolve_route(
            self._pool,
            requested=fields.model,
            path=request.path,
            default_models=self._config.default_models,
            expected_models=self._known_models,
        )
        if not isinstance(route, Route):
            return self._route_error(route)
        trace.model = route.model
        call = _Call(
            method=request.method,
            path=request.raw_path,
            headers=render_upstream_headers(
                request.headers.items(),
                client_ip=request.remote,
                scheme=request.scheme,
                host=request.host,
                request_id=request_id,
                drop_authorization=bool(self._client_tokens),
            ),
            body=body,
            fields=fields,
            request_id=request_id,
            started_s=started_s,
        )
        if self._gate is None:
            return await self._forward(request, call, route, trace)
        try:
            await self._gate.acquire()
        except (QueueFull, QueueTimeout) as exc:
            reason = "queue full" if isinstance(exc, QueueFull) else "timed out in queue"
            return error_response(
                429,
                f"the router is at its concurrency limit ({reason}); retry later",
                "rate_limit_exceeded",
                headers={"Retry-After": str(self._config.concurrency.retry_after_s)},
            )
        try:
            return await self._forward(request, call, route, trace)
        finally:
            self._gate.release()

    def _route_error(self, route: UnknownModel | ModelRequired | NoWorkers) -> web.Response:
        match route:
            case UnknownModel(model=model, served=served):
                return error_response(
                    404,
                    f"The model '{model}' does not exist. Served models: {', '.join(served)}",
                    "invalid_request_error",
                    code="model_not_found",
                    details={"param": "model", "served_models": served},
                )
            case ModelRequired(served=served):
                return error_response(
                    400,
                    f"This router serves several models; name one of: {', '.join(served)}",
                    "invalid_request_error",
                    code="model_required",
                    details={"param": "model", "served_models": served},
                )
            case NoWorkers(model=model):
                return self._no_workers(model)

    def _no_workers(self, model: str | None) -> web.Response:
        which = f" for model '{model}'" if model else ""
        return error_response(
            503,
            f"no worker can serve this request{which} right now; retry later",
            "no_workers",
            code="no_workers",
            headers={"Retry-After": str(self._config.concurrency.retry_after_s)},
        )

    def _eligible(self, route: Route, tried: set[str]) -> list[Worker]:
        return [
            worker
            for worker in route.workers
            if worker.url not in tried and worker.can_serve() and self._pool.is_registered(worker)
        ]

    async def _forward(
        self, request: web.Request, call: _Call, route: Route, trace: _Trace
    ) -> web.StreamResponse:
        retry = self._config.retry
        tried: set[str] = set()
        failure: _Failure | None = None
        for attempt in range(1, retry.max_attempts + 1):
            worker = self._balancer.choose(self._eligible(route, tried))
            if worker is None:
                break
            tried.add(worker.url)
            trace.worker_url = worker.url

            def can_retry(attempt: int = attempt) -> bool:
                return attempt < retry.max_attempts and bool(self._eligible(route, tried))

            result = await self._attempt(request, call, worker, trace, can_retry)
            if isinstance(result, web.StreamResponse):
                return result
            failure = result
            logger.warning(
                "request {} to worker {} failed ({}): {}",
                call.request_id,
                worker.url,
                failure.reason,
                failure.detail,
            )
            if not can_retry():
                break
            self._metrics.observe_retry(failure.reason)
            await anyio.sleep(
                compute_backoff_s(
                    attempt, base_s=retry.backoff_base_s, cap_s=retry.backoff_cap_s, rng=self._rng
                )
            )
        if failure is None:
            return self._no_workers(route.model)
        trace.worker_url = None
        if failure.status == 503:
            return self._no_workers(route.model)
        error_type = "upstream_timeout" if failure.status == 504 else "upstream_error"
        return error_response(
            failure.status, f"the worker failed: {failure.reason}", error_type, code=failure.reason
        )

    async def _attempt(
        self,
        request: web.Request,
        call: _Call,
        worker: Worker,
        trace: _Trace,
        can_retry: Callable[[], bool],
    ) -> web.StreamResponse | _Failure:
        admission = worker.begin()
        outcome = Outcome.NEUTRAL
        try:
            try:
                upstream = await self._send(call, worker)
            except (aiohttp.ClientError, OSError) as exc:
                outcome = Outcome.FAILURE
                return self._failure(worker, "connect_error", 502, repr(exc))
            if upstream is None:
                outcome = Outcome.FAILURE
                return self._failure(worker, "first_byte_timeout", 504, "no response in time")
            async with upstream:
                status = upstream.status
                failed = status in self._failure_statuses
                if status in self._retry_statuses and can_retry():
                    outcome = Outcome.FAILURE if failed else Outcome.NEUTRAL
                    return self._failure(worker, f"status_{status}", status, f"answered {status}")
                outcome = Outcome.FAILURE if failed else Outcome.SUCCESS
                response, streamed = await self._relay(request, call, worker, upstream, trace)
                if streamed is not Outcome.SUCCESS:
                    outcome = streamed
                return response
        finally:
            worker.finish(admission, outcome)

    async def _send(self, call: _Call, worker: Worker) -> aiohttp.ClientResponse | None:
        """Send the request to ``worker``; None when its headers do not come in time."""
        with anyio.move_on_after(self._config.timeouts.first_byte_s):
            return await self._session.request(
                call.method,
                URL(worker.url + call.path, encoded=True),
                headers=call.headers,
                data=call.body or None,
                allow_redirects=False,
            )
        return None

    def _failure(self, worker: Worker, reason: str, status: int, detail: str) -> _Failure:
        self._metrics.observe_worker_failure(worker.url, reason)
        return _Failure(reason=reason, status=status, detail=detail)

    async def _relay(
        self,
        request: web.Request,
        call: _Call,
        worker: Worker,
        upstream: aiohttp.ClientResponse,
        trace: _Trace,
    ) -> tuple[web.StreamResponse, Outcome]:
        """Stream the worker's response to the client; the outcome says how it ended."""
        headers = filter_end_to_end(upstream.headers.items())
        headers[REQUEST_ID] = call.request_id
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=headers
        )
        trace.status = upstream.status
        try:
            await response.prepare(request)
        except ConnectionResetError:
            trace.status = CLIENT_CLOSED
            return response, Outcome.NEUTRAL

        def first_byte() -> None:
            self._metrics.observe_first_byte(
                model=trace.model,
                worker_url=worker.url,
                stream=call.fields.stream,
                delay_s=self._clock() - call.started_s,
            )

        end, at_event_boundary = await self._pump(upstream, response, first_byte)
        match end:
            case _StreamEnd.COMPLETE:
                try:
                    await response.write_eof()
                except ConnectionResetError:
                    trace.status = CLIENT_CLOSED
                return response, Outcome.SUCCESS
            case _StreamEnd.CLIENT_GONE:
                trace.status = CLIENT_CLOSED
                return response, Outcome.NEUTRAL
        reason = "idle_timeout" if end is _StreamEnd.IDLE else "disconnected"
        logger.warning(
            "request {}: worker {} failed mid-response ({})", call.request_id, worker.url, reason
        )
        self._metrics.observe_worker_failure(worker.url, reason)
        await self._break_stream(request, response, upstream, call, at_event_boundary)
        return response, Outcome.FAILURE

    async def _pump(
        self,
        upstream: aiohttp.ClientResponse,
        response: web.StreamResponse,
        on_first_byte: Callable[[], None],
    ) -> tuple[_StreamEnd, bool]:
        """Copy body chunks as they arrive; also say whether the last one ended an SSE event.

        The idle timeout only runs while waiting for the worker, so a slow client never
        counts as an idle worker.
        """
        watchdog = _IdleWatchdog(upstream.content, self._config.timeouts.idle_s)
        at_event_boundary = True
        first = True
        while True:
            watchdog.arm()
            try:
                chunk = await upstream.content.readany()
            except _WorkerIdle:
                return _StreamEnd.IDLE, at_event_boundary
            except aiohttp.ClientError:
                return _StreamEnd.BROKEN, at_event_boundary
            finally:
                watchdog.disarm()
            if first:
                first = False
                on_first_byte()
            if not chunk:
                return _StreamEnd.COMPLETE, at_event_boundary
            at_event_boundary = chunk.endswith(_EVENT_ENDS)
            try:
                await response.write(chunk)
            except ConnectionResetError:
                return _StreamEnd.CLIENT_GONE, at_event_boundary

    async def _break_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        upstream: aiohttp.ClientResponse,
        call: _Call,
        at_event_boundary: bool,
    ) -> None:
        """End a response whose worker failed after the status line was sent.

        An event stream gets a final ``error`` event (after a blank line that ends any
        half-sent event), so clients learn why it ended. Any other body is cut by
        closing the connection, so the client sees it as incomplete, never as complete.
        """
        if upstream.content_type == "text/event-stream":
            event = render_sse_error(
                "the worker serving this stream failed; the response is incomplete",
                "worker_failed",
                call.request_id,
            )
            try:
                await response.write(event if at_event_boundary else b"\n\n" + event)
                await response.write_eof()
            except ConnectionResetError:
                logger.info(
                    "request {}: client left before the stream error event", call.request_id
                )
        elif request.transport is not None:
            request.transport.close()


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole request body, or None when it is larger than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None

"""The board's aiohttp application: ``/`` (the page) and ``/api/...`` (status files).

Read-only and unauthenticated, since it shows what ``sgorch get`` shows and status files
hold no secrets. Paths are never built from free text: kinds come from a fixed set and
names must be DNS labels, so no request reaches outside the status directory. When bound
to a loopback address it also refuses requests whose Host header names another machine,
so a web page elsewhere cannot read it through DNS rebinding.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from importlib import resources
from pathlib import Path

import anyio
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

__all__ = ["build_board_app"]

_KINDS = {"deployments": "Deployment", "routers": "Router"}
"""Status folders the API serves, and the kind each holds."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def build_board_app(status_dir: Path, *, bind_host: str) -> web.Application:
    """The board over ``status_dir``, for a server listening on ``bind_host``."""
    page = resources.files("sgorch.board").joinpath("page.html").read_text(encoding="utf-8")
    board = _Board(status_dir, page)
    middlewares: list[Middleware] = [_security_headers(_content_security_policy(page))]
    if _is_loopback(bind_host):
        middlewares.append(_loopback_hosts_only)
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/", board.page)
    app.router.add_get("/api/index", board.index)
    app.router.add_get("/api/status/{kind}/{name}", board.status)
    return app


class _Board:
    def __init__(self, status_dir: Path, page: str) -> None:
        self._status_dir = status_dir
        self._page = page

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=self._page, content_type="text/html", charset="utf-8")

    async def index(self, request: web.Request) -> web.Response:
        return await self._file(self._status_dir / "index.json", "the operator wrote no index yet")

    async def status(self, request: web.Request) -> web.Response:
        kind, name = request.match_info["kind"], request.match_info["name"]
        if kind not in _KINDS:
            return _error(404, f"unknown kind {kind!r}; one of {', '.join(sorted(_KINDS))}")
        if not _DNS_LABEL.match(name):
            return _error(400, "a resource name is a DNS label (a-z, 0-9, '-'; 63 at most)")
        return await self._file(
            self._status_dir / kind / f"{name}.json", f"no status for {_KINDS[kind]} {name}"
        )

    async def _file(self, path: Path, missing: str) -> web.Response:
        try:
            data = await anyio.Path(path).read_bytes()
        except FileNotFoundError:
            return _error(404, missing)
        except OSError as exc:
            return _error(500, f"cannot read {path.name}: {exc.strerror or exc}")
        return web.Response(body=data, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": message}), content_type="application/json"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@web.middleware
async def _loopback_hosts_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        host = request.url.host or ""
    except ValueError:
        host = ""
    if not _is_loopback(host):
        return _error(421, "this board only answers requests addressed to a loopback host")
    return await handler(request)


def _content_security_policy(page: str) -> str:
    """Allow exactly the page's own inline script and style, and fetches to this server."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for tag, body in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        hashes[tag].append(f"'sha256-{digest}'")
    return (
        "default-src 'none'; connect-src 'self'; "
        f"script-src {' '.join(hashes['script'])}; style-src {' '.join(hashes['style'])}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _security_headers(policy: str) -> Middleware:
    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.content_type == "text/html":
            response.headers["Content-Security-Policy"] = policy
        return response

    return add_headers

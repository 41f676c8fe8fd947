"""``RouterClient``: how the operator registers, drains and removes workers on a router.

Speaks three dialects: ``sgorch`` (our router), ``sglang-legacy`` (older SGLang routers
and vllm-router) and ``sglang`` (sglang-router 0.3+, workers addressed by id). Failures
are translated once, here: unreachable, timed out or 5xx -> ``RouterUnavailable``; a
request the router refuses (bad token, bad URL) -> ``ConfigError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import httpx

from sgorch.errors import ConfigError, RouterUnavailable

from ._urls import normalize_worker_url, parse_model_names

__all__ = ["HeaderAuth", "RouterClient", "RouterDialect"]

# Statuses that mean "not now" rather than "never".
_TEMPORARY_STATUSES = frozenset({408, 425, 429})


class RouterDialect(StrEnum):
    SGORCH = "sgorch"
    SGLANG_LEGACY = "sglang-legacy"
    SGLANG = "sglang"


@dataclass(frozen=True, slots=True)
class HeaderAuth:
    """A header sent with every request, e.g. ``Authorization: Bearer ...``; never printed."""

    name: str
    value: str = field(repr=False)

    @classmethod
    def bearer(cls, token: str) -> HeaderAuth:
        return cls("Authorization", f"Bearer {token}")


class RouterClient:
    def __init__(
        self,
        base_url: str,
        *,
        dialect: RouterDialect = RouterDialect.SGORCH,
        auth: HeaderAuth | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._dialect = dialect
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            headers={auth.name: auth.value} if auth else None,
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> None:
        """Check that the router answers and accepts our credentials (lists its workers)."""
        await self.list_workers()

    async def list_workers(self) -> list[str]:
        match self._dialect:
            case RouterDialect.SGORCH:
                return _strings(await self._json("GET", "/workers/list"), "workers")
            case RouterDialect.SGLANG_LEGACY:
                return _strings(await self._json("GET", "/list_workers"), "urls")
            case RouterDialect.SGLANG:
                return [url for _, url in await self._sglang_workers()]

    async def add_worker(
        self, url: str, model: str | None = None, deployment: str | None = None
    ) -> None:
        """Register a worker; registering it again updates its model and deployment."""
        url = _checked_url(url)
        try:
            names = parse_model_names(model)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        match self._dialect:
            case RouterDialect.SGORCH:
                params = {"url": url}
                if names:
                    params["model"] = ",".join(names)
                if deployment:
                    params["deployment"] = deployment
                await self._send("POST", "/workers/add", params=params)
            case RouterDialect.SGLANG_LEGACY:
                await self._send("POST", "/add_worker", params={"url": url})
            case RouterDialect.SGLANG:
                spec = _sglang_worker_spec(url, names, deployment)
                await self._send("POST", "/workers", json=spec, conflict_ok=True)

    async def remove_worker(self, url: str) -> None:
        """Unregister a worker; a worker the router does not know counts as removed."""
        url = _checked_url(url)
        match self._dialect:
            case RouterDialect.SGORCH:
                await self._send("POST", "/workers/remove", params={"url": url}, missing_ok=True)
            case RouterDialect.SGLANG_LEGACY:
                await self._send("POST", "/remove_worker", params={"url": url}, missing_ok=True)
            case RouterDialect.SGLANG:
                for worker_id, listed in await self._sglang_workers():
                    if _same_url(listed, url):
                        await self._send("DELETE", f"/workers/{worker_id}", missing_ok=True)

    async def drain_worker(self, url: str, wait_s: float = 0.0) -> int:
        """Stop new requests to a worker; return how many are still in flight.

        Our router keeps the worker registered while draining (``wait_s`` lets it wait
        for in-flight requests). Dialects without a drain state remove the worker and
        report 0, since they cannot say.
        """
        url = _checked_url(url)
        if self._dialect is not RouterDialect.SGORCH:
            await self.remove_worker(url)
            return 0
        params = {"url": url, "wait_s": str(wait_s)}
        response = await self._send(
            "POST",
            "/workers/drain",
            params=params,
            missing_ok=True,
            timeout_s=self._timeout_s + wait_s,  # the router answers after waiting
        )
        if response.status_code == 404:
            return 0
        inflight = _decode(response).get("inflight")
        if not isinstance(inflight, int):
            raise RouterUnavailable(f"router {self._base_url} answered a drain without 'inflight'")
        return inflight

    async def _sglang_workers(self) -> list[tuple[str, str]]:
        """(id, url) of every worker an sglang-router 0.3+ knows."""
        document = await self._json("GET", "/workers")
        entries = document.get("workers")
        if not isinstance(entries, list):
            raise RouterUnavailable(
                f"router {self._base_url} listed workers without a 'workers' list"
            )
        pairs = []
        for entry in entries:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("url"), str)
                and entry.get("id") is not None
            ):
                pairs.append((str(entry["id"]), entry["url"]))
        return pairs

    async def _json(self, method: str, path: str) -> dict[str, Any]:
        return _decode(await self._send(method, path))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        missing_ok: bool = False,
        conflict_ok: bool = False,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        where = f"router {self._base_url}: {method} {path}"
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        try:
            response = await self._http.request(
                method, path, params=params, json=json, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            raise RouterUnavailable(f"{where} timed out") from exc
        except httpx.HTTPError as exc:
            raise RouterUnavailable(f"{where} failed: {exc!r}") from exc
        status = response.status_code
        if (missing_ok and status == 404) or (conflict_ok and status == 409) or status < 400:
            return response
        answer = f"{where} answered {status}: {response.text[:300]}"
        if status >= 500 or status in _TEMPORARY_STATUSES:
            raise RouterUnavailable(answer)
        raise ConfigError(answer)


def _decode(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError as exc:
        raise RouterUnavailable(f"router answered {response.url} with invalid JSON") from exc
    if not isinstance(document, dict):
        raise RouterUnavailable(f"router answered {response.url} with JSON that is not an object")
    return document


def _strings(document: dict[str, Any], key: str) -> list[str]:
    values = document.get(key)
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise RouterUnavailable(f"router answer lacks a list of strings under {key!r}")
    return values


def _checked_url(url: str) -> str:
    try:
        return normalize_worker_url(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _same_url(listed: str, url: str) -> bool:
    try:
        return normalize_worker_url(listed) == url
    except ValueError:
        return listed.rstrip("/") == url


def _sglang_worker_spec(url: str, names: tuple[str, ...], deployment: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url}
    if names:
        spec["model_id"] = names[0]
    if deployment:
        spec["labels"] = {"deployment": deployment}
    return spec

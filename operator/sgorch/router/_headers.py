"""Which headers cross the proxy, in each direction (RFC 9110 section 7.6.1).

Pure functions over header multimaps, so the rules are unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, istr

__all__ = [
    "HOP_BY_HOP",
    "REQUEST_ID",
    "filter_end_to_end",
    "render_upstream_headers",
]

REQUEST_ID = istr("X-Request-Id")

# Lower-case names: ``istr`` only compares case-insensitively inside a CIMultiDict.
HOP_BY_HOP = frozenset(
    name.lower()
    for name in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    )
)

# Recomputed by the HTTP client for the bytes actually sent, or handled by the router's
# own server (a client's Expect: 100-continue is answered before the body is read).
_REQUEST_RECOMPUTED = frozenset({"host", "content-length", "expect"})


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(token.strip().lower() for token in value.split(",") if token.strip())
    return tokens


def filter_end_to_end(
    headers: Iterable[tuple[str, str]], *, drop: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    """Copy ``headers`` without hop-by-hop ones, those named in Connection, and ``drop``.

    ``drop`` holds lower-case names.
    """
    items = list(headers)
    excluded = HOP_BY_HOP | drop | _connection_tokens(items)
    return CIMultiDict((name, value) for name, value in items if name.lower() not in excluded)


def render_upstream_headers(
    headers: Iterable[tuple[str, str]],
    *,
    client_ip: str | None,
    scheme: str,
    host: str | None,
    request_id: str,
    drop_authorization: bool,
) -> CIMultiDict[str]:
    """The headers sent to the worker for one client request.

    ``X-Forwarded-For`` gets the client appended; ``-Proto`` and ``-Host`` are kept when a
    proxy in front already set them. ``Authorization`` is dropped when it carried the
    router's own client token, which is no business of the worker.
    """
    drop = _REQUEST_RECOMPUTED | {"authorization"} if drop_authorization else _REQUEST_RECOMPUTED
    out = filter_end_to_end(headers, drop=drop)
    if client_ip:
        previous = out.getall("X-Forwarded-For", [])
        out.popall("X-Forwarded-For", None)
        out["X-Forwarded-For"] = ", ".join([*previous, client_ip])
    out.setdefault("X-Forwarded-Proto", scheme)
    if host:
        out.setdefault("X-Forwarded-Host", host)
    out[REQUEST_ID] = request_id
    return out

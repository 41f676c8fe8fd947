"""Worker URL and model-name parsing shared by the config, the management API and the client.

Workers are keyed by URL, so every entry point must normalise a URL the same way, or
one worker could be registered twice under two spellings.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["normalize_worker_url", "parse_model_names"]


def normalize_worker_url(raw: str) -> str:
    """Return ``scheme://host:port`` for an http(s) worker URL, or raise ``ValueError``.

    The scheme and host are lower-cased and a trailing ``/`` is dropped. A path, query,
    fragment or user-info is rejected: the router appends each client's path to this base.
    """
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"invalid worker URL {raw!r}: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"invalid worker URL {raw!r}: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"invalid worker URL {raw!r}: a host is required")
    if port is None:
        raise ValueError(f"invalid worker URL {raw!r}: an explicit port is required")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"invalid worker URL {raw!r}: only scheme://host:port is accepted")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"invalid worker URL {raw!r}: credentials in the URL are not accepted")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


def parse_model_names(raw: str | None) -> tuple[str, ...]:
    """Split ``"name,alias1,alias2"`` into names; the first one is the primary name.

    ``None`` or an empty string means the worker did not say which model it serves.
    Raises ``ValueError`` for an empty name between commas or a repeated name.
    """
    if raw is None or not raw.strip():
        return ()
    names = tuple(part.strip() for part in raw.split(","))
    if any(not name for name in names):
        raise ValueError(f"invalid model list {raw!r}: empty name")
    if len(set(names)) != len(names):
        raise ValueError(f"invalid model list {raw!r}: a name is repeated")
    return names

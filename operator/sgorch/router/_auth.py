"""Bearer-token checks for the management API and, when configured, for clients.

Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection, Mapping

from sgorch.errors import ConfigError

__all__ = ["bearer_matches", "is_loopback", "read_client_tokens", "read_token"]


def read_token(environ: Mapping[str, str], name: str) -> bytes | None:
    """The token held by environment variable ``name``; None when unset or blank."""
    value = environ.get(name, "").strip()
    return value.encode() if value else None


def read_client_tokens(environ: Mapping[str, str], names: Collection[str]) -> tuple[bytes, ...]:
    """Every configured client token; a configured variable that is unset is an error."""
    tokens = []
    for name in names:
        token = read_token(environ, name)
        if token is None:
            raise ConfigError(f"client token environment variable {name} is unset or empty")
        tokens.append(token)
    return tuple(tokens)


def bearer_matches(authorization: str | None, tokens: Collection[bytes]) -> bool:
    """Whether an ``Authorization: Bearer TOKEN`` header carries one of ``tokens``."""
    if not authorization:
        return False
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return False
    offered = credential.strip().encode()
    # Compare with every token (no early exit), so timing does not tell which one matched.
    matches = [hmac.compare_digest(offered, token) for token in tokens]
    return any(matches)


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False

"""Which router a Deployment's workers are registered with, and one cached
``RouterClient`` per router: a Router resource of this operator (by name) or an external
router (URL, dialect, token from the operator's environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sgorch.resources import Deployment, Router
from sgorch.resources.models import ExternalRouter
from sgorch.router.client import HeaderAuth, RouterClient, RouterDialect
from sgorch.store import ResourceKey, ResourceStore

__all__ = ["RouterDirectory", "RouterTarget", "managed_router_url"]


@dataclass(frozen=True, slots=True)
class RouterTarget:
    """Where to register: a base URL, its dialect and the header carrying the token."""

    url: str
    dialect: RouterDialect
    auth_header: str | None
    auth_env: str | None
    auth_scheme: str

    def describe(self) -> str:
        return self.url


def managed_router_url(router: Router) -> str:
    """The loopback-reachable URL of a Router resource run by this operator."""
    host = router.spec.listen.host
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{router.spec.listen.port}"


def _external(ext: ExternalRouter) -> RouterTarget:
    auth = ext.auth
    return RouterTarget(
        ext.url.rstrip("/"),
        RouterDialect(ext.dialect),
        auth.header_name if auth else None,
        auth.token_env if auth else None,
        auth.scheme if auth else "",
    )


class RouterDirectory:
    """Resolves a Deployment's router target and hands out cached clients."""

    def __init__(self, resources: ResourceStore, environ: Mapping[str, str]) -> None:
        self._resources = resources
        self._environ = environ
        self._clients: dict[RouterTarget, tuple[str | None, RouterClient]] = {}

    def target_for(self, deployment: Deployment) -> RouterTarget | str | None:
        """The target, None when the Deployment registers nowhere, or why it cannot."""
        ref = deployment.spec.router
        if ref is None:
            return None
        if ref.external is not None:
            return _external(ref.external)
        entry = self._resources.get(ResourceKey("Router", ref.name or ""))
        if entry is None or not isinstance(entry.resource, Router):
            return f"Router {ref.name!r} does not exist (yet)"
        router = entry.resource
        if router.spec.external is not None:
            return _external(router.spec.external)
        token_env = router.spec.auth.admin_token_env
        return RouterTarget(
            managed_router_url(router),
            RouterDialect.SGORCH,
            "Authorization" if token_env else None,
            token_env,
            "Bearer",
        )

    def client(self, target: RouterTarget) -> RouterClient:
        token = self._environ.get(target.auth_env) if target.auth_env else None
        cached = self._clients.get(target)
        if cached is not None and cached[0] == token:
            return cached[1]
        auth = None
        if target.auth_header and token is not None:
            value = f"{target.auth_scheme} {token}" if target.auth_scheme else token
            auth = HeaderAuth(target.auth_header, value)
        client = RouterClient(target.url, dialect=target.dialect, auth=auth)
        self._clients[target] = (token, client)
        return client

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()

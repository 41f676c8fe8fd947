"""An external router in memory: the registration contract of ``RouterClient``
(``list_workers``, ``add_worker``, ``remove_worker``, ``drain_worker``) with a record of
every call, in-flight requests a test sets, faults, and operator crashes around a call.
It is part of the world, not of the operator: it survives operator restarts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from fakes.fake_slurm import CrashPoint, OperatorCrash
from sgorch.controllers.routing import RouterDirectory, RouterTarget
from sgorch.errors import RouterUnavailable
from sgorch.router.client import RouterClient
from sgorch.store import ResourceStore


@dataclass
class Registration:
    deployment: str | None
    model: str | None
    draining: bool = False


@dataclass
class FakeRouter:
    clock: Callable[[], float]
    workers: dict[str, Registration] = field(default_factory=dict)
    inflight: dict[str, int] = field(default_factory=dict)
    """URL → requests in flight on that worker (set by the test)."""
    left_at: dict[str, float] = field(default_factory=dict)
    """URL → when the router stopped sending it new requests (drained or removed)."""
    log: list[tuple[str, str]] = field(default_factory=list)
    unavailable: bool = False
    crash: CrashPoint | None = None
    busy: bool = False
    """Under load: every worker it knows has at least one request in flight."""

    def _check(self, call: str, when: str) -> None:
        if when == "before" and self.unavailable:
            raise RouterUnavailable("fake router down", delay_s=0.1)
        if self.crash is not None and self.crash.hit(call, when):
            self.crash = None
            raise OperatorCrash(f"operator killed {when} router {call}")

    def requests_in_flight(self, url: str) -> int:
        known = url in self.workers or url in self.left_at
        return self.inflight.get(url, 0) or int(self.busy and known)

    def routing(self, url: str) -> bool:
        """The router sends new requests to ``url``."""
        worker = self.workers.get(url)
        return worker is not None and not worker.draining

    async def list_workers(self) -> list[str]:
        self._check("list", "before")
        return sorted(self.workers)

    async def add_worker(
        self, url: str, model: str | None = None, deployment: str | None = None
    ) -> None:
        self._check("add", "before")
        self.log.append(("add", url))
        self.workers[url] = Registration(deployment, model)
        self.left_at.pop(url, None)
        self._check("add", "after")

    async def remove_worker(self, url: str) -> None:
        self._check("remove", "before")
        self.log.append(("remove", url))
        if self.workers.pop(url, None) is not None:
            self.left_at.setdefault(url, self.clock())
        self._check("remove", "after")

    async def drain_worker(self, url: str, wait_s: float = 0.0) -> int:
        self._check("drain", "before")
        self.log.append(("drain", url))
        worker = self.workers.get(url)
        if worker is None:
            return 0  # what our router answers with 404: nothing in flight
        worker.draining = True
        self.left_at.setdefault(url, self.clock())
        inflight = self.requests_in_flight(url)
        self._check("drain", "after")
        return inflight

    async def aclose(self) -> None:
        return None


class FakeRouterDirectory(RouterDirectory):
    """Resolves targets like the real directory, but hands out the fake router whose
    URL is the target's (one ``FakeRouter`` per external router URL)."""

    def __init__(self, resources: ResourceStore, routers: dict[str, FakeRouter]) -> None:
        super().__init__(resources, {})
        self.routers = routers

    def client(self, target: RouterTarget) -> RouterClient:
        return cast(RouterClient, self.routers[target.url])

    async def aclose(self) -> None:
        return None

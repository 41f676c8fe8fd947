"""``pyslurm.slurmctld``: the controller ping SGOrch uses."""

from __future__ import annotations

import socket
import time

from ._cluster import cluster

__all__ = ["PingResponse", "ping_primary"]


class PingResponse:
    """``pyslurm.slurmctld.PingResponse``."""

    __slots__ = ("hostname", "index", "is_primary", "is_responding", "latency")

    def __init__(self, hostname: str, latency: float) -> None:
        self.hostname = hostname
        self.index = 0
        self.is_primary = True
        self.is_responding = True
        self.latency = latency


def ping_primary() -> PingResponse:
    """Raises ``RPCError`` when the controller does not answer."""
    started = time.perf_counter()
    cluster().check_controller()
    return PingResponse(socket.gethostname(), round((time.perf_counter() - started) * 1000, 3))

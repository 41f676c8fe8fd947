"""The router sidecar: one OpenAI-compatible endpoint in front of many inference workers.

Public modules: ``config`` (``RouterConfig``, written by the operator as JSON), ``client``
(``RouterClient``, the operator's side of the registration API) and ``cli``
(``sgorch router``). Everything else is private: ``_server`` wires the aiohttp app,
``_proxy`` forwards requests, ``_admin`` is the management API, ``_pool`` /
``_circuit`` / ``_policies`` / ``_routing`` decide where requests go, ``_prober`` probes
workers, ``_admission`` limits concurrency and ``_metrics`` exposes Prometheus metrics.
"""

from ._server import RunningRouter, serve_router
from .client import HeaderAuth, RouterClient, RouterDialect
from .config import (
    BalancingPolicy,
    CircuitBreakerConfig,
    ConcurrencyConfig,
    HealthCheckConfig,
    RetryConfig,
    RouterConfig,
    StaticWorker,
    TimeoutConfig,
)

__all__ = [
    "BalancingPolicy",
    "CircuitBreakerConfig",
    "ConcurrencyConfig",
    "HeaderAuth",
    "HealthCheckConfig",
    "RetryConfig",
    "RouterClient",
    "RouterConfig",
    "RouterDialect",
    "RunningRouter",
    "StaticWorker",
    "TimeoutConfig",
    "serve_router",
]

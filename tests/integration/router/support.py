"""Helpers shared by the router integration tests."""

from __future__ import annotations

from typing import Any

from sgorch.router import RouterConfig

from .engines import Engine


def make_config(*workers: Engine | tuple[Engine, str], **fields: Any) -> RouterConfig:
    """A router config on a free port with fast probes; ``(engine, "model")`` sets a model."""
    static = []
    for worker in workers:
        engine, model = worker if isinstance(worker, tuple) else (worker, None)
        static.append({"url": engine.url, "model": model})
    data: dict[str, Any] = {
        "port": 0,
        "workers": static,
        "health": {"interval_s": 0.1, "timeout_s": 0.5},
        "retry": {"backoff_base_s": 0.0, "backoff_cap_s": 0.0},
        "shutdown_grace_s": 1.0,
    }
    data.update(fields)
    return RouterConfig.model_validate(data)


ADMIN_TOKEN = "admin-secret-token"
ADMIN_ENV = {"ROUTER_TOKEN": ADMIN_TOKEN}
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

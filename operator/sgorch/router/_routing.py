"""Model-aware routing: which workers may serve a request, from its ``model`` field.

The proxy reads only ``model`` and ``stream`` from a JSON body (the body itself is
forwarded byte for byte); this module turns them into the set of candidate workers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ._pool import Worker, WorkerPool

__all__ = [
    "ModelRequired",
    "NoWorkers",
    "Route",
    "RoutingFields",
    "UnknownModel",
    "parse_routing_fields",
    "resolve_route",
]


@dataclass(frozen=True, slots=True)
class RoutingFields:
    model: str | None
    stream: bool


_NO_FIELDS = RoutingFields(model=None, stream=False)


def parse_routing_fields(body: bytes) -> RoutingFields:
    """Read ``model`` and ``stream`` from a JSON object body; anything else yields neither."""
    if body.lstrip()[:1] != b"{":
        return _NO_FIELDS
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return _NO_FIELDS
    if not isinstance(document, dict):
        return _NO_FIELDS
    model = document.get("model")
    return RoutingFields(
        model=model if isinstance(model, str) and model else None,
        stream=document.get("stream") is True,
    )


@dataclass(frozen=True, slots=True)
class Route:
    """The workers that may serve a request, and the model name it was routed by."""

    model: str | None
    workers: list[Worker]


@dataclass(frozen=True, slots=True)
class UnknownModel:
    model: str
    served: list[str]


@dataclass(frozen=True, slots=True)
class ModelRequired:
    served: list[str]


@dataclass(frozen=True, slots=True)
class NoWorkers:
    model: str | None


def resolve_route(
    pool: WorkerPool,
    *,
    requested: str | None,
    path: str,
    default_models: Mapping[str, str],
    expected_models: frozenset[str],
) -> Route | UnknownModel | ModelRequired | NoWorkers:
    """Decide the candidate workers for one request.

    A named model (or the path's default) goes to the workers registered for it, else to
    workers registered without a model (they serve whatever they serve). A model nobody
    serves is unknown, unless it is an expected one whose workers are not registered yet,
    which is temporary. Without a model, any worker serves while at most one model is
    registered; with several, the request must name one.
    """
    model = requested or default_models.get(path)
    workers = list(pool)
    if model is not None:
        named = [worker for worker in workers if model in worker.models]
        if named:
            return Route(model, named)
        unnamed = [worker for worker in workers if not worker.models]
        if unnamed:
            return Route(model, unnamed)
        if not workers or model in expected_models:
            return NoWorkers(model)
        return UnknownModel(model, pool.served_models())
    if not workers:
        return NoWorkers(None)
    primaries = {worker.models[0] for worker in workers if worker.models}
    if len(primaries) <= 1:
        return Route(next(iter(primaries), None), workers)
    return ModelRequired(pool.served_models())

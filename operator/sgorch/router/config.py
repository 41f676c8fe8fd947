"""Everything a running router needs, as one frozen, validated object.

The operator writes one JSON file per Router resource and starts
``sgorch router --config FILE``; the command-line flags override single fields of it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sgorch.errors import ConfigError

from ._urls import normalize_worker_url, parse_model_names

__all__ = [
    "BalancingPolicy",
    "CircuitBreakerConfig",
    "ConcurrencyConfig",
    "HealthCheckConfig",
    "RetryConfig",
    "RouterConfig",
    "StaticWorker",
    "TimeoutConfig",
]

_ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=_ENV_NAME_PATTERN)]
MIB = 1024 * 1024


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BalancingPolicy(StrEnum):
    """How the router picks one worker among those that can serve a request.

    ``least_inflight`` is the default: LLM requests differ in length by orders of
    magnitude, and this one process sees every request, so exact in-flight counts steer
    load away from slow or busy workers. ``power_of_two`` gives similar results when
    counts are cheap to get but the worker set is large; ``round_robin`` and ``random``
    ignore load.
    """

    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    LEAST_INFLIGHT = "least_inflight"
    POWER_OF_TWO = "power_of_two"


class HealthCheckConfig(_Frozen):
    """Active probing: ``GET path`` on every worker, every ``interval_s``."""

    enabled: bool = Field(
        True, description="Probe workers; when off, only the circuit breaker ejects them."
    )
    path: str = Field(
        "/health", pattern=r"^/", description="Path probed on each worker; 2xx means healthy."
    )
    interval_s: float = Field(5.0, gt=0, description="Seconds between probe rounds.")
    timeout_s: float = Field(2.0, gt=0, description="Seconds before one probe counts as failed.")
    failure_threshold: int = Field(
        3, ge=1, description="Consecutive failed probes that mark a healthy worker unhealthy."
    )
    success_threshold: int = Field(
        2, ge=1, description="Consecutive good probes that mark an unhealthy worker healthy again."
    )


class RetryConfig(_Frozen):
    """Retries happen only before any response byte reached the client, on another worker."""

    max_attempts: int = Field(
        3, ge=1, le=20, description="Attempts per request, the first included."
    )
    on_statuses: tuple[int, ...] = Field(
        (502, 503, 504), description="Worker response statuses that are retried on another worker."
    )
    backoff_base_s: float = Field(
        0.05, ge=0, description="Backoff before the first retry; doubles for each further retry."
    )
    backoff_cap_s: float = Field(1.0, ge=0, description="Upper bound of one backoff, in seconds.")

    @field_validator("on_statuses")
    @classmethod
    def _statuses_are_errors(cls, statuses: tuple[int, ...]) -> tuple[int, ...]:
        bad = [status for status in statuses if not 400 <= status <= 599]
        if bad:
            raise ValueError(f"retry statuses must be 4xx or 5xx, got {bad}")
        return tuple(sorted(set(statuses)))

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Self:
        if self.backoff_cap_s < self.backoff_base_s:
            raise ValueError("backoff_cap_s must not be below backoff_base_s")
        return self


class TimeoutConfig(_Frozen):
    """Per-phase timeouts. There is deliberately no total cap: it would cut healthy streams."""

    connect_s: float = Field(5.0, gt=0, description="Seconds to open a TCP connection to a worker.")
    first_byte_s: float = Field(
        600.0,
        gt=0,
        description=(
            "Seconds from sending a request to receiving the response headers. A worker "
            "answers a non-streaming completion only when generation ends, so keep it long."
        ),
    )
    idle_s: float = Field(
        120.0,
        gt=0,
        description="Seconds without a response body byte before the worker is given up.",
    )
    upstream_keepalive_s: float = Field(
        4.0,
        gt=0,
        description=(
            "Seconds an idle pooled connection to a worker is kept; below the 5 s of uvicorn, "
            "so the router never reuses a connection the worker is closing."
        ),
    )


class CircuitBreakerConfig(_Frozen):
    """Passive ejection of a worker after consecutive failed requests."""

    failure_threshold: int = Field(
        5, ge=1, description="Consecutive failed requests that open the circuit."
    )
    open_s: float = Field(
        30.0, gt=0, description="Seconds an open circuit rejects requests before a trial."
    )
    half_open_successes: int = Field(
        2,
        ge=1,
        description="Successful trial requests (one at a time) that close the circuit again.",
    )
    failure_statuses: tuple[int, ...] = Field(
        (502, 503, 504),
        description="Worker response statuses that count as failures of the worker.",
    )


class ConcurrencyConfig(_Frozen):
    """Optional limit of proxied requests in flight, with a bounded FIFO queue in front."""

    max_inflight: int | None = Field(
        None, ge=1, description="Proxied requests served at once; None disables the limit."
    )
    max_queue: int = Field(
        100, ge=0, description="Requests waiting for a slot; beyond it requests get 429."
    )
    queue_timeout_s: float = Field(
        30.0, gt=0, description="Seconds a request may wait in the queue before it gets 429."
    )
    retry_after_s: int = Field(
        1, ge=1, description="Retry-After value, in seconds, sent with 429 and 503."
    )


class StaticWorker(_Frozen):
    """A worker registered at startup, before the operator registers any."""

    url: str = Field(description="Worker base URL, scheme://host:port.")
    model: str | None = Field(
        None, description="Served model name; 'name,alias1,alias2' registers aliases too."
    )
    deployment: str | None = Field(
        None, description="Name of the Deployment the worker belongs to."
    )

    @field_validator("url")
    @classmethod
    def _valid_url(cls, url: str) -> str:
        return normalize_worker_url(url)

    @field_validator("model")
    @classmethod
    def _valid_models(cls, model: str | None) -> str | None:
        parse_model_names(model)
        return model


class RouterConfig(_Frozen):
    """The whole configuration of one router process."""

    host: str = Field("127.0.0.1", min_length=1, description="Address the router listens on.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    admin_token_env: EnvName = Field(
        "ROUTER_TOKEN",
        description=(
            "Environment variable holding the management API token. When it is unset or "
            "empty, the management API only answers loopback clients."
        ),
    )
    client_token_envs: tuple[EnvName, ...] = Field(
        (),
        description=(
            "Environment variables each holding one client token; when any is configured, "
            "proxied requests need 'Authorization: Bearer' with one of them."
        ),
    )
    policy: BalancingPolicy = Field(BalancingPolicy.LEAST_INFLIGHT, description="Balancing policy.")
    health: HealthCheckConfig = Field(
        default_factory=HealthCheckConfig, description="Active health probing of workers."
    )
    retry: RetryConfig = Field(
        default_factory=RetryConfig, description="Retries on other workers before the first byte."
    )
    timeouts: TimeoutConfig = Field(
        default_factory=TimeoutConfig, description="Connect, first-byte and idle timeouts."
    )
    circuit_breaker: CircuitBreakerConfig = Field(
        default_factory=CircuitBreakerConfig, description="Per-worker circuit breaker."
    )
    concurrency: ConcurrencyConfig = Field(
        default_factory=ConcurrencyConfig, description="Optional limit of requests in flight."
    )
    max_body_bytes: int = Field(
        64 * MIB, ge=1, description="Largest accepted request body; larger gets 413."
    )
    default_models: dict[str, str] = Field(
        default_factory=dict,
        description="Model used when a request names none, per path, e.g. '/v1/embeddings': 'bge'.",
    )
    models: tuple[str, ...] = Field(
        (),
        description=(
            "Model names the router expects; only these (plus default and static worker "
            "models) appear as metric label values, every other name is counted as 'other'."
        ),
    )
    workers: tuple[StaticWorker, ...] = Field((), description="Workers registered at startup.")
    shutdown_grace_s: float = Field(
        30.0, ge=0, description="Seconds in-flight requests may take to finish after SIGTERM."
    )

    @field_validator("default_models")
    @classmethod
    def _valid_default_models(cls, defaults: dict[str, str]) -> dict[str, str]:
        for path, model in defaults.items():
            if not path.startswith("/"):
                raise ValueError(f"default model path {path!r} must start with '/'")
            if not model.strip():
                raise ValueError(f"default model for {path!r} is empty")
        return defaults

    @field_validator("workers")
    @classmethod
    def _unique_workers(cls, workers: tuple[StaticWorker, ...]) -> tuple[StaticWorker, ...]:
        urls = [worker.url for worker in workers]
        duplicates = sorted({url for url in urls if urls.count(url) > 1})
        if duplicates:
            raise ValueError(f"static workers repeat URLs: {duplicates}")
        return workers

    @property
    def known_models(self) -> frozenset[str]:
        """Model names allowed as metric label values."""
        names = set(self.models) | set(self.default_models.values())
        for worker in self.workers:
            names.update(parse_model_names(worker.model))
        return frozenset(names)

    @classmethod
    def from_json_file(cls, path: Path) -> RouterConfig:
        """Load and validate a config file; every problem becomes a ``ConfigError``."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read router config {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path}: invalid router config:\n{exc}") from exc

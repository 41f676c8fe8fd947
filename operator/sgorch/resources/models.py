"""The user-facing resources, ``Deployment`` and ``Router`` (``sgorch.io/v1alpha1``).

Pure pydantic models: everything else in SGOrch reads resources through these types,
and the JSON Schemas in ``crds-like-schemas/`` are generated from them. Every model
forbids unknown keys, so a typo is an error with a location, never a silent default.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sgorch.resources.durations import parse_memory_mb, parse_time_limit_min
from sgorch.resources.envrefs import check_env_refs

__all__ = [
    "API_VERSION",
    "BackendSpec",
    "CircuitBreakerSpec",
    "CommandBackend",
    "ConnectivitySpec",
    "Deployment",
    "DeploymentRouterRef",
    "DeploymentSpec",
    "ExternalRouter",
    "HealthSpec",
    "ListenSpec",
    "Metadata",
    "ModelSpec",
    "PolicySpec",
    "ProbeSpec",
    "Resource",
    "RetrySpec",
    "Router",
    "RouterAuth",
    "RouterAuthSpec",
    "RouterHealthSpec",
    "RouterSpec",
    "SGLangBackend",
    "SlurmSpec",
    "SshSpec",
    "StrategySpec",
    "TeiBackend",
    "TimeoutSpec",
    "VllmBackend",
]

API_VERSION = "sgorch.io/v1alpha1"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # YAML breaks lines at NEL/LS/PS
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (e.g. 'llama-70b')"
        )
    return value


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be a single line without control characters")
    return value


def _token(value: str) -> str:
    _single_line(value)
    if not value or any(ch.isspace() for ch in value):
        raise ValueError("must be one word without spaces")
    return value


def _env_map(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        if not _ENV_NAME.match(key):
            raise ValueError(
                f"{key!r} is not a valid environment variable name (letters, digits, '_')"
            )
        check_env_refs(item)
    return value


def _time_limit(value: str) -> str:
    parse_time_limit_min(value)
    return value


def _memory(value: str) -> str:
    parse_memory_mb(value)
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Line = Annotated[str, AfterValidator(_single_line)]
Token = Annotated[str, AfterValidator(_token)]
EnvMap = Annotated[dict[str, str], AfterValidator(_env_map)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Metadata(_Model):
    """Identity of a resource, as in Kubernetes. ``generation`` is kept by the operator
    (it counts spec changes) and appears only in status files."""

    name: DnsLabel = Field(
        description="Unique name of the resource within its kind: a DNS-1123 label "
        "(lowercase letters, digits, '-'; at most 63). It becomes part of Slurm job "
        "names, file names and metric labels."
    )
    labels: dict[str, Line] = Field(
        default_factory=dict, description="Free-form key/value labels for selection."
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Free-form notes; ignored by the operator."
    )

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if len(key) > 253 or not _LABEL_KEY.match(key):
                raise ValueError(f"{key!r} is not a valid label key (e.g. 'team' or 'x.io/tier')")
        return value


# --------------------------------------------------------------------------- backends


class _BackendBase(_Model):
    args: list[str] = Field(
        default_factory=list,
        description="Extra engine arguments, appended after the ones SGOrch sets. "
        "'{PORT}' and '{HOST}' are replaced by the port and host the worker listens on.",
    )
    env: EnvMap = Field(
        default_factory=dict,
        description="Environment for the engine process. Values may use ${VAR} or "
        "${VAR:-default}, resolved from the operator's environment at submit time and "
        "passed through the job's environment (never written into the script).",
    )


class SGLangBackend(_BackendBase):
    """An SGLang server: ``python -m sglang.launch_server --model-path ...``."""

    type: Literal["sglang"] = Field(description="Engine type.")
    model_path: Line = Field(description="Model path or hub id passed as --model-path.")
    venv_path: Line | None = Field(
        default=None, description="Virtual environment to activate before starting."
    )


class TeiBackend(_BackendBase):
    """Hugging Face text-embeddings-inference: ``text-embeddings-router --model-id ...``."""

    type: Literal["tei"] = Field(description="Engine type.")
    model_id: Line = Field(description="Model id or local path passed as --model-id.")
    revision: Line | None = Field(default=None, description="Model revision (--revision).")
    binary_path: Line | None = Field(
        default=None,
        description="Path of the text-embeddings-router binary; default: found on PATH.",
    )
    prometheus_port: Port | None = Field(
        default=None, description="Port for TEI's own Prometheus exporter (--prometheus-port)."
    )


class VllmBackend(_BackendBase):
    """A vLLM OpenAI-compatible server: ``vllm serve MODEL ...``."""

    type: Literal["vllm"] = Field(description="Engine type.")
    model: Line = Field(description="Model path or hub id passed to `vllm serve`.")
    venv_path: Line | None = Field(
        default=None, description="Virtual environment to activate before starting."
    )


class CommandBackend(_BackendBase):
    """Any HTTP server started by a command line; it must listen on '{PORT}'."""

    type: Literal["command"] = Field(description="Engine type.")
    command: list[str] = Field(
        min_length=1,
        description="The argv to exec; '{PORT}' and '{HOST}' are substituted. Each "
        "element is one argument (no shell parsing).",
    )
    venv_path: Line | None = Field(
        default=None, description="Virtual environment to activate before starting."
    )

    @model_validator(mode="after")
    def _listens_on_port(self) -> Self:
        if not any("{PORT}" in part for part in [*self.command, *self.args]):
            raise ValueError(
                "the command must contain '{PORT}' so the worker listens on the port "
                "SGOrch picked (e.g. ['my-server', '--port', '{PORT}'])"
            )
        return self


BackendSpec = Annotated[
    SGLangBackend | TeiBackend | VllmBackend | CommandBackend, Field(discriminator="type")
]


# ----------------------------------------------------------------------------- slurm


class SlurmSpec(_Model):
    """Where and how the workers' jobs run. Unset fields fall back to the cluster's
    defaults (sbatch's own)."""

    partition: Token | None = Field(default=None, description="--partition.")
    account: Token | None = Field(default=None, description="--account.")
    qos: Token | None = Field(default=None, description="--qos.")
    reservation: Token | None = Field(default=None, description="--reservation.")
    gres: Token | None = Field(default=None, description="--gres, e.g. 'gpu:1' or 'gpu:h100:2'.")
    constraint: Token | None = Field(default=None, description="--constraint, e.g. 'h100'.")
    exclude: list[Token] = Field(
        default_factory=list, description="Nodes never to run on (--exclude)."
    )
    cpus_per_task: int = Field(default=1, ge=1, description="--cpus-per-task.")
    mem: Annotated[Token, AfterValidator(_memory)] | None = Field(
        default=None, description="--mem per node, e.g. '64G'; a bare number is MiB."
    )
    time_limit: Annotated[Line, AfterValidator(_time_limit)] = Field(
        default="24:00:00",
        description="--time in any Slurm format (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S, "
        "UNLIMITED). Workers are renewed before it runs out (policy.walltime_renewal_lead_s).",
    )
    time_limit_stagger_s: int = Field(
        default=0,
        ge=0,
        description="Extra seconds of time limit per slot index, so replicas do not all "
        "reach their walltime at the same moment.",
    )
    log_dir: Token | None = Field(
        default=None,
        description="Directory for job logs and endpoint files, on a filesystem both the "
        "nodes and the operator see; default: STATE_DIR/logs/NAME.",
    )
    env: EnvMap = Field(
        default_factory=dict,
        description="Environment exported for the whole job (${VAR} resolved at submit time).",
    )
    sbatch_extra: list[Line] = Field(
        default_factory=list,
        description="Extra sbatch options, one per item, e.g. '--nice=10' or "
        "'#SBATCH --mail-type=FAIL'.",
    )
    pre_commands: list[Line] = Field(
        default_factory=list,
        description="Shell commands run in the job before the engine starts (module "
        "loads, exports, cache set-up). A failing command fails the job.",
    )

    @field_validator("sbatch_extra")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        for item in value:
            option = item.removeprefix("#SBATCH").strip()
            if not option.startswith("-"):
                raise ValueError(f"{item!r} is not an sbatch option; write e.g. '--nice=10'")
        return value


# ---------------------------------------------------------------------------- health


class ProbeSpec(_Model):
    """One HTTP probe, with Kubernetes semantics: a probe succeeds on a 2xx answer
    within ``timeout_s``; ``failure_threshold`` consecutive failures flip it to failed,
    ``success_threshold`` consecutive successes back to passed."""

    path: Line | None = Field(default=None, description="Path to GET; default: health.path.")
    initial_delay_s: float = Field(default=0, ge=0, description="Wait before the first probe.")
    period_s: float = Field(default=10, gt=0, description="Seconds between probes.")
    timeout_s: float = Field(default=5, gt=0, description="Seconds before a probe fails.")
    success_threshold: int = Field(default=1, ge=1, description="Successes to pass.")
    failure_threshold: int = Field(default=3, ge=1, description="Failures to fail.")


def _startup_default() -> ProbeSpec:
    # Large models take many minutes to load: allow 30 minutes before giving up.
    return ProbeSpec(period_s=10, timeout_s=5, failure_threshold=180)


class HealthSpec(_Model):
    """How the operator probes each worker. Startup runs until the worker first answers;
    then readiness decides router membership and liveness decides replacement."""

    path: Line = Field(default="/health", description="Default probe path.")
    headers: dict[str, Line] = Field(
        default_factory=dict,
        description="Headers sent with every probe; values may use ${VAR} (resolved from "
        "the operator's environment at probe time, never stored).",
    )
    startup: ProbeSpec = Field(
        default_factory=_startup_default,
        description="Probe until the engine is up (model load). Failing it replaces the job.",
    )
    readiness: ProbeSpec = Field(
        default_factory=ProbeSpec, description="Decides whether the worker gets traffic."
    )
    liveness: ProbeSpec = Field(
        default_factory=ProbeSpec, description="Failing it replaces the job."
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _HEADER_NAME.match(key):
                raise ValueError(f"{key!r} is not a valid HTTP header name")
            check_env_refs(item)
        return value


# ---------------------------------------------------------------------------- router


class RouterAuth(_Model):
    """Credentials for an external router: the header value is read from an environment
    variable of the operator, never from the file."""

    token_env: Annotated[str, Field(pattern=_ENV_NAME.pattern)] = Field(
        description="Environment variable holding the token."
    )
    header_name: Annotated[str, Field(pattern=_HEADER_NAME.pattern)] = Field(
        default="Authorization", description="Header to send the token in."
    )
    scheme: Line = Field(
        default="Bearer",
        description="Prefix of the header value ('Bearer' gives 'Bearer TOKEN'); empty "
        "sends the variable's value as is.",
    )


class ExternalRouter(_Model):
    """A router SGOrch does not run, with which it only registers workers."""

    url: Annotated[Line, Field(pattern=r"^https?://[^\s/]+(/.*)?$")] = Field(
        description="Base URL of the router's management API, e.g. http://10.0.0.5:30000."
    )
    dialect: Literal["sgorch", "sglang", "sglang-legacy"] = Field(
        default="sgorch",
        description="Registration API: 'sgorch' (/workers/add?url=), 'sglang' "
        "(sglang-router 0.3+: POST /workers) or 'sglang-legacy' (/add_worker?url=).",
    )
    auth: RouterAuth | None = Field(default=None, description="Credentials, if required.")


class DeploymentRouterRef(_Model):
    """Which router the Deployment's ready workers are registered with: a Router
    resource of this operator (``name``) or an ``external`` one."""

    name: DnsLabel | None = Field(default=None, description="Name of a Router resource.")
    external: ExternalRouter | None = Field(default=None, description="An external router.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.name is None) == (self.external is None):
            raise ValueError("set exactly one of 'name' (a Router resource) or 'external'")
        return self


# --------------------------------------------------------------------- deployment spec


class ModelSpec(_Model):
    """The model name clients ask for; the router routes requests by it."""

    name: Line = Field(description="Served model name, as clients send it in 'model'.")
    aliases: list[Line] = Field(default_factory=list, description="Other names for it.")


class SshSpec(_Model):
    """SSH settings for tunnels."""

    user: Line | None = Field(default=None, description="SSH user; default: current user.")
    opts: list[Line] = Field(default_factory=list, description="Extra ssh options.")


class ConnectivitySpec(_Model):
    """How the router reaches the workers. ``direct``: the node's address is reachable.
    ``tunneled`` (SSH tunnels) is modelled but not implemented yet: the operator refuses
    such a Deployment with a status condition."""

    mode: Literal["direct", "tunneled"] = Field(default="direct", description="Reachability.")
    bind_host: Line = Field(
        default="0.0.0.0",
        description="Address the engine listens on ('{HOST}'): 0.0.0.0 lets a router on "
        "another host reach it; 127.0.0.1 when operator, router and workers share a machine.",
    )
    tunnel_mode: Literal["local", "reverse"] = Field(
        default="local", description="local: ssh -L from the operator; reverse: ssh -R."
    )
    advertise_host: Line | None = Field(
        default=None,
        description="Host to register with the router instead of the node's hostname.",
    )
    orchestrator_host: Line | None = Field(
        default=None, description="The operator's host, for reverse tunnels."
    )
    local_port_range: tuple[Port, Port] = Field(
        default=(30000, 30999), description="Ports for tunnel ends, [first, last]."
    )
    ssh: SshSpec = Field(default_factory=SshSpec, description="SSH options for tunnels.")

    @field_validator("local_port_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("the first port must not be above the last")
        return value


class StrategySpec(_Model):
    """Rolling update limits, as Kubernetes' RollingUpdate."""

    max_surge: int = Field(
        default=1, ge=0, description="Workers allowed above 'replicas' during an update."
    )
    max_unavailable: int = Field(
        default=0, ge=0, description="Ready workers that may be missing during an update."
    )

    @model_validator(mode="after")
    def _can_progress(self) -> Self:
        if self.max_surge == 0 and self.max_unavailable == 0:
            raise ValueError("max_surge and max_unavailable cannot both be 0")
        return self


class PolicySpec(_Model):
    """Failure handling."""

    restart_backoff_base_s: float = Field(
        default=10, gt=0, description="First wait before resubmitting a failed slot."
    )
    restart_backoff_cap_s: float = Field(
        default=600, gt=0, description="Longest wait between resubmissions of a slot."
    )
    node_quarantine_threshold: int = Field(
        default=3, ge=1, description="Failures on one node before it is excluded."
    )
    node_quarantine_cooldown_s: float = Field(
        default=600, ge=0, description="How long a quarantined node stays excluded."
    )
    walltime_renewal_lead_s: float = Field(
        default=180,
        ge=0,
        description="Start a replacement this long before a worker's time limit ends.",
    )
    drain_grace_s: float = Field(
        default=30,
        ge=0,
        description="Longest wait for in-flight requests after leaving the router, "
        "before the job is cancelled.",
    )

    @model_validator(mode="after")
    def _cap_above_base(self) -> Self:
        if self.restart_backoff_cap_s < self.restart_backoff_base_s:
            raise ValueError("restart_backoff_cap_s must not be below restart_backoff_base_s")
        return self


class DeploymentSpec(_Model):
    """The desired state of one inference service."""

    replicas: int = Field(default=1, ge=0, le=10_000, description="Workers to keep running.")
    backend: BackendSpec = Field(description="The engine every worker runs.")
    slurm: SlurmSpec = Field(default_factory=SlurmSpec, description="Job placement.")
    health: HealthSpec = Field(default_factory=HealthSpec, description="Worker probes.")
    router: DeploymentRouterRef | None = Field(
        default=None, description="Where ready workers are registered; none: not registered."
    )
    model: ModelSpec | None = Field(
        default=None, description="Served model name for model-aware routing."
    )
    connectivity: ConnectivitySpec = Field(
        default_factory=ConnectivitySpec, description="How the router reaches workers."
    )
    strategy: StrategySpec = Field(
        default_factory=StrategySpec, description="Rolling update limits."
    )
    policy: PolicySpec = Field(default_factory=PolicySpec, description="Failure handling.")


# ------------------------------------------------------------------------ router spec


class ListenSpec(_Model):
    """Where a managed router listens."""

    host: Line = Field(default="127.0.0.1", description="Bind address.")
    port: Port = Field(default=8080, description="TCP port.")


class RouterAuthSpec(_Model):
    """Tokens of a managed router, named by environment variable (never inline)."""

    admin_token_env: Annotated[str, Field(pattern=_ENV_NAME.pattern)] | None = Field(
        default="ROUTER_TOKEN",
        description="Variable holding the token of the management API (/workers/...). "
        "Without it the management API accepts loopback clients only.",
    )
    client_token_envs: list[Annotated[str, Field(pattern=_ENV_NAME.pattern)]] = Field(
        default_factory=list,
        description="Variables holding tokens clients must present; empty: open.",
    )


class RouterHealthSpec(_Model):
    """Active probing of workers by the router."""

    path: Line = Field(default="/health", description="Path probed on each worker.")
    interval_s: float = Field(default=5, gt=0, description="Seconds between probes.")
    timeout_s: float = Field(default=3, gt=0, description="Probe timeout.")
    failure_threshold: int = Field(default=3, ge=1, description="Failures to mark unhealthy.")
    success_threshold: int = Field(default=2, ge=1, description="Successes to mark healthy.")


class RetrySpec(_Model):
    """Retries happen only before the first response byte, never on a worker that
    already failed this request."""

    max_attempts: int = Field(default=3, ge=1, description="Attempts per request, first included.")
    on_status: list[Annotated[int, Field(ge=400, le=599)]] = Field(
        default_factory=lambda: [502, 503, 504], description="Statuses that are retried."
    )
    backoff_base_s: float = Field(default=0.05, ge=0, description="First backoff (jittered).")
    backoff_cap_s: float = Field(default=1.0, ge=0, description="Longest backoff.")


class TimeoutSpec(_Model):
    """No total cap: long healthy streams are never cut."""

    connect_s: float = Field(default=5, gt=0, description="TCP connect timeout.")
    first_byte_s: float = Field(
        default=600, gt=0, description="Wait for the response headers (prefill of long prompts)."
    )
    idle_s: float = Field(default=120, gt=0, description="Longest silence between chunks.")


class CircuitBreakerSpec(_Model):
    """Per-worker circuit breaker on passive failures."""

    failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures to open.")
    open_s: float = Field(default=30, gt=0, description="Seconds open before a trial request.")
    half_open_successes: int = Field(
        default=2, ge=1, description="Successful trial requests to close again."
    )


class RouterSpec(_Model):
    """A router sidecar the operator runs (one process per Router), or an external one."""

    listen: ListenSpec = Field(default_factory=ListenSpec, description="Bind address and port.")
    auth: RouterAuthSpec = Field(default_factory=RouterAuthSpec, description="Tokens.")
    policy: Literal["round_robin", "random", "least_inflight", "power_of_two"] = Field(
        default="least_inflight", description="Load-balancing policy."
    )
    health: RouterHealthSpec = Field(
        default_factory=RouterHealthSpec, description="Active worker probing."
    )
    retries: RetrySpec = Field(default_factory=RetrySpec, description="Retry rules.")
    timeouts: TimeoutSpec = Field(default_factory=TimeoutSpec, description="Proxy timeouts.")
    circuit_breaker: CircuitBreakerSpec = Field(
        default_factory=CircuitBreakerSpec, description="Passive ejection of failing workers."
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest accepted request body."
    )
    default_models: dict[
        Literal["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/rerank"],
        Line,
    ] = Field(
        default_factory=dict,
        description="Model used when a request to this endpoint names none.",
    )
    external: ExternalRouter | None = Field(
        default=None,
        description="Do not run a router: register workers with this existing one.",
    )

    @model_validator(mode="before")
    @classmethod
    def _external_is_exclusive(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("external") is not None and len(data) > 1:
            others = ", ".join(sorted(k for k in data if k != "external"))
            raise ValueError(
                f"an external router is not run by SGOrch; remove {others} or remove 'external'"
            )
        return data


# ---------------------------------------------------------------------------- kinds


class _Resource(_Model):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, populate_by_name=True
    )

    api_version: Literal["sgorch.io/v1alpha1"] = Field(
        alias="apiVersion", description="Always sgorch.io/v1alpha1."
    )
    metadata: Metadata = Field(description="Name, labels and annotations.")

    @property
    def name(self) -> str:
        return self.metadata.name


class Deployment(_Resource):
    """Keeps ``replicas`` workers of one engine running as Slurm jobs, probed and
    registered with a router."""

    kind: Literal["Deployment"] = Field(description="Deployment.")
    spec: DeploymentSpec = Field(description="Desired state.")


class Router(_Resource):
    """One OpenAI-compatible endpoint in front of the workers of one or more Deployments."""

    kind: Literal["Router"] = Field(description="Router.")
    spec: RouterSpec = Field(default_factory=RouterSpec, description="Desired state.")


Resource = Annotated[Deployment | Router, Field(discriminator="kind")]

"""SGOrch v2 configuration files (one YAML file with ``orchestrator:`` and a
``deployments:`` list), loaded and converted to ``Deployment`` resources.

v2 users keep their files working: ``sgorch validate --config`` checks one and
``sgorch convert`` writes the equivalent resource files. Settings that have moved to the
command line, or that v3 does not have, are reported as warnings, never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sgorch.errors import ErrorLocation
from sgorch.resources.loader import LocatedError, YamlProblem, locate_errors, parse_yaml
from sgorch.resources.models import API_VERSION, Deployment

__all__ = ["V2Conversion", "convert_v2_text"]


class _V2(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Metrics(_V2):
    enabled: bool = True
    bind: str = "0.0.0.0"
    port: int = 9315


class _Email(_V2):
    smtp_host: str | None = None
    from_addr: str | None = None
    to_addrs: list[str] = []


class _Notifications(_V2):
    type: Literal["log_only", "email"] = "log_only"
    email: _Email = Field(default_factory=_Email)


class _State(_V2):
    backend: Literal["file"] = "file"
    file_path: str | None = None


class _NodeProbe(_V2):
    enabled: bool = False
    interval_s: int = 60
    timeout_s: int = 10
    model: str | None = None
    prompt: str = "ping"


class _Orchestrator(_V2):
    metrics: _Metrics = Field(default_factory=_Metrics)
    notifications: _Notifications = Field(default_factory=_Notifications)
    state: _State = Field(default_factory=_State)
    node_probe: _NodeProbe = Field(default_factory=_NodeProbe)


class _Ssh(_V2):
    user: str | None = None
    opts: list[str] = []


class _Connectivity(_V2):
    mode: Literal["direct", "tunneled"] = "tunneled"
    tunnel_mode: Literal["local", "reverse"] = "local"
    orchestrator_host: str
    advertise_host: str
    local_port_range: tuple[int, int] = (30000, 30999)
    ssh: _Ssh = Field(default_factory=_Ssh)


class _Auth(_V2):
    type: Literal["header", "none"] = "header"
    header_name: str = "Authorization"
    header_value_env: str | None = None


class _Endpoints(_V2):
    list: str = "/workers/list"
    add: str = "/workers/add"
    remove: str = "/workers/remove"


class _Router(_V2):
    base_url: str
    endpoints: _Endpoints = Field(default_factory=_Endpoints)
    auth: _Auth | None = None


class _Slurm(_V2):
    prefer: Literal["rest", "cli", "auto"] = "auto"
    account: str
    reservation: str | None = None
    partition: str
    qos: str | None = None
    gres: str
    constraint: str | None = None
    time_limit: str = "24:00:00"
    time_limit_stagger_s: int = 0
    cpus_per_task: int = 16
    mem: str = "64G"
    log_dir: str
    env: dict[str, str] = {}
    sbatch_extra: list[str] = []
    pre_commands: list[str] = []


class _SGLang(_V2):
    type: Literal["sglang"] = "sglang"
    model_path: str
    venv_path: str | None = None
    args: list[str] = []


class _Tei(_V2):
    type: Literal["tei"] = "tei"
    binary_path: str | None = None
    model_id: str
    revision: str | None = None
    args: list[str] = []
    env: dict[str, str] = {}
    prometheus_port: int | None = None


class _Health(_V2):
    path: str = "/health"
    interval_s: int = 10
    timeout_s: int = 5
    consecutive_ok_for_ready: int = 2
    failures_to_unhealthy: int = 60
    headers: dict[str, str] = {}


class _Policy(_V2):
    restart_backoff_s: int = 60
    deregister_grace_s: int = 10
    start_grace_period_s: int = 1800
    predrain_seconds_before_walltime: int = 180
    node_blacklist_cooldown_s: int = 600


class _Deployment(_V2):
    name: str
    replicas: int
    connectivity: _Connectivity
    router: _Router | None = None
    slurm: _Slurm
    backend: _SGLang | _Tei = Field(discriminator="type")
    health: _Health = Field(default_factory=_Health)
    policy: _Policy = Field(default_factory=_Policy)
    enable_worker_metrics: bool = False

    @model_validator(mode="before")
    @classmethod
    def _legacy_sglang_block(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "sglang" in data and "backend" in data:
            raise ValueError(
                "this deployment has both 'backend:' and the legacy 'sglang:' block; keep "
                "'backend:' (add 'type: sglang' to it) and delete 'sglang:'"
            )
        if "sglang" in data:
            legacy = data["sglang"]
            rest = {k: v for k, v in data.items() if k != "sglang"}
            return {**rest, "backend": {"type": "sglang", **legacy}}
        return data


class _Config(_V2):
    orchestrator: _Orchestrator = Field(default_factory=_Orchestrator)
    deployments: list[_Deployment] = Field(min_length=1)


@dataclass
class V2Conversion:
    """The outcome of converting a v2 file: resources, or located errors; warnings name
    settings that are not carried over and what to do instead."""

    deployments: list[Deployment] = field(default_factory=list)
    errors: list[LocatedError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


_DIALECTS = {
    ("/workers/list", "/workers/add", "/workers/remove"): "sgorch",
    ("/list_workers", "/add_worker", "/remove_worker"): "sglang-legacy",
}


def convert_v2_text(text: str, file: str) -> V2Conversion:
    """Load a v2 configuration file's text and convert each deployment."""
    result = V2Conversion()
    try:
        documents = parse_yaml(text)
    except YamlProblem as exc:
        result.errors.append((ErrorLocation(file, exc.line, exc.column), exc.message))
        return result
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        result.errors.append(
            (
                ErrorLocation(file, 1, 1),
                "a v2 configuration is one YAML mapping with 'orchestrator:' and 'deployments:'",
            )
        )
        return result
    doc = documents[0]
    try:
        config = _Config.model_validate(doc.data)
    except ValidationError as exc:
        result.errors.extend(locate_errors(exc, doc, file))
        return result
    result.warnings.extend(_orchestrator_warnings(config.orchestrator))
    for index, v2 in enumerate(config.deployments):
        place = ErrorLocation(
            file,
            *(doc.value_marks.get(("deployments", index)) or (doc.line, 1)),
            f"deployments[{index}]",
        )
        try:
            converted, warnings = _convert_deployment(v2)
            result.deployments.append(Deployment.model_validate(converted))
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"])
                message = str(err["msg"]).removeprefix("Value error, ")
                result.errors.append((place, f"cannot convert ({where}): {message}"))
        except ValueError as exc:
            result.errors.append((place, f"cannot convert: {exc}"))
        else:
            result.warnings.extend(f"deployment {v2.name!r}: {w}" for w in warnings)
    return result


def _orchestrator_warnings(orchestrator: _Orchestrator) -> list[str]:
    warnings: list[str] = []
    if orchestrator.metrics.enabled:
        warnings.append(
            f"orchestrator.metrics: pass '--metrics-port {orchestrator.metrics.port}' to "
            "'sgorch run' (metrics now bind 127.0.0.1 unless --metrics-host is given)"
        )
    if orchestrator.notifications.type == "email":
        warnings.append("orchestrator.notifications: e-mail is not supported; alert on metrics")
    if orchestrator.state.file_path:
        warnings.append("orchestrator.state.file_path: use '--state-dir' instead")
    if orchestrator.node_probe.enabled:
        warnings.append("orchestrator.node_probe: not supported; probes are per Deployment")
    return warnings


def _strip_listen_args(args: list[str], host_flag: str) -> tuple[list[str], str | None]:
    """Remove the host and port options v2 users wrote themselves (v3 adds them);
    return the remaining args and the host the engine was told to bind."""
    kept: list[str] = []
    host: str | None = None
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg in (host_flag, "--port") and i + 1 < len(args):
            if arg == host_flag:
                host = args[i + 1]
            skip = True
            continue
        if arg.startswith(f"{host_flag}="):
            host = arg.split("=", 1)[1]
            continue
        if arg.startswith("--port="):
            continue
        kept.append(arg)
    return kept, host


def _convert_deployment(v2: _Deployment) -> tuple[dict[str, Any], list[str]]:
    warnings: list[str] = []
    backend: dict[str, Any]
    if isinstance(v2.backend, _SGLang):
        args, host = _strip_listen_args(v2.backend.args, "--host")
        backend = {"type": "sglang", "model_path": v2.backend.model_path, "args": args}
        if v2.backend.venv_path:
            backend["venv_path"] = v2.backend.venv_path
    else:
        args, host = _strip_listen_args(v2.backend.args, "--hostname")
        backend = {
            "type": "tei",
            "model_id": v2.backend.model_id,
            "args": args,
            "env": dict(v2.backend.env),
        }
        for key in ("binary_path", "revision", "prometheus_port"):
            if getattr(v2.backend, key) is not None:
                backend[key] = getattr(v2.backend, key)
    if v2.enable_worker_metrics:
        warnings.append("enable_worker_metrics is not carried over; scrape the workers directly")

    connectivity: dict[str, Any] = v2.connectivity.model_dump()
    connectivity["local_port_range"] = list(v2.connectivity.local_port_range)
    if host and host != "{HOST}":
        connectivity["bind_host"] = host

    slurm = v2.slurm.model_dump(exclude={"prefer"}, exclude_none=True)
    if v2.slurm.prefer != "auto":
        warnings.append(f"slurm.prefer: pass '--slurm {v2.slurm.prefer}' to 'sgorch run'")

    health = v2.health
    startup_failures = max(1, math.ceil(v2.policy.start_grace_period_s / health.interval_s))
    spec: dict[str, Any] = {
        "replicas": v2.replicas,
        "backend": backend,
        "slurm": slurm,
        "connectivity": connectivity,
        "health": {
            "path": health.path,
            "headers": dict(health.headers),
            "startup": {
                "period_s": health.interval_s,
                "timeout_s": health.timeout_s,
                "failure_threshold": startup_failures,
            },
            "readiness": {
                "period_s": health.interval_s,
                "timeout_s": health.timeout_s,
                "success_threshold": health.consecutive_ok_for_ready,
                "failure_threshold": health.failures_to_unhealthy,
            },
            "liveness": {
                "period_s": health.interval_s,
                "timeout_s": health.timeout_s,
                "failure_threshold": health.failures_to_unhealthy,
            },
        },
        "policy": {
            "restart_backoff_base_s": v2.policy.restart_backoff_s,
            "restart_backoff_cap_s": max(600, v2.policy.restart_backoff_s),
            "drain_grace_s": v2.policy.deregister_grace_s,
            "walltime_renewal_lead_s": v2.policy.predrain_seconds_before_walltime,
            "node_quarantine_cooldown_s": v2.policy.node_blacklist_cooldown_s,
        },
    }
    if v2.router is not None:
        spec["router"] = {"external": _external_router(v2.router)}
    return (
        {
            "apiVersion": API_VERSION,
            "kind": "Deployment",
            "metadata": {"name": v2.name},
            "spec": spec,
        },
        warnings,
    )


def _external_router(router: _Router) -> dict[str, Any]:
    endpoints = (router.endpoints.list, router.endpoints.add, router.endpoints.remove)
    dialect = _DIALECTS.get(endpoints)
    if dialect is None:
        raise ValueError(
            f"router.endpoints {endpoints} match no known router API; use the sgorch "
            "paths (/workers/list, /workers/add, /workers/remove) or the legacy SGLang "
            "ones (/list_workers, /add_worker, /remove_worker)"
        )
    external: dict[str, Any] = {"url": router.base_url.rstrip("/"), "dialect": dialect}
    if router.auth is not None and router.auth.type == "header":
        if not router.auth.header_value_env:
            raise ValueError("router.auth.header_value_env is required when type is 'header'")
        # v2 sent the variable's value as the whole header value: keep that meaning.
        external["auth"] = {
            "token_env": router.auth.header_value_env,
            "header_name": router.auth.header_name,
            "scheme": "",
        }
    return external

"""Validation of Deployment and Router resources: what is accepted, what is refused,
and that refusals say what to do."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sgorch.resources import Deployment, Router, parse_memory_mb, parse_time_limit_min
from sgorch.resources.durations import UNLIMITED


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"backend": {"type": "command", "command": ["srv", "{PORT}"]}}
    base.update(spec)
    return {
        "apiVersion": "sgorch.io/v1alpha1",
        "kind": "Deployment",
        "metadata": {"name": "demo"},
        "spec": base,
    }


def test_minimal_deployment_gets_documented_defaults() -> None:
    d = Deployment.model_validate(deployment())
    assert d.spec.replicas == 1
    assert d.spec.slurm.time_limit == "24:00:00"
    assert d.spec.health.startup.failure_threshold * d.spec.health.startup.period_s >= 1800
    assert d.spec.strategy.max_surge == 1 and d.spec.strategy.max_unavailable == 0
    assert d.spec.connectivity.mode == "direct"


@pytest.mark.parametrize(
    "name", ["Upper", "has space", "../etc", "a/b", "-lead", "trail-", "x" * 64, "", "a_b"]
)
def test_names_that_are_not_dns_labels_are_refused(name: str) -> None:
    data = deployment()
    data["metadata"]["name"] = name
    with pytest.raises(ValidationError, match="not a valid name"):
        Deployment.model_validate(data)


@pytest.mark.parametrize(
    "backend",
    [
        {"type": "sglang", "model_path": "m", "venv_path": "/v", "args": ["--tp", "2"]},
        {"type": "tei", "model_id": "BAAI/bge", "revision": "main", "prometheus_port": 9000},
        {"type": "vllm", "model": "m", "args": ["--max-model-len", "4096"]},
        {"type": "command", "command": ["python", "-m", "srv", "--port={PORT}"]},
    ],
)
def test_every_backend_type_is_accepted(backend: dict[str, Any]) -> None:
    d = Deployment.model_validate(deployment(backend=backend))
    assert d.spec.backend.type == backend["type"]


def test_command_backend_must_listen_on_the_port_placeholder() -> None:
    with pytest.raises(ValidationError, match=r"must contain '\{PORT\}'"):
        Deployment.model_validate(deployment(backend={"type": "command", "command": ["srv"]}))


def test_unknown_keys_are_refused_at_every_level() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        Deployment.model_validate(deployment(slurm={"partitoin": "gpu"}))


@pytest.mark.parametrize("field", ["partition", "gres", "account"])
def test_slurm_fields_cannot_smuggle_newlines_into_the_batch_script(field: str) -> None:
    with pytest.raises(ValidationError, match="single line"):
        Deployment.model_validate(deployment(slurm={field: "gpu\n#SBATCH --uid=0"}))


def test_sbatch_extra_items_must_be_options() -> None:
    ok = Deployment.model_validate(deployment(slurm={"sbatch_extra": ["--nice=5", "#SBATCH -J x"]}))
    assert len(ok.spec.slurm.sbatch_extra) == 2
    with pytest.raises(ValidationError, match="not an sbatch option"):
        Deployment.model_validate(deployment(slurm={"sbatch_extra": ["rm -rf /"]}))


def test_env_names_and_reference_syntax_are_checked() -> None:
    Deployment.model_validate(
        deployment(slurm={"env": {"HF_TOKEN": "${HF_TOKEN}", "A": "${B:-x}"}})
    )
    with pytest.raises(ValidationError, match="not a valid environment variable name"):
        Deployment.model_validate(deployment(slurm={"env": {"1BAD": "x"}}))
    with pytest.raises(ValidationError, match="not a valid reference"):
        Deployment.model_validate(deployment(slurm={"env": {"A": "${no spaces}"}}))


def test_router_reference_needs_exactly_one_of_name_or_external() -> None:
    Deployment.model_validate(deployment(router={"name": "main"}))
    Deployment.model_validate(
        deployment(router={"external": {"url": "http://10.0.0.5:30000", "dialect": "sglang"}})
    )
    for bad in ({}, {"name": "a", "external": {"url": "http://h:1"}}):
        with pytest.raises(ValidationError, match="exactly one"):
            Deployment.model_validate(deployment(router=bad))


def test_strategy_that_can_never_progress_is_refused() -> None:
    with pytest.raises(ValidationError, match="cannot both be 0"):
        Deployment.model_validate(deployment(strategy={"max_surge": 0, "max_unavailable": 0}))


def test_tunneled_connectivity_is_modelled() -> None:
    d = Deployment.model_validate(
        deployment(
            connectivity={
                "mode": "tunneled",
                "tunnel_mode": "reverse",
                "local_port_range": [31000, 31010],
                "ssh": {"user": "u"},
            }
        )
    )
    assert d.spec.connectivity.local_port_range == (31000, 31010)


def test_router_external_excludes_settings_of_a_managed_router() -> None:
    base = {"apiVersion": "sgorch.io/v1alpha1", "kind": "Router", "metadata": {"name": "r"}}
    Router.model_validate({**base, "spec": {"external": {"url": "http://h:8000"}}})
    with pytest.raises(ValidationError, match="remove listen"):
        Router.model_validate(
            {**base, "spec": {"external": {"url": "http://h:8000"}, "listen": {"port": 1}}}
        )


def test_router_defaults_bind_loopback() -> None:
    r = Router.model_validate(
        {"apiVersion": "sgorch.io/v1alpha1", "kind": "Router", "metadata": {"name": "r"}}
    )
    assert r.spec.listen.host == "127.0.0.1"
    assert r.spec.auth.admin_token_env == "ROUTER_TOKEN"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("30", 30),
        ("0", 0),
        ("30:00", 30),
        ("30:01", 31),
        ("2:00:00", 120),
        ("1-0", 1440),
        ("1-2", 1560),
        ("1-2:30", 1590),
        ("1-2:30:01", 1591),
        ("UNLIMITED", UNLIMITED),
        ("infinite", UNLIMITED),
        (" 08:00:00 ", 480),
    ],
)
def test_every_slurm_time_format_parses(text: str, minutes: int) -> None:
    assert parse_time_limit_min(text) == minutes


@pytest.mark.parametrize("text", ["", "1:2:3:4", "1d", "-1", "1-", "a:b", "1-2-3"])
def test_malformed_time_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Slurm time limit"):
        parse_time_limit_min(text)


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("64G", 65536),
        ("512M", 512),
        ("2048", 2048),
        ("1T", 1048576),
        ("1024K", 1),
        ("0", 0),
        ("8gb", 8192),
    ],
)
def test_memory_sizes_parse_to_mib(text: str, mb: int) -> None:
    assert parse_memory_mb(text) == mb

"""SGOrch v2 configuration files load, convert to resources that mean the same, and
refuse ambiguity with a message saying what to keep."""

from __future__ import annotations

from pathlib import Path

from sgorch.resources import Deployment, load_text
from sgorch.resources.loader import dump_resources
from sgorch.resources.v2 import convert_v2_text

DATA = Path(__file__).resolve().parents[2] / "data" / "v2"


def convert(name: str):
    path = DATA / name
    return convert_v2_text(path.read_text(), str(path))


def test_legacy_sglang_block_converts_to_an_sglang_backend() -> None:
    result = convert("legacy-sglang.yaml")
    assert result.errors == []
    (d,) = result.deployments
    backend = d.spec.backend
    assert backend.type == "sglang"
    assert backend.model_path == "openai/gpt-oss-20b"
    assert backend.venv_path == "/opt/sglang/.venv"
    # v3 adds --host/--port itself; the host v2 passed becomes the bind host
    assert backend.args == ["--reasoning-parser", "gpt-oss", "--tp", "1"]
    assert d.spec.connectivity.bind_host == "0.0.0.0"


def test_v2_health_and_policy_map_onto_probes_and_policy() -> None:
    (d,) = convert("legacy-sglang.yaml").deployments
    health = d.spec.health
    assert health.readiness.period_s == 5 and health.readiness.timeout_s == 3
    assert health.readiness.success_threshold == 2
    assert health.liveness.failure_threshold == 3
    assert health.startup.failure_threshold * health.startup.period_s == 600
    assert health.headers == {"Authorization": "${WORKER_HEALTH_TOKEN}"}
    assert d.spec.policy.drain_grace_s == 10
    assert d.spec.policy.restart_backoff_base_s == 60
    assert d.spec.policy.walltime_renewal_lead_s == 180


def test_v2_router_becomes_an_external_router_keeping_the_raw_header_value() -> None:
    (d,) = convert("legacy-sglang.yaml").deployments
    assert d.spec.router is not None and d.spec.router.external is not None
    ext = d.spec.router.external
    assert (ext.url, ext.dialect) == ("http://127.0.0.1:30000", "sgorch")
    assert ext.auth is not None
    assert (ext.auth.token_env, ext.auth.header_name, ext.auth.scheme) == (
        "ROUTER_TOKEN",
        "Authorization",
        "",
    )


def test_slurm_settings_carry_over_and_prefer_becomes_a_warning() -> None:
    result = convert("legacy-sglang.yaml")
    slurm = result.deployments[0].spec.slurm
    assert (slurm.account, slurm.partition, slurm.reservation, slurm.gres) == (
        "chatgpt",
        "GPUQ",
        "gpt",
        "gpu:1",
    )
    assert (slurm.cpus_per_task, slurm.mem, slurm.time_limit) == (24, "128G", "08:00:00")
    assert slurm.pre_commands == ["module load cuda/12.1"]
    assert any("--slurm cli" in w for w in result.warnings)
    assert any("--metrics-port 9315" in w for w in result.warnings)


def test_backend_blocks_tei_tunnels_and_legacy_router_dialect_convert() -> None:
    result = convert("backend-tei-and-sglang.yaml")
    assert result.errors == []
    llama, tei = result.deployments
    assert llama.spec.connectivity.mode == "tunneled"
    assert llama.spec.connectivity.ssh.opts == ["-o", "ServerAliveInterval=15"]
    assert llama.spec.router is not None and llama.spec.router.external is not None
    assert llama.spec.router.external.dialect == "sglang-legacy"
    assert llama.spec.slurm.time_limit_stagger_s == 300
    assert tei.spec.backend.type == "tei"
    assert tei.spec.backend.args == ["--json-output"]
    assert tei.spec.backend.env == {"HF_TOKEN": "${HF_TOKEN}"}
    assert tei.spec.backend.prometheus_port == 9000
    assert tei.spec.router is None
    assert any("enable_worker_metrics" in w for w in result.warnings)


def test_both_sglang_and_backend_is_refused_saying_which_to_keep() -> None:
    result = convert("both-blocks.yaml")
    (err,) = result.errors
    assert "keep 'backend:'" in err[1] and "delete 'sglang:'" in err[1]
    assert err[0].line == 2


def test_unknown_router_endpoints_are_refused_with_the_supported_paths() -> None:
    (err,) = convert("custom-endpoints.yaml").errors
    assert "/workers/add" in err[1] and "/add_worker" in err[1]


def test_converted_resources_validate_again_after_dumping() -> None:
    for name in ("legacy-sglang.yaml", "backend-tei-and-sglang.yaml"):
        deployments = convert(name).deployments
        reloaded = load_text(dump_resources(deployments), "converted.yaml")
        assert reloaded.ok
        assert [d.resource for d in reloaded.documents] == deployments
        assert all(isinstance(d.resource, Deployment) for d in reloaded.documents)


def test_unknown_v2_keys_are_located() -> None:
    text = (DATA / "legacy-sglang.yaml").read_text().replace("replicas: 2", "replica: 2")
    errors = convert_v2_text(text, "v2.yaml").errors
    assert any(e[0].field == "deployments[0].replica" for e in errors)

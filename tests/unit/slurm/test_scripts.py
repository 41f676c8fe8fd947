"""Batch scripts are pure functions of a Deployment: golden files pin them, and they
stay valid bash that hands the engine its exact argv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sgorch.resources import Deployment
from sgorch.slurm import OwnerTag, build_job_request, compute_template_hash, render_job_script
from sgorch.slurm.scripts import render_sbatch_options

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"
UPDATE = os.environ.get("SGORCH_UPDATE_GOLDEN") == "1"

BACKENDS: dict[str, dict[str, Any]] = {
    "sglang": {
        "type": "sglang",
        "model_path": "meta-llama/Llama-3.1-8B-Instruct",
        "venv_path": "/opt/sglang venv/",
        "args": ["--tp", "2", "--chat-template={x}"],
    },
    "tei": {
        "type": "tei",
        "model_id": "BAAI/bge-base-en-v1.5",
        "revision": "main",
        "prometheus_port": 9400,
        "args": ["--json-output"],
    },
    "vllm": {
        "type": "vllm",
        "model": "Qwen/Qwen2.5-7B",
        "venv_path": "/opt/vllm",
        "args": ["--max-model-len", "8192"],
    },
    "command": {"type": "command", "command": ["my-server", "--listen={HOST}:{PORT}", "it's"]},
}


def make(backend: dict[str, Any], **spec: Any) -> Deployment:
    return Deployment.model_validate(
        {
            "apiVersion": "sgorch.io/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": "llm"},
            "spec": {"backend": backend, **spec},
        }
    )


FULL_SLURM = {
    "partition": "gpu",
    "account": "acct",
    "qos": "high",
    "reservation": "res",
    "gres": "gpu:h100:2",
    "constraint": "h100&ib",
    "exclude": ["n1", "n2"],
    "cpus_per_task": 16,
    "mem": "64G",
    "time_limit": "1-00:00:00",
    "time_limit_stagger_s": 300,
    "sbatch_extra": ["--nice=10", "#SBATCH --mail-type=FAIL"],
    "pre_commands": ["module load cuda/12.4", "export NCCL_DEBUG=WARN"],
    "env": {"HF_TOKEN": "${HF_TOKEN}"},
}


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_rendered_script_matches_its_golden_file(kind: str) -> None:
    deployment = make(BACKENDS[kind], slurm=FULL_SLURM)
    tag = OwnerTag("prod", "llm", 1, compute_template_hash(deployment))
    script = render_job_script(deployment, 1, tag, Path("/shared/logs/llm"))
    golden = GOLDEN / f"job-{kind}.sh"
    if UPDATE:
        golden.write_text(script)
    assert script == golden.read_text(), "run with SGORCH_UPDATE_GOLDEN=1 after a deliberate change"


@pytest.mark.parametrize("kind", sorted(BACKENDS))
def test_rendered_scripts_are_valid_bash(kind: str) -> None:
    deployment = make(BACKENDS[kind], slurm=FULL_SLURM)
    tag = OwnerTag("prod", "llm", 0, compute_template_hash(deployment))
    script = render_job_script(deployment, 0, tag, Path("/logs"))
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_secrets_are_resolved_into_the_environment_never_into_the_script() -> None:
    deployment = make(BACKENDS["command"], slurm=FULL_SLURM)
    tag = OwnerTag("prod", "llm", 0, compute_template_hash(deployment))
    request = build_job_request(deployment, 0, tag, Path("/logs"), {"HF_TOKEN": "hf_s3cr3t"})
    assert request.environment == {"HF_TOKEN": "hf_s3cr3t"}
    assert "hf_s3cr3t" not in request.script
    assert "${HF_TOKEN}" not in request.script


def test_time_limit_is_staggered_per_slot() -> None:
    deployment = make(BACKENDS["command"], slurm=FULL_SLURM)
    assert render_sbatch_options(deployment, 0).time_limit_min == 1440
    assert render_sbatch_options(deployment, 2).time_limit_min == 1450


def test_template_hash_changes_with_the_job_template_only() -> None:
    base = make(BACKENDS["command"])
    assert compute_template_hash(base) == compute_template_hash(make(BACKENDS["command"]))
    scaled = make(BACKENDS["command"], replicas=5, health={"path": "/ready"})
    assert compute_template_hash(scaled) == compute_template_hash(base)
    edited = make({**BACKENDS["command"], "args": ["--x"]})
    assert compute_template_hash(edited) != compute_template_hash(base)


def run_script(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "4242", "HOME": str(tmp_path)}
    return subprocess.run(
        ["bash", "-s"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=30,
    )


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 on PATH")
def test_script_writes_endpoint_file_and_execs_engine_with_placeholders_filled(
    tmp_path: Path,
) -> None:
    printer = ["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]
    deployment = make(
        {"type": "command", "command": [*printer, "--port={PORT}", "{HOST}", "a b", "$HOME", ""]},
        connectivity={"bind_host": "127.0.0.1"},
    )
    tag = OwnerTag("t", "llm", 0, compute_template_hash(deployment))
    result = run_script(render_job_script(deployment, 0, tag, tmp_path), tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    endpoint = json.loads((tmp_path / "endpoints" / "4242.json").read_text())
    assert endpoint["host"] == "127.0.0.1" and endpoint["job_id"] == "4242"
    assert 0 < endpoint["port"] < 65536
    argv = json.loads(result.stdout)
    assert argv == [f"--port={endpoint['port']}", "127.0.0.1", "a b", "$HOME", ""]
    assert not list((tmp_path / "endpoints").glob(".*")), "no temp file left behind"


@pytest.mark.skipif(shutil.which("python3") is None, reason="needs python3 on PATH")
def test_the_port_is_picked_below_the_ephemeral_range_from_the_job_id_past_taken_ones(
    tmp_path: Path,
) -> None:
    """Job 4242 starts at port 24242 and takes the next one when that is bound: jobs on
    one node start apart, and no outgoing connection (ephemeral ports are 32768+) can
    take the port while the engine loads its model."""
    import json
    import socket

    printer = ["python3", "-c", "print({PORT})"]
    deployment = make({"type": "command", "command": printer})
    script = render_job_script(deployment, 0, OwnerTag("t", "llm", 0, "h"), tmp_path)
    with socket.socket() as probe_a, socket.socket() as probe_b:
        try:  # both must be free on this machine for the test to say anything
            probe_a.bind(("", 24242))
            probe_b.bind(("", 24243))
        except OSError:
            pytest.skip("port 24242 or 24243 is in use on this machine")
    first = run_script(script, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "24242"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 24242))
        taken.listen()
        second = run_script(script, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "24243"
    assert json.loads((tmp_path / "endpoints" / "4242.json").read_text())["port"] == 24243

"""The real job script SGOrch renders, for every backend type, runs under the real
local Slurm through the cli client: it writes its endpoint file, the engine it starts
answers HTTP on the port it picked, and the Deployment's env (resolved secrets) reaches
the engine process without ever being in the script.

The engines are stand-ins: a fake virtualenv whose ``bin`` holds ``python``, ``vllm``
and ``text-embeddings-router`` shims that record their argv and exec the demo worker.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sgorch.resources import Deployment
from sgorch.slurm import (
    JobId,
    JobInfo,
    OwnerTag,
    build_job_request,
    compute_template_hash,
    endpoint_path,
    instance_prefix,
)
from sgorch.slurm.cli import CliSlurmClient

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

START_TIMEOUT_S = 90.0
"""Submit to a worker answering /health: scheduling plus the demo worker's import."""
STOP_TIMEOUT_S = 60.0

SHIM = """#!/bin/bash
# Stand-in engine: records how it was started, then serves the demo worker.
printf '%s\\n' "$(basename "$0")" "$@" > "{log_dir}/engine-argv-${{SLURM_JOB_ID}}"
host=127.0.0.1 port=
while [ $# -gt 0 ]; do
  case "$1" in
    --host|--hostname) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    *) shift ;;
  esac
done
exec {python} -m sgorch.demo_worker --host "$host" --port "$port"
"""


def make_fake_venv(root: Path, log_dir: Path) -> Path:
    """A directory shaped like a virtualenv: ``bin/activate`` puts the shims first."""
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n')
    for name in ("python", "vllm", "text-embeddings-router"):
        shim = bin_dir / name
        shim.write_text(SHIM.format(log_dir=log_dir, python=sys.executable))
        shim.chmod(0o755)
    return root / "venv"


def backend(kind: str, venv: Path) -> dict[str, Any]:
    env = {"SGORCH_ENGINE_TOKEN": "${ENGINE_TOKEN}"}
    match kind:
        case "command":
            command = [sys.executable, "-m", "sgorch.demo_worker", "--host", "{HOST}"]
            return {"type": "command", "command": [*command, "--port", "{PORT}"], "env": env}
        case "sglang":
            return {
                "type": "sglang",
                "model_path": "fake/model",
                "venv_path": str(venv),
                "env": env,
            }
        case "vllm":
            return {"type": "vllm", "model": "fake/model", "venv_path": str(venv), "env": env}
        case "tei":
            router = venv / "bin" / "text-embeddings-router"
            return {"type": "tei", "model_id": "fake/model", "binary_path": str(router), "env": env}
    raise AssertionError(kind)


EXPECTED_ARGV = {
    "sglang": ["python", "-m", "sglang.launch_server", "--model-path", "fake/model"],
    "vllm": ["vllm", "serve", "fake/model"],
    "tei": ["text-embeddings-router", "--model-id", "fake/model", "--hostname", "127.0.0.1"],
}


def engine_environment(port: int) -> dict[str, str]:
    """The environment of the process serving ``port`` (the demo worker)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
            if b"sgorch.demo_worker" not in argv or str(port).encode() not in argv:
                continue
            raw = (cmdline.parent / "environ").read_bytes()
        except OSError:
            continue  # gone while we looked
        pairs = (item.decode(errors="replace").split("=", 1) for item in raw.split(b"\0"))
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}
    pytest.fail(f"no demo worker process serves port {port}")


async def wait_for_endpoint(path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            pytest.fail(f"no endpoint file {path} after {START_TIMEOUT_S:.0f} s")
        await anyio.sleep(0.5)
    endpoint: dict[str, Any] = json.loads(path.read_text())
    return endpoint


async def wait_for_health(http: httpx.AsyncClient, url: str) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            response = await http.get(url)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer 200 within {START_TIMEOUT_S:.0f} s")
        await anyio.sleep(0.5)


async def wait_until_stopped(
    client: CliSlurmClient, owner_tag: str, job_id: JobId, http: httpx.AsyncClient, url: str
) -> JobInfo | None:
    """The job ended (or left the listing) and nothing serves its port any more."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        listing = {job.job_id: job for job in await client.list_jobs(owner_tag)}
        info = listing.get(job_id)
        ended = info is None or info.state.is_terminal
        try:
            await http.get(url)
        except httpx.TransportError:
            if ended:
                return info
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still up {STOP_TIMEOUT_S:.0f} s after cancel: {info}")
        await anyio.sleep(0.5)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.mark.parametrize("kind", ["command", "sglang", "vllm", "tei"])
async def test_the_rendered_job_script_serves_http_and_passes_the_env_to_the_engine(
    kind: str, tmp_path: Path, http: httpx.AsyncClient
) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    venv = make_fake_venv(tmp_path, log_dir)
    deployment = Deployment.model_validate(
        {
            "apiVersion": "sgorch.io/v1alpha1",
            "kind": "Deployment",
            "metadata": {"name": f"engine-{kind}"},
            "spec": {
                "backend": backend(kind, venv),
                "slurm": {"time_limit": "10"},
                "connectivity": {"bind_host": "127.0.0.1"},
            },
        }
    )
    instance = f"e{uuid.uuid4().hex[:12]}"
    tag = OwnerTag(instance, deployment.name, 0, compute_template_hash(deployment))
    token = f"token-{uuid.uuid4().hex}"
    request = build_job_request(deployment, 0, tag, log_dir, {"ENGINE_TOKEN": token})
    assert request.environment == {"SGORCH_ENGINE_TOKEN": token}
    assert token not in request.script

    client = CliSlurmClient()
    job_id = await client.submit(request)
    try:
        endpoint = await wait_for_endpoint(endpoint_path(log_dir, job_id))
        assert (endpoint["host"], endpoint["job_id"]) == ("127.0.0.1", job_id)
        url = f"http://{endpoint['host']}:{endpoint['port']}/health"
        response = await wait_for_health(http, url)
        assert response.json()["status"] == "ok"

        assert engine_environment(endpoint["port"])["SGORCH_ENGINE_TOKEN"] == token
        if kind in EXPECTED_ARGV:
            argv = (log_dir / f"engine-argv-{job_id}").read_text().splitlines()
            assert argv[: len(EXPECTED_ARGV[kind])] == EXPECTED_ARGV[kind]
            assert argv[argv.index("--port") + 1] == str(endpoint["port"])

        listed = {job.job_id: job for job in await client.list_jobs(instance_prefix(instance))}
        assert listed[job_id].name == request.name
        assert listed[job_id].time_limit_min == 10
    finally:
        await client.cancel(job_id)
    await wait_until_stopped(client, instance_prefix(instance), job_id, http, url)

"""A Router resource becomes a supervised `sgorch router` sidecar: it serves the ready
workers of its Deployments, is restarted when it dies and repopulated within a
reconcile, and its management API needs the token; secrets appear nowhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e.operator import Operator, condition, demo_deployment
from fakes.harness import free_port
from sgorch.status.events import read_events

pytestmark = pytest.mark.slow

ADMIN = "adm-7f3c9e1b2d"
SECRET = "hf_secret_5a8d2c4e9b"


def router_yaml(port: int) -> str:
    return f"""\
apiVersion: sgorch.io/v1alpha1
kind: Router
metadata: {{name: main}}
spec:
  listen: {{host: 127.0.0.1, port: {port}}}
  auth: {{admin_token_env: E2E_ROUTER_TOKEN}}
  health: {{interval_s: 1, timeout_s: 1}}
  default_models: {{/v1/chat/completions: chat}}
"""


def get(url: str, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def chat(port: int) -> str:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["choices"][0]["message"]["content"])


def test_router_sidecar_serves_is_restarted_and_repopulated(tmp_path: Path) -> None:
    port = free_port()
    op = Operator(tmp_path, env={"E2E_ROUTER_TOKEN": ADMIN, "HF_TOKEN": SECRET})
    op.write("main", router_yaml(port))
    op.write(
        "chat",
        demo_deployment("chat", replicas=2, router="main", model="chat").replace(
            "  slurm: {time_limit: '1:00:00'}",
            "  slurm: {time_limit: '1:00:00', env: {HF_TOKEN: '${HF_TOKEN}'}}",
        ),
    )
    base = f"http://127.0.0.1:{port}"
    op.start()
    try:

        def two_registered() -> bool:
            code, body = get(f"{base}/workers/list", ADMIN)
            return code == 200 and len(body.get("workers", [])) == 2

        op.wait(two_registered, what="two workers registered with the sidecar")
        assert chat(port) == "echo: hi"
        assert get(f"{base}/workers/list")[0] == 401
        assert get(f"{base}/workers/list", "wrong")[0] == 401

        def available() -> bool:
            doc = op.status("main", "routers")
            return bool(doc) and condition(doc, "Available")["status"] == "True"  # type: ignore[arg-type]

        op.wait(available, what="the router reported Available")
        router = op.status("main", "routers")
        assert router is not None
        pid = router["status"]["pid"]
        os.kill(pid, signal.SIGKILL)

        def restarted() -> bool:
            doc = op.status("main", "routers")
            return bool(doc) and doc["status"]["restarts"] >= 1 and two_registered()  # type: ignore[index]

        op.wait(restarted, timeout_s=60, what="sidecar restarted and repopulated")
        assert chat(port) == "echo: hi"

        def story() -> list[str]:
            return [e.reason for e in read_events(op.status_dir, "Router", "main")]

        op.wait(lambda: story().count("Ready") == 2, what="the router's events")
        # NotReady too if a health check ran between the kill and the exit's notice
        told = [reason for reason in story() if reason != "NotReady"]
        assert told == ["Started", "Ready", "Exited", "Started", "Ready"]
        events = read_events(op.status_dir, "Router", "main")
        (exited,) = [e for e in events if e.reason == "Exited"]
        assert exited.type == "Warning" and "status -9" in exited.message

        # no secret in status, events, logs, scripts or any process's argv
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        texts = [ps, op.log()]
        for path in [
            *tmp_path.rglob("*.json"),
            *tmp_path.rglob("*.jsonl"),
            *tmp_path.rglob("*.out"),
            *tmp_path.rglob("*.log"),
            *(tmp_path / "state").rglob("script"),
        ]:
            texts.append(path.read_text(errors="replace"))
        for text in texts:
            assert SECRET not in text and ADMIN not in text
    finally:
        for name in ("chat", "main"):
            (op.resources / f"{name}.yaml").unlink(missing_ok=True)
        op.wait(
            lambda: op.status("chat") is None and op.status("main", "routers") is None,
            what="cleanup",
        )
        assert read_events(op.status_dir, "Router", "main") == []
        assert op.stop() == 0

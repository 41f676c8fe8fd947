"""Running ``python -m sgorch run`` as a real process for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def demo_deployment(
    name: str = "demo",
    replicas: int = 2,
    args: list[str] | None = None,
    router: str | None = None,
    model: str | None = None,
) -> str:
    command = [
        sys.executable,
        "-m",
        "sgorch.demo_worker",
        "--host",
        "{HOST}",
        "--port",
        "{PORT}",
        "--model",
        model or name,
    ]
    lines = [
        "apiVersion: sgorch.io/v1alpha1",
        "kind: Deployment",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  replicas: {replicas}",
        f"  backend: {{type: command, command: {json.dumps(command)}, "
        f"args: {json.dumps(args or [])}}}",
        "  connectivity: {bind_host: 127.0.0.1}",
        "  slurm: {time_limit: '1:00:00'}",
        "  health:",
        "    startup: {period_s: 0.5, timeout_s: 2, failure_threshold: 120}",
        "    readiness: {period_s: 1, timeout_s: 2}",
        "    liveness: {period_s: 1, timeout_s: 2, failure_threshold: 3}",
        "  policy: {restart_backoff_base_s: 1, restart_backoff_cap_s: 5, drain_grace_s: 5}",
    ]
    if router:
        lines.append(f"  router: {{name: {router}}}")
    if model or router:
        lines.append(f"  model: {{name: {model or name}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Operator:
    root: Path
    slurm: str = "local"
    instance: str = "e2e"
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def resources(self) -> Path:
        return self.root / "resources"

    @property
    def status_dir(self) -> Path:
        return self.root / "status"

    def start(self, *extra: str) -> None:
        self.resources.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        log = (self.root / "operator.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sgorch",
                "run",
                "--slurm",
                self.slurm,
                "--resources",
                str(self.resources),
                "--status-dir",
                str(self.status_dir),
                "--state-dir",
                str(self.root / "state"),
                "--instance",
                self.instance,
                "--log-format",
                "json",
                "--job-poll-interval",
                "1",
                "--resync-interval",
                "2",
                *(["--local-cpus", "32"] if self.slurm == "local" else []),
                *extra,
            ],
            stdout=log,
            stderr=log,
            env=env,
            cwd=ROOT,
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def log(self) -> str:
        path = self.root / "operator.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def write(self, name: str, text: str) -> None:
        self.resources.mkdir(parents=True, exist_ok=True)
        tmp = self.resources / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(self.resources / f"{name}.yaml")  # as editors save: atomically

    def status(self, name: str, kind: str = "deployments") -> dict[str, Any] | None:
        try:
            return json.loads((self.status_dir / kind / f"{name}.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def wait(self, predicate: Callable[[], bool], timeout_s: float = 120, what: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"operator exited {code}:\n{self.log()[-3000:]}")
            if predicate():
                return
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what or predicate}:\n{self.log()[-3000:]}")

    def ready(self, name: str, replicas: int) -> bool:
        doc = self.status(name)
        if doc is None:
            return False
        status = doc["status"]
        return (
            status["readyReplicas"] == replicas == status["updatedReplicas"]
            and status["replicas"] == replicas
        )


def condition(doc: dict[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [c for c in doc["status"]["conditions"] if c["type"] == type_]
    return found  # type: ignore[no-any-return]

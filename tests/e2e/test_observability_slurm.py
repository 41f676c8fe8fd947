"""A scripted scenario on the real local Slurm produces the expected metric values,
events and `get`/`describe` output."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from e2e.operator import ROOT, Operator, demo_deployment
from e2e.test_operator_slurm import cancel_all
from fakes.harness import free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]


def sgorch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sgorch", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_events_and_views_follow_a_scripted_scenario(tmp_path: Path) -> None:
    port = free_port()
    op = Operator(tmp_path, slurm="cli", instance=f"obs-{uuid.uuid4().hex[:8]}")
    op.write("demo", demo_deployment(replicas=2))
    op.start("--metrics-port", str(port))
    try:
        op.wait(lambda: op.ready("demo", 2), what="2 ready workers")
        status = str(op.status_dir)

        get = sgorch("get", "deployments", "--status-dir", status)
        assert get.returncode == 0
        header, row = get.stdout.splitlines()[:2]
        assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        assert row.split()[:4] == ["demo", "2/2", "2", "2"]

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert metric(text, "sgorch_deployment_ready_workers", deployment="demo") == 2
        assert metric(text, "sgorch_deployment_desired_workers", deployment="demo") == 2
        assert metric(text, "sgorch_jobs_submitted_total", deployment="demo", result="ok") == 2
        assert (
            metric(
                text, "sgorch_slurm_call_duration_seconds_count", operation="submit", client="cli"
            )
            or 0
        ) >= 2

        victim = next(w["jobId"] for w in op.status("demo")["status"]["workers"])  # type: ignore[index]
        subprocess.run(["scancel", victim], check=True, timeout=60)
        op.wait(
            lambda: (
                op.ready("demo", 2)
                and victim not in {w["jobId"] for w in op.status("demo")["status"]["workers"]}
            ),  # type: ignore[index]
            what="replacement",
        )

        describe = sgorch("describe", "deployment", "demo", "--status-dir", status)
        assert describe.returncode == 0
        assert re.search(
            r"Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 ready", describe.stdout
        )
        events = describe.stdout.split("Events:")[1]
        for reason in ("Submitted", "WorkerReady", "WorkerFailed"):
            assert reason in events, describe.stdout
        assert f"job {victim}" in events

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
        assert metric(text, "sgorch_jobs_submitted_total", deployment="demo", result="ok") == 3
        assert (
            metric(text, "sgorch_worker_restarts_total", deployment="demo", reason="job_ended") or 0
        ) == 1

        wait = sgorch(
            "wait",
            "deployment",
            "demo",
            "--for",
            "condition=Available",
            "--timeout",
            "30s",
            "--status-dir",
            status,
        )
        assert wait.returncode == 0
    finally:
        (op.resources / "demo.yaml").unlink(missing_ok=True)
        op.wait(lambda: op.status("demo") is None, what="cleanup")
        op.stop()
        cancel_all(op.instance)

"""The operator as a process on the embedded local executor: the acceptance scenarios
of a Deployment's life, with real worker processes and real HTTP probes."""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from e2e.operator import Operator, condition, demo_deployment

pytestmark = pytest.mark.slow


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def worker_urls(op: Operator, name: str) -> set[str]:
    doc = op.status(name) or {"status": {"workers": []}}
    return {w["url"] for w in doc["status"]["workers"] if w.get("url")}


def job_ids(op: Operator, name: str) -> set[str]:
    doc = op.status(name) or {"status": {"workers": []}}
    return {w["jobId"] for w in doc["status"]["workers"] if w.get("jobId")}


def test_deployment_lifecycle_scale_update_restart_delete(tmp_path: Path) -> None:
    op = Operator(tmp_path)
    op.write("demo", demo_deployment(replicas=3))
    op.start()
    try:
        op.wait(lambda: op.ready("demo", 3), what="3 ready workers")
        doc = op.status("demo")
        assert doc is not None and condition(doc, "Available")["status"] == "True"
        assert all(answers(u) for u in worker_urls(op, "demo"))

        op.write("demo", demo_deployment(replicas=5))
        op.wait(lambda: op.ready("demo", 5), what="scale to 5")
        op.write("demo", demo_deployment(replicas=1))
        op.wait(lambda: op.ready("demo", 1), what="scale to 1")

        before = job_ids(op, "demo")
        op.write("demo", demo_deployment(replicas=1, args=["--startup-delay", "0.1"]))
        op.wait(
            lambda: op.ready("demo", 1) and not (job_ids(op, "demo") & before),
            what="rolling replacement",
        )
        doc = op.status("demo")
        assert doc is not None and doc["metadata"]["generation"] == 4

        # kill -9 and restart over a converged cluster: the same jobs, adopted
        converged = job_ids(op, "demo")
        op.stop(signal.SIGKILL)
        offset = len(op.log())
        op.start()
        op.wait(lambda: "Slurm access" in op.log()[offset:], what="restart")
        time.sleep(6)  # three resync intervals
        restarted = op.log()[offset:]
        assert "submitted job" not in restarted and "cancelled job" not in restarted
        assert op.ready("demo", 1) and job_ids(op, "demo") == converged

        urls = worker_urls(op, "demo")
        (op.resources / "demo.yaml").unlink()
        op.wait(lambda: op.status("demo") is None, what="garbage collection")
        op.wait(lambda: not any(answers(u) for u in urls), timeout_s=30, what="workers gone")
    finally:
        if op.process is not None:
            assert op.stop() == 0


def test_invalid_edit_keeps_the_old_spec_and_other_deployments_are_unaffected(
    tmp_path: Path,
) -> None:
    op = Operator(tmp_path)
    op.write("a", demo_deployment("a", replicas=1))
    op.write("b", demo_deployment("b", replicas=1))
    op.start()
    try:
        op.wait(lambda: op.ready("a", 1) and op.ready("b", 1), what="both ready")
        jobs_a = job_ids(op, "a")
        op.write("a", demo_deployment("a", replicas=1).replace("replicas: 1", "replicas: [1"))

        def reported() -> bool:
            doc = op.status("a")
            return bool(doc and doc["status"].get("error"))

        op.wait(reported, what="error in status")
        doc = op.status("a")
        assert doc is not None
        error = doc["status"]["error"]
        assert error["file"].endswith("a.yaml") and error["line"] >= 5
        assert "YAML syntax error" in error["message"]
        assert job_ids(op, "a") == jobs_a and op.ready("a", 1)
        op.write("b", demo_deployment("b", replicas=2))
        op.wait(lambda: op.ready("b", 2), what="b keeps being reconciled")
    finally:
        for name in ("a", "b"):
            (op.resources / f"{name}.yaml").unlink(missing_ok=True)
        op.wait(lambda: op.status("a") is None and op.status("b") is None, what="cleanup")
        assert op.stop() == 0


def test_a_worker_that_dies_is_replaced_and_a_crashing_engine_backs_off(tmp_path: Path) -> None:
    op = Operator(tmp_path)
    op.write("demo", demo_deployment(replicas=1))
    crash = demo_deployment("crash", replicas=1).replace(
        '"-m", "sgorch.demo_worker"', '"-c", "import sys; sys.exit(3)", "{PORT}"'
    )
    op.write("crash", crash)
    op.start()
    try:
        op.wait(lambda: op.ready("demo", 1), what="ready")
        (url,) = worker_urls(op, "demo")
        port = url.rsplit(":", 1)[1]
        import subprocess

        subprocess.run(["pkill", "-9", "-f", "--", f"--port {port} "], check=False)
        op.wait(
            lambda: op.ready("demo", 1) and worker_urls(op, "demo") != {url}, what="replacement"
        )

        def crash_reported() -> bool:
            doc = op.status("crash")
            return bool(doc) and condition(doc, "ReplicaFailure")["status"] == "True"  # type: ignore[arg-type]

        op.wait(crash_reported, what="ReplicaFailure for the crashing engine")
        doc = op.status("crash")
        assert doc is not None
        assert (
            "exit 3" in condition(doc, "ReplicaFailure")["message"]
            or "FAILED" in condition(doc, "ReplicaFailure")["message"]
        )
    finally:
        for name in ("demo", "crash"):
            (op.resources / f"{name}.yaml").unlink(missing_ok=True)
        op.wait(lambda: op.status("demo") is None and op.status("crash") is None, what="cleanup")
        assert op.stop() == 0

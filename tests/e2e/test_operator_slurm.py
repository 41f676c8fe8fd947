"""The operator as a process against the real local Slurm (``--slurm cli``): the
acceptance scenarios, kill -9 at many moments, jobs cancelled behind its back, and the
controller going away for a while."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

import anyio
import pytest

from e2e.operator import Operator, condition, demo_deployment
from sgorch.slurm import JobInfo, instance_prefix, parse_tag
from sgorch.slurm.cli import CliSlurmClient

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("slurm_cluster")]

UP = Path(__file__).resolve().parents[2] / "deploy" / "local-slurm" / "up.sh"


def live_jobs(instance: str) -> list[JobInfo]:
    async def listing() -> list[JobInfo]:
        client = CliSlurmClient()
        try:
            return await client.list_jobs(instance_prefix(instance))
        finally:
            await client.aclose()

    return [j for j in anyio.run(listing) if not j.state.is_terminal]


def cancel_all(instance: str) -> None:
    ids = [j.job_id for j in live_jobs(instance)]
    if ids:
        subprocess.run(["scancel", *ids], check=False, timeout=60)


@pytest.fixture
def op(tmp_path: Path):  # type: ignore[no-untyped-def]
    operator = Operator(tmp_path, slurm="cli", instance=f"e2e-{uuid.uuid4().hex[:8]}")
    try:
        yield operator
    finally:
        if operator.process is not None:
            operator.stop()
        cancel_all(operator.instance)


def ready_jobs(op: Operator, name: str) -> set[str]:
    doc = op.status(name) or {"status": {"workers": []}}
    return {w["jobId"] for w in doc["status"]["workers"] if w.get("ready")}


def test_lifecycle_on_real_slurm_scale_update_delete(op: Operator) -> None:
    op.write("demo", demo_deployment(replicas=3))
    op.start()
    op.wait(lambda: op.ready("demo", 3), what="3 ready workers")
    assert {j.name for j in live_jobs(op.instance)} == {"cmd-demo-0", "cmd-demo-1", "cmd-demo-2"}
    op.write("demo", demo_deployment(replicas=5))
    op.wait(lambda: op.ready("demo", 5), what="scale to 5")
    op.write("demo", demo_deployment(replicas=1))
    op.wait(lambda: op.ready("demo", 1) and len(live_jobs(op.instance)) == 1, what="scale to 1")
    before = {j.job_id for j in live_jobs(op.instance)}
    op.write("demo", demo_deployment(replicas=1, args=["--model", "demo-v2"]))
    op.wait(
        lambda: op.ready("demo", 1) and not ({j.job_id for j in live_jobs(op.instance)} & before),
        what="rolling replacement",
    )
    (op.resources / "demo.yaml").unlink()
    op.wait(
        lambda: op.status("demo") is None and not live_jobs(op.instance),
        what="all jobs cancelled and the status removed",
    )


def assert_invariants(instance: str, bound: int) -> None:
    jobs = live_jobs(instance)
    assert len(jobs) <= bound, f"{len(jobs)} live jobs > {bound}: {jobs}"
    keys = [(t.slot, t.template_hash) for j in jobs if (t := parse_tag(j.comment))]
    assert len(keys) == len(set(keys)), f"duplicate job for one slot and template: {jobs}"


def test_kill_9_at_random_moments_never_duplicates_or_overshoots(op: Operator) -> None:
    rng = random.Random(7)
    replicas, args = 2, 0
    op.write("demo", demo_deployment(replicas=replicas))
    for _round in range(40 if os.environ.get("SGORCH_LONG") == "1" else 8):
        previous = replicas
        replicas = rng.choice([1, 2, 3])
        if rng.random() < 0.5:
            args += 1
        op.write("demo", demo_deployment(replicas=replicas, args=["--model", f"m{args}"]))
        op.start()
        time.sleep(rng.uniform(0.3, 4.0))
        op.stop(signal.SIGKILL)
        assert_invariants(op.instance, max(previous, replicas) + 1)
    op.start()
    op.wait(
        lambda: op.ready("demo", replicas) and len(live_jobs(op.instance)) == replicas,
        timeout_s=180,
        what="convergence after the last restart",
    )
    assert_invariants(op.instance, replicas)
    doc = op.status("demo")
    assert doc is not None and doc["status"]["observedGeneration"] == doc["metadata"]["generation"]


def test_a_job_cancelled_behind_its_back_is_replaced(op: Operator) -> None:
    op.write("demo", demo_deployment(replicas=2))
    op.start()
    op.wait(lambda: op.ready("demo", 2), what="ready")
    victim = sorted(ready_jobs(op, "demo"))[0]
    subprocess.run(["scancel", victim], check=True, timeout=60)
    op.wait(
        lambda: op.ready("demo", 2) and victim not in ready_jobs(op, "demo"), what="replacement"
    )
    doc = op.status("demo")
    assert doc is not None and sum(w["restarts"] for w in doc["status"]["workers"]) == 1


@pytest.mark.skipif(not UP.exists(), reason="needs deploy/local-slurm")
def test_controller_outage_cancels_nothing_and_recovers(op: Operator) -> None:
    op.write("demo", demo_deployment(replicas=2))
    op.start()
    op.wait(lambda: op.ready("demo", 2), what="ready")
    jobs = ready_jobs(op, "demo")
    subprocess.run(["pkill", "-x", "slurmctld"], check=True)
    try:

        def reported() -> bool:
            doc = op.status("demo")
            return bool(doc) and condition(doc, "ReplicaFailure")["reason"] == "SlurmUnavailable"  # type: ignore[arg-type]

        op.wait(reported, timeout_s=90, what="SlurmUnavailable condition")
        op.write("demo", demo_deployment(replicas=1))  # a change it must not act on yet
        time.sleep(5)
        assert ready_jobs(op, "demo") == jobs, "workers keep serving"
    finally:
        subprocess.run([str(UP)], check=True, timeout=300, capture_output=True)
    op.wait(
        lambda: op.ready("demo", 1) and len(live_jobs(op.instance)) == 1,
        timeout_s=180,
        what="recovery after the controller came back",
    )
    assert ready_jobs(op, "demo") <= jobs, "scaled down by cancelling, nothing resubmitted"

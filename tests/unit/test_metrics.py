"""The operator's metrics: the typed API keeps its promises (bounded labels, series gone
with their Deployment, clocks observed once), and the controller runtime, the probes,
the metered Slurm client and the Deployment controller report what they do."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from fakes.fake_slurm import FakeSlurm
from fakes.harness import Harness, deployment_yaml, free_port, harnessed
from sgorch.controllers.runtime import WorkQueue, run_workers
from sgorch.demo_worker import build_app
from sgorch.errors import SlurmRejected, SlurmUnavailable, TemporaryError
from sgorch.health import ProbeManager
from sgorch.metrics import OperatorMetrics, build_metrics_app
from sgorch.resources.models import HealthSpec
from sgorch.slurm import JobRequest, JobState, SbatchOptions
from sgorch.slurm.metered import MeteredSlurmClient


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet, or any more)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


def series_of(metrics: OperatorMetrics, deployment: str) -> list[str]:
    return [
        sample.name
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.labels.get("deployment") == deployment
    ]


def test_deployment_gauges_follow_the_status_and_every_series_goes_with_the_deployment() -> None:
    metrics = OperatorMetrics()
    metrics.set_workers("web", desired=3, ready=1, updated=2)
    metrics.set_workers("other", desired=1, ready=1, updated=1)
    metrics.job_submitted("web", "ok", 0.0)
    metrics.observe_probe("web", "readiness", True, 0.01)
    assert value(metrics, "sgorch_deployment_desired_workers", deployment="web") == 3
    assert value(metrics, "sgorch_deployment_ready_workers", deployment="web") == 1
    assert value(metrics, "sgorch_deployment_updated_workers", deployment="web") == 2
    assert value(metrics, "sgorch_deployment_unavailable_workers", deployment="web") == 2

    metrics.forget_deployment("web")

    assert series_of(metrics, "web") == []
    assert value(metrics, "sgorch_deployment_ready_workers", deployment="other") == 1


def test_generation_to_submit_is_measured_once_per_generation_from_its_first_sighting() -> None:
    metrics = OperatorMetrics()
    count = "sgorch_generation_to_submit_seconds_count"
    total = "sgorch_generation_to_submit_seconds_sum"
    metrics.generation_seen("web", 1, now=100.0)
    metrics.generation_seen("web", 1, now=102.0)  # the same generation: the clock runs on
    metrics.job_submitted("web", "uncertain", now=103.0)
    metrics.job_submitted("web", "ok", now=104.0)
    metrics.job_submitted("web", "ok", now=110.0)  # the second job of the generation
    assert value(metrics, count, deployment="web") == 1
    assert value(metrics, total, deployment="web") == 4.0

    metrics.generation_seen("web", 2, now=200.0)
    metrics.job_submitted("web", "ok", now=201.5)
    assert value(metrics, count, deployment="web") == 2
    assert value(metrics, total, deployment="web") == 5.5
    assert value(metrics, "sgorch_jobs_submitted_total", deployment="web", result="ok") == 3
    assert value(metrics, "sgorch_jobs_submitted_total", deployment="web", result="uncertain") == 1


def test_a_generation_that_converges_without_a_submit_is_not_charged_for_a_later_restart() -> None:
    metrics = OperatorMetrics()
    metrics.generation_seen("web", 2, now=100.0)  # e.g. a scale-down
    metrics.set_workers("web", desired=2, ready=2, updated=2)
    metrics.job_submitted("web", "ok", now=5000.0)  # replacing a crashed worker, much later
    assert value(metrics, "sgorch_generation_to_submit_seconds_count", deployment="web") == 0


def test_start_to_ready_is_observed_once_per_job_and_only_for_jobs_started_under_this_process() -> (
    None
):
    metrics = OperatorMetrics(started_at=1000.0)
    count = "sgorch_job_start_to_ready_seconds_count"
    started = datetime.fromtimestamp(1010.0, UTC)
    metrics.worker_ready("web", "1", started, now=1040.0)
    metrics.worker_ready("web", "1", started, now=1099.0)
    metrics.worker_ready("web", "2", datetime.fromtimestamp(900.0, UTC), now=1040.0)
    metrics.worker_ready("web", "3", None, now=1040.0)
    assert value(metrics, count, deployment="web") == 1
    assert value(metrics, "sgorch_job_start_to_ready_seconds_sum", deployment="web") == 30.0


def test_probe_failures_that_cancel_a_worker_and_jobs_that_end_count_as_restarts() -> None:
    metrics = OperatorMetrics()
    metrics.job_cancelled("web", "liveness_failed")
    metrics.job_cancelled("web", "scale_down")
    metrics.job_ended("web", "TIMEOUT")
    restarts = "sgorch_worker_restarts_total"
    assert value(metrics, restarts, deployment="web", reason="liveness_probe") == 1
    assert value(metrics, restarts, deployment="web", reason="job_ended") == 1
    assert value(metrics, "sgorch_jobs_cancelled_total", deployment="web", reason="scale_down") == 1
    assert value(metrics, "sgorch_jobs_failed_total", deployment="web", reason="TIMEOUT") == 1


def request() -> JobRequest:
    return JobRequest(
        name="sgorch-test",
        script="#!/bin/sh\n",
        comment="sgorch:test",
        options=SbatchOptions(),
        working_dir="/tmp",
        stdout_path="/tmp/%j.out",
    )


async def test_the_metered_slurm_client_times_every_call_and_classifies_its_errors() -> None:
    metrics = OperatorMetrics()
    slurm = FakeSlurm()
    client = MeteredSlurmClient(slurm, metrics)
    job_id = await client.submit(request())
    assert [j.job_id for j in await client.list_jobs("sgorch:")] == [job_id]
    await client.cancel(job_id)
    await client.ping()
    slurm.unavailable = True
    with pytest.raises(SlurmUnavailable):
        await client.list_jobs("sgorch:")
    slurm.unavailable, slurm.reject_with = False, "Invalid partition"
    with pytest.raises(SlurmRejected):
        await client.submit(request())

    assert client.name == "fake" and slurm.cancels == [job_id]
    duration = "sgorch_slurm_call_duration_seconds_count"
    errors = "sgorch_slurm_call_errors_total"
    assert value(metrics, duration, operation="list", client="fake") == 2
    assert value(metrics, duration, operation="submit", client="fake") == 2
    assert value(metrics, duration, operation="cancel", client="fake") == 1
    assert value(metrics, duration, operation="ping", client="fake") == 1
    assert value(metrics, errors, operation="list", client="fake", error="unavailable") == 1
    assert value(metrics, errors, operation="submit", client="fake", error="rejected") == 1


async def test_a_slurm_call_abandoned_by_its_caller_counts_as_cancelled() -> None:
    metrics = OperatorMetrics()
    with anyio.move_on_after(0.01):
        with metrics.slurm_call("submit", "cli"):
            await anyio.sleep(5)  # a hung sbatch
    labels = {"operation": "submit", "client": "cli"}
    assert value(metrics, "sgorch_slurm_call_errors_total", **labels, error="cancelled") == 1
    assert value(metrics, "sgorch_slurm_call_duration_seconds_count", **labels) == 1


async def test_the_runtime_reports_reconcile_durations_errors_retries_and_its_backlog() -> None:
    metrics = OperatorMetrics()
    queue = WorkQueue()
    seen: list[str] = []

    async def reconcile(key: str) -> float | None:
        seen.append(key)
        if key == "slurm-down" and seen.count(key) == 1:
            raise TemporaryError("Slurm down", delay_s=0.0)
        if key == "bug" and seen.count(key) == 1:
            raise RuntimeError("a bug")
        return None

    for key in ("ok", "slurm-down", "bug"):
        queue.add(key)
    queue.add("later", delay_s=3600)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: run_workers("deployments", queue, reconcile, metrics=metrics))
        with anyio.fail_after(10):
            while len(seen) < 5:
                await anyio.sleep(0.01)
        body, _ = metrics.render()
        tg.cancel_scope.cancel()

    controller = {"controller": "deployments"}
    assert value(metrics, "sgorch_reconcile_duration_seconds_count", **controller) == 5
    assert value(metrics, "sgorch_reconcile_errors_total", **controller, error="temporary") == 1
    assert value(metrics, "sgorch_reconcile_errors_total", **controller, error="unexpected") == 1
    assert value(metrics, "sgorch_workqueue_retries_total", **controller) == 2
    assert 'sgorch_workqueue_depth{controller="deployments"} 0.0' in body.decode()
    assert len(queue) == 1 and queue.backlog() == 0, "a key queued for later is no backlog"


async def test_probes_report_results_and_latency_per_deployment_and_kind() -> None:
    metrics = OperatorMetrics()
    port = free_port()
    runner = web.AppRunner(build_app("demo"))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    spec = HealthSpec.model_validate(
        {
            "startup": {"period_s": 0.05, "timeout_s": 1},
            "readiness": {"period_s": 0.05, "timeout_s": 1},
            "liveness": {"period_s": 0.05, "timeout_s": 1},
        }
    )
    try:
        async with anyio.create_task_group() as tg:
            probes = ProbeManager(tg, on_change=lambda _: None, metrics=metrics)
            probes.ensure("1", "web", f"http://127.0.0.1:{port}", spec)
            probes.ensure("2", "broken", f"http://127.0.0.1:{free_port()}", spec)
            live_ok = {"deployment": "web", "probe": "liveness", "result": "success"}
            with anyio.fail_after(10):
                while not value(metrics, "sgorch_probes_total", **live_ok):
                    await anyio.sleep(0.02)
            await probes.aclose()
            tg.cancel_scope.cancel()
    finally:
        await runner.cleanup()

    probes_total = "sgorch_probes_total"
    ok = {"deployment": "web", "result": "success"}
    assert value(metrics, probes_total, **ok, probe="startup") == 1
    assert value(metrics, probes_total, **ok, probe="readiness") >= 1
    assert value(metrics, probes_total, **ok, probe="liveness") >= 1
    failed = {"deployment": "broken", "probe": "startup", "result": "failure"}
    assert value(metrics, probes_total, **failed) >= 1
    count = "sgorch_probe_duration_seconds_count"
    assert value(metrics, count, deployment="web", probe="startup") == 1


async def test_the_metrics_endpoint_speaks_prometheus_text_and_openmetrics() -> None:
    metrics = OperatorMetrics()
    metrics.set_workers("web", desired=1, ready=1, updated=1)
    async with TestClient(TestServer(build_metrics_app(metrics))) as client:
        text = await client.get("/metrics")
        assert text.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = await text.text()
        assert 'sgorch_deployment_ready_workers{deployment="web"} 1.0' in body
        assert "process_cpu_seconds_total" in body and "python_info" in body
        openmetrics = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await openmetrics.text()).endswith("# EOF\n")


@harnessed
async def test_the_deployment_controller_reports_its_jobs_workers_and_their_fate(
    h: Harness,
) -> None:
    h.clock.now = time.time() + 60  # job start times come from the real clock
    metrics = h.ctx.metrics
    web_ = {"deployment": "web"}

    async def serve_pending() -> None:
        for job in h.slurm.live():
            if job.state is JobState.PENDING:
                await h.serve(job.job_id)

    async def ready(replicas: int) -> bool:
        await serve_pending()
        return int(h.status()["status"]["readyReplicas"]) == replicas

    h.write("web", deployment_yaml(replicas=2))
    await h.until(lambda: ready(2))
    assert value(metrics, "sgorch_jobs_submitted_total", **web_, result="ok") == 2
    assert value(metrics, "sgorch_deployment_ready_workers", **web_) == 2
    assert value(metrics, "sgorch_generation_to_submit_seconds_count", **web_) == 1
    assert value(metrics, "sgorch_job_start_to_ready_seconds_count", **web_) == 2

    h.write("web", deployment_yaml(replicas=1))
    await h.until(lambda: len(h.slurm.live()) == 1)
    assert value(metrics, "sgorch_jobs_cancelled_total", **web_, reason="scale_down") == 1

    (job,) = [j.job_id for j in h.slurm.live()]
    await h.kill_worker(job)
    h.slurm.finish(job, JobState.NODE_FAIL)
    await h.step()
    assert value(metrics, "sgorch_jobs_failed_total", **web_, reason="NODE_FAIL") == 1
    assert value(metrics, "sgorch_worker_restarts_total", **web_, reason="job_ended") == 1

    h.delete("web")
    await h.until(lambda: not (h.status_dir / "deployments" / "web.json").exists())
    assert series_of(metrics, "web") == []


def test_a_metrics_port_in_use_stops_the_operator_at_startup_with_a_clear_error(
    tmp_path: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *(sys.executable, "-m", "sgorch", "run", "--slurm", "local"),
                *("--resources", str(tmp_path / "resources")),
                *("--status-dir", str(tmp_path / "status")),
                *("--state-dir", str(tmp_path / "state")),
                *("--metrics-port", str(port)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot serve the metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr

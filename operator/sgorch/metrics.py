"""Prometheus metrics of the operator (prefix ``sgorch_``), in a registry of its own.

Controllers, probes and the metered Slurm client call the small typed API of
:class:`OperatorMetrics`; ``sgorch.app`` serves it with :func:`build_metrics_app`.
This module imports nothing else of ours but the error tree, so every layer may use it.

Label values stay bounded: ``deployment`` only takes names of existing Deployments (its
series go away with the Deployment), every other label a fixed set of values (Python
``Literal`` types) or a Slurm job state name. Job ids and URLs are never labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal, TypeVar

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from sgorch.errors import SlurmRejected, SlurmUnavailable

__all__ = [
    "CancelReason",
    "OperatorMetrics",
    "ProbeKind",
    "ReconcileError",
    "RegistrationAction",
    "SlurmOperation",
    "SubmitResult",
    "build_metrics_app",
]

SubmitResult = Literal["ok", "rejected", "uncertain"]
"""``uncertain``: sbatch timed out or Slurm became unreachable mid-call."""
CancelReason = Literal[
    "scale_down", "rollout", "walltime", "startup_failed", "liveness_failed", "deleted"
]
ProbeKind = Literal["startup", "readiness", "liveness"]
ReconcileError = Literal["temporary", "unexpected"]
SlurmOperation = Literal["submit", "list", "cancel", "ping"]
RegistrationAction = Literal["add", "remove"]

_PROBE_RESTARTS: dict[CancelReason, str] = {
    "startup_failed": "startup_probe",
    "liveness_failed": "liveness_probe",
}

# Reconciles and Slurm calls take milliseconds to a minute (a stuck sbatch).
_CALL_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_PROBE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Queue wait plus the first job listing: seconds; with backoff: minutes.
_SUBMIT_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Engines load models for seconds (embeddings) to most of an hour (large LLMs).
_READY_BUCKETS_S = (1, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200)

M = TypeVar("M", bound=MetricWrapperBase)


class _QueueCollector(Collector):
    """Work-queue depths read at scrape time, so they are never stale."""

    def __init__(self) -> None:
        self.depths: dict[str, Callable[[], int]] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "sgorch_workqueue_depth",
            "Keys due for a reconcile that no worker has taken yet (the backlog).",
            labels=["controller"],
        )
        for controller, depth in sorted(self.depths.items()):
            family.add_metric([controller], depth())
        yield family


class OperatorMetrics:
    """Every metric the operator exports, behind methods that keep labels bounded.

    ``started_at`` (wall clock, default now) is when this operator process began: jobs
    that started before it are left out of the start-to-ready histogram, because their
    readiness was (or was not) seen by the previous process.
    """

    def __init__(self, *, started_at: float | None = None) -> None:
        self.started_at = time.time() if started_at is None else started_at
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self._queues = _QueueCollector()
        self.registry.register(self._queues)
        r = self.registry
        workers = "Workers of a Deployment "
        self._desired = Gauge(
            "sgorch_deployment_desired_workers",
            workers + "asked for (spec.replicas).",
            ["deployment"],
            registry=r,
        )
        self._ready = Gauge(
            "sgorch_deployment_ready_workers",
            workers + "passing readiness (and in the router).",
            ["deployment"],
            registry=r,
        )
        self._updated = Gauge(
            "sgorch_deployment_updated_workers",
            workers + "on the current job template.",
            ["deployment"],
            registry=r,
        )
        self._unavailable = Gauge(
            "sgorch_deployment_unavailable_workers",
            workers + "missing: desired minus ready.",
            ["deployment"],
            registry=r,
        )
        self._submitted = Counter(
            "sgorch_jobs_submitted",
            "Job submissions by result (uncertain: sbatch timed out or Slurm went away).",
            ["deployment", "result"],
            registry=r,
        )
        self._cancelled = Counter(
            "sgorch_jobs_cancelled",
            "Jobs the operator cancelled, by reason.",
            ["deployment", "reason"],
            registry=r,
        )
        self._failed = Counter(
            "sgorch_jobs_failed",
            "Worker jobs that ended without being cancelled by the operator, by final "
            "Slurm state (VANISHED: gone from the job listing without one).",
            ["deployment", "reason"],
            registry=r,
        )
        self._restarts = Counter(
            "sgorch_worker_restarts",
            "Workers replaced because they failed: job_ended, startup_probe, liveness_probe.",
            ["deployment", "reason"],
            registry=r,
        )
        self._probes = Counter(
            "sgorch_probes",
            "Worker probes by kind and result.",
            ["deployment", "probe", "result"],
            registry=r,
        )
        self._probe_duration = Histogram(
            "sgorch_probe_duration_seconds",
            "Time a worker took to answer a probe (or to fail it).",
            ["deployment", "probe"],
            buckets=_PROBE_BUCKETS_S,
            registry=r,
        )
        self._registrations = Counter(
            "sgorch_worker_registrations",
            "Worker additions to and removals from routers, by result.",
            ["deployment", "action", "result"],
            registry=r,
        )
        self._reconcile_duration = Histogram(
            "sgorch_reconcile_duration_seconds",
            "Time one reconcile took, successful or not.",
            ["controller"],
            buckets=_CALL_BUCKETS_S,
            registry=r,
        )
        self._reconcile_errors = Counter(
            "sgorch_reconcile_errors",
            "Reconciles that failed: temporary (retried with backoff) or unexpected (a bug).",
            ["controller", "error"],
            registry=r,
        )
        self._retries = Counter(
            "sgorch_workqueue_retries",
            "Keys queued again with backoff after a failed reconcile.",
            ["controller"],
            registry=r,
        )
        self._slurm_duration = Histogram(
            "sgorch_slurm_call_duration_seconds",
            "Time a Slurm call took, by operation and client (cli, rest, pyslurm, local).",
            ["operation", "client"],
            buckets=_CALL_BUCKETS_S,
            registry=r,
        )
        self._slurm_errors = Counter(
            "sgorch_slurm_call_errors",
            "Slurm calls that failed: unavailable, rejected, timeout, cancelled (the "
            "caller gave up, e.g. a submit timeout) or other.",
            ["operation", "client", "error"],
            registry=r,
        )
        self._generation_to_submit = Histogram(
            "sgorch_generation_to_submit_seconds",
            "Time from the operator first seeing a new generation of a Deployment to its "
            "first job submission.",
            ["deployment"],
            buckets=_SUBMIT_BUCKETS_S,
            registry=r,
        )
        self._start_to_ready = Histogram(
            "sgorch_job_start_to_ready_seconds",
            "Time from a worker job starting to it first passing readiness.",
            ["deployment"],
            buckets=_READY_BUCKETS_S,
            registry=r,
        )
        self._deployment_series: dict[str, set[tuple[MetricWrapperBase, tuple[str, ...]]]] = {}
        self._generations: dict[str, tuple[int, float | None]] = {}
        self._ready_jobs: dict[str, str] = {}

    # ------------------------------------------------------------------ deployments

    def set_workers(self, deployment: str, *, desired: int, ready: int, updated: int) -> None:
        """Record a Deployment's worker counts (at each status write). Reaching ``desired``
        ready workers on the current template stops its generation-to-submit clock: that
        generation needed no submission."""
        self._child(self._desired, deployment).set(desired)
        self._child(self._ready, deployment).set(ready)
        self._child(self._updated, deployment).set(updated)
        self._child(self._unavailable, deployment).set(max(0, desired - ready))
        if ready >= desired and updated >= desired and deployment in self._generations:
            self._generations[deployment] = (self._generations[deployment][0], None)

    def forget_deployment(self, deployment: str) -> None:
        """Drop every series of a deleted Deployment."""
        for metric, labels in self._deployment_series.pop(deployment, set()):
            metric.remove(*labels)
        self._generations.pop(deployment, None)
        self._ready_jobs = {j: d for j, d in self._ready_jobs.items() if d != deployment}

    def generation_seen(self, deployment: str, generation: int, now: float) -> None:
        """Start the generation-to-submit clock when ``generation`` is new."""
        seen = self._generations.get(deployment)
        if seen is None or seen[0] != generation:
            self._generations[deployment] = (generation, now)

    def job_submitted(self, deployment: str, result: SubmitResult, now: float) -> None:
        self._child(self._submitted, deployment, result).inc()
        generation, since = self._generations.get(deployment, (0, None))
        if result == "ok" and since is not None:
            self._child(self._generation_to_submit, deployment).observe(max(0.0, now - since))
            self._generations[deployment] = (generation, None)

    def job_cancelled(self, deployment: str, reason: CancelReason) -> None:
        """Count a cancel; one for a failed probe also counts as a restart of the worker."""
        self._child(self._cancelled, deployment, reason).inc()
        if reason in _PROBE_RESTARTS:
            self._child(self._restarts, deployment, _PROBE_RESTARTS[reason]).inc()

    def job_ended(self, deployment: str, state: str) -> None:
        """A worker job ended by itself (``state``: its Slurm state, or VANISHED) and is
        being replaced: a failed job and a restart."""
        self._child(self._failed, deployment, state).inc()
        self._child(self._restarts, deployment, "job_ended").inc()

    def worker_ready(
        self, deployment: str, job_id: str, started_at: datetime | None, now: float
    ) -> None:
        """Observe start-to-ready the first time a job is seen ready (once per job)."""
        if job_id in self._ready_jobs:
            return
        self._ready_jobs[job_id] = deployment
        if started_at is None:
            return
        start = started_at.timestamp()
        if start >= self.started_at and now >= start:
            self._child(self._start_to_ready, deployment).observe(now - start)

    def forget_job(self, job_id: str) -> None:
        """The job ended: stop remembering that it was seen ready."""
        self._ready_jobs.pop(job_id, None)

    def observe_probe(
        self, deployment: str, probe: ProbeKind, ok: bool, seconds: float | None
    ) -> None:
        """Count a probe result; ``seconds`` is None when no request was sent (e.g. a
        header's environment variable is unset)."""
        self._child(self._probes, deployment, probe, "success" if ok else "failure").inc()
        if seconds is not None:
            self._child(self._probe_duration, deployment, probe).observe(seconds)

    def worker_registration(self, deployment: str, action: RegistrationAction, ok: bool) -> None:
        self._child(self._registrations, deployment, action, "ok" if ok else "error").inc()

    # ------------------------------------------------------------------ controllers

    def observe_reconcile(
        self, controller: str, seconds: float, error: ReconcileError | None = None
    ) -> None:
        self._reconcile_duration.labels(controller).observe(seconds)
        if error is not None:
            self._reconcile_errors.labels(controller, error).inc()

    def queue_retried(self, controller: str) -> None:
        self._retries.labels(controller).inc()

    def watch_queue(self, controller: str, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as the controller's work-queue backlog at each scrape."""
        self._queues.depths[controller] = depth

    # ------------------------------------------------------------------------ slurm

    @contextmanager
    def slurm_call(self, operation: SlurmOperation, client: str) -> Iterator[None]:
        """Time the Slurm call in the block and count its error, if any. A cancelled call
        counts as ``cancelled``: that is how a caller's timeout (a hung sbatch) ends."""
        started = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            self._slurm_errors.labels(operation, client, _slurm_error(exc)).inc()
            raise
        finally:
            self._slurm_duration.labels(operation, client).observe(time.perf_counter() - started)

    # ---------------------------------------------------------------------- output

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (OpenMetrics if ``accept`` asks for it) and its content type."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def _child(self, metric: M, deployment: str, *labels: str) -> M:
        values = (deployment, *labels)
        self._deployment_series.setdefault(deployment, set()).add((metric, values))
        return metric.labels(*values)


def _slurm_error(exc: BaseException) -> str:
    if not isinstance(exc, Exception):
        return "cancelled"
    if isinstance(exc, SlurmUnavailable):
        return "unavailable"
    if isinstance(exc, SlurmRejected):
        return "rejected"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"


def build_metrics_app(metrics: OperatorMetrics) -> web.Application:
    """``GET /metrics``: the exposition, OpenMetrics when the scraper asks for it."""

    async def serve_metrics(request: web.Request) -> web.Response:
        body, content_type = metrics.render(request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type  # has a ';' aiohttp would reject
        return response

    async def serve_root(request: web.Request) -> web.Response:
        return web.Response(text="sgorch operator metrics: /metrics\n")

    app = web.Application()
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_get("/", serve_root)
    return app

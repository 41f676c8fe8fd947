"""Prometheus metrics of one router (prefix ``sgorch_router_``), in a registry of its own.

Label values stay bounded: ``model`` only takes expected model names or ``other``, and
``worker`` only registered worker URLs (or ``none``); a removed worker's series go away.
Per-worker gauges are read from the pool at scrape time, so they never go stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from ._admission import AdmissionGate
from ._circuit import CircuitState
from ._pool import WorkerPool

__all__ = ["CIRCUIT_STATE_VALUES", "NO_WORKER", "OTHER_MODEL", "RouterMetrics"]

OTHER_MODEL = "other"
NO_WORKER = "none"
CIRCUIT_STATE_VALUES = {
    CircuitState.CLOSED: 0.0,
    CircuitState.HALF_OPEN: 1.0,
    CircuitState.OPEN: 2.0,
}

# LLM requests last from milliseconds (embeddings) to many minutes (long generations).
_LATENCY_BUCKETS_S = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)


M = TypeVar("M", bound=MetricWrapperBase)
_SeriesKey = tuple[MetricWrapperBase, tuple[str, ...]]


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class _PoolCollector(Collector):
    """Per-worker gauges computed from the live pool at each scrape."""

    def __init__(self, pool: WorkerPool, gate: AdmissionGate | None) -> None:
        self._pool = pool
        self._gate = gate

    def collect(self) -> Iterable[Metric]:
        inflight = GaugeMetricFamily(
            "sgorch_router_worker_inflight", "Requests in flight per worker.", labels=["worker"]
        )
        healthy = GaugeMetricFamily(
            "sgorch_router_worker_healthy",
            "1 when the worker passes active health probes, else 0.",
            labels=["worker"],
        )
        draining = GaugeMetricFamily(
            "sgorch_router_worker_draining", "1 while the worker is draining.", labels=["worker"]
        )
        circuit = GaugeMetricFamily(
            "sgorch_router_worker_circuit_state",
            "Circuit breaker state per worker: 0 closed, 1 half-open, 2 open.",
            labels=["worker"],
        )
        for worker in self._pool:
            inflight.add_metric([worker.url], worker.inflight)
            healthy.add_metric([worker.url], 1.0 if worker.health.healthy else 0.0)
            draining.add_metric([worker.url], 1.0 if worker.draining else 0.0)
            circuit.add_metric([worker.url], CIRCUIT_STATE_VALUES[worker.breaker.state])
        yield from (inflight, healthy, draining, circuit)
        if self._gate is not None:
            yield GaugeMetricFamily(
                "sgorch_router_admitted_requests",
                "Requests holding a concurrency slot.",
                value=self._gate.active,
            )
            yield GaugeMetricFamily(
                "sgorch_router_queue_waiting",
                "Requests waiting for a concurrency slot.",
                value=self._gate.waiting,
            )


class RouterMetrics:
    """The metric objects the proxy updates, and the exposition of all of them."""

    def __init__(
        self, *, known_models: frozenset[str], pool: WorkerPool, gate: AdmissionGate | None
    ) -> None:
        self._known_models = known_models
        self._pool = pool
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "sgorch_router_requests",
            "Proxied requests by model, serving worker and response status class.",
            ["model", "worker", "status_class"],
            registry=self.registry,
        )
        self._duration = Histogram(
            "sgorch_router_request_duration_seconds",
            "Time from receiving a request to sending the last response byte.",
            ["model"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._first_byte = Histogram(
            "sgorch_router_time_to_first_byte_seconds",
            "Time from receiving a request to sending the first response body byte "
            "(time to first token for streaming requests).",
            ["model", "worker", "stream"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._retries = Counter(
            "sgorch_router_retries",
            "Requests sent again to another worker, by the reason of the failed attempt.",
            ["reason"],
            registry=self.registry,
        )
        self._worker_failures = Counter(
            "sgorch_router_worker_failures",
            "Failed attempts per worker, by reason.",
            ["worker", "reason"],
            registry=self.registry,
        )
        # Label children are cached: ``labels()`` takes a lock and builds keys per call.
        self._children: dict[_SeriesKey, MetricWrapperBase] = {}
        self._worker_series: dict[str, list[_SeriesKey]] = {}
        self.registry.register(_PoolCollector(pool, gate))

    def model_label(self, model: str | None) -> str:
        return model if model is not None and model in self._known_models else OTHER_MODEL

    def worker_label(self, url: str | None) -> str:
        worker = self._pool.get(url) if url is not None else None
        return worker.url if worker is not None else NO_WORKER

    def observe_request(
        self, *, model: str | None, worker_url: str | None, status: int, duration_s: float
    ) -> None:
        model_label = self.model_label(model)
        worker = self.worker_label(worker_url)
        self._child(self._requests, (model_label, worker, status_class(status)), worker).inc()
        self._child(self._duration, (model_label,)).observe(duration_s)

    def observe_first_byte(
        self, *, model: str | None, worker_url: str, stream: bool, delay_s: float
    ) -> None:
        worker = self.worker_label(worker_url)
        labels = (self.model_label(model), worker, "true" if stream else "false")
        self._child(self._first_byte, labels, worker).observe(delay_s)

    def observe_retry(self, reason: str) -> None:
        self._child(self._retries, (reason,)).inc()

    def observe_worker_failure(self, worker_url: str, reason: str) -> None:
        worker = self.worker_label(worker_url)
        self._child(self._worker_failures, (worker, reason), worker).inc()

    def forget_worker(self, url: str) -> None:
        """Drop every series labelled with a removed worker."""
        for key in self._worker_series.pop(url, []):
            metric, labels = key
            metric.remove(*labels)
            del self._children[key]

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _child(self, metric: M, labels: tuple[str, ...], worker: str = NO_WORKER) -> M:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
            if worker != NO_WORKER:
                self._worker_series.setdefault(worker, []).append(key)
        return cast(M, child)

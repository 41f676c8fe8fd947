"""Worker probes with Kubernetes semantics: startup, then readiness (router membership)
and liveness (replacement), run concurrently with bounded concurrency so that one hung
worker never delays another."""

from sgorch.health.probes import ProbeManager, ProbePhase, ProbeTracker, WorkerHealth

__all__ = ["ProbeManager", "ProbePhase", "ProbeTracker", "WorkerHealth"]

"""What every controller shares: the clients, stores and settings of one operator
instance. Built once by ``sgorch.app``; controllers read it, never rebuild it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sgorch.health import ProbeManager
from sgorch.metrics import OperatorMetrics
from sgorch.slurm import SlurmClient
from sgorch.slurm.watcher import JobWatcher
from sgorch.status import StatusWriter
from sgorch.status.events import EventRecorder
from sgorch.store import ResourceStore, StateStore

__all__ = ["OperatorContext"]


@dataclass
class OperatorContext:
    instance: str
    slurm: SlurmClient
    watcher: JobWatcher
    resources: ResourceStore
    state: StateStore
    status: StatusWriter
    probes: ProbeManager
    log_root: Path
    """Default log directory root: ``LOG_ROOT/NAME`` when a Deployment sets none."""
    environ: Mapping[str, str]
    submit_timeout_s: float = 60.0
    """Longest an sbatch may take; an unconfirmed submission blocks its slot this long."""
    resync_s: float = 15.0
    """Reconcile every resource at least this often, events or not."""
    max_parallel_submits: int = 8
    wall_clock: Callable[[], float] = field(default=time.time)
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    """Where controllers report; ``sgorch.app`` passes the one it serves."""
    events: EventRecorder | None = None
    """Where controllers record events (``STATUS_DIR/events``); None records none."""

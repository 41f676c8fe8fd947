"""Desired state: the resources read from the watched directory (with generations that
survive restarts) and the operator's own per-Deployment bookkeeping."""

from sgorch.store.resources import ResourceEntry, ResourceKey, ResourceStore
from sgorch.store.state import AttemptRecord, DeploymentState, KnownJob, SlotRecord, StateStore

__all__ = [
    "AttemptRecord",
    "DeploymentState",
    "KnownJob",
    "ResourceEntry",
    "ResourceKey",
    "ResourceStore",
    "SlotRecord",
    "StateStore",
]

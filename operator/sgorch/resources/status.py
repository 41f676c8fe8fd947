"""The documents the operator writes for each resource (``STATUS_DIR/KIND/NAME.json``)
and the index of all of them. Kubernetes-shaped and camelCase, because dashboards and
kubectl-minded users read them; the JSON Schemas are generated from these models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sgorch.errors import ErrorLocation

__all__ = [
    "Condition",
    "DeploymentStatus",
    "DeploymentStatusDocument",
    "IndexEntry",
    "ResourceError",
    "RouterStatus",
    "RouterStatusDocument",
    "StatusIndex",
    "StatusMetadata",
    "WorkerStatus",
]


class _Status(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Condition(_Status):
    """One aspect of a resource's state, as Kubernetes conditions:
    ``lastTransitionTime`` changes only when ``status`` flips."""

    type: str = Field(description="Available, Progressing, ReplicaFailure, Invalid, Ready, ...")
    status: Literal["True", "False", "Unknown"] = Field(description="Whether it holds.")
    reason: str = Field(description="CamelCase machine-readable reason.")
    message: str = Field(default="", description="Human-readable detail.")
    last_transition_time: datetime = Field(description="When status last changed.")


class ResourceError(_Status):
    """Why the current file content of a resource is not in force."""

    file: str = Field(description="Resource file.")
    line: int | None = Field(default=None, description="1-based line.")
    column: int | None = Field(default=None, description="1-based column.")
    field: str | None = Field(default=None, description="Dotted field path.")
    message: str = Field(description="What is wrong and what to do.")

    @classmethod
    def located(cls, error: tuple[ErrorLocation, str] | None) -> ResourceError | None:
        """The status form of a located input error (None stays None)."""
        if error is None:
            return None
        location, message = error
        return cls(
            file=location.file,
            line=location.line,
            column=location.column,
            field=location.field,
            message=message,
        )


class WorkerStatus(_Status):
    """One slot of a Deployment and the job currently filling it."""

    slot: int = Field(description="Slot index, 0-based; stable across replacements.")
    job_id: str | None = Field(default=None, description="Slurm job id.")
    state: str = Field(description="Slurm job state (PENDING, RUNNING, ...) or Submitting.")
    reason: str | None = Field(default=None, description="Pending reason or failure reason.")
    node: str | None = Field(default=None, description="Node the job runs on.")
    url: str | None = Field(default=None, description="Worker URL from its endpoint file.")
    ready: bool = Field(default=False, description="Passes readiness; in the router.")
    restarts: int = Field(default=0, description="Replacements of this slot so far.")
    started_at: datetime | None = Field(default=None, description="When the job started.")
    last_probe: datetime | None = Field(default=None, description="Time of the last probe.")
    template_hash: str | None = Field(default=None, description="Job template version.")


class StatusMetadata(_Status):
    """Identity of the resource this status belongs to."""

    name: str = Field(description="Resource name.")
    generation: int = Field(description="Spec generation (increments on spec changes).")


class DeploymentStatus(_Status):
    """Observed state of a Deployment."""

    observed_generation: int = Field(description="Generation this status reflects.")
    desired_replicas: int = Field(default=0, description="Workers asked for (spec.replicas).")
    replicas: int = Field(default=0, description="Live worker jobs.")
    ready_replicas: int = Field(default=0, description="Workers passing readiness.")
    updated_replicas: int = Field(default=0, description="Workers on the current template.")
    unavailable_replicas: int = Field(default=0, description="Desired minus ready.")
    model: str | None = Field(default=None, description="Served model name.")
    router: str | None = Field(default=None, description="Router name or external URL.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    workers: list[WorkerStatus] = Field(default_factory=list, description="One per slot.")
    error: ResourceError | None = Field(
        default=None, description="Why the file's current content is not in force."
    )


class RouterStatus(_Status):
    """Observed state of a Router."""

    observed_generation: int = Field(description="Generation this status reflects.")
    url: str | None = Field(default=None, description="Where clients reach the router.")
    pid: int | None = Field(default=None, description="Sidecar process id.")
    restarts: int = Field(default=0, description="Sidecar restarts so far.")
    workers: int = Field(default=0, description="Registered workers.")
    models: list[str] = Field(default_factory=list, description="Models with ready workers.")
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    error: ResourceError | None = Field(
        default=None, description="Why the file's current content is not in force."
    )


class DeploymentStatusDocument(_Status):
    """Content of ``STATUS_DIR/deployments/NAME.json``."""

    api_version: Literal["sgorch.io/v1alpha1"] = Field(description="API version.")
    kind: Literal["Deployment"] = Field(description="Kind.")
    metadata: StatusMetadata = Field(description="Name and generation.")
    status: DeploymentStatus = Field(description="Observed state.")


class RouterStatusDocument(_Status):
    """Content of ``STATUS_DIR/routers/NAME.json``."""

    api_version: Literal["sgorch.io/v1alpha1"] = Field(description="API version.")
    kind: Literal["Router"] = Field(description="Kind.")
    metadata: StatusMetadata = Field(description="Name and generation.")
    status: RouterStatus = Field(description="Observed state.")


class IndexEntry(_Status):
    """One resource in the index."""

    kind: Literal["Deployment", "Router"] = Field(description="Kind.")
    name: str = Field(description="Name.")
    ready: str = Field(description="Ready/desired, e.g. '2/3'.")
    available: bool = Field(description="Whether the Available condition is True.")
    message: str = Field(default="", description="The most important problem, if any.")
    updated_at: datetime = Field(description="When this entry last changed.")


class StatusIndex(_Status):
    """Content of ``STATUS_DIR/index.json``: every resource, for dashboards."""

    api_version: Literal["sgorch.io/v1alpha1"] = Field(description="API version.")
    kind: Literal["StatusIndex"] = Field(description="Kind.")
    instance: str = Field(description="Operator instance that wrote it.")
    resources: list[IndexEntry] = Field(default_factory=list, description="Entries.")

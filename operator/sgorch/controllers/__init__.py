"""Controllers decide: a work-queue runtime, the Deployment controller (with its pure
planner) and the Router controller (sidecar supervision), sharing one OperatorContext."""

from sgorch.controllers.context import OperatorContext
from sgorch.controllers.deployment import DeploymentController
from sgorch.controllers.routers import RouterController
from sgorch.controllers.routing import RouterDirectory
from sgorch.controllers.runtime import WorkQueue, run_workers

__all__ = [
    "DeploymentController",
    "OperatorContext",
    "RouterController",
    "RouterDirectory",
    "WorkQueue",
    "run_workers",
]

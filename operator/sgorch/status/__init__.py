"""The only writer of status: per-resource documents, the index, and conditions with
Kubernetes semantics (``lastTransitionTime`` changes only when ``status`` flips)."""

from sgorch.status.conditions import set_condition
from sgorch.status.writer import StatusWriter

__all__ = ["StatusWriter", "set_condition"]

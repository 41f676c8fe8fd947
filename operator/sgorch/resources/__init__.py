"""Resources: the models of ``Deployment`` and ``Router``, their status documents, YAML
input and output with located errors, JSON Schemas, and SGOrch v2 config conversion.

Pure: imports nothing of SGOrch but ``sgorch.errors``.
"""

from sgorch.resources.durations import UNLIMITED, parse_memory_mb, parse_time_limit_min
from sgorch.resources.envrefs import UnsetVariable, env_ref_names, resolve_env_refs
from sgorch.resources.loader import (
    DocumentResult,
    FileResult,
    LocatedError,
    dump_resources,
    find_duplicate_names,
    iter_resource_files,
    load_file,
    load_text,
)
from sgorch.resources.models import (
    API_VERSION,
    BackendSpec,
    CommandBackend,
    Deployment,
    DeploymentSpec,
    ExternalRouter,
    Metadata,
    ProbeSpec,
    Resource,
    Router,
    RouterSpec,
    SGLangBackend,
    TeiBackend,
    VllmBackend,
)

__all__ = [
    "API_VERSION",
    "UNLIMITED",
    "BackendSpec",
    "CommandBackend",
    "Deployment",
    "DeploymentSpec",
    "DocumentResult",
    "ExternalRouter",
    "FileResult",
    "LocatedError",
    "Metadata",
    "ProbeSpec",
    "Resource",
    "Router",
    "RouterSpec",
    "SGLangBackend",
    "TeiBackend",
    "UnsetVariable",
    "VllmBackend",
    "dump_resources",
    "env_ref_names",
    "find_duplicate_names",
    "iter_resource_files",
    "load_file",
    "load_text",
    "parse_memory_mb",
    "parse_time_limit_min",
    "resolve_env_refs",
]

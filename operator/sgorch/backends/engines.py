"""The argv each engine is started with. ``{PORT}`` and ``{HOST}`` stay as placeholders
here; the job script replaces them with the port it picked and the bind address."""

from __future__ import annotations

from sgorch.resources.models import (
    BackendSpec,
    CommandBackend,
    SGLangBackend,
    TeiBackend,
    VllmBackend,
)

__all__ = ["PLACEHOLDERS", "render_engine_argv"]

PLACEHOLDERS = ("{PORT}", "{HOST}")


def render_engine_argv(backend: BackendSpec) -> list[str]:
    """The engine's argv; SGOrch's own options first, the user's ``args`` last (so a
    user can add options but not lose the port SGOrch probes)."""
    match backend:
        case SGLangBackend():
            head = [
                "python",
                "-m",
                "sglang.launch_server",
                "--model-path",
                backend.model_path,
                "--host",
                "{HOST}",
                "--port",
                "{PORT}",
            ]
        case TeiBackend():
            head = [
                backend.binary_path or "text-embeddings-router",
                "--model-id",
                backend.model_id,
                "--hostname",
                "{HOST}",
                "--port",
                "{PORT}",
            ]
            if backend.revision:
                head += ["--revision", backend.revision]
            if backend.prometheus_port is not None:
                head += ["--prometheus-port", str(backend.prometheus_port)]
        case VllmBackend():
            head = ["vllm", "serve", backend.model, "--host", "{HOST}", "--port", "{PORT}"]
        case CommandBackend():
            head = list(backend.command)
    return [*head, *backend.args]

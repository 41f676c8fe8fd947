"""Engine command lines: what each backend type (SGLang, TEI, vLLM, command) runs.

Pure functions of the resource model; the SLURM layer puts their output into scripts.
"""

from sgorch.backends.engines import PLACEHOLDERS, render_engine_argv

__all__ = ["PLACEHOLDERS", "render_engine_argv"]

"""The SLURM layer: the only code that knows sbatch, squeue, slurmrestd and pyslurm.

One protocol (:class:`SlurmClient`), domain types, ownership tags, batch scripts, and
the clients: ``cli``, ``rest``, ``pyslurm`` and the embedded ``local`` executor.
"""

from sgorch.slurm.scripts import (
    build_job_request,
    compute_template_hash,
    endpoint_path,
    render_job_script,
)
from sgorch.slurm.tags import OwnerTag, instance_prefix, parse_tag, render_job_name
from sgorch.slurm.types import (
    UNSATISFIABLE_REASONS,
    JobId,
    JobInfo,
    JobRequest,
    JobState,
    SbatchOptions,
    SlurmClient,
)

__all__ = [
    "UNSATISFIABLE_REASONS",
    "JobId",
    "JobInfo",
    "JobRequest",
    "JobState",
    "OwnerTag",
    "SbatchOptions",
    "SlurmClient",
    "build_job_request",
    "compute_template_hash",
    "endpoint_path",
    "instance_prefix",
    "parse_tag",
    "render_job_name",
    "render_job_script",
]

"""SGOrch: a Kubernetes-style operator for inference servers on SLURM clusters.

The package lives under the ``operator/`` source root; it is imported as ``sgorch``
(``python -m operator`` cannot work: ``operator`` is a standard-library module).
"""

__version__ = "3.0.0a1"

__all__ = ["__version__"]

"""Which of the operator's environment variables a job inherits, for every client: enough
for a shell and a Python engine to start (PATH, HOME, locale, virtualenv), never the rest
— the operator's own secrets (router tokens, its SLURM_JWT) must not leak into jobs.
A Deployment's ``env`` adds what its engine needs."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["INHERITED_NAMES", "select_inherited"]

INHERITED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "TZ",
        "SHELL",
        "TMPDIR",
        "PYTHONPATH",
        "VIRTUAL_ENV",
    }
)
"""Inherited as they are, together with every ``LC_*``."""


def select_inherited(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` a job inherits."""
    return {k: v for k, v in environ.items() if k in INHERITED_NAMES or k.startswith("LC_")}

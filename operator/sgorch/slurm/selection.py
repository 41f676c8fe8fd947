"""Choosing how to reach Slurm (``--slurm auto|cli|rest|pyslurm|local``), with the reason
logged: pyslurm when it imports and matches the cluster, else the CLI when ``sbatch`` is
installed and a controller answers, else the embedded local executor."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from sgorch.errors import ConfigError, SlurmUnavailable
from sgorch.slurm.types import SlurmClient

__all__ = ["SlurmMode", "select_client"]

SlurmMode = Literal["auto", "cli", "rest", "pyslurm", "local"]


async def select_client(
    mode: SlurmMode,
    state_dir: Path,
    *,
    slurmrestd_url: str | None = None,
    local_cpus: int | None = None,
) -> tuple[SlurmClient, str]:
    """The client for ``mode`` and a sentence saying why it was chosen."""
    if mode == "local":
        return _local(state_dir, local_cpus), "--slurm local"
    if mode == "cli":
        return _cli(), "--slurm cli"
    if mode == "rest":
        if not slurmrestd_url:
            raise ConfigError("--slurm rest needs --slurmrestd URL (http://HOST:PORT or unix:PATH)")
        return _rest(slurmrestd_url), f"--slurm rest at {slurmrestd_url}"
    if mode == "pyslurm":
        usable, why = await _pyslurm_usable()
        if not usable:
            raise ConfigError(f"--slurm pyslurm: {why}")
        return _pyslurm(), "--slurm pyslurm"
    usable, why_not_pyslurm = await _pyslurm_usable()
    if usable:
        return _pyslurm(), f"auto: {why_not_pyslurm}"
    if shutil.which("sbatch") is None:
        return _local(state_dir, local_cpus), "auto: sbatch not found, no Slurm here"
    cli = _cli()
    try:
        await cli.ping()
    except SlurmUnavailable as exc:
        # Never fall back to running engines locally on a cluster's login node: wait for
        # the controller instead (the watcher backs off and the status says why).
        return cli, f"auto: sbatch found; the controller does not answer yet ({exc})"
    return cli, "auto: sbatch found and the controller answers"


def _local(state_dir: Path, cpus: int | None) -> SlurmClient:
    from sgorch.slurm.local import LocalExecutor

    return LocalExecutor(state_dir / "local", cpus=cpus)


def _cli() -> SlurmClient:
    from sgorch.slurm.cli import CliSlurmClient

    return CliSlurmClient()


def _rest(url: str) -> SlurmClient:
    import os

    from sgorch.slurm.rest import RestSlurmClient

    return RestSlurmClient.from_url(
        url, user_name=os.environ.get("SLURM_USER_NAME"), token=os.environ.get("SLURM_JWT")
    )


def _pyslurm() -> SlurmClient:
    from sgorch.slurm.pyslurm_client import PySlurmClient

    return PySlurmClient()


async def _pyslurm_usable() -> tuple[bool, str]:
    from sgorch.slurm.pyslurm_client import pyslurm_usable

    return await pyslurm_usable()

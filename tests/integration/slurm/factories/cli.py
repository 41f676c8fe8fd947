"""The cli client for the contract suite: the real sbatch/squeue/scancel/scontrol of the
local Slurm (``deploy/local-slurm``)."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from sgorch.slurm import SlurmClient
from sgorch.slurm.cli import CliSlurmClient

NEEDS_SLURM = True

UNREACHABLE_TIMEOUT_S = 5.0
"""Below Slurm's own ~9 s connect failure, so the contract also proves the client's
timeout kills a hanging command."""


async def make_client(tmp_path: Path) -> SlurmClient:
    return CliSlurmClient()


async def make_unreachable_client(tmp_path: Path) -> SlurmClient:
    """A client whose slurm.conf names a port nothing listens on (connection refused)."""
    return CliSlurmClient(
        env={"SLURM_CONF": str(write_unreachable_conf(tmp_path))},
        timeout_s=UNREACHABLE_TIMEOUT_S,
    )


def write_unreachable_conf(tmp_path: Path) -> Path:
    """A copy of the cluster's slurm.conf with ``SlurmctldPort`` set to a free port."""
    source = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = re.sub(r"(?im)^\s*SlurmctldPort\s*=.*$", "", source.read_text())
    conf = tmp_path / "unreachable" / "slurm.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"{text}\nSlurmctldPort={port}\n")
    return conf

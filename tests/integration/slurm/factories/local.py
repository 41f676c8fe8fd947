"""The embedded local executor, for the contract suite: no Slurm needed."""

from __future__ import annotations

import os
from pathlib import Path

from sgorch.slurm import SlurmClient
from sgorch.slurm.local import LocalExecutor, LocalSettings

NEEDS_SLURM = False


async def make_client(tmp_path: Path) -> SlurmClient:
    # Eight jobs per CPU, like the OverSubscribe=FORCE:8 partition of the test Slurm, so
    # the suite sees the same concurrency; a one-second kill grace keeps it quick.
    return LocalExecutor(
        tmp_path / "local-executor",
        cpus=8 * (os.cpu_count() or 1),
        settings=LocalSettings(kill_grace_s=1.0, poll_interval_s=0.1),
    )

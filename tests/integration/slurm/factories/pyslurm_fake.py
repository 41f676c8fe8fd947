"""Contract-suite factory for the pyslurm client: the real client and worker process, the
worker importing the contract fake of pyslurm (``tests/fakes/pyslurm``) instead of the
binding, which cannot be built against the Slurm 22.05 here."""

from __future__ import annotations

from pathlib import Path

from fakes.pyslurm._cluster import ENV_DIR, FakeCluster
from sgorch.slurm.pyslurm_client import PySlurmClient

NEEDS_SLURM = False


class FakePySlurmClient(PySlurmClient):
    """A pyslurm client on the fake, whose ``aclose`` also ends the fake's jobs: they
    are processes of this machine, and no test may leave one behind."""

    def __init__(self, state_dir: Path, *, timeout_s: float = 20.0) -> None:
        super().__init__(
            module="fakes.pyslurm", worker_env={ENV_DIR: str(state_dir)}, timeout_s=timeout_s
        )
        self.cluster = FakeCluster(state_dir)

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            self.cluster.shutdown()


async def make_client(tmp_path: Path) -> FakePySlurmClient:
    return FakePySlurmClient(tmp_path / "fake-slurm")


async def make_unreachable_client(tmp_path: Path) -> FakePySlurmClient:
    """Every RPC of this fake cluster fails like a refused connection (error 1800)."""
    client = FakePySlurmClient(tmp_path / "fake-slurm-down", timeout_s=5.0)
    client.cluster.directory.mkdir(parents=True)
    client.cluster.set_controller("down")
    return client

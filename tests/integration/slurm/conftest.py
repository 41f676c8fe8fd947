"""The contract suite runs against every SlurmClient. Each client has a factory module in
``factories/`` exposing ``async def make_client(tmp_path) -> SlurmClient`` and
``NEEDS_SLURM: bool``; a client whose factory is absent or whose prerequisites are
missing is skipped (slurm-backed ones fail under CI=true, via ``slurm_cluster``)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sgorch.slurm import SlurmClient

CLIENTS = ["cli", "rest", "pyslurm_fake", "local"]


@pytest.fixture(params=CLIENTS)
async def slurm_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[SlurmClient]:
    try:
        factory = importlib.import_module(f"integration.slurm.factories.{request.param}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("integration.slurm.factories"):
            pytest.skip(f"no {request.param} client yet")
        raise
    if factory.NEEDS_SLURM:
        request.getfixturevalue("slurm_cluster")
    client: SlurmClient = await factory.make_client(tmp_path)
    try:
        yield client
    finally:
        await client.aclose()

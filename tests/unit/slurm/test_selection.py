"""`--slurm auto|cli|rest|pyslurm|local`: which client, and the reason given."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sgorch.errors import ConfigError
from sgorch.slurm.selection import select_client


async def test_local_mode_uses_the_embedded_executor_in_the_state_dir(tmp_path: Path) -> None:
    client, why = await select_client("local", tmp_path)
    try:
        assert client.name == "local" and why == "--slurm local"
    finally:
        await client.aclose()


async def test_rest_mode_needs_an_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--slurmrestd URL"):
        await select_client("rest", tmp_path)


async def test_pyslurm_mode_refuses_when_pyslurm_cannot_be_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--slurm pyslurm"):
        await select_client("pyslurm", tmp_path)


async def test_auto_without_sbatch_falls_back_to_the_local_executor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_slurm = tmp_path / "bin"
    no_slurm.mkdir()
    (no_slurm / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    monkeypatch.setenv("PATH", str(no_slurm))
    client, why = await select_client("auto", tmp_path)
    try:
        assert client.name == "local" and "sbatch not found" in why
    finally:
        await client.aclose()


@pytest.mark.skipif(shutil.which("sbatch") is None, reason="needs the Slurm CLI")
async def test_auto_with_sbatch_uses_the_cli_even_while_the_controller_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=none\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort=9\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    client, why = await select_client("auto", tmp_path)
    try:
        assert client.name == "cli"
        assert "does not answer" in why or "answers" in why
    finally:
        await client.aclose()
    assert os.environ["SLURM_CONF"] == str(conf)

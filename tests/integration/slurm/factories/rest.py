"""Contract-suite factory for the rest client: every client gets a real slurmrestd of its
own on a unix socket (``rest_auth/local``), started here and stopped by the client's
``aclose``, so no daemon outlives its test."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx

from sgorch.slurm.rest import RestSlurmClient

NEEDS_SLURM = True


def openapi_plugins() -> str:
    """The plugins to serve the newest slurmctld API with: ``openapi/slurmctld`` where it
    exists (23.11+), else the newest ``openapi/v0.0.N`` (22.05 needs v0.0.38: its
    default plugins include the dbv ones, which need slurmdbd)."""
    listing = subprocess.run(
        ["slurmrestd", "-s", "list"],
        env={**os.environ, "SLURMRESTD_SECURITY": "disable_user_check"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    names = re.findall(r"openapi/[\w.]+", listing.stdout + listing.stderr)
    if "openapi/slurmctld" in names:
        return "openapi/slurmctld"
    versioned = [name for name in names if re.fullmatch(r"openapi/v0\.0\.\d+", name)]
    if not versioned:
        raise RuntimeError(f"slurmrestd -s list offers no slurmctld plugin: {names}")
    return max(versioned, key=lambda name: int(name.rsplit(".", 1)[1]))


class Slurmrestd:
    """One slurmrestd serving a unix socket in a private directory under /tmp (a socket
    path must stay under 108 bytes, which pytest's tmp_path may not)."""

    def __init__(self, process: anyio.abc.Process, directory: Path) -> None:
        self.process = process
        self.directory = directory
        self.socket = directory / "slurmrestd.sock"

    @classmethod
    async def start(cls, *, slurm_conf: Path | None = None) -> Slurmrestd:
        directory = Path(tempfile.mkdtemp(prefix="sgorch-restd-"))
        env = {**os.environ, "SLURMRESTD_SECURITY": "disable_user_check"}
        if slurm_conf is not None:
            env["SLURM_CONF"] = str(slurm_conf)
        command = [
            "slurmrestd", "-a", "rest_auth/local", "-s", openapi_plugins(),
            f"unix:{directory / 'slurmrestd.sock'}",
        ]  # fmt: skip
        with (directory / "slurmrestd.log").open("wb") as log:
            process = await anyio.open_process(command, env=env, stdout=log, stderr=log)
        daemon = cls(process, directory)
        try:
            await daemon._wait_until_serving()
        except BaseException:
            await daemon.stop()
            raise
        return daemon

    async def _wait_until_serving(self) -> None:
        transport = httpx.AsyncHTTPTransport(uds=str(self.socket))
        async with httpx.AsyncClient(transport=transport, base_url="http://restd") as http:
            with anyio.fail_after(15):
                while True:
                    if self.process.returncode is not None:
                        raise RuntimeError(f"slurmrestd exited:\n{self.log()}")
                    if self.socket.exists():
                        try:
                            if (await http.get("/openapi/v3")).status_code == 200:
                                return
                        except httpx.TransportError:
                            pass
                    await anyio.sleep(0.05)

    def log(self) -> str:
        return (self.directory / "slurmrestd.log").read_text(errors="replace")

    async def stop(self) -> None:
        with anyio.CancelScope(shield=True):
            if self.process.returncode is None:
                self.process.terminate()
                with anyio.move_on_after(5):
                    await self.process.wait()
            if self.process.returncode is None:
                self.process.kill()
            await self.process.aclose()
            shutil.rmtree(self.directory, ignore_errors=True)


class SlurmrestdClient(RestSlurmClient):
    """A rest client that owns the slurmrestd it talks to and stops it on ``aclose``."""

    def __init__(self, daemon: Slurmrestd, **options: Any) -> None:
        super().__init__(str(daemon.socket), **options)
        self.daemon = daemon

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.daemon.stop()


async def make_client(tmp_path: Path) -> SlurmrestdClient:
    return SlurmrestdClient(await Slurmrestd.start(), timeout_s=20)


def closed_port() -> int:
    """A loopback TCP port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def make_unreachable_client(tmp_path: Path) -> RestSlurmClient:
    return RestSlurmClient(f"http://127.0.0.1:{closed_port()}", timeout_s=2)

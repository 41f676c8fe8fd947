"""The machinery behind the pyslurm contract fake: a slurmctld whose job table is a JSON
file in ``$SGORCH_PYSLURM_FAKE_DIR`` (the fake runs in the client's worker process, which
tests kill and restart), and a slurmd that runs each batch script as a local process
group. Behaviour copies real Slurm 22.05 + pyslurm 25.11 where the contract suite looks:
states, reasons, exit codes, cancel semantics, errors by number."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ENV_DIR = "SGORCH_PYSLURM_FAKE_DIR"
PARTITIONS = frozenset({"debug"})
NODE_CPUS = 32
KILL_WAIT_S = 2.0

_MESSAGES = {
    1800: "Unable to contact slurm controller (connect failure)",
    2000: "Invalid partition name specified",
    2017: "Invalid job id specified",
    2021: "Job/step already completing or completed",
    2024: "Job is pending execution",
}

# The fake slurmstepd: runs the script (by its shebang) in its own process group and
# records its wait status atomically, so a worker started later still learns how the job
# ended. It catches the signals a job may be sent, so they reach the script alone (a
# caught signal is reset to the default in the script; an ignored one would stay ignored).
_STEPD = """
import os, signal, subprocess, sys
for number in (1, 2, 3, 10, 12, 14, 15, 18):
    signal.signal(number, lambda *_: None)
returncode = subprocess.Popen([sys.argv[1]]).wait()
status = -returncode if returncode < 0 else returncode << 8
with open(sys.argv[2] + ".tmp", "w") as out:
    out.write(str(status))
os.replace(sys.argv[2] + ".tmp", sys.argv[2])
"""

_children: dict[int, subprocess.Popen[bytes]] = {}
"""Job processes this worker started, reaped on every table read."""


class RPCError(Exception):
    """pyslurm's RPC error: ``errno`` is the Slurm error number."""

    def __init__(self, errno: int = -1, msg: str | None = None) -> None:
        self.errno = errno
        self.msg = msg or _MESSAGES.get(errno, "Unspecified error")
        super().__init__(self.msg)


def cluster() -> FakeCluster:
    """The cluster of this process, from ``$SGORCH_PYSLURM_FAKE_DIR``."""
    directory = os.environ.get(ENV_DIR)
    if not directory:
        raise RuntimeError(f"the pyslurm fake needs {ENV_DIR} (its state directory)")
    return FakeCluster(Path(directory))


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _kill_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _expand_output(path: str, job_id: int, environment: Mapping[str, str]) -> str:
    """Slurm's %j, %x and %%; like pyslurm, %x comes from SLURM_JOB_NAME in the given
    environment and is ``(null)`` without it."""
    pieces = path.split("%%")
    name = environment.get("SLURM_JOB_NAME", "(null)")
    return "%".join(p.replace("%j", str(job_id)).replace("%x", name) for p in pieces)


class FakeCluster:
    """One fake cluster, shared by every process that points at ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # ------------------------------------------------------------------ controller
    def set_controller(self, mode: str) -> None:
        """``up``, ``down`` (every RPC fails with 1800) or ``hang`` (RPCs never return)."""
        (self.directory / "controller").write_text(mode)

    def check_controller(self) -> None:
        path = self.directory / "controller"
        mode = path.read_text().strip() if path.exists() else "up"
        if mode == "down":
            raise RPCError(1800)
        if mode == "hang":
            time.sleep(3600)

    # ------------------------------------------------------------------ job table
    @contextmanager
    def _table(self) -> Iterator[dict[str, Any]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / "jobs.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.directory / "jobs.json"
            table = json.loads(path.read_text()) if path.exists() else {"next": 1000, "jobs": {}}
            for pid in [pid for pid, child in _children.items() if child.poll() is not None]:
                del _children[pid]
            for record in table["jobs"].values():
                self._refresh(record)
            try:
                yield table
            finally:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(table))
                tmp.replace(path)

    def _refresh(self, job: dict[str, Any]) -> None:
        if job["state"] != "RUNNING":
            return
        status_file = Path(job["status_file"])
        now = int(time.time())
        if status_file.exists():
            status = int(status_file.read_text())
            job.update(
                state="COMPLETED" if status == 0 else "FAILED",
                reason="None" if status == 0 else "NonZeroExitCode",
                raw_status=status,
                end_time=int(status_file.stat().st_mtime),
            )
        elif job["time_limit"] is not None and now >= job["start_time"] + job["time_limit"] * 60:
            self._stop_processes(job["pgid"])
            job.update(state="TIMEOUT", reason="TimeLimit", raw_status=signal.SIGTERM, end_time=now)
        elif not _alive(job["pgid"]):
            job.update(state="FAILED", reason="RaisedSignal:9(Killed)", raw_status=9, end_time=now)

    def _stop_processes(self, pgid: int) -> None:
        """SIGCONT + SIGTERM, then SIGKILL after KillWait, like slurmd (the fake stepd
        outlives the TERM it catches; the KILL ends it)."""
        _kill_group(pgid, signal.SIGCONT)
        _kill_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + KILL_WAIT_S
        while _alive(pgid) and time.monotonic() < deadline:
            if pgid in _children:
                _children[pgid].poll()
            time.sleep(0.05)
        _kill_group(pgid, signal.SIGKILL)

    # ------------------------------------------------------------------ RPCs
    def submit(self, fields: Mapping[str, Any]) -> int:
        self.check_controller()
        partitions = fields.get("partitions") or "debug"
        wanted = partitions.split(",") if isinstance(partitions, str) else list(partitions)
        if not any(name in PARTITIONS for name in wanted):
            raise RPCError(2000)
        with self._table() as table:
            job_id = table["next"]
            table["next"] += 1
            job = self._new_job(job_id, fields)
            table["jobs"][str(job_id)] = job
            if job["state"] == "RUNNING":
                self._launch(job, fields)
        return job_id

    def _new_job(self, job_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        cpus = int(fields.get("cpus_per_task") or 1)
        return {
            "id": job_id,
            "name": fields.get("name") or "",
            "comment": fields.get("comment"),
            # An impossible request is accepted and pends forever, as on real Slurm.
            "state": "PENDING" if cpus > NODE_CPUS else "RUNNING",
            "reason": "PartitionConfig" if cpus > NODE_CPUS else "None",
            "time_limit": fields.get("time_limit"),
            "start_time": None,
            "end_time": None,
            "nodes": None,
            "pgid": None,
            "raw_status": None,
            "status_file": str(self.directory / f"job-{job_id}.status"),
        }

    def _launch(self, job: dict[str, Any], fields: Mapping[str, Any]) -> None:
        job_id = job["id"]
        workdir = fields["working_directory"]
        given: Mapping[str, str] = fields["environment"]
        host = socket.gethostname().split(".")[0]
        environment = {k: v for k, v in os.environ.items() if k.startswith("SLURM_")}
        environment.update(given)
        environment.update(
            SLURM_JOB_ID=str(job_id),
            SLURM_JOBID=str(job_id),
            SLURM_JOB_NAME=job["name"],
            SLURM_SUBMIT_DIR=workdir,
            SLURM_CPUS_PER_TASK=str(fields.get("cpus_per_task") or 1),
            SLURM_NTASKS="1",
            SLURM_JOB_NODELIST=host,
            SLURMD_NODENAME=host,
        )
        output = _expand_output(fields.get("standard_output") or "slurm-%j.out", job_id, given)
        script = self.directory / f"job-{job_id}.sh"
        script.write_text(fields["script"])
        script.chmod(0o700)
        now = int(time.time())
        try:
            mode = "w" if fields.get("log_files_open_mode") == "truncate" else "a"
            with open(Path(workdir) / output, mode) as out:
                child = subprocess.Popen(
                    [sys.executable, "-c", _STEPD, str(script), job["status_file"]],
                    cwd=workdir,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError:
            # slurmd cannot open the output file or enter the directory: the job fails.
            job.update(
                state="FAILED",
                reason="NonZeroExitCode",
                raw_status=1 << 8,
                start_time=now,
                end_time=now,
                nodes=host,
            )
            return
        _children[child.pid] = child
        limit = job["time_limit"]
        job.update(
            pgid=child.pid,
            start_time=now,
            end_time=now + limit * 60 if limit is not None else None,
            nodes=host,
        )

    def jobs(self) -> list[dict[str, Any]]:
        self.check_controller()
        with self._table() as table:
            return list(table["jobs"].values())

    def kill(self, job_id: int, signum: int, *, whole_job: bool) -> None:
        """slurm_kill_job: SIGKILL cancels; other signals reach the batch shell only with
        ``whole_job`` (a batch job without srun steps has no other processes)."""
        self.check_controller()
        with self._table() as table:
            job = table["jobs"].get(str(job_id))
            if job is None:
                raise RPCError(2017)
            if job["state"] not in {"PENDING", "RUNNING"}:
                raise RPCError(2021)
            now = int(time.time())
            if signum == signal.SIGKILL:
                if job["state"] == "RUNNING":
                    self._stop_processes(job["pgid"])
                job.update(
                    state="CANCELLED", reason="None", raw_status=signal.SIGTERM, end_time=now
                )
            elif job["state"] == "PENDING":
                raise RPCError(2024)
            elif whole_job:
                _kill_group(job["pgid"], signum)

    def shutdown(self) -> None:
        """Kill every job still running, and reap those this process started (test
        cleanup: no process outlives a test)."""
        with self._table() as table:
            for job in table["jobs"].values():
                if job["state"] == "RUNNING":
                    self._stop_processes(job["pgid"])
                    job.update(
                        state="CANCELLED",
                        reason="None",
                        raw_status=signal.SIGTERM,
                        end_time=int(time.time()),
                    )
                if job["pgid"] in _children:
                    _children.pop(job["pgid"]).wait(timeout=KILL_WAIT_S)

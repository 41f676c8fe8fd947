"""Time from dropping a Deployment file into the watched directory to the first sbatch,
to the job in squeue, and to status Available with one demo worker — against the floor
of doing the same by hand (floor.sh: sbatch, poll squeue, poll the worker).

    .venv/bin/python bench/operator/first_job.py                # cli and local, 3 runs each
    .venv/bin/python bench/operator/first_job.py --modes cli --repeat 7

The operator runs as a process (``python -m sgorch run``), started before the clock
starts and given time to make its first job listing, with ``--job-poll-interval 1``
(after a submit it lists quickly anyway: 0.25 s, 0.25 s, 0.5 s, then every second). Its
probes use a 0.1 s period, like the floor's 20 ms polling of squeue and /health, so the
difference is the control plane. Floor and operator runs alternate, so both see the
same Slurm and the same machine load.

- ``cli``: against the real Slurm of this machine (sinfo must answer). The squeue and
  RUNNING times come from a tight loop (one ``squeue`` every ~20 ms) watching for our
  tag; the first sbatch from the operator's JSON log (its ``submitted job`` record's
  timestamp). How long Slurm takes to start a pending job varies from 0.05 s to 2 s
  with its scheduler's timing, for the floor as for the operator; ``after_running_s``
  (Available minus RUNNING) is the part that follows Slurm starting the job.
- ``local``: the embedded executor (no Slurm); its floor is starting the demo worker as
  a process and polling /health.

Everything listens on 127.0.0.1. Every job and process started here is removed at the
end: the Deployments are deleted and garbage-collected by the operator, then the
operator is stopped, then any job still carrying this run's tag is scancelled and any
process still running from this run's directory is killed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
PROBE_PERIOD_S = 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment_yaml(
    name: str,
    replicas: int = 1,
    probe_period_s: float = PROBE_PERIOD_S,
    steady_period_s: float = 1.0,
) -> str:
    """A Deployment of demo workers: startup probes every ``probe_period_s``, readiness
    and liveness every ``steady_period_s``."""
    command = [PYTHON, "-m", "sgorch.demo_worker", "--host", "{HOST}", "--port", "{PORT}"]
    command += ["--model", name]
    p = probe_period_s
    return "\n".join(
        [
            "apiVersion: sgorch.io/v1alpha1",
            "kind: Deployment",
            f"metadata: {{name: {name}}}",
            "spec:",
            f"  replicas: {replicas}",
            f"  backend: {{type: command, command: {json.dumps(command)}}}",
            "  connectivity: {bind_host: 127.0.0.1}",
            "  slurm: {time_limit: '0:30:00'}",
            "  health:",
            f"    startup: {{period_s: {p}, timeout_s: 2, failure_threshold: 1200}}",
            f"    readiness: {{period_s: {steady_period_s}, timeout_s: 2}}",
            f"    liveness: {{period_s: {steady_period_s}, timeout_s: 2, failure_threshold: 3}}",
            "  policy: {restart_backoff_base_s: 1, restart_backoff_cap_s: 5, drain_grace_s: 1}",
            "",
        ]
    )


def wait_for(
    predicate: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 0.02
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s:g}s waiting for {what}")


class Operator:
    """``python -m sgorch run`` in a directory of its own."""

    def __init__(self, root: Path, mode: str, instance: str, extra: list[str] | None = None):
        self.root, self.mode, self.instance = root, mode, instance
        self.resources = root / "resources"
        self.status_dir = root / "status"
        self.log_path = root / "operator.log"
        self.resources.mkdir(parents=True, exist_ok=True)
        argv = [PYTHON, "-m", "sgorch", "run", "--slurm", mode, "--instance", instance]
        argv += ["--resources", str(self.resources), "--status-dir", str(self.status_dir)]
        argv += ["--state-dir", str(root / "state"), "--log-format", "json"]
        argv += ["--job-poll-interval", "1", "--resync-interval", "5", *(extra or [])]
        if mode == "local":
            argv += ["--local-cpus", "32"]
        env = {**os.environ, "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ['PATH']}"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=ROOT)
        wait_for(self.started, 60, "the operator to start", 0.1)
        time.sleep(2.5)  # it logs nothing per listing: give its watcher two intervals

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line)["record"])
            except (ValueError, KeyError):
                continue
        return out

    def started(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"operator exited: {self.log_path.read_text()[-2000:]}")
        return any("watching" in r["message"] for r in self.records())

    def submitted_at(self, name: str) -> float | None:
        for record in self.records():
            if record["message"].startswith("submitted job") and (
                record["extra"].get("resource") == name
            ):
                return float(record["time"]["timestamp"])
        return None

    def write(self, name: str, text: str) -> float:
        tmp = self.resources / f".{name}.tmp"
        tmp.write_text(text)
        started = time.time()
        tmp.replace(self.resources / f"{name}.yaml")  # as editors save: atomically
        return started

    def status(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.status_dir / "deployments" / f"{name}.json").read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return None

    def available(self, name: str, replicas: int = 1) -> bool:
        doc = self.status(name)
        if doc is None:
            return False
        ok = any(
            c["type"] == "Available" and c["status"] == "True" for c in doc["status"]["conditions"]
        )
        return ok and doc["status"]["readyReplicas"] >= replicas

    def delete_and_collect(self, name: str, timeout_s: float = 90) -> None:
        (self.resources / f"{name}.yaml").unlink(missing_ok=True)
        path = self.status_dir / "deployments" / f"{name}.json"
        wait_for(lambda: not path.exists(), timeout_s, f"garbage collection of {name}", 0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def squeue_rows(states: str | None = "all") -> list[tuple[str, str, str]]:
    """(job id, state, comment) of every job ``squeue --states=STATES`` shows (None:
    squeue's default, the live ones)."""
    argv = ["squeue", "-h", "-o", "%i|%T|%k"] + ([f"--states={states}"] if states else [])
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    rows = (line.split("|", 2) for line in out.splitlines())
    return [(row[0], row[1], row[2]) for row in rows if len(row) == 3]


def squeue_tagged(prefix: str) -> list[str]:
    """The states of the jobs whose comment starts with ``prefix``."""
    return [state for _, state, comment in squeue_rows() if comment.startswith(prefix)]


def sweep(root: Path, instance: str | None) -> None:
    """Remove whatever of this run may still run: tagged jobs, processes from ``root``."""
    if instance is not None and shutil.which("squeue"):
        prefix = f"sgorch:v1;instance={instance};"
        ids = [job_id for job_id, _, comment in squeue_rows(None) if comment.startswith(prefix)]
        if ids:
            print(f"  sweep: scancel {len(ids)} leftover job(s)")
            subprocess.run(["scancel", *ids], timeout=60, check=False)
    marker = str(root)
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (pid_dir / "environ").read_bytes()
        except OSError:
            continue
        if int(pid_dir.name) == os.getpid():
            continue
        if marker in cmdline or marker.encode() in environ:
            try:
                os.kill(int(pid_dir.name), signal.SIGKILL)
                print(f"  sweep: killed leftover process {pid_dir.name}: {cmdline[:80]}")
            except OSError:
                pass


def run_floor(mode: str, workdir: Path) -> dict[str, float]:
    port = free_port()
    if mode == "cli":
        out = subprocess.run(
            [str(ROOT / "bench/operator/floor.sh"), PYTHON, str(port), str(workdir)],
            capture_output=True,
            text=True,
            timeout=180,
            check=True,
        ).stdout.split()
        sbatch_s, squeue_s, running_s, healthy_s = map(float, out[:4])
        return {"sbatch_s": sbatch_s, "squeue_s": squeue_s, "running_s": running_s,
                "available_s": healthy_s}  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    process = subprocess.Popen(
        [PYTHON, "-m", "sgorch.demo_worker", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spawned = time.time() - started
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    return bool(r.status == 200)
            except OSError:
                return False

        wait_for(healthy, 60, "the floor's worker")
        return {"sbatch_s": spawned, "available_s": time.time() - started}
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_operator_once(op: Operator, name: str, tagged_prefix: str) -> dict[str, float]:
    t0 = op.write(name, deployment_yaml(name))
    result: dict[str, float] = {}
    if op.mode == "cli":
        prefix = f"{tagged_prefix}deployment={name};"
        wait_for(lambda: squeue_tagged(prefix), 120, "the job in squeue", 0.0)
        result["squeue_s"] = time.time() - t0
        wait_for(lambda: "RUNNING" in squeue_tagged(prefix), 120, "the job RUNNING", 0.02)
        result["running_s"] = time.time() - t0
    wait_for(lambda: op.available(name), 180, f"{name} Available", 0.02)
    result["available_s"] = time.time() - t0
    submitted = wait_for(lambda: op.submitted_at(name), 10, "the submit log record")
    result["sbatch_s"] = submitted - t0
    return result


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rows), 3) for k in rows[0]}


def bench_mode(mode: str, repeat: int) -> None:
    if mode == "cli" and subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        print("cli: skipped, no Slurm answers (sudo deploy/local-slurm/up.sh)")
        return
    root = Path(tempfile.mkdtemp(prefix=f"sgorch-bench-first-{mode}-"))
    instance = f"bench-first-{mode}-{os.getpid()}"
    op: Operator | None = None
    try:
        op = Operator(root / "op", mode, instance)
        floors, runs = [], []
        for i in range(repeat):  # interleaved: both see the same Slurm and machine load
            floors.append(run_floor(mode, root / "floor"))
            name = f"first{i}"
            runs.append(run_operator_once(op, name, f"sgorch:v1;instance={instance};"))
            op.delete_and_collect(name)
        for row in (*floors, *runs):  # what follows Slurm starting the job
            if "running_s" in row:
                row["after_running_s"] = row["available_s"] - row["running_s"]
        floor, ours = median_of(floors), median_of(runs)
        print(f"{mode}: floor (by hand), median of {repeat}: {json.dumps(floor)}")
        print(f"{mode}: operator, median of {repeat}:       {json.dumps(ours)}")
        for key in ("sbatch_s", "squeue_s", "running_s", "available_s", "after_running_s"):
            if key in ours and key in floor and floor[key] > 0.001:
                print(
                    f"{mode}: {key}: operator {ours[key]:.3f}s vs floor {floor[key]:.3f}s "
                    f"(+{ours[key] - floor[key]:.3f}s, x{ours[key] / floor[key]:.1f})"
                )
        print(f"{mode}: all runs: {json.dumps(runs)}")
    finally:
        if op is not None:
            for path in op.resources.glob("*.yaml"):
                try:
                    op.delete_and_collect(path.stem)
                except TimeoutError as exc:
                    print(f"  {exc}")
            op.stop()
        sweep(root, instance if mode == "cli" else None)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", nargs="+", default=["cli", "local"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for mode in args.modes:
        bench_mode(mode, args.repeat)


if __name__ == "__main__":
    main()

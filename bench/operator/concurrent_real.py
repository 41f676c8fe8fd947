"""Many concurrent demo workers against the real local Slurm: 20 Deployments x 10
replicas (200 jobs, 200 Python processes) by default.

    .venv/bin/python bench/operator/concurrent_real.py                 # 20 x 10
    .venv/bin/python bench/operator/concurrent_real.py --replicas 3    # lighter: 20 x 3

It measures, from writing all the files at once:
  - all_in_squeue_s, all_running_s: every job visible, every job RUNNING (squeue polled
    every 0.2 s);
  - all_available_s: every Deployment's status Available with all replicas ready;
  - the operator's job listing latency (``CliSlurmClient.list_jobs``, the call its
    JobWatcher makes once per interval) with N jobs vs with none, and raw ``squeue``;
  - the operator process's CPU time and peak RSS over the run;
  - collect_s: from deleting every file to every job gone and every status removed.

The floor first: the same number of demo workers submitted by hand (floor_many.sh, one
sbatch each) and watched the same way (all in squeue, all RUNNING, all answering
/health), then cancelled; the ratios compare the two. Workers run on 127.0.0.1 with 2 s
readiness/liveness periods (200 workers x 2 probes per 2 s is 200 probes/s). Every job
is cancelled at the end (the floor's by its comment; the operator's by garbage collection, then
a sweep of anything still carrying this run's tag), and the operator is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "operator"))

from first_job import (  # noqa: E402
    Operator,
    deployment_yaml,
    squeue_rows,
    squeue_tagged,
    sweep,
    wait_for,
)

from sgorch.slurm.cli import CliSlurmClient  # noqa: E402


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MB of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


async def listing_latency_ms(prefix: str, samples: int) -> tuple[float, float, int]:
    client = CliSlurmClient()
    times, count = [], 0
    for _ in range(samples):
        started = time.perf_counter()
        jobs = await client.list_jobs(prefix)
        times.append((time.perf_counter() - started) * 1000)
        count = len(jobs)
    await client.aclose()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], count


def raw_squeue_ms(samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(["squeue", "-h", "--me", "--states=all"], capture_output=True, timeout=30)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def job_states(ids: set[str]) -> list[str]:
    return [state for job_id, state, _ in squeue_rows() if job_id in ids]


def all_running(ids: set[str], total: int) -> bool:
    states = job_states(ids)
    if ended := [state for state in states if state not in ("PENDING", "CONFIGURING", "RUNNING")]:
        raise RuntimeError(f"floor jobs ended before all ran: {sorted(set(ended))}")
    return states.count("RUNNING") >= total


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive ports on 127.0.0.1 that are all free now."""
    for base in range(20000, 60000 - count, count):
        with ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def run_floor(total: int, workdir: Path, timeout_s: float) -> dict[str, float]:
    """The same number of demo workers submitted by hand (floor_many.sh), watched the
    same way: every job in squeue, RUNNING, and answering /health."""
    tag = f"sgorch-bench-floor-{os.getpid()}"
    base = free_port_range(total)
    ports = range(base, base + total)
    try:
        t0 = time.time()
        out = subprocess.run(
            [str(HERE / "floor_many.sh"), sys.executable, str(workdir), str(total), tag, str(base)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        ).stdout
        ids = set(out.split())
        submitted = time.time() - t0
        wait_for(lambda: all_running(ids, total), timeout_s, "floor RUNNING", 0.2)
        running = time.time() - t0
        wait_for(lambda: all(healthy(p) for p in ports), timeout_s, "floor healthy", 0.5)
        return {
            "all_in_squeue_s": round(submitted, 2),
            "all_running_s": round(running, 2),
            "all_available_s": round(time.time() - t0, 2),
        }
    finally:  # by the run's own comment: whatever was submitted, even if sbatch failed
        ours = {job_id for job_id, _, comment in squeue_rows() if comment == tag}
        if ours:
            subprocess.run(["scancel", *sorted(ours)], timeout=120, check=False)
            wait_for(lambda: "RUNNING" not in job_states(ours), 120, "floor jobs to end", 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=600, help="per phase, seconds")
    args = parser.parse_args()
    if subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        sys.exit("no Slurm answers here (sudo deploy/local-slurm/up.sh)")
    total = args.deployments * args.replicas
    root = Path(tempfile.mkdtemp(prefix="sgorch-bench-conc-"))
    instance = f"bench-conc-{os.getpid()}"
    prefix = f"sgorch:v1;instance={instance};"
    names = [f"conc{i:02d}" for i in range(args.deployments)]
    op: Operator | None = None
    try:
        floor = run_floor(total, root / "floor", args.timeout)
        op = Operator(root / "op", "cli", instance)
        empty = asyncio.run(listing_latency_ms(prefix, 10))
        t0 = time.time()
        for name in names:
            op.write(name, deployment_yaml(name, args.replicas, 0.5, steady_period_s=2.0))
        wait_for(lambda: len(squeue_tagged(prefix)) >= total, args.timeout, "all jobs", 0.2)
        all_in_squeue = time.time() - t0
        wait_for(
            lambda: squeue_tagged(prefix).count("RUNNING") >= total,
            args.timeout,
            "all jobs RUNNING",
            0.2,
        )
        all_running = time.time() - t0
        wait_for(
            lambda: all(op.available(n, args.replicas) for n in names),
            args.timeout,
            "every Deployment Available",
            0.5,
        )
        all_available = time.time() - t0
        full = asyncio.run(listing_latency_ms(prefix, 20))
        squeue_ms = raw_squeue_ms(10)
        cpu_s, peak_mb = process_usage(op.process.pid)
        t1 = time.time()
        for name in names:
            (op.resources / f"{name}.yaml").unlink()
        wait_for(
            lambda: (
                not any((op.status_dir / "deployments" / f"{n}.json").exists() for n in names)
                and "RUNNING" not in squeue_tagged(prefix)
            ),
            args.timeout,
            "garbage collection",
            0.5,
        )
        collect_s = time.time() - t1
        print(
            f"{args.deployments} Deployments x {args.replicas} replicas = {total} demo workers "
            f"on {os.cpu_count()} CPUs"
        )
        print(f"floor (sbatch by hand): {json.dumps(floor)}")
        ours = {
            "all_in_squeue_s": round(all_in_squeue, 2),
            "all_running_s": round(all_running, 2),
            "all_available_s": round(all_available, 2),
        }
        print(
            "operator vs floor: "
            + ", ".join(f"{k} x{ours[k] / floor[k]:.2f}" for k in ours if floor[k] > 0)
        )
        print(
            json.dumps(
                {
                    "all_in_squeue_s": round(all_in_squeue, 2),
                    "all_running_s": round(all_running, 2),
                    "all_available_s": round(all_available, 2),
                    "collect_s": round(collect_s, 2),
                    "listing_ms_empty": {"median": round(empty[0], 1), "p95": round(empty[1], 1)},
                    f"listing_ms_{full[2]}_jobs": {
                        "median": round(full[0], 1),
                        "p95": round(full[1], 1),
                    },
                    "raw_squeue_ms": round(squeue_ms, 1),
                    "operator_cpu_s": round(cpu_s, 1),
                    "operator_peak_rss_mb": round(peak_mb, 1),
                }
            )
        )
        print(
            f"listing with {full[2]} jobs: x{full[0] / empty[0]:.2f} the empty listing; "
            f"operator CPU {cpu_s / (time.time() - t0) * 100:.0f}% of one core over the run"
        )
    finally:
        if op is not None:
            for path in op.resources.glob("*.yaml"):
                path.unlink()
            try:
                wait_for(
                    lambda: not list((op.status_dir / "deployments").glob("*.json")),
                    120,
                    "final garbage collection",
                    0.5,
                )
            except TimeoutError as exc:
                print(f"  {exc}")
            op.stop()
        sweep(root, instance)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

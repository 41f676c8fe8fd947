"""Control-plane cost at scale, against the in-memory FakeSlurm (tests/fakes): the
Deployment controller and the JobWatcher driven directly, probe results injected, no
HTTP, no real Slurm. Each size runs in a subprocess of its own, so peak RSS is its own.

    .venv/bin/python bench/operator/scale_fake.py                 # 10/100/1000 x 10
    .venv/bin/python bench/operator/scale_fake.py --sizes 10 100  # quicker

For each size N (Deployments of 10 replicas, so 10·N jobs) it prints:
  - converge_s: wall time from writing N files to every worker ready (submit, start,
    probe, status), for orientation only;
  - pass_cpu_ms: CPU time (time.process_time) of one steady-state interval: one job
    listing plus one reconcile of every Deployment, median of 5;
  - per_deployment_us: pass_cpu_ms / N;
  - slurm_calls: calls to Slurm in that interval (list, submit, cancel, ping);
  - peak_rss_mb (getrusage) and traced_peak_mb (tracemalloc, one extra pass);
and the ratios between sizes. Then the restart adoption test: R running tagged jobs with
state files on disk, a fresh operator, the time to its first full pass and whether that
pass submitted or cancelled anything (it must not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "operator"), str(ROOT / "tests")]

from loguru import logger  # noqa: E402

from fakes.fake_probes import FakeProbes, Truth, WorkerWorld  # noqa: E402
from fakes.fake_slurm import FakeSlurm  # noqa: E402
from fakes.harness import Harness, deployment_yaml  # noqa: E402

REPLICAS = 10


def name_of(i: int) -> str:
    return f"d{i:05d}"


class Cluster:
    """N Deployments, their jobs and their workers, in memory."""

    def __init__(self, root: Path, count: int) -> None:
        self.root = root
        self.count = count
        self.slurm = FakeSlurm()
        self.world = WorkerWorld()
        self.names = [name_of(i) for i in range(count)]
        self.harness = self._build()

    def _build(self) -> Harness:
        return Harness(
            self.root, None, slurm=self.slurm, make_probes=lambda: FakeProbes(self.world)
        )

    @property
    def probes(self) -> FakeProbes:
        probes = self.harness.probes
        assert isinstance(probes, FakeProbes)
        return probes

    def write_all(self) -> None:
        for name in self.names:
            self.harness.write(name, deployment_yaml(name, REPLICAS))

    def start_pending(self) -> int:
        started = 0
        for job in self.slurm.live():
            if not job.state.is_pending:
                continue
            self.slurm.start(job.job_id)
            port = 20_000 + int(job.job_id) % 40_000
            endpoints = Path(self.slurm.requests[job.job_id].working_dir) / "endpoints"
            endpoints.mkdir(parents=True, exist_ok=True)
            (endpoints / f"{job.job_id}.json").write_text(
                json.dumps({"host": "127.0.0.1", "port": port, "job_id": job.job_id})
            )
            self.world.truth[f"http://127.0.0.1:{port}"] = Truth.READY
            started += 1
        return started

    async def interval(self) -> None:
        """What the operator does in one poll interval in steady state."""
        await self.harness.watcher.poll_once()
        for name in self.names:
            await self.harness.controller.reconcile(name)

    async def converge(self) -> float:
        started = time.perf_counter()
        await self.harness.store.scan()
        for _ in range(10):
            self.probes.probe_round()
            await self.interval()
            if not self.start_pending() and self.ready() == self.count * REPLICAS:
                break
        return time.perf_counter() - started

    def ready(self) -> int:
        keys, probes = self.probes.keys(), self.probes
        return sum(1 for key in keys if (h := probes.health(key)) and h.ready)


async def measure_size(count: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="sgorch-bench-scale-"))
    try:
        cluster = Cluster(root, count)
        cluster.write_all()
        converge_s = await cluster.converge()
        assert len(cluster.slurm.live()) == count * REPLICAS
        await cluster.interval()  # settle status files
        samples, calls = [], []
        submits = len(cluster.slurm.submits) + len(cluster.slurm.cancels)
        for _ in range(5):
            before = len(cluster.slurm.calls)
            started = time.process_time()
            await cluster.interval()
            samples.append(time.process_time() - started)
            calls.append(len(cluster.slurm.calls) - before)
        assert len(cluster.slurm.submits) + len(cluster.slurm.cancels) == submits
        tracemalloc.start()
        await cluster.interval()
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        pass_cpu = statistics.median(samples)
        return {
            "deployments": count,
            "jobs": count * REPLICAS,
            "converge_s": round(converge_s, 2),
            "pass_cpu_ms": round(pass_cpu * 1000, 1),
            "per_deployment_us": round(pass_cpu / count * 1e6, 1),
            "slurm_calls": max(calls),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "traced_peak_mb": round(traced_peak / 2**20, 1),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def measure_restart(count: int) -> dict[str, float]:
    """count Deployments x REPLICAS running jobs; a new operator adopts them."""
    root = Path(tempfile.mkdtemp(prefix="sgorch-bench-restart-"))
    try:
        cluster = Cluster(root, count)
        cluster.write_all()
        await cluster.converge()
        await cluster.interval()
        jobs = len(cluster.slurm.live())
        before = (len(cluster.slurm.submits), len(cluster.slurm.cancels))
        await cluster.harness.restart()  # a new process: nothing in memory
        started_wall, started_cpu = time.perf_counter(), time.process_time()
        await cluster.harness.store.scan()
        await cluster.interval()
        first_pass_s = time.perf_counter() - started_wall
        first_pass_cpu = time.process_time() - started_cpu
        after = (len(cluster.slurm.submits), len(cluster.slurm.cancels))
        cluster.probes.probe_round()
        await cluster.interval()
        ready_s = time.perf_counter() - started_wall
        return {
            "jobs": jobs,
            "first_pass_s": round(first_pass_s, 3),
            "first_pass_cpu_s": round(first_pass_cpu, 3),
            "submits_and_cancels_in_first_pass": (after[0] - before[0]) + (after[1] - before[1]),
            "to_ready_status_s": round(ready_s, 3),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_child(args: list[str], timeout_s: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--restart-deployments", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800, help="per size, seconds")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--restart", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logger.remove()
    if args.one is not None:
        print(json.dumps(asyncio.run(measure_size(args.one))))
        return
    if args.restart is not None:
        print(json.dumps(asyncio.run(measure_restart(args.restart))))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {REPLICAS} replicas each")
    rows = []
    for size in args.sizes:
        row = run_child(["--one", str(size)], args.timeout)
        rows.append(row)
        print(json.dumps(row))
    base = rows[0]
    for row in rows[1:]:
        scale = row["deployments"] / base["deployments"]
        print(
            f"{base['deployments']}->{row['deployments']} deployments (x{scale:g}): "
            f"pass CPU x{row['pass_cpu_ms'] / base['pass_cpu_ms']:.1f}, "
            f"per-deployment CPU x{row['per_deployment_us'] / base['per_deployment_us']:.2f}, "
            f"Slurm calls per interval {base['slurm_calls']}->{row['slurm_calls']}, "
            f"peak RSS x{row['peak_rss_mb'] / base['peak_rss_mb']:.1f}"
        )
    restart = run_child(["--restart", str(args.restart_deployments)], args.timeout)
    print("restart adoption:", json.dumps(restart))


if __name__ == "__main__":
    main()

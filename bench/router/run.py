"""Router benchmark: throughput, added latency and streaming time-to-first-byte.

Starts a fast fake worker (``upstream.py``) and each proxy in front of it as processes on
127.0.0.1, then drives each target with a fixed-concurrency aiohttp load generator:

- ``direct``: the worker itself (the baseline);
- ``sgorch``: ``python -m sgorch.router``;
- ``nginx``: plain reverse proxy with upstream keep-alive and buffering off (if installed);
- ``sglang-router``: ``python -m sglang_router.launch_router`` (if importable).

Every loop is bounded by a request count and a time limit; all traffic stays on loopback.
Usage: ``python bench/router/run.py [--requests 3000] [--concurrency 16] [--markdown]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
OPERATOR_ROOT = HERE.parents[1] / "operator"
BODY = b'{"model": "bench", "prompt": "hello", "max_tokens": 8, "stream": false}'
STREAM_BODY = b'{"model": "bench", "prompt": "hello", "max_tokens": 8, "stream": true}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    target: str
    requests_per_s: float = 0.0
    loaded_p99_ms: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    ttfb_p50_ms: float = 0.0
    ttfb_p99_ms: float = 0.0
    errors: int = 0
    note: str = ""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def drive(
    concurrency: int, total: int, time_limit_s: float, one: Callable[[], Awaitable[float]]
) -> tuple[list[float], int, float]:
    """Run ``one`` ``total`` times with ``concurrency`` workers; latencies, errors, seconds."""
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(total))
    deadline = time.monotonic() + time_limit_s

    async def worker() -> None:
        nonlocal errors
        for _ in remaining:
            if time.monotonic() > deadline:
                return
            try:
                latencies.append(await one())
            except (aiohttp.ClientError, AssertionError, TimeoutError):
                errors += 1

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.monotonic() - started


async def measure(target: str, url: str, args: argparse.Namespace) -> Result:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

        async def completion() -> float:
            started = time.perf_counter()
            async with http.post(url + "/v1/completions", data=BODY, headers=_JSON) as response:
                await response.read()
                assert response.status == 200, response.status
            return time.perf_counter() - started

        async def first_byte() -> float:
            started = time.perf_counter()
            async with http.post(
                url + "/v1/completions", data=STREAM_BODY, headers=_JSON
            ) as response:
                assert response.status == 200, response.status
                await response.content.readany()
                elapsed = time.perf_counter() - started
                await response.read()
            return elapsed

        await drive(4, 200, 10, completion)  # warm up connections and caches
        loaded, errors, seconds = await drive(
            args.concurrency, args.requests, args.time_limit, completion
        )
        single, single_errors, _ = await drive(
            1, args.latency_requests, args.time_limit, completion
        )
        ttfbs, stream_errors, _ = await drive(
            args.stream_concurrency, args.stream_requests, args.time_limit, first_byte
        )
    return Result(
        target=target,
        requests_per_s=len(loaded) / seconds if seconds else 0.0,
        loaded_p99_ms=percentile(loaded, 0.99) * 1000,
        p50_ms=percentile(single, 0.5) * 1000,
        p99_ms=percentile(single, 0.99) * 1000,
        ttfb_p50_ms=percentile(ttfbs, 0.5) * 1000,
        ttfb_p99_ms=percentile(ttfbs, 0.99) * 1000,
        errors=errors + single_errors + stream_errors,
    )


_JSON = {"Content-Type": "application/json"}


async def wait_ready(
    url: str, path: str, process: subprocess.Popen[bytes], timeout_s: float = 20
) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.post(url + path, data=BODY, headers=_JSON) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"not ready within {timeout_s} s")


@contextlib.asynccontextmanager
async def process(
    command: list[str], ready_url: str, log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[None]:
    with log.open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=sink, env=env)
    try:
        await wait_ready(ready_url, "/v1/completions", proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream workers {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://workers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass
class Target:
    """A proxy to measure: how to start it, or why it is skipped."""

    name: str
    port: int
    command: list[str] | None = None
    env: dict[str, str] | None = None
    skipped: str = ""


def sgorch_target(upstream_url: str) -> Target:
    port = free_port()
    command = [sys.executable, "-m", "sgorch.router", "--port", str(port), "--log-level", "WARNING"]
    command += ["--worker", upstream_url]
    env = {**os.environ, "PYTHONPATH": str(OPERATOR_ROOT)}
    return Target("sgorch", port, command, env)


def nginx_target(tmp: Path, upstream_port: int) -> Target:
    port = free_port()
    nginx = shutil.which("nginx")
    if nginx is None:
        return Target("nginx", port, skipped="skipped: no nginx binary (apt-get install nginx)")
    config = tmp / "nginx.conf"
    config.write_text(NGINX_CONF.format(tmp=tmp, upstream=upstream_port, port=port))
    return Target("nginx", port, [nginx, "-c", str(config), "-p", str(tmp)])


def sglang_target(upstream_url: str) -> Target:
    port = free_port()
    if importlib.util.find_spec("sglang_router") is None:
        return Target("sglang-router", port, skipped="skipped: sglang-router is not installed")
    # It looks for a tokenizer on a model hub: point that at a closed local port.
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sglang_router.launch_router", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--policy", "round_robin", "--log-level", "warn"]
    command += ["--worker-urls", upstream_url]
    return Target("sglang-router", port, command, env)


async def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="router-bench-") as name:
        tmp = Path(name)
        tmp.chmod(0o777)  # nginx workers run as an unprivileged user
        upstream_port = free_port()
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        upstream = [sys.executable, str(HERE / "upstream.py"), "--port", str(upstream_port)]
        upstream += [
            "--chunks",
            str(args.chunks),
            "--chunk-interval-ms",
            str(args.chunk_interval_ms),
        ]
        async with process(upstream, upstream_url, tmp / "upstream.log"):
            results.append(await measure("direct", upstream_url, args))
            targets = [
                sgorch_target(upstream_url),
                nginx_target(tmp, upstream_port),
                sglang_target(upstream_url),
            ]
            for target in targets:
                if args.only and target.name not in args.only:
                    continue
                if target.command is None:
                    results.append(Result(target.name, note=target.skipped))
                    continue
                url = f"http://127.0.0.1:{target.port}"
                log = tmp / f"{target.name}.log"
                try:
                    async with process(target.command, url, log, target.env):
                        results.append(await measure(target.name, url, args))
                except RuntimeError as exc:
                    tail = log.read_text(errors="replace")[-500:]
                    results.append(
                        Result(target.name, note=f"skipped: could not run ({exc}): {tail!r}")
                    )
    return results


def render(results: list[Result], args: argparse.Namespace) -> str:
    direct = results[0]
    lines = [
        f"| target | req/s at {args.concurrency} | vs direct | p99 ms at {args.concurrency} "
        "| p50 ms at 1 | p99 ms at 1 | added p50 ms | added p99 ms "
        f"| stream TTFB p50 ms | TTFB p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        if result.note:
            lines.append(f"| {result.target} | {result.note} |" + " |" * 9)
            continue
        lines.append(
            f"| {result.target} | {result.requests_per_s:,.0f} "
            f"| {result.requests_per_s / direct.requests_per_s:.2f} | {result.loaded_p99_ms:.2f} "
            f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} "
            f"| {result.p50_ms - direct.p50_ms:+.2f} | {result.p99_ms - direct.p99_ms:+.2f} "
            f"| {result.ttfb_p50_ms:.2f} | {result.ttfb_p99_ms:.2f} | {result.errors} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.platform()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=3000, help="non-streaming requests per target"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent non-streaming clients"
    )
    parser.add_argument(
        "--latency-requests", type=int, default=1000, help="sequential requests for added latency"
    )
    parser.add_argument(
        "--stream-requests", type=int, default=300, help="streaming requests per target"
    )
    parser.add_argument(
        "--stream-concurrency", type=int, default=4, help="concurrent streaming clients"
    )
    parser.add_argument("--chunks", type=int, default=8, help="SSE events per streamed response")
    parser.add_argument(
        "--chunk-interval-ms", type=float, default=10.0, help="gap between SSE events"
    )
    parser.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds at most per load phase"
    )
    parser.add_argument("--only", action="append", help="run only this proxy target (repeatable)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"Machine: {machine()}")
    print(
        f"Load: {args.requests} requests at concurrency {args.concurrency}, "
        f"{args.latency_requests} at concurrency 1; "
        f"{args.stream_requests} streams at concurrency {args.stream_concurrency} "
        f"({args.chunks} events, {args.chunk_interval_ms:g} ms apart)\n"
    )
    print(render(results, args))


if __name__ == "__main__":
    main()

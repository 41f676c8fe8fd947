"""The quickstart: two demo workers behind one OpenAI-compatible router, run by the
operator on the embedded local executor (no Slurm needed).

    make run                                  # or: .venv/bin/python examples/quickstart/run.py
    python examples/quickstart/run.py --check # start, send one request, stop (used by tests)

Everything it creates lives in .quickstart/ (resources copied from
examples/quickstart/resources, status, state, logs); Ctrl-C stops the operator and the
router. The demo worker echoes chat messages and returns hash
embeddings: it is not a model.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ROUTER = "http://127.0.0.1:8080"


def _status(path: Path) -> dict | None:  # type: ignore[type-arg]
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _wait_ready(work: Path, operator: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if operator.poll() is not None:
            raise SystemExit(f"the operator exited ({operator.returncode}); see the log above")
        demo = _status(work / "status" / "deployments" / "demo.json") or {}
        router = _status(work / "status" / "routers" / "main.json") or {}
        ready = demo.get("status", {}).get("readyReplicas", 0)
        router_up = any(
            c["type"] == "Available" and c["status"] == "True"
            for c in router.get("status", {}).get("conditions", [])
        )
        line = f"  demo workers ready: {ready}/2, router: {'up' if router_up else 'starting'}"
        if line != last:
            print(line, flush=True)
            last = line
        if ready == 2 and router_up and _models_served():
            return
        time.sleep(0.5)
    raise SystemExit(f"not ready after {timeout_s:.0f}s; look at {work}/state/logs")


def _models_served() -> bool:
    try:
        with urllib.request.urlopen(f"{ROUTER}/v1/models", timeout=2) as response:
            return bool(json.load(response).get("data"))
    except OSError:
        return False


def _chat() -> str:
    body = json.dumps({"model": "demo", "messages": [{"role": "user", "content": "hello"}]})
    request = urllib.request.Request(
        f"{ROUTER}/v1/chat/completions",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["choices"][0]["message"]["content"])


def _delete_and_wait(work: Path, operator: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Delete the resources and wait until the operator has cancelled every job."""
    for path in (work / "resources").glob("*.yaml"):
        path.unlink()
    deadline = time.monotonic() + timeout_s
    status = work / "status" / "deployments" / "demo.json"
    while status.exists() and time.monotonic() < deadline and operator.poll() is None:
        time.sleep(0.5)
    if status.exists():
        raise SystemExit("the operator did not clean up the demo Deployment in time")
    print("deleted the resources; every demo job is gone")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="start, send one chat request through the router, then stop",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=ROOT / ".quickstart",
        help="where status, state and logs go (default: .quickstart/)",
    )
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for ready")
    args = parser.parse_args()

    work: Path = args.work_dir
    env = dict(os.environ)
    env.setdefault("SGORCH_ROUTER_TOKEN", secrets.token_urlsafe(24))
    # jobs run 'python -m sgorch.demo_worker': make that the interpreter running us
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    resources = work / "resources"
    resources.mkdir(parents=True, exist_ok=True)
    for example in (HERE / "resources").glob("*.yaml"):
        target = resources / example.name
        if not target.exists():
            target.write_text(example.read_text())
    command = [
        sys.executable,
        "-m",
        "sgorch",
        "run",
        "--slurm",
        "local",
        "--resources",
        str(resources),
        "--status-dir",
        str(work / "status"),
        "--state-dir",
        str(work / "state"),
        "--log-format",
        "text",
        "--job-poll-interval",
        "1",
        "--resync-interval",
        "5",
    ]
    print(f"starting the operator on {resources} (local executor)...", flush=True)
    operator = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        _wait_ready(work, operator, args.timeout)
        if args.check:
            print(f"router answered: {_chat()!r}")
            _delete_and_wait(work, operator, args.timeout)
            return 0
        print(
            f"""
SGOrch is serving 2 demo workers behind {ROUTER}. Try:

  curl -s {ROUTER}/v1/models
  curl -s {ROUTER}/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{{"model": "demo", "messages": [{{"role": "user", "content": "hello"}}]}}'
  .venv/bin/sgorch validate examples/quickstart/resources
  cat {work}/status/deployments/demo.json

Edit {resources}/demo.yaml (e.g. replicas: 3) and watch the status.
Ctrl-C stops the operator and the router (workers keep running until the next start
adopts them, or .quickstart/ is removed).""",
            flush=True,
        )
        operator.wait()
        return operator.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if operator.poll() is None:
            operator.send_signal(signal.SIGTERM)
            operator.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())

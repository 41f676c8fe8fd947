"""The status board in a real headless Chromium: a status directory written the way the
operator writes it, the board serving it, and a browser driving it. Used by
``test_status_board.py`` and by ``docs/screenshot_status_board.py``."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from aiohttp import web
from playwright.async_api import BrowserContext, async_playwright

from sgorch.board import build_board_app
from sgorch.resources.status import (
    Condition,
    DeploymentStatus,
    DeploymentStatusDocument,
    ResourceError,
    RouterStatus,
    RouterStatusDocument,
    StatusMetadata,
    WorkerStatus,
)
from sgorch.status import StatusWriter

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_chromium() -> str | None:
    """Debian's chromium (``apt-get install chromium``); Playwright downloads nothing."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return os.environ.get("SGORCH_CHROMIUM")


@asynccontextmanager
async def chromium(executable: str, profile_dir: Path) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile, no network but what the page asks for."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            await context.close()


@asynccontextmanager
async def serve_board(status_dir: Path) -> AsyncIterator[str]:
    """The board over ``status_dir`` on a free loopback port; yields its URL."""
    runner = web.AppRunner(build_board_app(status_dir, bind_host="127.0.0.1"), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}/"
    finally:
        await runner.cleanup()


NOW = datetime.now(UTC).replace(microsecond=0)


def _condition(
    type_: str, status: Literal["True", "False"], reason: str, message: str = ""
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=NOW - timedelta(minutes=7),
    )


def _converged_conditions() -> list[Condition]:
    return [
        _condition("Available", "True", "MinimumReplicasAvailable", "2 of 2 workers ready"),
        _condition("Progressing", "True", "Complete", "all workers ready on the current template"),
        _condition("ReplicaFailure", "False", "None"),
        _condition("Invalid", "False", "Valid"),
    ]


def converged_chat() -> DeploymentStatusDocument:
    """Two ready Llama workers behind the router ``main``."""
    workers = [
        WorkerStatus(
            slot=slot,
            job_id=f"410{slot + 1}",
            state="RUNNING",
            reason="ready",
            node=f"gpu-a0{slot + 1}",
            url=f"http://10.1.0.1{slot + 1}:3000{slot + 1}",
            ready=True,
            restarts=slot,
            started_at=NOW - timedelta(hours=2, minutes=slot * 17),
            last_probe=NOW,
            template_hash="5f1c0de2",
        )
        for slot in range(2)
    ]
    return _deployment(
        "chat",
        generation=3,
        model="llama-3.1-8b-instruct",
        workers=workers,
        conditions=_converged_conditions(),
    )


def failing_embed() -> DeploymentStatusDocument:
    """An embedding Deployment whose worker crash-loops, whose second job waits, and
    whose file was just broken by an edit (the last valid spec stays in force)."""
    workers = [
        WorkerStatus(
            slot=0,
            job_id="4117",
            state="RUNNING",
            reason="startup probe: ConnectError: All connection attempts failed",
            node="cpu-b07",
            url="http://10.1.2.7:30417",
            restarts=4,
            started_at=NOW - timedelta(seconds=40),
            template_hash="9a7e11b0",
        ),
        WorkerStatus(
            slot=1,
            job_id="4118",
            state="PENDING",
            reason="Resources",
            restarts=0,
            template_hash="9a7e11b0",
        ),
    ]
    return _deployment(
        "embed",
        generation=1,
        model="bge-m3",
        workers=workers,
        conditions=[
            _condition("Available", "False", "MinimumReplicasUnavailable", "0 of 2 workers ready"),
            _condition("Progressing", "True", "Updating", "2 of 2 workers on template 9a7e11b0"),
            _condition(
                "ReplicaFailure",
                "True",
                "WorkerFailed",
                "job 4112 ended FAILED (exit 1); 4 failure(s) in a row, next attempt in 80s",
            ),
            _condition(
                "Invalid",
                "True",
                "InvalidSpec",
                "the file's current content is invalid; the last valid spec stays in force",
            ),
        ],
        error=ResourceError(
            file="resources/embed.yaml",
            line=9,
            column=13,
            field="spec.replicas",
            message="Input should be a valid integer, unable to parse string as an integer",
        ),
    )


def recovered_embed() -> DeploymentStatusDocument:
    """``failing_embed`` once both workers came up."""
    workers = [
        WorkerStatus(
            slot=slot,
            job_id=f"412{slot}",
            state="RUNNING",
            reason="ready",
            node=f"cpu-b0{slot + 1}",
            url=f"http://10.1.2.{slot + 1}:3042{slot}",
            ready=True,
            restarts=4 if slot == 0 else 0,
            started_at=NOW,
            template_hash="9a7e11b0",
        )
        for slot in range(2)
    ]
    return _deployment(
        "embed",
        generation=1,
        model="bge-m3",
        workers=workers,
        conditions=_converged_conditions(),
    )


def router_main() -> RouterStatusDocument:
    return RouterStatusDocument(
        api_version="sgorch.io/v1alpha1",
        kind="Router",
        metadata=StatusMetadata(name="main", generation=1),
        status=RouterStatus(
            observed_generation=1,
            url="http://127.0.0.1:8080",
            pid=48213,
            restarts=0,
            workers=2,
            models=["llama-3.1-8b-instruct"],
            conditions=[
                _condition("Available", "True", "Serving", "listening on http://127.0.0.1:8080"),
                _condition("Invalid", "False", "Valid"),
            ],
        ),
    )


def _deployment(
    name: str,
    *,
    generation: int,
    model: str,
    workers: list[WorkerStatus],
    conditions: list[Condition],
    error: ResourceError | None = None,
) -> DeploymentStatusDocument:
    ready = sum(1 for w in workers if w.ready)
    return DeploymentStatusDocument(
        api_version="sgorch.io/v1alpha1",
        kind="Deployment",
        metadata=StatusMetadata(name=name, generation=generation),
        status=DeploymentStatus(
            observed_generation=generation,
            desired_replicas=2,
            replicas=len(workers),
            ready_replicas=ready,
            updated_replicas=len(workers),
            unavailable_replicas=2 - ready,
            model=model,
            router="main",
            conditions=conditions,
            workers=workers,
            error=error,
        ),
    )


async def write_scenario(status_dir: Path) -> StatusWriter:
    """A converged Deployment, a failing one and a Router, written as the operator does."""
    writer = StatusWriter(status_dir, "gpu-cluster-3f9a2c71")
    for document in (converged_chat(), failing_embed(), router_main()):
        await writer.write(document)
    return writer

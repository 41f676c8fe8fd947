"""`make run`'s quickstart works: demo workers behind the router answer a chat request,
and deleting the resources cleans everything up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quickstart_serves_a_chat_request_through_the_router(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "quickstart" / "run.py"),
            "--check",
            "--work-dir",
            str(tmp_path / "qs"),
            "--timeout",
            "180",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "router answered: 'echo: hello'" in result.stdout
    assert "every demo job is gone" in result.stdout

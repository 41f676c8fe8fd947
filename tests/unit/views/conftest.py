"""Fixed status documents (``tests/data/views/status``), a fixed "now", and the view
commands run in-process with that clock. (Fixtures, not imports: ``conftest`` is not
importable by name from here.)"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sgorch.views import add_view_commands

DATA = Path(__file__).resolve().parents[2] / "data" / "views"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def status_dir(tmp_path: Path) -> Path:
    """A writable copy of the fixture status directory."""
    target = tmp_path / "status"
    shutil.copytree(DATA / "status", target)
    return target


@pytest.fixture
def run_view() -> Callable[..., int]:
    """Run a view command as ``sgorch ARGV`` would, with the clock at ``NOW``. Usage
    errors raise ``SystemExit(2)`` as argparse does."""
    parser = argparse.ArgumentParser(prog="sgorch")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers = add_view_commands(sub, clock=lambda: NOW)

    def run(*argv: str | Path) -> int:
        args = parser.parse_args([str(a) for a in argv])
        return handlers[args.command](args)

    return run

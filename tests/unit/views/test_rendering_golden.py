"""``get`` tables and ``describe`` pages are pinned by golden files rendered from fixed
status documents at a fixed "now". After a deliberate change, regenerate them with
``SGORCH_UPDATE_GOLDEN=1 pytest tests/unit/views`` and review the diff."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sgorch.status.events import read_events
from sgorch.views import (
    StatusFile,
    list_status_files,
    read_status_file,
    render_deployment_table,
    render_description,
    render_router_table,
)
from sgorch.views.documents import Kind
from sgorch.views.get import compute_created, find_problem

DATA = Path(__file__).resolve().parents[2] / "data" / "views"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)  # the same "now" as the run_view fixture
GOLDEN = DATA / "golden"
UPDATE = os.environ.get("SGORCH_UPDATE_GOLDEN") == "1"
STATUS = DATA / "status"


def pinned(status: StatusFile) -> StatusFile:
    """The status with a path and modification time that do not depend on the checkout."""
    relative = Path("status") / status.path.parent.name / status.path.name
    return dataclasses.replace(status, path=relative, modified=NOW - timedelta(seconds=4))


def statuses(kind: Kind) -> list[StatusFile]:
    found, problems = list_status_files(STATUS, kind)
    assert not problems
    return [pinned(s) for s in found]


def check_golden(name: str, text: str) -> None:
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text(), "run with SGORCH_UPDATE_GOLDEN=1 after a deliberate change"


def test_get_deployments_table_matches_its_golden_file() -> None:
    check_golden("get-deployments.txt", render_deployment_table(statuses("Deployment"), NOW))


def test_get_deployments_wide_table_matches_its_golden_file() -> None:
    text = render_deployment_table(statuses("Deployment"), NOW, wide=True)
    check_golden("get-deployments-wide.txt", text)


def test_get_routers_tables_match_their_golden_files() -> None:
    check_golden("get-routers.txt", render_router_table(statuses("Router"), NOW))
    check_golden("get-routers-wide.txt", render_router_table(statuses("Router"), NOW, wide=True))


def test_get_all_lists_deployments_then_routers_with_kind_prefixes(
    status_dir: Path, run_view: Callable[..., int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("get", "--status-dir", status_dir) == 0
    check_golden("get-all.txt", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("kind", "name"),
    [("Deployment", "llama"), ("Deployment", "qwen-coder"), ("Router", "main")],
)
def test_describe_matches_its_golden_file(kind: Kind, name: str) -> None:
    status = read_status_file(STATUS, kind, name)
    assert status is not None
    page = render_description(pinned(status), read_events(STATUS, kind, name), NOW)
    check_golden(f"describe-{kind.lower()}-{name}.txt", page)


def test_describe_shows_only_the_newest_events() -> None:
    status = read_status_file(STATUS, "Deployment", "llama")
    assert status is not None
    events = read_events(STATUS, "Deployment", "llama")
    page = render_description(pinned(status), events, NOW, max_events=2)
    assert "submitted job 10398" not in page
    assert "submitted job 10413 for slot 2" in page


def test_the_age_of_a_resource_without_conditions_comes_from_its_status_file() -> None:
    (status,) = [s for s in statuses("Deployment") if s.name == "embed"]
    bare = dataclasses.replace(
        status,
        document=status.document.model_copy(
            update={"status": status.document.status.model_copy(update={"conditions": []})}
        ),
        modified=NOW - timedelta(minutes=3),
    )
    assert compute_created(bare) == NOW - timedelta(minutes=3)
    assert render_deployment_table([bare], NOW).splitlines()[1].endswith("3m")


def test_the_condition_column_shows_an_invalid_spec_before_a_replica_failure() -> None:
    (llama,) = [s for s in statuses("Deployment") if s.name == "llama"]
    conditions = llama.document.status.conditions
    assert find_problem(conditions) == "WorkerFailed"
    invalid = [
        c.model_copy(update={"status": "True", "reason": "InvalidSpec"})
        if c.type == "Invalid"
        else c
        for c in conditions
    ]
    assert find_problem(invalid) == "InvalidSpec"
    assert find_problem([], has_error=True) == "InvalidSpec"
    healthy = [c for c in conditions if c.type not in ("ReplicaFailure", "Available")]
    assert find_problem(healthy) is None

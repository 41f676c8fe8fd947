"""``sgorch wait`` re-reads the status file until the condition holds or time runs out;
a file that appears, changes or disappears while it waits is seen."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sgorch.views.documents import read_status_file
from sgorch.views.wait import WaitFor, check_wait, parse_wait_for, wait_until

Run = Callable[..., int]


@contextmanager
def after(delay_s: float, action: Callable[[], None]) -> Iterator[None]:
    """Run ``action`` in a background thread after ``delay_s``, as the operator would."""
    thread = threading.Timer(delay_s, action)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def set_available(path: Path, status: str) -> None:
    document = json.loads(path.read_text())
    for condition in document["status"]["conditions"]:
        if condition["type"] == "Available":
            condition["status"] = status
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document))
    temporary.replace(path)  # atomic, as the operator writes


def test_wait_returns_once_a_background_writer_makes_the_condition_true(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    path = status_dir / "deployments" / "llama.json"
    started = time.monotonic()
    with after(0.3, lambda: set_available(path, "True")):
        code = run_view(
            "wait",
            "deployment",
            "llama",
            "--for",
            "condition=Available",
            "--timeout",
            "10s",
            "--interval",
            "0.05",
            "--status-dir",
            status_dir,
        )
    assert code == 0
    assert 0.3 <= time.monotonic() - started < 5
    assert capsys.readouterr().out == "deployment/llama condition met\n"


def test_wait_for_a_status_file_that_does_not_exist_yet(
    tmp_path: Path, data_dir: Path, run_view: Run
) -> None:
    source = data_dir / "status" / "deployments" / "embed.json"
    target = tmp_path / "deployments" / "embed.json"

    def appear() -> None:
        target.parent.mkdir(parents=True)
        shutil.copyfile(source, target)

    with after(0.2, appear):
        code = run_view(
            "wait",
            "deploy",
            "embed",
            "--for",
            "condition=available",
            "--timeout",
            "5",
            "--interval",
            "0.05",
            "--status-dir",
            tmp_path,
        )
    assert code == 0


def test_wait_times_out_with_exit_1_and_shows_the_current_condition(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    code = run_view(
        "wait",
        "deployment",
        "llama",
        "--for",
        "condition=Available",
        "--timeout",
        "0.3",
        "--interval",
        "0.05",
        "--status-dir",
        status_dir,
    )
    assert code == 1
    assert 0.3 <= time.monotonic() - started < 3
    assert capsys.readouterr().err == (
        "error: timed out waiting for condition=Available=True on deployment/llama: "
        "Available is False (MinimumReplicasUnavailable: 1 of 3 workers ready)\n"
    )


def test_wait_timing_out_without_a_status_file_says_where_it_looked(
    tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_view(
        "wait",
        "router",
        "main",
        "--for",
        "condition=Available",
        "--timeout",
        "0",
        "--status-dir",
        tmp_path,
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "on router/main: no status file yet" in err
    assert f"{tmp_path / 'routers' / 'main.json'} does not exist" in err


def test_wait_for_a_false_condition(status_dir: Path, run_view: Run) -> None:
    args = ("--timeout", "0", "--status-dir", status_dir)
    assert run_view("wait", "deploy", "llama", "--for", "condition=Available=False", *args) == 0
    assert run_view("wait", "deploy", "embed", "--for", "condition=Available=false", *args) == 1


def test_wait_for_delete_returns_once_the_status_file_is_removed(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    path = status_dir / "deployments" / "llama.json"
    with after(0.2, path.unlink):
        code = run_view(
            "wait",
            "deploy",
            "llama",
            "--for",
            "delete",
            "--timeout",
            "5s",
            "--interval",
            "0.05",
            "--status-dir",
            status_dir,
        )
    assert code == 0
    assert capsys.readouterr().out == "deployment/llama deleted\n"


def test_wait_for_delete_times_out_while_the_file_is_there(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_view(
        "wait", "router", "main", "--for", "delete", "--timeout", "0", "--status-dir", status_dir
    )
    assert code == 1
    assert "main.json still exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "bad",
    [
        ["--for", "ready"],
        ["--for", "condition=A=maybe"],
        ["--for", "delete", "--timeout", "soon"],
        [],
    ],
)
def test_a_bad_wait_request_is_a_usage_error_exiting_2(
    bad: list[str], run_view: Run, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_view("wait", "deploy", "llama", "--status-dir", tmp_path, *bad)
    assert exit_.value.code == 2


def test_wait_for_accepts_the_kubectl_forms() -> None:
    assert parse_wait_for("condition=Available") == WaitFor("Available", "True")
    assert parse_wait_for("condition=Available=False") == WaitFor("Available", "False")
    assert parse_wait_for("condition=Progressing=unknown") == WaitFor("Progressing", "Unknown")
    assert parse_wait_for("DELETE") == WaitFor(None)


def test_an_unreadable_status_file_is_waited_past(status_dir: Path) -> None:
    path = status_dir / "deployments" / "llama.json"
    good = path.read_text()
    path.write_text("{torn")
    readings = 0

    def read() -> object:
        nonlocal readings
        readings += 1
        if readings == 3:
            path.write_text(good)
        return read_status_file(status_dir, "Deployment", "llama")

    outcome = wait_until(
        read,  # type: ignore[arg-type]
        WaitFor("Available", "False"),
        timeout_s=5,
        interval_s=0.01,
    )
    assert outcome.met
    assert readings == 3


def test_check_wait_matches_condition_types_case_insensitively(status_dir: Path) -> None:
    status = read_status_file(status_dir, "Deployment", "embed")
    assert check_wait(status, WaitFor("available", "True")).met
    missing = check_wait(status, WaitFor("Degraded", "True"))
    assert not missing.met
    assert missing.current == "no Degraded condition reported yet"

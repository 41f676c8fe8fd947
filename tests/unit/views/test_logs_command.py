"""``sgorch logs`` finds a worker's log from the status file (slot → job id → file),
prints its tail and follows it; when there is no log it says why and what to do."""

from __future__ import annotations

import argparse
import io
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sgorch.views import add_view_commands
from sgorch.views.commands import run_logs
from sgorch.views.logs import find_job_logs, follow_log, tail_start

Run = Callable[..., int]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    """STATE_DIR with logs of Deployment ``llama`` (slots 0 and 1 running, see the
    fixture status) and of an unrelated Deployment whose name ends the same way."""
    logs = tmp_path / "state" / "logs" / "llama"
    logs.mkdir(parents=True)
    (logs / "sgl-llama-0-10398.out").write_text("".join(f"slot 0 line {i}\n" for i in range(5)))
    (logs / "sgl-llama-0-10390.out").write_text("slot 0 crashed: CUDA out of memory\n")
    (logs / "sgl-llama-1-10405.out").write_text("slot 1 loading weights\n")
    (logs / "sgl-b-llama-0-99999.out").write_text("not ours\n")
    return tmp_path / "state"


def parse(*argv: str | Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sgorch")
    add_view_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args([str(a) for a in argv])


def logs_args(status_dir: Path, state_dir: Path, *extra: str | Path) -> tuple[str | Path, ...]:
    return (
        "logs",
        "deployment",
        "llama",
        "--status-dir",
        status_dir,
        "--state-dir",
        state_dir,
        "--resources",
        state_dir / "no-resources",
        *extra,
    )


def test_logs_prints_the_log_of_the_lowest_slots_job(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view(*logs_args(status_dir, state_dir)) == 0
    assert capsys.readouterr().out == "".join(f"slot 0 line {i}\n" for i in range(5))


def test_logs_of_another_worker_by_slot(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view(*logs_args(status_dir, state_dir, "--worker", "1")) == 0
    assert capsys.readouterr().out == "slot 1 loading weights\n"


def test_logs_tail_prints_only_the_last_lines(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view(*logs_args(status_dir, state_dir, "--tail", "2")) == 0
    assert capsys.readouterr().out == "slot 0 line 3\nslot 0 line 4\n"


def test_logs_previous_shows_the_job_that_filled_the_slot_before(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view(*logs_args(status_dir, state_dir, "--previous")) == 0
    assert capsys.readouterr().out == "slot 0 crashed: CUDA out of memory\n"
    assert run_view(*logs_args(status_dir, state_dir, "-p", "--worker", "1")) == 1
    assert "no earlier job log for slot 1" in capsys.readouterr().err


def test_logs_of_a_pending_job_say_it_has_no_log_until_it_starts(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view(*logs_args(status_dir, state_dir, "--worker", "2")) == 1
    err = capsys.readouterr().err
    assert "job 10413 (slot 2) is PENDING (Resources): it has no log until it starts" in err
    assert "sgorch wait deployment llama --for condition=Available" in err


def test_a_missing_log_file_says_where_it_looked_and_what_to_pass(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    (state_dir / "logs" / "llama" / "sgl-llama-1-10405.out").unlink()
    assert run_view(*logs_args(status_dir, state_dir, "--worker", "1")) == 1
    err = capsys.readouterr().err
    assert f"no log *-llama-1-10405.out of job 10405 in {state_dir / 'logs' / 'llama'}" in err
    assert "pass --log-dir DIR" in err
    assert "pass the same one" in err


def test_logs_use_the_log_dir_set_in_the_deployment_resource(
    status_dir: Path, tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared-logs"
    shared.mkdir()
    (shared / "vllm-llama-0-10398.out").write_text("from slurm.log_dir\n")
    resources = tmp_path / "resources"
    resources.mkdir()
    (resources / "llama.yaml").write_text(
        "apiVersion: sgorch.io/v1alpha1\nkind: Deployment\nmetadata: {name: llama}\n"
        'spec:\n  backend: {type: command, command: [srv, "{PORT}"]}\n'
        f"  slurm: {{log_dir: {shared}}}\n"
    )
    code = run_view(
        "logs",
        "deploy",
        "llama",
        "--status-dir",
        status_dir,
        "--state-dir",
        tmp_path / "state",
        "--resources",
        resources,
    )
    assert code == 0
    assert capsys.readouterr().out == "from slurm.log_dir\n"


def test_logs_dir_flag_overrides_every_default(
    status_dir: Path, tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cmd-llama-0-10398.out").write_text("here\n")
    assert (
        run_view("logs", "deploy", "llama", "--status-dir", status_dir, "--log-dir", elsewhere) == 0
    )
    assert capsys.readouterr().out == "here\n"


def test_a_slot_without_a_job_shows_its_newest_log_and_says_so(
    status_dir: Path, state_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = state_dir / "logs" / "llama"
    (logs / "sgl-llama-3-999.out").write_text("older\n")
    (logs / "sgl-llama-3-1000.out").write_text("newest\n")
    assert run_view(*logs_args(status_dir, state_dir, "--worker", "3")) == 0
    captured = capsys.readouterr()
    assert captured.out == "newest\n"
    assert "slot 3 has no job now; this is the log of job 1000" in captured.err
    assert run_view(*logs_args(status_dir, state_dir, "--worker", "4")) == 1
    assert "slot 4 of deployment llama has no job and no log" in capsys.readouterr().err


def test_logs_of_a_missing_deployment_exit_1_with_a_not_found_message(
    status_dir: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_view("logs", "deployment", "ghost", "--status-dir", status_dir) == 1
    assert 'Error (NotFound): deployment "ghost" not found' in capsys.readouterr().err


def test_logs_of_a_router_print_its_sidecar_log(
    status_dir: Path, tmp_path: Path, run_view: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("logs", "router", "main", "--status-dir", status_dir, "--state-dir", tmp_path)
    assert run_view(*args) == 1
    assert "no router log" in capsys.readouterr().err
    (tmp_path / "logs" / "routers").mkdir(parents=True)
    (tmp_path / "logs" / "routers" / "main.log").write_text("router up\n")
    assert run_view(*args) == 0
    assert capsys.readouterr().out == "router up\n"


def wait_for_text(out: io.StringIO, text: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in out.getvalue():
        assert time.monotonic() < deadline, f"{text!r} never appeared in {out.getvalue()!r}"
        time.sleep(0.01)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_logs_follow_prints_lines_appended_later(
    status_dir: Path, state_dir: Path, stop: threading.Event
) -> None:
    args = parse(*logs_args(status_dir, state_dir, "-f", "--tail", "1"))
    out = io.StringIO()
    codes: list[int] = []
    follower = threading.Thread(
        target=lambda: codes.append(run_logs(args, out=out, interval_s=0.02, stop=stop.is_set))
    )
    follower.start()
    wait_for_text(out, "slot 0 line 4\n")
    log = state_dir / "logs" / "llama" / "sgl-llama-0-10398.out"

    def append() -> None:
        for number in range(3):
            with log.open("a") as handle:
                handle.write(f"appended {number}\n")
            time.sleep(0.05)

    appender = threading.Thread(target=append)
    appender.start()
    appender.join()
    wait_for_text(out, "appended 2\n")
    stop.set()
    follower.join(timeout=5)
    assert codes == [0]
    assert out.getvalue() == "slot 0 line 4\nappended 0\nappended 1\nappended 2\n"


def test_follow_reads_a_truncated_file_again_from_its_start(
    tmp_path: Path, stop: threading.Event
) -> None:
    log = tmp_path / "job.out"
    log.write_text("first run, a long line\n")
    out = io.StringIO()
    notices: list[str] = []
    follower = threading.Thread(
        target=follow_log,
        args=(log, out),
        kwargs={
            "offset": log.stat().st_size,
            "interval_s": 0.02,
            "stop": stop.is_set,
            "notice": notices.append,
        },
    )
    follower.start()
    log.write_text("restart\n")
    wait_for_text(out, "restart\n")
    stop.set()
    follower.join(timeout=5)
    assert out.getvalue() == "restart\n"
    assert notices and "truncated or replaced" in notices[0]


def test_follow_keeps_a_multibyte_character_split_across_reads_whole(
    tmp_path: Path, stop: threading.Event
) -> None:
    log = tmp_path / "job.out"
    log.write_bytes(b"")
    out = io.StringIO()
    follower = threading.Thread(
        target=follow_log,
        args=(log, out),
        kwargs={"offset": 0, "interval_s": 0.02, "stop": stop.is_set},
    )
    follower.start()
    encoded = "température ✓\n".encode()
    with log.open("ab") as handle:
        handle.write(encoded[:3])
        handle.flush()
        time.sleep(0.1)
        handle.write(encoded[3:])
    wait_for_text(out, "\n")
    stop.set()
    follower.join(timeout=5)
    assert out.getvalue() == "température ✓\n"


@pytest.mark.parametrize(
    ("content", "lines", "expected"),
    [
        (b"a\nb\nc\n", 2, b"b\nc\n"),
        (b"a\nb\nc", 2, b"b\nc"),
        (b"a\nb\nc\n", 10, b"a\nb\nc\n"),
        (b"a\nb\nc\n", 0, b""),
        (b"", 3, b""),
        (b"\n\n\n", 1, b"\n"),
    ],
)
def test_tail_start_finds_where_the_last_lines_begin(
    tmp_path: Path, content: bytes, lines: int, expected: bytes
) -> None:
    path = tmp_path / "log"
    path.write_bytes(content)
    assert content[tail_start(path, lines) :] == expected


def test_tail_start_reads_backwards_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "log"
    lines = [f"{i:06d} {'x' * 200}\n".encode() for i in range(2000)]  # ~400 kB
    path.write_bytes(b"".join(lines))
    assert path.read_bytes()[tail_start(path, 700) :] == b"".join(lines[-700:])


def test_log_files_of_a_deployment_with_a_similar_name_are_not_matched(state_dir: Path) -> None:
    found = find_job_logs([state_dir / "logs" / "llama"], "llama", 0)
    assert sorted(found) == ["10390", "10398"]


def test_logs_follow_exits_0_on_ctrl_c(status_dir: Path, state_dir: Path) -> None:
    log = state_dir / "logs" / "llama" / "sgl-llama-0-10398.out"
    argv = [str(a) for a in logs_args(status_dir, state_dir, "-f", "--tail", "1")]
    process = subprocess.Popen(
        [sys.executable, "-m", "sgorch", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test runner may start us with SIGINT ignored; the command must see Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "slot 0 line 4\n"
        with log.open("a") as handle:
            handle.write("after\n")
        assert process.stdout.readline() == "after\n"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert (out, err) == ("", "")

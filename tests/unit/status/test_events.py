"""Events: Kubernetes-like repeat counting, a bounded tail, tolerance of torn lines,
removal with the resource, and no crash of the caller when the disk says no."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from loguru import logger

from sgorch.status.events import (
    MAX_MESSAGE_CHARS,
    Event,
    EventRecorder,
    events_path,
    parse_events,
    read_events,
)

START = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one second per reading."""
    ticks = iter(range(1_000_000))
    return lambda: START + timedelta(seconds=next(ticks))


def lines_of(status_dir: Path, name: str = "llama") -> list[dict[str, object]]:
    path = status_dir / "events" / "deployments" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_events_go_to_one_jsonl_file_per_resource_with_camel_case_keys(
    tmp_path: Path,
) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "submitted job 7")
    await recorder.record("Router", "main", "Warning", "SidecarExited", "exit code 1")
    assert lines_of(tmp_path) == [
        {
            "time": "2025-06-01T12:00:00Z",
            "type": "Normal",
            "reason": "Submitted",
            "message": "submitted job 7",
            "count": 1,
            "firstTime": "2025-06-01T12:00:00Z",
        }
    ]
    assert (tmp_path / "events" / "routers" / "main.jsonl").is_file()


async def test_a_repeat_of_the_last_event_bumps_its_count_and_time_instead_of_a_new_line(
    tmp_path: Path,
) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    for _ in range(3):
        await recorder.record("Deployment", "llama", "Warning", "WorkerFailed", "job 7 failed")
    (line,) = lines_of(tmp_path)
    assert line["count"] == 3
    assert line["firstTime"] == "2025-06-01T12:00:00Z"
    assert line["time"] == "2025-06-01T12:00:02Z"


async def test_an_event_in_between_makes_the_same_event_a_new_line_again(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Warning", "WorkerFailed", "job 7 failed")
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "submitted job 8")
    await recorder.record("Deployment", "llama", "Warning", "WorkerFailed", "job 7 failed")
    assert [(e["reason"], e["count"]) for e in lines_of(tmp_path)] == [
        ("WorkerFailed", 1),
        ("Submitted", 1),
        ("WorkerFailed", 1),
    ]


async def test_a_different_type_or_message_is_not_a_repeat(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Normal", "Ready", "worker 7 ready")
    await recorder.record("Deployment", "llama", "Warning", "Ready", "worker 7 ready")
    await recorder.record("Deployment", "llama", "Warning", "Ready", "worker 8 ready")
    assert [e["count"] for e in lines_of(tmp_path)] == [1, 1, 1]


async def test_only_the_newest_max_events_are_kept(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, max_events=3, clock=ticking_clock())
    for number in range(5):
        await recorder.record("Deployment", "llama", "Normal", "Submitted", f"job {number}")
    assert [e["message"] for e in lines_of(tmp_path)] == ["job 2", "job 3", "job 4"]


async def test_a_torn_or_garbled_line_is_skipped_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = events_path(tmp_path, "Deployment", "llama")
    path.parent.mkdir(parents=True)
    good = '{"time": "2025-06-01T11:00:00Z", "type": "Normal", "reason": "Submitted", ' + (
        '"message": "job 1", "count": 1, "firstTime": "2025-06-01T11:00:00Z"}'
    )
    path.write_text(f'{good}\nnot json at all\n{{"time": "2025-06-01T11:0\n\xff\n')
    assert [e.message for e in read_events(tmp_path, "Deployment", "llama")] == ["job 1"]
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Normal", "Ready", "worker ready")
    assert [e["reason"] for e in lines_of(tmp_path)] == ["Submitted", "Ready"]


def test_reading_events_of_a_resource_without_any_gives_an_empty_list(tmp_path: Path) -> None:
    assert read_events(tmp_path, "Deployment", "nothing") == []


async def test_remove_deletes_the_file_and_a_later_record_starts_afresh(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 1")
    await recorder.remove("Deployment", "llama")
    assert not events_path(tmp_path, "Deployment", "llama").exists()
    await recorder.remove("Deployment", "llama")  # twice is fine
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 1")
    assert [e["count"] for e in lines_of(tmp_path)] == [1]


async def test_the_recorder_writes_from_its_cache_without_rereading_the_file(
    tmp_path: Path,
) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 1")
    events_path(tmp_path, "Deployment", "llama").write_text("")  # what a reread would see
    await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 2")
    assert [e["message"] for e in lines_of(tmp_path)] == ["job 1", "job 2"]


async def test_a_new_recorder_continues_the_file_of_an_earlier_run(tmp_path: Path) -> None:
    await EventRecorder(tmp_path, clock=ticking_clock()).record(
        "Deployment", "llama", "Warning", "SlurmUnavailable", "squeue timed out"
    )
    await EventRecorder(tmp_path, clock=ticking_clock()).record(
        "Deployment", "llama", "Warning", "SlurmUnavailable", "squeue timed out"
    )
    assert [e["count"] for e in lines_of(tmp_path)] == [2]


async def test_a_write_failure_is_logged_once_and_never_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "status"
    blocker.write_text("a file where the status directory should be")
    messages: list[str] = []
    sink = logger.add(messages.append, level="ERROR", format="{message}")
    try:
        recorder = EventRecorder(blocker, clock=ticking_clock())
        await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 1")
        await recorder.record("Deployment", "llama", "Normal", "Submitted", "job 2")
        assert "cannot write events" in (recorder.last_error or "")
        await recorder.remove("Deployment", "llama")
    finally:
        logger.remove(sink)
    assert sum("cannot write events" in m for m in messages) == 1
    assert any("cannot remove events" in m for m in messages)


async def test_long_messages_are_cut_to_a_bounded_size(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    await recorder.record("Deployment", "llama", "Warning", "SubmitFailed", "x" * 5000)
    (line,) = lines_of(tmp_path)
    message = str(line["message"])
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…")


def test_the_kind_may_be_given_as_a_kind_or_as_its_status_folder(tmp_path: Path) -> None:
    expected = tmp_path / "events" / "deployments" / "llama.jsonl"
    assert events_path(tmp_path, "Deployment", "llama") == expected
    assert events_path(tmp_path, "deployments", "llama") == expected
    with pytest.raises(ValueError, match="not a resource name"):
        events_path(tmp_path, "Deployment", "../escape")


async def test_concurrent_records_of_one_resource_lose_nothing(tmp_path: Path) -> None:
    recorder = EventRecorder(tmp_path, clock=ticking_clock())
    async with anyio.create_task_group() as tg:
        for number in range(20):
            tg.start_soon(
                recorder.record, "Deployment", "llama", "Normal", "Submitted", f"{number}"
            )
    assert sorted(int(str(e["message"])) for e in lines_of(tmp_path)) == list(range(20))


# The file is the run-length encoding of the recorded sequence, cut to the newest lines.
_EVENTS = st.sampled_from(
    [
        ("Normal", "Submitted", "job 1"),
        ("Normal", "Ready", "worker 1 ready"),
        ("Warning", "WorkerFailed", "job 1 failed"),
        ("Warning", "Ready", "worker 1 ready"),
    ]
)


@settings(max_examples=40, deadline=None)
@given(sequence=st.lists(_EVENTS, max_size=12), max_events=st.integers(1, 5))
def test_the_file_is_the_run_length_encoded_tail_of_what_was_recorded(
    sequence: list[tuple[str, str, str]], max_events: int
) -> None:
    expected: list[tuple[str, str, str, int]] = []
    for event in sequence:
        if expected and expected[-1][:3] == event:
            expected[-1] = (*event, expected[-1][3] + 1)
        else:
            expected.append((*event, 1))

    async def record_all(status_dir: Path) -> None:
        recorder = EventRecorder(status_dir, max_events=max_events, clock=ticking_clock())
        for type_, reason, message in sequence:
            assert type_ in ("Normal", "Warning")
            await recorder.record("Deployment", "llama", type_, reason, message)  # type: ignore[arg-type]

    with tempfile.TemporaryDirectory() as directory:
        anyio.run(record_all, Path(directory))
        events = read_events(Path(directory), "Deployment", "llama")
    assert [(e.type, e.reason, e.message, e.count) for e in events] == expected[-max_events:]


def test_parse_events_reads_back_what_the_recorder_writes() -> None:
    event = Event(
        time=START, type="Normal", reason="Adopted", message="job 9", count=2, first_time=START
    )
    line = event.model_dump_json(by_alias=True)
    assert parse_events(line + "\n\n") == [event]

"""The cli client's parsers read what Slurm 22.05 really printed (``tests/data/slurm/
22.05``, see ``cli-README.md``) and the odd values squeue prints in other situations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from loguru import logger

from sgorch.slurm import UNSATISFIABLE_REASONS, JobState
from sgorch.slurm.parsing import (
    SQUEUE_FIELDS,
    SQUEUE_SEPARATOR,
    ControllerStatus,
    parse_duration_s,
    parse_exit_status,
    parse_job_id,
    parse_ping_output,
    parse_sbatch_output,
    parse_slurm_time,
    parse_squeue_line,
    parse_squeue_output,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
REC = "sgorch:v1;instance=rec;"


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def squeue_line(*fields: str) -> str:
    assert len(fields) == len(SQUEUE_FIELDS)
    return SQUEUE_SEPARATOR.join(fields)


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    messages: list[str] = []
    sink = logger.add(lambda message: messages.append(str(message)), level="WARNING")
    yield messages
    logger.remove(sink)


# ----------------------------------------------------------------- recorded squeue


def test_every_line_of_the_recorded_squeue_listing_parses() -> None:
    lines = recorded("cli-squeue-jobs.txt").splitlines()
    assert len(lines) > 50
    assert [line for line in lines if parse_squeue_line(line) is None] == []


def test_listing_keeps_exactly_the_jobs_whose_comment_starts_with_the_owner_tag() -> None:
    jobs, broken = parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)
    assert broken == []
    assert sorted(int(job.job_id) for job in jobs) == [*range(775, 785), 787]
    assert all(job.comment.startswith(REC) for job in jobs)


def test_recorded_jobs_carry_their_state_reason_and_exit_code() -> None:
    jobs = {job.name: job for job in parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]}
    summary = {name: (job.state, job.reason, job.exit_code) for name, job in jobs.items()}
    assert summary == {
        "sgl-demo-0": (JobState.RUNNING, None, None),
        "sgl-demo-1": (JobState.RUNNING, None, None),
        "tei-emb-0": (JobState.RUNNING, None, None),
        "vllm-big-0": (JobState.PENDING, "PartitionConfig", None),
        "cmd-fail-0": (JobState.FAILED, "NonZeroExitCode", 3),
        "cmd-ok-0": (JobState.COMPLETED, None, 0),
        "cmd-cancel-0": (JobState.CANCELLED, None, 128 + 15),
        "cmd-kill-0": (JobState.CANCELLED, None, 128 + 15),
        "cmd-timeout-0": (JobState.TIMEOUT, "TimeLimit", 128 + 15),
        "cmd-pending-0": (JobState.PENDING, "BeginTime", None),
        "odd|name|RUNNING|x": (JobState.RUNNING, None, None),
    }


def test_an_impossible_request_pends_with_an_unsatisfiable_reason_and_no_node() -> None:
    jobs = parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]
    (impossible,) = [job for job in jobs if job.name == "vllm-big-0"]
    assert impossible.reason in UNSATISFIABLE_REASONS
    assert (impossible.nodes, impossible.start_time, impossible.end_time) == (None, None, None)


def test_running_jobs_have_their_node_times_and_limits_in_every_duration_format() -> None:
    jobs = {job.name: job for job in parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]}
    short, medium, long = jobs["sgl-demo-0"], jobs["sgl-demo-1"], jobs["tei-emb-0"]
    assert short.nodes == "vm"
    assert short.start_time == datetime(2026, 11, 25, 13, 51, 10, tzinfo=UTC)
    assert short.end_time == datetime(2026, 11, 25, 13, 56, 10, tzinfo=UTC)
    assert (short.time_left_s, short.time_limit_min) == (3 * 60 + 1, 5)
    assert (medium.time_left_s, medium.time_limit_min) == (3600 + 28 * 60 + 1, 90)
    assert (long.time_left_s, long.time_limit_min) == (86400 + 23 * 3600 + 58 * 60 + 1, 2 * 1440)


def test_a_timed_out_job_has_an_end_time_and_no_time_left() -> None:
    jobs = {job.name: job for job in parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]}
    timeout = jobs["cmd-timeout-0"]
    assert timeout.end_time == datetime(2026, 11, 25, 13, 52, 14, tzinfo=UTC)
    assert (timeout.time_left_s, timeout.time_limit_min) == (None, 1)


def test_a_job_without_limit_or_end_reports_unlimited_and_no_end() -> None:
    jobs = {job.name: job for job in parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]}
    odd = jobs["odd|name|RUNNING|x"]
    assert (odd.time_limit_min, odd.time_left_s, odd.end_time) == (-1, None, None)


def test_pipes_in_job_names_and_comments_stay_in_their_field() -> None:
    jobs = {job.job_id: job for job in parse_squeue_output(recorded("cli-squeue-jobs.txt"), REC)[0]}
    odd = jobs[parse_job_id("787")]
    assert odd.name == "odd|name|RUNNING|x"
    assert odd.comment == f"{REC}deployment=odd;slot=0;hash=777777|extra|fields"


def test_a_job_without_comment_has_an_empty_comment() -> None:
    (line,) = [
        line for line in recorded("cli-squeue-jobs.txt").splitlines() if "no-comment" in line
    ]
    job = parse_squeue_line(line)
    assert job is not None and job.comment == ""


# ----------------------------------------------------------------- squeue lines


def test_a_comment_may_contain_the_separator_itself() -> None:
    comment = f"{REC}a{SQUEUE_SEPARATOR}b"
    job = parse_squeue_line(
        squeue_line("9", "n", "RUNNING", "None", "vm", "N/A", "N/A", "1:00", "2:00", "0", comment)
    )
    assert job is not None and job.comment == comment


@pytest.mark.parametrize(
    "job_id", ["123", "123_4", "123_[1-3]", "123_[1,4%2]", "123+0", "2147483647"]
)
def test_array_and_heterogeneous_job_ids_are_kept_verbatim(job_id: str) -> None:
    job = parse_squeue_line(
        squeue_line(job_id, "n", "PENDING", "None", "", "N/A", "N/A", "1:00", "1:00", "0", "c")
    )
    assert job is not None and job.job_id == job_id


@pytest.mark.parametrize(
    "line",
    [
        "",
        "JOBID|NAME|STATE",
        "757|fx-cancelled|CANCELLED|None|vm|2026-11-25T13:50:44|2026-11-25T13:50:45|1:00|1:00|x",
        SQUEUE_SEPARATOR.join(["1", "n", "RUNNING"]),
        squeue_line("abc", "n", "RUNNING", "None", "vm", "N/A", "N/A", "1:00", "1:00", "0", "c"),
        squeue_line("-u", "n", "RUNNING", "None", "vm", "N/A", "N/A", "1:00", "1:00", "0", "c"),
    ],
)
def test_lines_that_are_not_squeue_jobs_give_none(line: str) -> None:
    assert parse_squeue_line(line) is None


def test_an_unknown_state_is_unknown_and_kept() -> None:
    job = parse_squeue_line(
        squeue_line("5", "n", "HIBERNATING", "None", "", "N/A", "N/A", "1:00", "1:00", "0", "c")
    )
    assert job is not None and job.state is JobState.UNKNOWN


def test_an_unparseable_field_is_logged_and_the_job_is_kept(warnings: list[str]) -> None:
    job = parse_squeue_line(
        squeue_line("5", "n", "RUNNING", "None", "vm", "yesterday", "N/A", "soon", "1:00", "0", "c")
    )
    assert job is not None
    assert (job.start_time, job.time_left_s, job.time_limit_min) == (None, None, 1)
    assert len(warnings) == 2
    assert any("start time 'yesterday'" in message for message in warnings)
    assert any("time left 'soon'" in message for message in warnings)


def test_an_unparseable_line_of_ours_is_reported_and_others_are_skipped() -> None:
    ours = f"garbage {REC}deployment=x;slot=0;hash=1"
    good = squeue_line("5", "n", "RUNNING", "None", "vm", "N/A", "N/A", "1:00", "1:00", "0", REC)
    jobs, broken = parse_squeue_output("\n".join(["foreign garbage", ours, "", good]), REC)
    assert [job.job_id for job in jobs] == ["5"]
    assert broken == [ours]


def test_exit_codes_are_reported_for_finished_jobs_only() -> None:
    running = parse_squeue_line(
        squeue_line("5", "n", "RUNNING", "None", "vm", "N/A", "N/A", "1:00", "1:00", "768", "c")
    )
    assert running is not None and running.exit_code is None


# ----------------------------------------------------------------- fields


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0:00", 0),
        ("4:55", 295),
        ("59:59", 3599),
        ("1:29:24", 5364),
        ("23:59:59", 86399),
        ("1-23:58:48", 172728),
        ("365-00:00:00", 365 * 86400),
        ("5", 300),
        ("2-12", 2 * 86400 + 12 * 3600),
        ("2-12:30", 2 * 86400 + 12 * 3600 + 30 * 60),
        ("UNLIMITED", -1),
        ("INFINITE", -1),
        ("NOT_SET", None),
        ("INVALID", None),
        ("N/A", None),
        ("", None),
    ],
)
def test_every_squeue_duration_format_parses(text: str, seconds: int | None) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["soon", "1:2:3:4", "-5", "1-", "1d"])
def test_malformed_durations_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a Slurm duration"):
        parse_duration_s(text)


@pytest.mark.parametrize("text", ["N/A", "NONE", "Unknown", "INVALID", "", "(null)"])
def test_times_without_a_value_are_none(text: str) -> None:
    assert parse_slurm_time(text) is None


def test_times_are_utc_because_squeue_runs_with_tz_utc() -> None:
    assert parse_slurm_time("2026-11-25T13:30:51") == datetime(2026, 11, 25, 13, 30, 51, tzinfo=UTC)


def test_a_malformed_time_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_slurm_time("Tue Nov 25")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0", 0),
        ("768", 3),
        ("256", 1),
        ("65280", 255),
        ("15", 128 + 15),
        ("9", 128 + 9),
        ("36608", 143),
        ("3:0", 3),
        ("0:9", 128 + 9),
        ("", None),
        ("N/A", None),
    ],
)
def test_raw_wait_statuses_and_sacct_pairs_become_shell_exit_codes(
    text: str, code: int | None
) -> None:
    assert parse_exit_status(text) == code


@pytest.mark.parametrize("text", ["-1", "x", "3:x"])
def test_malformed_exit_statuses_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_exit_status(text)


@pytest.mark.parametrize("text", ["", "12a", "-1", "1 2", "--me", "123_", "123+"])
def test_job_ids_that_could_be_options_or_garbage_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Slurm job id"):
        parse_job_id(text)


# ----------------------------------------------------------------- sbatch, ping


def test_sbatch_parsable_output_gives_the_job_id() -> None:
    assert parse_sbatch_output(recorded("sbatch_parsable_ok.out")) == "752"


def test_sbatch_parsable_output_with_a_cluster_gives_the_job_id() -> None:
    assert parse_sbatch_output("4242;gpu-cluster\n") == "4242"


@pytest.mark.parametrize("text", ["", "\n", "Submitted batch job 12\n", "abc;cluster"])
def test_sbatch_output_without_a_job_id_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sbatch_output(text)


def test_ping_of_a_live_controller_is_up() -> None:
    assert parse_ping_output(recorded("scontrol_ping_up.out")) == [
        ControllerStatus("primary", "vm", up=True)
    ]


def test_ping_of_an_unreachable_controller_is_down_despite_the_banner() -> None:
    assert parse_ping_output(recorded("unreachable_scontrol_ping.out")) == [
        ControllerStatus("primary", "vm", up=False)
    ]


def test_ping_lists_backup_controllers() -> None:
    text = "Slurmctld(primary) at a is DOWN\nSlurmctld(backup) at b is UP\n"
    assert [(c.role, c.up) for c in parse_ping_output(text)] == [
        ("primary", False),
        ("backup", True),
    ]

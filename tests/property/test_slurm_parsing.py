"""The squeue parsers never raise on whatever squeue (or a broken pipe) prints, and
every duration and exit status Slurm can print parses to the right number."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sgorch.slurm.parsing import (
    SQUEUE_FIELDS,
    SQUEUE_SEPARATOR,
    parse_duration_s,
    parse_exit_status,
    parse_slurm_time,
    parse_squeue_line,
    parse_squeue_output,
)

TAG = "sgorch:v1;instance=p;"

field_text = st.one_of(
    st.text(),
    st.sampled_from(
        ["", "N/A", "NONE", "Unknown", "INVALID", "NOT_SET", "UNLIMITED", "(null)", "None",
         "0", "768", "1:00", "1-00:00:00", "2026-11-25T13:30:51", "RUNNING", "|", "\x00"]
    ),
)  # fmt: skip

# Lines shaped like squeue's: the right number of separators, anything in the fields.
squeue_like = st.lists(field_text, min_size=len(SQUEUE_FIELDS), max_size=len(SQUEUE_FIELDS)).map(
    SQUEUE_SEPARATOR.join
)


@given(st.one_of(st.text(), squeue_like))
def test_parsing_any_line_never_raises(line: str) -> None:
    job = parse_squeue_line(line)
    if job is not None:
        assert job.job_id[0].isdigit()


@given(st.lists(st.one_of(st.text(), squeue_like, st.just(TAG))).map("\n".join))
def test_parsing_any_output_never_raises_and_keeps_only_owned_jobs(text: str) -> None:
    jobs, broken = parse_squeue_output(text, TAG)
    assert all(job.comment.startswith(TAG) for job in jobs)
    assert all(TAG in line for line in broken)


@given(
    days=st.integers(0, 400),
    hours=st.integers(0, 23),
    minutes=st.integers(0, 59),
    seconds=st.integers(0, 59),
)
def test_every_duration_format_parses_to_its_seconds(
    days: int, hours: int, minutes: int, seconds: int
) -> None:
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    assert parse_duration_s(f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}") == total
    assert parse_duration_s(f"{days}-{hours}") == (days * 24 + hours) * 3600
    assert (
        parse_duration_s(f"{days}-{hours}:{minutes}") == ((days * 24 + hours) * 60 + minutes) * 60
    )
    assert parse_duration_s(f"{hours}:{minutes:02d}:{seconds:02d}") == (
        (hours * 60 + minutes) * 60 + seconds
    )
    assert parse_duration_s(f"{minutes}:{seconds:02d}") == minutes * 60 + seconds
    assert parse_duration_s(str(minutes)) == minutes * 60


@given(st.text())
def test_a_duration_either_parses_or_raises_value_error(text: str) -> None:
    try:
        result = parse_duration_s(text)
    except ValueError:
        return
    assert result is None or result >= -1


@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1)))
def test_times_squeue_prints_parse_back_to_the_same_utc_instant(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    assert parse_slurm_time(moment.strftime("%Y-%m-%dT%H:%M:%S")) == moment.replace(tzinfo=UTC)


@given(code=st.integers(0, 255), signal=st.integers(1, 127))
def test_wait_statuses_decode_like_a_shell(code: int, signal: int) -> None:
    assert parse_exit_status(str(code << 8)) == code
    assert parse_exit_status(str(signal)) == 128 + signal
    assert parse_exit_status(f"{code}:0") == code

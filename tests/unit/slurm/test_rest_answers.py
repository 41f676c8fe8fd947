"""What the rest client reads: job lists, errors, submission answers and OpenAPI documents,
recorded from slurmrestd 22.05 (v0.0.38) or built from the v0.0.39+ schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sgorch.errors import SlurmUnavailable
from sgorch.slurm import JobState
from sgorch.slurm.rest import (
    ApiVersion,
    SlurmError,
    choose_version,
    parse_errors,
    parse_exit_code,
    parse_job_state,
    parse_jobs,
    parse_offered_versions,
    parse_submit_response,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
DEMO = "sgorch:v1 instance=test resource=demo"
NOW = 1795614700.0


def recorded(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def no_val(number: int | None = None, *, infinite: bool = False) -> dict[str, Any]:
    return {"set": number is not None or infinite, "infinite": infinite, "number": number or 0}


def v0040_job(**fields: Any) -> dict[str, Any]:
    """A job entry shaped like v0.0.40's job_info (its documented fields we read)."""
    job = {
        "job_id": 4242,
        "name": "sgl-demo-0",
        "comment": f"{DEMO} slot=0",
        "job_state": ["RUNNING"],
        "state_reason": "None",
        "nodes": "gpu01",
        "start_time": no_val(1795614000),
        "end_time": no_val(1795617600),
        "time_limit": no_val(60),
        "exit_code": {"status": ["SUCCESS"], "return_code": no_val(0), "signal": {}},
    }
    return {**job, **fields}


def test_reads_every_state_reason_and_exit_code_of_a_recorded_22_05_job_list() -> None:
    jobs = {job.job_id: job for job in parse_jobs(recorded("rest_jobs.json"), DEMO, NOW)}

    summary = {job_id: (j.state, j.reason, j.exit_code) for job_id, j in jobs.items()}
    assert summary == {
        "751": (JobState.TIMEOUT, "TimeLimit", 128 + 15),
        "754": (JobState.PENDING, "PartitionConfig", None),
        "755": (JobState.COMPLETED, None, 0),
        "756": (JobState.FAILED, "NonZeroExitCode", 3),
        "757": (JobState.CANCELLED, None, 128 + 15),
        "758": (JobState.RUNNING, None, None),
        "760": (JobState.RUNNING, None, None),
        "761": (JobState.PENDING, "JobHeldUser", None),
        "772": (JobState.CANCELLED, "Priority", 0),
        "773": (JobState.CANCELLED, "Priority", 0),
    }


def test_keeps_only_jobs_whose_comment_starts_with_the_owner_tag() -> None:
    payload = recorded("rest_jobs.json")

    assert "759" not in {job.job_id for job in parse_jobs(payload, DEMO, NOW)}
    assert "759" in {job.job_id for job in parse_jobs(payload, "sgorch:v1 instance=test", NOW)}
    assert parse_jobs(payload, "sgorch:v1 instance=other", NOW) == []


def test_reads_times_nodes_and_names_of_running_and_pending_22_05_jobs() -> None:
    jobs = {job.job_id: job for job in parse_jobs(recorded("rest_jobs.json"), DEMO, NOW)}

    running, pending = jobs["758"], jobs["754"]
    assert running.start_time == datetime.fromtimestamp(1795614644, tz=UTC)
    assert running.end_time == datetime.fromtimestamp(1827150644, tz=UTC)
    assert running.time_limit_min == 525600
    assert running.time_left_s == 1827150644 - int(NOW)
    assert running.nodes == "vm"
    assert (pending.start_time, pending.end_time, pending.nodes) == (None, None, None)
    assert pending.time_limit_min is None and pending.time_left_s is None
    assert jobs["760"].name == 'fx weird|name "q" $HOME ü'


def test_reads_the_job_slurmrestd_22_05_made_of_the_client_shaped_submission() -> None:
    answer = recorded("rest-job-client-shape.json")
    comment = answer["body"]["jobs"][0]["comment"]

    (job,) = parse_jobs(answer["body"], comment, NOW)

    assert (job.state, job.time_limit_min, job.nodes) == (JobState.RUNNING, 7, "vm")
    assert job.name == "fx-rest-client"


def test_reads_a_v0_0_40_job_with_structured_times_and_exit_code() -> None:
    (job,) = parse_jobs({"jobs": [v0040_job()]}, DEMO, 1795614600.0)

    assert job.state is JobState.RUNNING
    assert job.start_time == datetime.fromtimestamp(1795614000, tz=UTC)
    assert job.time_limit_min == 60
    assert job.time_left_s == 3000
    assert (job.reason, job.exit_code) == (None, None)


def test_reads_an_infinite_v0_0_40_time_limit_as_no_limit() -> None:
    (job,) = parse_jobs({"jobs": [v0040_job(time_limit=no_val(infinite=True))]}, DEMO, NOW)

    assert (job.time_limit_min, job.time_left_s) == (None, None)


def test_reads_unset_v0_0_40_times_of_a_pending_job_as_none() -> None:
    entry = v0040_job(job_state=["PENDING"], start_time=no_val(), end_time=no_val(), nodes="")

    (job,) = parse_jobs({"jobs": [entry]}, DEMO, NOW)

    assert (job.state, job.start_time, job.end_time, job.nodes) == (
        JobState.PENDING,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("words", "state"),
    [
        (["RUNNING"], JobState.RUNNING),
        (["CANCELLED", "COMPLETING"], JobState.COMPLETING),
        (["PENDING", "REQUEUED"], JobState.REQUEUED),
        (["RUNNING", "CONFIGURING"], JobState.CONFIGURING),
        (["PENDING", "POWER_UP_NODE"], JobState.PENDING),
        (["FAILED", "LAUNCH_FAILED"], JobState.FAILED),
        (["SOMETHING_NEW"], JobState.UNKNOWN),
        ("TIMEOUT", JobState.TIMEOUT),
    ],
)
def test_reads_state_lists_with_squeue_precedence(words: Any, state: JobState) -> None:
    assert parse_job_state(words) is state


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (768, 3),  # v0.0.38: raw wait status (LIVE: exit 3)
        (15, 128 + 15),  # v0.0.38: killed by SIGTERM (LIVE: scancel)
        (no_val(768), 3),  # v0.0.39: the same status in a no-val object
        ({"status": ["ERROR"], "return_code": no_val(3), "signal": {}}, 3),
        (
            {
                "status": ["SIGNALED"],
                "return_code": no_val(0),
                "signal": {"id": no_val(9), "name": "KILL"},
            },
            128 + 9,
        ),
        ({"status": ["PENDING"], "return_code": no_val(), "signal": {}}, None),
        (None, None),
    ],
)
def test_reads_exit_codes_of_every_shape(value: Any, code: int | None) -> None:
    assert parse_exit_code(value) == code


@given(st.integers(0, 255))
def test_an_exit_status_reads_the_same_raw_or_structured(status: int) -> None:
    structured = {"status": ["ERROR"], "return_code": no_val(status), "signal": {}}

    assert parse_exit_code(status << 8) == parse_exit_code(structured) == status


@given(st.integers(1, 64))
def test_a_kill_by_signal_reads_as_128_plus_the_signal_raw_or_structured(signal: int) -> None:
    structured = {"status": ["SIGNALED"], "signal": {"id": no_val(signal)}}

    assert parse_exit_code(signal) == parse_exit_code(structured) == 128 + signal


def test_reads_both_error_number_spellings_of_22_05_with_their_descriptions() -> None:
    assert parse_errors(recorded("rest_submit_no_environment.json")) == [
        SlurmError(2127, "environment must be set"),
        SlurmError(9001, "Failure during parsing"),
    ]
    (error,) = parse_errors(recorded("rest_delete_unknown.json"))
    assert error.number == 2017
    assert str(error) == (
        "Invalid job id specified: unable to kill JobId=999999 with signal 9: "
        "Invalid job id specified (Slurm error 2017)"
    )


def test_reads_no_errors_from_a_plain_text_answer() -> None:
    assert parse_errors(recorded("rest-unknown-version-ping.json")["body"]) == []


def test_reads_the_job_id_of_an_accepted_submission() -> None:
    assert parse_submit_response(recorded("rest_submit_ok.json")) == "774"


def test_an_acceptance_without_job_id_is_unavailability_not_success() -> None:
    with pytest.raises(SlurmUnavailable, match="no job id"):
        parse_submit_response({"errors": [], "job_id": None})


def test_finds_the_versions_a_22_05_openapi_document_offers() -> None:
    offered = parse_offered_versions(recorded("rest_openapi_v3.json"))

    assert offered == [ApiVersion(38)]
    assert choose_version(offered) == ApiVersion(38)


def test_chooses_the_newest_supported_version_and_ignores_slurmdb_paths() -> None:
    paths = {f"/slurm/v0.0.{n}/ping": {} for n in (40, 41, 42, 45)}
    paths["/slurmdb/v0.0.44/jobs"] = {}

    assert choose_version(parse_offered_versions({"paths": paths})) == ApiVersion(42)
    assert choose_version([ApiVersion(36), ApiVersion(37)]) is None


@pytest.mark.parametrize(
    "payload",
    [
        {"errors": []},
        {"jobs": [{"comment": DEMO, "job_state": "RUNNING"}]},
        {"jobs": [{"job_id": 1, "comment": DEMO, "job_state": 7}]},
        {"jobs": [{"job_id": 1, "comment": DEMO, "job_state": "RUNNING", "start_time": "x"}]},
    ],
    ids=["no jobs array", "no job id", "numeric state", "text time"],
)
def test_a_garbled_job_list_is_unavailability(payload: Any) -> None:
    with pytest.raises(SlurmUnavailable):
        parse_jobs(payload, DEMO, NOW)

"""The rest client against a scripted slurmrestd (an httpx MockTransport serving answers
recorded from slurmrestd 22.05): version discovery, authentication headers, and how
every kind of answer becomes a result, SlurmUnavailable or SlurmRejected."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sgorch.errors import ConfigError, SlurmRejected, SlurmUnavailable
from sgorch.slurm import JobId, JobRequest, JobState, SbatchOptions
from sgorch.slurm.rest import ApiVersion, RestSlurmClient, render_submit_body

DATA = Path(__file__).resolve().parents[2] / "data" / "slurm" / "22.05"
A = "/slurm/v0.0.38"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"
ENVIRON = {"PATH": "/usr/bin:/bin"}


def recorded(name: str) -> Any:
    """The body of a recorded answer: record.sh's NAME.json, or ours' rest-NAME.json."""
    text = (DATA / name).read_text()
    if name.startswith("rest-"):
        return json.loads(text)["body"]
    try:
        return json.loads(text)
    except ValueError:
        return text


class ScriptedRestd:
    """Answers (method, path) with a status and a body; records every request."""

    def __init__(self, *, versions: tuple[int, ...] = (38,)) -> None:
        self.answers: dict[tuple[str, str], tuple[int, Any]] = {
            ("GET", "/openapi/v3"): (
                200,
                {"paths": {f"/slurm/v0.0.{n}/ping": {} for n in versions}},
            ),
        }
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int, body: Any) -> None:
        self.answers[(method, path)] = (status, body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.get(
            (request.method, request.url.path),
            (404, "Unable find requested URL. Please view /openapi/v3 for API reference."),
        )
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    def paths(self, method: str) -> list[str]:
        return [r.url.path for r in self.requests if r.method == method]


@pytest.fixture
def restd() -> ScriptedRestd:
    return ScriptedRestd()


@pytest.fixture
async def client(restd: ScriptedRestd) -> AsyncIterator[RestSlurmClient]:
    rest = RestSlurmClient(
        "http://slurmrestd.example:6820",
        user_name="svc",
        token=TOKEN,
        timeout_s=5,
        transport=httpx.MockTransport(restd.handle),
        environ=ENVIRON,
        clock=lambda: 1795614700.0,
    )
    try:
        yield rest
    finally:
        await rest.aclose()


def make_request(**options: Any) -> JobRequest:
    return JobRequest(
        name="sgl-demo-0",
        script="#!/bin/bash\nexec sleep 30\n",
        comment="sgorch:v1;instance=op;deployment=demo;slot=0;hash=0123abcd",
        options=SbatchOptions(**options),
        working_dir="/tmp",
        stdout_path="/tmp/%x-%j.out",
        environment={"HF_TOKEN": "hf_secret"},
    )


# ------------------------------------------------------------------ discovery and transport
async def test_discovers_the_version_once_and_uses_it_for_every_call(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    restd.on("GET", f"{A}/ping", 200, recorded("rest_ping.json"))
    restd.on("GET", f"{A}/jobs", 200, recorded("rest_jobs.json"))

    await client.ping()
    await client.list_jobs("sgorch:")

    assert await client.api_version() == ApiVersion(38)
    assert restd.paths("GET") == ["/openapi/v3", f"{A}/ping", f"{A}/jobs"]


async def test_probes_pings_newest_first_when_the_openapi_document_is_missing(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    restd.on("GET", "/openapi/v3", 404, "Unable find requested URL.")
    restd.on("GET", "/slurm/v0.0.42/ping", 500, recorded("rest-unreachable-ping.json"))

    assert await client.api_version() == ApiVersion(42)
    assert restd.paths("GET")[1:] == [f"/slurm/v0.0.{n}/ping" for n in (44, 43, 42)]


async def test_a_daemon_offering_only_older_versions_is_unavailable_with_a_hint() -> None:
    restd = ScriptedRestd(versions=(36, 37))
    rest = RestSlurmClient(
        "http://h:1", transport=httpx.MockTransport(restd.handle), environ=ENVIRON
    )
    with pytest.raises(SlurmUnavailable, match=r"offers v0.0.36, v0.0.37.*-s openapi/v0.0.38"):
        await rest.ping()
    await rest.aclose()


async def test_sends_the_user_name_and_token_headers(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    restd.on("GET", f"{A}/ping", 200, recorded("rest_ping.json"))

    await client.ping()

    headers = restd.requests[-1].headers
    assert (headers["X-SLURM-USER-NAME"], headers["X-SLURM-USER-TOKEN"]) == ("svc", TOKEN)


async def test_an_unreachable_daemon_is_unavailable_and_the_token_stays_secret() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    rest = RestSlurmClient(
        "http://127.0.0.1:9", user_name="svc", token=TOKEN, transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(SlurmUnavailable, match=r"unreachable.*Connection refused") as caught:
        await rest.ping()
    await rest.aclose()

    assert TOKEN not in str(caught.value) and TOKEN not in repr(rest)


async def test_a_daemon_that_does_not_answer_in_time_is_unavailable() -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(30)
        raise AssertionError("not reached")

    rest = RestSlurmClient("http://h:1", timeout_s=0.2, transport=httpx.MockTransport(stall))
    with anyio.fail_after(5), pytest.raises(SlurmUnavailable, match=r"within 0.2 s"):
        await rest.ping()
    await rest.aclose()


@pytest.mark.parametrize("endpoint", ["/run/slurmrestd.sock", "unix:/run/slurmrestd.sock"])
def test_takes_a_unix_socket_plain_or_as_a_unix_url(endpoint: str) -> None:
    assert repr(RestSlurmClient(endpoint)) == "RestSlurmClient('unix:/run/slurmrestd.sock')"


def test_an_endpoint_that_is_neither_url_nor_socket_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"--slurmrestd: .*'slurmrestd:6820'"):
        RestSlurmClient.from_url("slurmrestd:6820")


# ------------------------------------------------------------------ submit
async def test_submits_the_rendered_body_and_returns_the_new_job_id(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    restd.on("POST", f"{A}/job/submit", 200, recorded("rest_submit_ok.json"))
    request = make_request(partition="debug", time_limit_min=10)

    assert await client.submit(request) == JobId("774")
    sent = json.loads(restd.requests[-1].content)
    assert sent == render_submit_body(request, ApiVersion(38), ENVIRON)


async def test_an_accepted_submission_with_errors_still_created_its_job(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    answer = recorded("rest-submit-impossible-cpus.json")
    restd.on("POST", f"{A}/job/submit", 200, answer)

    assert await client.submit(make_request(cpus_per_task=999)) == JobId(str(answer["job_id"]))


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (
            500,
            "rest_submit_bad_partition.json",
            SlurmRejected,
            r"Invalid partition name specified \(Slurm error 2000\)",
        ),
        (400, "rest_submit_no_environment.json", SlurmRejected, r"environment must be set"),
        (400, "rest_submit_malformed.json", SlurmRejected, r"HTTP 400: Unable to parse query"),
        (400, "rest-submit-gres-unknown.json", SlurmRejected, r"Failure during parsing"),
        (
            500,
            "rest-unreachable-submit.json",
            SlurmUnavailable,
            r"Unable to contact slurm controller \(connect failure\) \(Slurm error 1800\)",
        ),
        (401, "rest_jwt_no_headers.json", SlurmUnavailable, r"HTTP 401: Authentication failure"),
        (500, "rest_jwt_bogus_token.json", SlurmUnavailable, r"Unspecified error"),
        (200, "rest_jwt_no_headers.json", SlurmUnavailable, r"HTTP 200"),
    ],
    ids=[
        "bad partition",
        "missing env",
        "malformed body",
        "unknown gres",
        "controller down",
        "auth refused",
        "token refused",
        "non-JSON success",
    ],
)
async def test_a_refused_submission_is_rejected_or_unavailable_by_its_error(
    client: RestSlurmClient,
    restd: ScriptedRestd,
    status: int,
    body: str,
    error: type[Exception],
    message: str,
) -> None:
    restd.on("POST", f"{A}/job/submit", status, recorded(body))

    with pytest.raises(error, match=message):
        await client.submit(make_request())


async def test_a_temporary_slurm_error_is_unavailability_even_with_http_400(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    busy = {"errors": [{"error_number": 2007, "error": "Unable to create job record, try again"}]}
    restd.on("POST", f"{A}/job/submit", 400, busy)

    with pytest.raises(SlurmUnavailable, match="try again"):
        await client.submit(make_request())


async def test_options_slurmrestd_cannot_carry_are_refused_before_any_request(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    with pytest.raises(SlurmRejected, match="--slurm cli"):
        await client.submit(make_request(exclude=("vm",)))

    assert restd.paths("POST") == []


# ------------------------------------------------------------------ list, cancel, ping
async def test_lists_the_owned_jobs_of_a_recorded_answer(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    restd.on("GET", f"{A}/jobs", 200, recorded("rest_jobs.json"))

    jobs = await client.list_jobs("sgorch:v1 instance=test resource=pipe")

    assert [(job.job_id, job.state) for job in jobs] == [("759", JobState.RUNNING)]


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, "rest-unreachable-jobs.json"), (200, "rest-unknown-version-ping.json")],
    ids=["controller down", "not JSON"],
)
async def test_a_failed_job_list_is_unavailable(
    client: RestSlurmClient, restd: ScriptedRestd, status: int, body: str
) -> None:
    restd.on("GET", f"{A}/jobs", status, recorded(body))

    with pytest.raises(SlurmUnavailable, match="could not list jobs"):
        await client.list_jobs("sgorch:")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, recorded("rest_delete_ok.json")),
        (500, recorded("rest_delete_unknown.json")),
        (500, {"errors": [{"error_number": 2021, "error": "Job/step already completing"}]}),
        (404, {"errors": [{"error": "job not found"}]}),
    ],
    ids=["cancelled", "unknown id", "already done", "JSON 404"],
)
async def test_cancelling_a_job_that_is_gone_is_not_an_error(
    client: RestSlurmClient, restd: ScriptedRestd, status: int, body: Any
) -> None:
    restd.on("DELETE", f"{A}/job/999999", status, body)

    await client.cancel(JobId("999999"))

    assert restd.requests[-1].url.params.get("signal") is None


@pytest.mark.parametrize("signal", ["USR1", "SIGUSR1", "10", "usr1"])
async def test_signals_go_by_the_bare_name_slurmrestd_knows(
    client: RestSlurmClient, restd: ScriptedRestd, signal: str
) -> None:
    restd.on("DELETE", f"{A}/job/42", 200, recorded("rest-delete-signal-usr1.json"))

    await client.cancel(JobId("42"), signal)

    assert restd.requests[-1].url.params["signal"] == "USR1"


async def test_a_signal_slurmrestd_does_not_know_is_refused_before_any_request(
    client: RestSlurmClient, restd: ScriptedRestd
) -> None:
    with pytest.raises(SlurmRejected, match="SIGRTMIN"):
        await client.cancel(JobId("42"), "SIGRTMIN")

    assert restd.paths("DELETE") == []


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (500, recorded("rest-unreachable-delete.json"), SlurmUnavailable),
        (404, "Unable find requested URL.", SlurmUnavailable),
        (
            500,
            {"errors": [{"error_number": 2002, "error": "Access/permission denied"}]},
            SlurmRejected,
        ),
    ],
    ids=["controller down", "plain-text 404", "not ours"],
)
async def test_a_failed_cancel_is_unavailable_or_rejected(
    client: RestSlurmClient,
    restd: ScriptedRestd,
    status: int,
    body: Any,
    error: type[Exception],
) -> None:
    restd.on("DELETE", f"{A}/job/42", status, body)

    with pytest.raises(error, match="could not cancel job 42"):
        await client.cancel(JobId("42"))


@pytest.mark.parametrize(("minor", "excludes"), [(38, False), (39, True), (44, True)])
async def test_node_exclusion_is_announced_only_by_versions_that_carry_it(
    minor: int, excludes: bool
) -> None:
    rest = RestSlurmClient(
        "http://h:1", transport=httpx.MockTransport(ScriptedRestd(versions=(minor,)).handle)
    )

    assert await rest.can_exclude_nodes() is excludes
    await rest.aclose()


async def test_ping_accepts_a_v0_0_40_answer_from_a_responding_controller() -> None:
    restd = ScriptedRestd(versions=(40,))
    pinged = {"pings": [{"hostname": "ctl", "pinged": "UP", "responding": True}], "errors": []}
    restd.on("GET", "/slurm/v0.0.40/ping", 200, pinged)
    rest = RestSlurmClient("http://h:1", transport=httpx.MockTransport(restd.handle))

    await rest.ping()
    await rest.aclose()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, recorded("rest-unreachable-ping.json")),
        (200, {"errors": [], "pings": [{"hostname": "vm", "ping": "DOWN", "status": 1}]}),
    ],
    ids=["controller down", "ping says DOWN"],
)
async def test_ping_fails_when_the_controller_does_not_answer(
    client: RestSlurmClient, restd: ScriptedRestd, status: int, body: Any
) -> None:
    restd.on("GET", f"{A}/ping", status, body)

    with pytest.raises(SlurmUnavailable):
        await client.ping()

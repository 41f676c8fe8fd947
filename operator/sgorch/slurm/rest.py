"""The ``rest`` client: slurmrestd over httpx, on TCP (JWT headers) or a unix socket.

The app builds it for ``--slurm rest``. slurmrestd's JSON changes with every OpenAPI
plugin version, so the client discovers the versions the daemon offers once and speaks
the newest of v0.0.38 (Slurm 22.05) to v0.0.44 (Slurm 25.11). Building a request and
reading an answer are pure ``render_*``/``parse_*`` functions, unit-tested on JSON
recorded from slurmrestd 22.05 (v0.0.38) and on JSON built from the published
v0.0.39 to v0.0.44 schemas. Comments mark each shape LIVE (checked against slurmrestd
22.05.8 here) or DOCS (from the OpenAPI schemas only: no such slurmrestd here).
"""

from __future__ import annotations

import os
import re
import signal as signals
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
from loguru import logger

from sgorch.errors import ConfigError, SlurmRejected, SlurmUnavailable
from sgorch.resources.durations import UNLIMITED
from sgorch.slurm.environment import select_inherited
from sgorch.slurm.types import JobId, JobInfo, JobRequest, JobState

__all__ = [
    "SUPPORTED_VERSIONS",
    "ApiVersion",
    "RestSlurmClient",
    "SlurmError",
    "choose_version",
    "compute_time_left_s",
    "epoch_to_datetime",
    "normalize_reason",
    "parse_errors",
    "parse_exit_code",
    "parse_job_state",
    "parse_jobs",
    "parse_offered_versions",
    "parse_submit_response",
    "render_job_environment",
    "render_submit_body",
    "slurm_error_is_temporary",
]


_INFINITE32 = 0xFFFFFFFF
"""Slurm's INFINITE: v0.0.38 takes it as an unlimited time limit (LIVE: accepted)."""

_ESLURM_INVALID_JOB_ID = 2017
_ESLURM_ALREADY_DONE = 2021
_GONE = frozenset({_ESLURM_INVALID_JOB_ID, _ESLURM_ALREADY_DONE})
"""Cancel answers meaning "nothing left to cancel" (scancel is silent for both)."""

_TEMPORARY_ERRNOS = frozenset(
    {
        11,  # EAGAIN: sbatch retries it
        110,  # ETIMEDOUT
        111,  # ECONNREFUSED
        2007,  # ESLURM_ERROR_ON_DESC_TO_RECORD_COPY "Unable to create job record, try again"
        2016,  # ESLURM_NODES_BUSY: sbatch retries it
        2020,  # ESLURM_TRANSITION_STATE_NO_UPDATE "try again later"
        2027,  # ESLURM_IN_STANDBY_MODE (backup controller)
        2131,  # "Controller is in standby mode, try a different controller"
    }
)
# Numbers and texts verified with slurm_strerror() of libslurmfull 22.05.8.

_NOT_ABOUT_THE_REQUEST = frozenset({401, 403, 404, 405, 408, 429})
"""4xx statuses that say nothing about the job description itself."""

_SIGNAL_NAMES = frozenset(
    {
        "HUP",
        "INT",
        "QUIT",
        "ABRT",
        "KILL",
        "ALRM",
        "TERM",
        "USR1",
        "USR2",
        "URG",
        "CONT",
        "STOP",
        "TSTP",
        "TTIN",
        "TTOU",
    }
)
"""The signal enum of the v0.0.38 DELETE (LIVE: other names answer HTTP 400)."""

_FLAG_STATES = (
    JobState.COMPLETING,
    JobState.STAGE_OUT,
    JobState.CONFIGURING,
    JobState.RESIZING,
    JobState.REQUEUED,
    JobState.REQUEUE_FED,
    JobState.REQUEUE_HOLD,
    JobState.SPECIAL_EXIT,
    JobState.STOPPED,
    JobState.REVOKED,
    JobState.RESV_DEL_HOLD,
    JobState.SIGNALING,
)
"""State flags that squeue shows instead of the base state, in its order of precedence
(Slurm's job_state_string), so a v0.0.40+ state list reads like squeue's %T."""

_VERSION_IN_PATH = re.compile(r"^/slurm/v0\.0\.(\d+)/")


def slurm_error_is_temporary(number: int) -> bool:
    """Slurm error numbers that mean "ask again later" rather than "this request is wrong":
    communication failures (1000-1099, 1800-1899), socket timeouts (5000-5099) and the
    errors sbatch itself retries."""
    return (
        number in _TEMPORARY_ERRNOS
        or 1000 <= number < 1100
        or 1800 <= number < 1900
        or 5000 <= number < 5100
    )


def render_job_environment(request: JobRequest, environ: Mapping[str, str]) -> dict[str, str]:
    """The job's whole environment: the few variables of the operator's own that the cli
    client exports too (never the rest: the operator's secrets stay home), then the
    request's resolved variables, then ``SLURM_JOB_NAME``, without which pyslurm (and
    clients like it) expand ``%x`` in output paths to ``(null)``."""
    environment = select_inherited(environ)
    environment.update(request.environment)
    environment["SLURM_JOB_NAME"] = request.name
    return environment


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """One slurmrestd OpenAPI plugin version (``v0.0.<minor>``) and the request shapes it
    takes. Answers are read by shape, not by version, so they need no flags here."""

    minor: int

    @property
    def name(self) -> str:
        return f"v0.0.{self.minor}"

    @property
    def prefix(self) -> str:
        return f"/slurm/{self.name}"

    @property
    def structured(self) -> bool:
        """From v0.0.39 the job description is the generated ``job_desc_msg``: the
        environment is a list of ``K=V``, numbers are ``{set, infinite, number}``, node
        counts are ``minimum_nodes``/``maximum_nodes`` (DOCS). v0.0.38 takes an object,
        plain numbers and ``nodes: [min, max]`` (LIVE)."""
        return self.minor >= 39

    @property
    def script_in_job(self) -> bool:
        """From v0.0.41 the script belongs in ``job.script``; the top-level field is
        deprecated (DOCS). Up to v0.0.40 it is top-level (LIVE on v0.0.38)."""
        return self.minor >= 41

    @property
    def excludes_nodes(self) -> bool:
        """v0.0.38 answers ``Disabled key: "excluded_nodes"`` (LIVE); v0.0.39+ take a
        list (DOCS)."""
        return self.minor >= 39


SUPPORTED_VERSIONS = tuple(ApiVersion(minor) for minor in range(38, 45))


def parse_offered_versions(openapi: Mapping[str, Any]) -> list[ApiVersion]:
    """The slurmctld API versions an OpenAPI document (``GET /openapi/v3``) offers,
    whatever their number (``/slurmdb/...`` paths are ignored)."""
    paths = openapi.get("paths")
    if not isinstance(paths, Mapping):
        raise SlurmUnavailable("slurmrestd's OpenAPI document has no 'paths'")
    minors = {int(m[1]) for path in paths if (m := _VERSION_IN_PATH.match(str(path)))}
    return [ApiVersion(minor) for minor in sorted(minors)]


def choose_version(offered: list[ApiVersion]) -> ApiVersion | None:
    """The newest offered version this client speaks, if any."""
    usable = [version for version in offered if version in SUPPORTED_VERSIONS]
    return max(usable, key=lambda version: version.minor, default=None)


def _no_val(number: int) -> dict[str, Any]:
    return {"set": True, "infinite": False, "number": number}


def _tres_per_node(gres: str) -> str:
    """``gpu:2,nic:1`` as ``gres/gpu:2,gres/nic:1``: what sbatch itself sends since
    Slurm 21.08 (gres_prepend_tres_type). DOCS only: no GRES on the machines here."""
    items = (item.strip() for item in gres.split(","))
    return ",".join(
        item if item.startswith("gres/") else "gres/" + item.removeprefix("gres:")
        for item in items
        if item
    )


def render_submit_body(
    request: JobRequest, version: ApiVersion, environ: Mapping[str, str]
) -> dict[str, Any]:
    """The JSON body of ``POST /slurm/<version>/job/submit`` for ``request``.

    Raises ``SlurmRejected`` for settings slurmrestd cannot carry: free-form sbatch
    options (slurmrestd does not read ``#SBATCH`` lines) and, on v0.0.38, excluded
    nodes."""
    options = request.options
    if options.extra:
        raise SlurmRejected(
            f"the rest client cannot pass free-form sbatch options "
            f"({', '.join(options.extra)}; spec.slurm.sbatch_extra): slurmrestd does not "
            "read #SBATCH lines. Remove them or run the operator with --slurm cli"
        )
    if options.exclude and not version.excludes_nodes:
        raise SlurmRejected(
            f"slurmrestd {version.name} (Slurm 22.05) cannot exclude nodes "
            f"({', '.join(options.exclude)}; spec.slurm.exclude). Remove the exclusion, "
            "use slurmrestd of Slurm 23.02 or later, or run the operator with --slurm cli"
        )
    environment = render_job_environment(request, environ)
    job: dict[str, Any] = {
        "name": request.name,
        "comment": request.comment,
        "current_working_directory": request.working_dir,
        # stdout only, like the cli client's --output: stderr then goes to the same file.
        "standard_output": request.stdout_path,
        "tasks": 1,
        "cpus_per_task": options.cpus_per_task,
    }
    for key, value in (
        ("partition", options.partition),
        ("account", options.account),
        ("qos", options.qos),
        ("reservation", options.reservation),
        ("constraints", options.constraint),
    ):
        if value:
            job[key] = value
    if version.structured:
        job["environment"] = [f"{key}={value}" for key, value in environment.items()]
        job["minimum_nodes"] = 1
        job["maximum_nodes"] = 1
        job["open_mode"] = ["APPEND"]
        if options.gres:
            job["tres_per_node"] = _tres_per_node(options.gres)
        if options.exclude:
            job["excluded_nodes"] = list(options.exclude)
        if options.mem_mb is not None:
            job["memory_per_node"] = _no_val(options.mem_mb)
        if options.time_limit_min == UNLIMITED:
            job["time_limit"] = {"set": True, "infinite": True, "number": 0}
        elif options.time_limit_min is not None:
            job["time_limit"] = _no_val(options.time_limit_min)
    else:
        job["environment"] = environment
        job["nodes"] = [1, 1]
        job["open_mode"] = "append"
        if options.gres:
            job["gres"] = options.gres
        if options.mem_mb is not None:
            job["memory_per_node"] = options.mem_mb
        if options.time_limit_min == UNLIMITED:
            job["time_limit"] = _INFINITE32
        elif options.time_limit_min is not None:
            job["time_limit"] = options.time_limit_min
    if version.script_in_job:
        job["script"] = request.script
        return {"job": job}
    return {"script": request.script, "job": job}


@dataclass(frozen=True, slots=True)
class SlurmError:
    """One entry of slurmrestd's ``errors`` array."""

    number: int | None
    text: str

    def __str__(self) -> str:
        return self.text if self.number is None else f"{self.text} (Slurm error {self.number})"


def parse_errors(payload: Any) -> list[SlurmError]:
    """The ``errors`` of an answer. v0.0.38 numbers them ``error_code`` or
    ``error_number``, even within one answer (LIVE); later versions ``error_number``."""
    if not isinstance(payload, Mapping):
        return []
    entries = payload.get("errors")
    if not isinstance(entries, list):
        return []
    errors = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            errors.append(SlurmError(None, str(entry)))
            continue
        number = entry.get("error_number", entry.get("error_code"))
        short = str(entry.get("error") or "").strip()
        long = str(entry.get("description") or "").strip()
        text = f"{short}: {long}" if short and long and long != short else short or long
        errors.append(
            SlurmError(
                number if isinstance(number, int) and not isinstance(number, bool) else None,
                text or "unspecified error",
            )
        )
    return errors


def parse_submit_response(payload: Any) -> JobId:
    """The new job's id from a submission answered with HTTP 200 (whose ``errors``, if
    any, are warnings: the job was created)."""
    job_id = _integer(payload.get("job_id") if isinstance(payload, Mapping) else None)
    if job_id is None:
        raise SlurmUnavailable(f"slurmrestd accepted the job but sent no job id: {payload!r:.200}")
    return JobId(str(job_id))


def _integer(value: Any) -> int | None:
    """A number from v0.0.38's plain integers or v0.0.39+'s ``{set, infinite, number}``
    objects; None for null, unset and infinite."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        if value.get("infinite") is True or value.get("set") is False:
            return None
        return _integer(value.get("number"))
    raise SlurmUnavailable(f"slurmrestd sent {value!r:.80} where a number belongs")


def epoch_to_datetime(seconds: int | None) -> datetime | None:
    """Slurm's UNIX times as aware datetimes; 0 means "not set"."""
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds else None


def normalize_reason(reason: Any) -> str | None:
    """A pending/failure reason, or None where Slurm says ``None``."""
    text = str(reason).strip() if reason is not None else ""
    return None if text in {"", "None"} else text


def compute_time_left_s(
    state: JobState, end_s: int | None, time_limit_min: int | None, now: float
) -> int | None:
    """Seconds until a started job hits its time limit (squeue's %L); None when it has no
    limit or is not running."""
    if not state.is_running or end_s is None or time_limit_min is None:
        return None
    return max(0, int(end_s - now))


def parse_job_state(value: Any) -> JobState:
    """v0.0.38/39 send one word (LIVE on v0.0.38); v0.0.40+ a list of the base state and
    its flags (DOCS), read here with squeue's precedence."""
    if isinstance(value, str):
        return JobState.parse(value)
    if isinstance(value, list) and all(isinstance(word, str) for word in value):
        words = {word.strip().upper() for word in value}
        for flag in _FLAG_STATES:
            if flag.value in words:
                return flag
        for word in value:
            state = JobState.parse(word)
            if state is not JobState.UNKNOWN:
                return state
        return JobState.UNKNOWN
    raise SlurmUnavailable(f"slurmrestd sent job_state {value!r:.80}")


def parse_exit_code(value: Any) -> int | None:
    """A finished job's exit code: its status, or 128 + the signal that killed it.

    v0.0.38 sends the raw wait(2) status as an integer (LIVE: ``exit 3`` is 768, a
    SIGTERM kill 15); v0.0.39 the same status as ``{set, infinite, number}`` (DOCS);
    v0.0.40+ ``{status: [...], return_code, signal: {id, name}}`` (DOCS)."""
    if isinstance(value, Mapping) and ("status" in value or "return_code" in value):
        status = value.get("status")
        words = {status} if isinstance(status, str) else set(status or ())
        if words & {"SIGNALED", "CORE_DUMPED"}:
            signal = value.get("signal")
            number = _integer(signal.get("id")) if isinstance(signal, Mapping) else None
            return 128 + number if number else None
        return _integer(value.get("return_code"))
    raw = _integer(value)
    if raw is None:
        return None
    if os.WIFSIGNALED(raw):
        return 128 + os.WTERMSIG(raw)
    return os.WEXITSTATUS(raw)


def _parse_job(entry: Mapping[str, Any], now: float) -> JobInfo:
    job_id = _integer(entry.get("job_id"))
    if job_id is None:
        raise SlurmUnavailable(f"slurmrestd sent a job without job_id: {dict(entry)!r:.200}")
    state = parse_job_state(entry.get("job_state"))
    start_s = _integer(entry.get("start_time"))
    end_s = _integer(entry.get("end_time"))
    # v0.0.38 sends null for an unlimited or unset limit (LIVE); v0.0.39+ {infinite: true}.
    time_limit_min = _integer(entry.get("time_limit"))
    return JobInfo(
        job_id=JobId(str(job_id)),
        name=str(entry.get("name") or ""),
        state=state,
        reason=normalize_reason(entry.get("state_reason")),
        nodes=str(entry.get("nodes") or "") or None,
        start_time=epoch_to_datetime(start_s),
        end_time=epoch_to_datetime(end_s),
        time_left_s=compute_time_left_s(state, end_s, time_limit_min, now),
        time_limit_min=time_limit_min,
        comment=str(entry.get("comment") or ""),
        exit_code=parse_exit_code(entry.get("exit_code")) if state.is_terminal else None,
    )


def parse_jobs(payload: Any, owner_tag: str, now: float) -> list[JobInfo]:
    """The jobs of a ``GET /slurm/<version>/jobs`` answer whose comment starts with
    ``owner_tag`` (slurmrestd filters nothing itself)."""
    entries = payload.get("jobs") if isinstance(payload, Mapping) else None
    if not isinstance(entries, list):
        raise SlurmUnavailable(f"slurmrestd's job list has no 'jobs' array: {payload!r:.200}")
    return [
        _parse_job(entry, now)
        for entry in entries
        if isinstance(entry, Mapping) and str(entry.get("comment") or "").startswith(owner_tag)
    ]


def _signal_name(signal: str) -> str:
    """``USR1``, ``SIGUSR1`` or ``10`` as the bare name slurmrestd's DELETE takes."""
    text = signal.strip().upper()
    if text.isdigit():
        try:
            text = signals.Signals(int(text)).name
        except ValueError:
            text = ""
    name = text.removeprefix("SIG")
    if name not in _SIGNAL_NAMES:
        raise SlurmRejected(f"slurmrestd cannot send signal {signal!r}")
    return name


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    payload: Any
    """The decoded JSON body, or None when the body is not JSON."""
    text: str

    @property
    def errors(self) -> list[SlurmError]:
        return parse_errors(self.payload)

    def describe(self) -> str:
        errors = self.errors
        if errors:
            return "; ".join(str(error) for error in errors)
        return f"HTTP {self.status}: {self.text.strip()[:200] or '(empty body)'}"


class RestSlurmClient:
    """A :class:`~sgorch.slurm.SlurmClient` talking to slurmrestd.

    ``endpoint`` is ``http(s)://host:port`` (with ``user_name`` and a JWT ``token``, sent
    as ``X-SLURM-USER-NAME``/``X-SLURM-USER-TOKEN`` and never logged) or the path of
    slurmrestd's unix socket, plain or as ``unix:/path`` (``rest_auth/local``: jobs run as
    slurmrestd's user). ``timeout_s`` bounds every request. ``environ`` is where the jobs'
    base environment comes from (the operator's own by default)."""

    name = "rest"

    def __init__(
        self,
        endpoint: str,
        *,
        user_name: str | None = None,
        token: str | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if endpoint.startswith(("http://", "https://")):
            base_url, self._where = endpoint.rstrip("/"), endpoint
            default_transport: httpx.AsyncBaseTransport | None = None
        elif endpoint.removeprefix("unix:").startswith("/"):
            socket_path = endpoint.removeprefix("unix:")
            base_url, self._where = "http://slurmrestd", f"unix:{socket_path}"
            default_transport = httpx.AsyncHTTPTransport(uds=socket_path)
        else:
            raise ValueError(
                f"slurmrestd endpoint {endpoint!r} is neither http(s)://HOST:PORT nor the "
                "absolute path of a unix socket (plain or as unix:PATH)"
            )
        headers = {}
        if user_name:
            headers["X-SLURM-USER-NAME"] = user_name
        if token:
            headers["X-SLURM-USER-TOKEN"] = token
        self._http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport or default_transport,
            headers=headers,
            timeout=timeout_s,
        )
        self._timeout_s = timeout_s
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self._version: ApiVersion | None = None
        self._discovery = anyio.Lock()

    @classmethod
    def from_url(
        cls, url: str, *, user_name: str | None = None, token: str | None = None
    ) -> RestSlurmClient:
        """The client for the operator's ``--slurmrestd URL`` setting."""
        try:
            return cls(url, user_name=user_name, token=token)
        except ValueError as exc:
            raise ConfigError(f"--slurmrestd: {exc}") from exc

    def __repr__(self) -> str:
        return f"RestSlurmClient({self._where!r})"

    async def api_version(self) -> ApiVersion:
        """The API version in use, discovered on first use and then cached."""
        async with self._discovery:
            if self._version is None:
                self._version = await self._discover()
                logger.info("slurmrestd at {} speaks {}", self._where, self._version.name)
            return self._version

    async def _discover(self) -> ApiVersion:
        # GET /openapi/v3 lists every version (LIVE on 22.05, as do /openapi and
        # /openapi.json); probing pings newest first is the fallback.
        answer = await self._request("GET", "/openapi/v3", what="version discovery")
        if answer.status == 200 and isinstance(answer.payload, Mapping):
            offered = parse_offered_versions(answer.payload)
            chosen = choose_version(offered)
            if chosen is None:
                raise SlurmUnavailable(
                    f"slurmrestd at {self._where} offers "
                    f"{', '.join(v.name for v in offered) or 'no slurmctld API'}; this client "
                    "speaks v0.0.38 to v0.0.44 (on Slurm 22.05 start it with -s openapi/v0.0.38)"
                )
            return chosen
        for version in reversed(SUPPORTED_VERSIONS):
            # An unknown version is a plain-text 404 (LIVE); a known one answers JSON,
            # even when the controller is down.
            answer = await self._request("GET", f"{version.prefix}/ping", what="version probe")
            if answer.payload is not None:
                return version
        raise SlurmUnavailable(
            f"slurmrestd at {self._where} answers none of v0.0.38 to v0.0.44 "
            f"(GET /openapi/v3: HTTP {answer.status})"
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> _Answer:
        try:
            with anyio.fail_after(self._timeout_s):
                response = await self._http.request(method, path, params=params, json=body)
        except TimeoutError as exc:
            raise SlurmUnavailable(
                f"slurmrestd at {self._where} did not answer {what} within {self._timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise SlurmUnavailable(
                f"slurmrestd at {self._where} unreachable ({what}): {type(exc).__name__}: {exc}"
            ) from exc
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return _Answer(response.status_code, payload, response.text)

    async def submit(self, request: JobRequest) -> JobId:
        version = await self.api_version()
        body = render_submit_body(request, version, self._environ)
        answer = await self._request(
            "POST",
            f"{version.prefix}/job/submit",
            what=f"the submission of {request.name}",
            body=body,
        )
        if answer.status == 200 and answer.payload is not None:
            job_id = parse_submit_response(answer.payload)
            if answer.errors:
                # The job exists all the same: an impossible request comes back as HTTP
                # 200, its job id and error 2015, and pends (LIVE), as sbatch warns.
                logger.warning(
                    "slurmrestd accepted job {} as {} with: {}",
                    request.name, job_id, answer.describe(),
                )  # fmt: skip
            return job_id
        message = f"slurmrestd refused job {request.name}: {answer.describe()}"
        numbers = {error.number for error in answer.errors if error.number is not None}
        if any(slurm_error_is_temporary(number) for number in numbers):
            raise SlurmUnavailable(message)
        if (400 <= answer.status < 500 and answer.status not in _NOT_ABOUT_THE_REQUEST) or any(
            number >= 2000 for number in numbers
        ):
            # 22.05 answers an unknown partition with HTTP 500 and error 2000 (LIVE).
            raise SlurmRejected(message)
        raise SlurmUnavailable(message)

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        version = await self.api_version()
        answer = await self._request("GET", f"{version.prefix}/jobs", what="the job list")
        if answer.status != 200 or answer.payload is None or answer.errors:
            raise SlurmUnavailable(f"slurmrestd could not list jobs: {answer.describe()}")
        return parse_jobs(answer.payload, owner_tag, self._clock())

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        version = await self.api_version()
        # Without a signal slurmrestd kills the job (CANCELLED); with one, 22.05 signals
        # the batch shell too, like scancel --full (LIVE).
        params = {"signal": _signal_name(signal)} if signal else None
        answer = await self._request(
            "DELETE",
            f"{version.prefix}/job/{job_id}",
            what=f"the cancel of job {job_id}",
            params=params,
        )
        errors = answer.errors
        if answer.status == 200 and answer.payload is not None and not errors:
            return
        if errors and all(error.number in _GONE for error in errors):
            return  # unknown or finished: HTTP 500 + 2017 on 22.05 (LIVE)
        if answer.status == 404 and answer.payload is not None:
            return  # a JSON 404 is about the job; a plain-text one about the path
        message = f"slurmrestd could not cancel job {job_id}: {answer.describe()}"
        numbers = {error.number for error in errors if error.number is not None}
        if numbers and all(n >= 2000 and not slurm_error_is_temporary(n) for n in numbers):
            raise SlurmRejected(message)
        raise SlurmUnavailable(message)

    async def can_exclude_nodes(self) -> bool:
        return (await self.api_version()).excludes_nodes

    async def ping(self) -> None:
        version = await self.api_version()
        answer = await self._request("GET", f"{version.prefix}/ping", what="ping")
        if answer.status != 200 or answer.payload is None or answer.errors:
            raise SlurmUnavailable(f"slurmctld does not answer slurmrestd: {answer.describe()}")
        pings = answer.payload.get("pings") if isinstance(answer.payload, Mapping) else None
        if isinstance(pings, list) and pings and not any(_answers(entry) for entry in pings):
            raise SlurmUnavailable(f"no slurmctld answers slurmrestd's ping: {pings!r:.200}")

    async def aclose(self) -> None:
        await self._http.aclose()


def _answers(ping: Any) -> bool:
    """v0.0.38 says ``ping: "UP"`` (LIVE); v0.0.40+ ``pinged: "UP"``, ``responding``
    (DOCS)."""
    if not isinstance(ping, Mapping):
        return False
    if ping.get("responding") is True:
        return True
    return str(ping.get("pinged", ping.get("ping", ""))).upper() == "UP"

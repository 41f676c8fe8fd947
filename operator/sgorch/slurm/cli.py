"""The ``cli`` SlurmClient: sbatch, squeue, scancel and scontrol as subprocesses.

Three separate pieces, as in submitit: ``render_*`` build argv and environments (pure),
``CliSlurmClient._run`` runs one command under a timeout, the parsers in
:mod:`sgorch.slurm.parsing` read the output. Failures are translated in one place,
:func:`translate_failure`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream
from loguru import logger

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.slurm.environment import select_inherited
from sgorch.slurm.parsing import (
    SQUEUE_FIELDS,
    SQUEUE_SEPARATOR,
    parse_job_id,
    parse_ping_output,
    parse_sbatch_output,
    parse_squeue_output,
)
from sgorch.slurm.types import JobId, JobInfo, JobRequest

__all__ = [
    "CliSlurmClient",
    "render_base_environment",
    "render_cancel_argv",
    "render_sbatch_argv",
    "render_squeue_argv",
    "translate_failure",
]

_CONNECTIVITY = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused"
    r"|Zero Bytes were transmitted|Connection reset|Communication connection failure"
    r"|Transport endpoint is not connected|Network is unreachable|No route to host"
    r"|Slurm temporarily unable|presently disabled|standby mode|slurmctld not responding"
    r"|Unable to process configuration file|s_p_parse_file|munge|authentication",
    re.IGNORECASE,
)
"""stderr text meaning "Slurm could not be asked" rather than "Slurm said no"."""

_ALREADY_GONE = re.compile(
    r"Invalid job id specified|already completing or completed", re.IGNORECASE
)
"""scancel stderr for unknown or finished jobs: the job is gone, which is what we want."""

_SIGNAL = re.compile(r"^(?:SIG)?[A-Z][A-Z0-9]*$|^\d{1,2}$")
_REJECTED_EXIT = frozenset({1, 255})
"""Exit statuses with which sbatch and scancel refuse a request (255: bad option)."""
_MESSAGE_LIMIT = 2000


def render_base_environment(
    environ: Mapping[str, str], overrides: Mapping[str, str]
) -> dict[str, str]:
    """The environment every Slurm command runs with (and, through sbatch's
    ``--export=ALL``, every job): the inherited part of ``environ``, its ``SLURM_CONF``,
    then ``overrides``. ``SBATCH_*``/``SQUEUE_*`` input variables of the operator's shell
    never change what the commands do."""
    conf = {"SLURM_CONF": environ["SLURM_CONF"]} if "SLURM_CONF" in environ else {}
    return {**select_inherited(environ), **conf, **overrides}


def render_sbatch_argv(sbatch: str, request: JobRequest) -> list[str]:
    """``sbatch`` reading the script from stdin. The script's ``#SBATCH`` lines carry
    the scheduling options; name, comment (the ownership tag), output and working
    directory are repeated here so that the request, not the script text, decides them
    (command-line options win over ``#SBATCH`` lines). No secrets: those travel in the
    process environment, exported to the job by ``--export=ALL``."""
    return [
        sbatch,
        "--parsable",
        "--export=ALL",
        f"--job-name={request.name}",
        f"--comment={request.comment}",
        f"--output={request.stdout_path}",
        f"--chdir={request.working_dir}",
    ]


def render_squeue_argv(squeue: str) -> list[str]:
    """One squeue for every job of this user, finished ones included (until MinJobAge).
    ``--me`` is filtered by slurmctld, so big clusters send only our user's jobs;
    the owner tag is matched here, as squeue cannot filter on comments."""
    # "Field:" is width 0 (no padding, no truncation); the text after ":" is a suffix.
    fields = [f"{field}:{SQUEUE_SEPARATOR}" for field in SQUEUE_FIELDS[:-1]]
    fields.append(f"{SQUEUE_FIELDS[-1]}:")
    return [squeue, "--noheader", "--me", "--states=all", f"--Format={','.join(fields)}"]


def render_cancel_argv(scancel: str, job_id: JobId, signal: str | None) -> list[str]:
    """scancel, or with ``signal``: send it to the batch script too (``--full``), since
    SGOrch's scripts ``exec`` the engine in the batch step, which a plain
    ``scancel --signal`` does not reach."""
    if signal is None:
        return [scancel, job_id]
    return [scancel, f"--signal={signal}", "--full", job_id]


def translate_failure(
    program: str, returncode: int, stderr: str
) -> SlurmRejected | SlurmUnavailable:
    """The SGOrch error for a Slurm command that exited ``returncode``. Only sbatch and
    scancel can be refused (exit 1 or 255 without a connectivity message); every other
    failure means Slurm could not be asked and is worth retrying."""
    message = " ".join(stderr.split())[:_MESSAGE_LIMIT] or "no message"
    text = f"{program} failed (exit {returncode}): {message}"
    if _CONNECTIVITY.search(stderr):
        return SlurmUnavailable(text)
    if program in {"sbatch", "scancel"} and returncode in _REJECTED_EXIT:
        return SlurmRejected(text)
    return SlurmUnavailable(text)


async def _feed(pipe: ByteSendStream, data: bytes | None) -> None:
    # Always a pipe, closed at once when there is nothing to send (end of file, like
    # /dev/null). A command that exits without reading it (sbatch refusing an option)
    # breaks the pipe: its exit status and stderr tell why, not the broken pipe.
    try:
        if data:
            await pipe.send(data)
        await pipe.aclose()
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        logger.debug("the Slurm command closed its stdin before reading all of it")


@dataclass(frozen=True, slots=True)
class _Completed:
    returncode: int
    stdout: str
    stderr: str


class CliSlurmClient:
    """Reaches Slurm through its command-line tools, one subprocess per call.

    ``timeout_s`` bounds every call (an unreachable controller makes the tools wait
    ``MessageTimeout``, ~10 s, before they fail); ``ping_timeout_s`` bounds ``ping``
    (``scontrol ping`` answers at once, up or down). ``env`` overrides variables of the
    commands' environment (e.g. ``SLURM_CONF``); ``max_concurrent_calls`` keeps a burst
    of submits from becoming a burst of processes and controller RPCs. The binaries are
    looked up on the operator's PATH at each call.
    """

    name = "cli"

    def __init__(
        self,
        *,
        timeout_s: float = 15.0,
        ping_timeout_s: float = 5.0,
        env: Mapping[str, str] | None = None,
        max_concurrent_calls: int = 8,
        sbatch: str = "sbatch",
        squeue: str = "squeue",
        scancel: str = "scancel",
        scontrol: str = "scontrol",
    ) -> None:
        self.timeout_s = timeout_s
        self.ping_timeout_s = ping_timeout_s
        self.env = dict(env or {})
        self._limiter = anyio.CapacityLimiter(max_concurrent_calls)
        self._sbatch = sbatch
        self._squeue = squeue
        self._scancel = scancel
        self._scontrol = scontrol

    async def submit(self, request: JobRequest) -> JobId:
        environment = {**render_base_environment(os.environ, self.env), **request.environment}
        for key, value in request.environment.items():
            if not key or "=" in key or "\0" in key or "\0" in value:
                raise SlurmRejected(f"environment variable {key!r} cannot be passed to a job")
        argv = render_sbatch_argv(self._resolve(self._sbatch), request)
        result = await self._run(
            argv, env=environment, stdin=request.script.encode(), timeout_s=self.timeout_s
        )
        if result.returncode != 0:
            raise translate_failure("sbatch", result.returncode, result.stderr)
        try:
            job_id = parse_sbatch_output(result.stdout)
        except ValueError as exc:
            # The job may exist: the next listing finds it by its tag.
            raise SlurmUnavailable(f"sbatch answered garbage: {exc}") from exc
        logger.debug("sbatch: submitted {} as job {}", request.name, job_id)
        return job_id

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        # TZ=UTC and standard time format: squeue prints times we parse without guessing.
        env = {
            **render_base_environment(os.environ, self.env),
            "TZ": "UTC",
            "SLURM_TIME_FORMAT": "standard",
        }
        argv = render_squeue_argv(self._resolve(self._squeue))
        result = await self._run(argv, env=env, stdin=None, timeout_s=self.timeout_s)
        if result.returncode != 0:
            raise translate_failure("squeue", result.returncode, result.stderr)
        jobs, broken = parse_squeue_output(result.stdout, owner_tag)
        if broken:
            # Dropping one of our jobs would make the operator replace a live job.
            raise SlurmUnavailable(
                f"squeue printed {len(broken)} line(s) of our jobs that cannot be "
                f"parsed, e.g. {broken[0]!r}"
            )
        return jobs

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        try:
            valid_id = parse_job_id(job_id)
        except ValueError as exc:
            raise SlurmRejected(f"cannot cancel: {exc}") from exc
        if signal is not None and not _SIGNAL.match(signal):
            raise SlurmRejected(f"cannot cancel job {job_id}: {signal!r} is not a signal name")
        argv = render_cancel_argv(self._resolve(self._scancel), valid_id, signal)
        env = render_base_environment(os.environ, self.env)
        result = await self._run(argv, env=env, stdin=None, timeout_s=self.timeout_s)
        if result.returncode == 0:
            return
        if _ALREADY_GONE.search(result.stderr) and not _CONNECTIVITY.search(result.stderr):
            logger.debug("scancel: job {} is already gone: {}", job_id, result.stderr.strip())
            return
        raise translate_failure("scancel", result.returncode, result.stderr)

    async def can_exclude_nodes(self) -> bool:
        return True

    async def ping(self) -> None:
        argv = [self._resolve(self._scontrol), "ping"]
        env = render_base_environment(os.environ, self.env)
        result = await self._run(argv, env=env, stdin=None, timeout_s=self.ping_timeout_s)
        controllers = parse_ping_output(result.stdout)
        if any(controller.up for controller in controllers):
            return
        if not controllers:
            raise translate_failure("scontrol ping", result.returncode, result.stderr)
        down = ", ".join(f"{c.role} at {c.host}" for c in controllers)
        raise SlurmUnavailable(f"scontrol ping: no controller is up ({down} DOWN)")

    async def aclose(self) -> None:
        """Nothing to release: every call's process is gone when the call returns."""

    def _resolve(self, program: str) -> str:
        # Resolved on the operator's PATH, not the job's: a request's PATH must not
        # decide which sbatch runs.
        path = shutil.which(program, path=self.env.get("PATH", os.environ.get("PATH")))
        if path is None:
            raise SlurmUnavailable(
                f"{program!r} not found on PATH: Slurm is not installed on this host "
                "(or PATH lacks its bin directory)"
            )
        return path

    async def _run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout_s: float,
    ) -> _Completed:
        """Run ``argv``; on timeout kill it and raise ``SlurmUnavailable`` with what it
        printed so far (e.g. why it cannot read slurm.conf)."""
        program = Path(argv[0]).name
        output = [bytearray(), bytearray()]

        async def drain(stream: ByteReceiveStream | None, index: int) -> None:
            if stream is not None:
                async for chunk in stream:
                    output[index] += chunk

        returncode: int | None = None
        with anyio.move_on_after(timeout_s):
            async with self._limiter:
                try:
                    process = await anyio.open_process(argv, env=env)
                except OSError as exc:
                    raise SlurmUnavailable(f"cannot run {program}: {exc}") from exc
                async with process, anyio.create_task_group() as tg:
                    tg.start_soon(drain, process.stdout, 0)
                    tg.start_soon(drain, process.stderr, 1)
                    if process.stdin is not None:
                        await _feed(process.stdin, stdin)
                    returncode = await process.wait()
        stdout, stderr = (bytes(part).decode(errors="replace") for part in output)
        if returncode is None:
            so_far = " ".join(stderr.split())[:_MESSAGE_LIMIT]
            raise SlurmUnavailable(
                f"{program} did not answer within {timeout_s:g} s and was killed"
                + (f"; it said: {so_far}" if so_far else "")
            )
        return _Completed(returncode, stdout, stderr)

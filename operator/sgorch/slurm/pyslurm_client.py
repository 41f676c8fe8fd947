"""The ``pyslurm`` client: the pyslurm binding, called only in a worker process.

The app builds it for ``--slurm pyslurm`` (or ``auto`` when :func:`pyslurm_usable` says
yes). Importing this module does not import pyslurm: the worker process
(``python -m sgorch.slurm.pyslurm_worker``) does, so a hung controller (pyslurm holds
the GIL for the whole RPC) or a broken slurm.conf (``import pyslurm`` then dies after
~60 s) never stalls the operator. Each call has a deadline; a worker that misses one is
killed and the next call starts a fresh one.

Why a plain subprocess and not a pool (both read and tried):
``anyio.to_process.run_sync`` (anyio 4.16) kills its worker on cancellation only with
``cancellable=True``, shares its pool with every other caller (no ``aclose``), silences
the worker's stderr (pyslurm's messages) and re-runs the parent's ``__main__`` file in
each worker; ``multiprocessing``'s "spawn" context re-runs that file too (unless it is a
package's ``__main__``), so any entry script without an ``if __name__`` guard, like
``sgorch/__main__.py`` under anyio, would run again in the worker. A subprocess of our
own has none of that: it is ours to kill, its stderr is the operator's, and it imports
only what it asks for.
"""

from __future__ import annotations

import os
import pickle
import re
import signal as signals
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, cast

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream, Process
from anyio.streams.buffered import BufferedByteReceiveStream
from loguru import logger

from sgorch.errors import SlurmRejected, SlurmUnavailable
from sgorch.resources.durations import UNLIMITED
from sgorch.slurm import pyslurm_worker
from sgorch.slurm.rest import (
    compute_time_left_s,
    epoch_to_datetime,
    normalize_reason,
    render_job_environment,
    slurm_error_is_temporary,
)
from sgorch.slurm.types import JobId, JobInfo, JobRequest, JobState

__all__ = [
    "PySlurmClient",
    "parse_job_record",
    "pyslurm_usable",
    "render_submit_description",
]

_VERSION = re.compile(r"(\d+)\.(\d+)")


def render_submit_description(request: JobRequest, environ: Mapping[str, str]) -> dict[str, Any]:
    """``pyslurm.JobSubmitDescription`` keyword arguments for ``request`` (pyslurm 25.11
    names; times are sbatch-style strings, memory MiB)."""
    options = request.options
    if options.extra:
        raise SlurmRejected(
            f"the pyslurm client cannot pass free-form sbatch options "
            f"({', '.join(options.extra)}; spec.slurm.sbatch_extra). Remove them or run the "
            "operator with --slurm cli"
        )
    description: dict[str, Any] = {
        "name": request.name,
        "script": request.script,
        "comment": request.comment,
        "working_directory": request.working_dir,
        "standard_output": request.stdout_path,
        "log_files_open_mode": "append",
        "nodes": 1,
        "ntasks": 1,
        "cpus_per_task": options.cpus_per_task,
        # A dict exports exactly these (plus the worker's SLURM_* variables), where the
        # default would export the whole environment of the worker, secrets included.
        "environment": render_job_environment(request, environ),
    }
    for key, value in (
        ("partitions", options.partition),
        ("account", options.account),
        ("qos", options.qos),
        ("reservations", options.reservation),
        ("gres_per_node", options.gres),
        ("constraints", options.constraint),
    ):
        if value:
            description[key] = value
    if options.exclude:
        description["excluded_nodes"] = list(options.exclude)
    if options.mem_mb is not None:
        description["memory_per_node"] = options.mem_mb
    if options.time_limit_min == UNLIMITED:
        description["time_limit"] = "UNLIMITED"
    elif options.time_limit_min is not None:
        description["time_limit"] = str(options.time_limit_min)
    return description


def parse_job_record(record: Mapping[str, Any], now: float) -> JobInfo:
    """A :class:`JobInfo` from a worker's job record (see ``pyslurm_worker.list_jobs``)."""
    state = JobState.parse(str(record.get("state") or ""))
    end_s = record.get("end_time")
    time_limit_min = record.get("time_limit")
    exit_code = None
    if state.is_terminal:
        # pyslurm splits the wait(2) status into exit_code and exit_code_signal.
        exit_signal = record.get("exit_signal")
        exit_code = 128 + exit_signal if exit_signal else record.get("exit_code")
    return JobInfo(
        job_id=JobId(str(record["job_id"])),
        name=str(record.get("name") or ""),
        state=state,
        reason=normalize_reason(record.get("state_reason")),
        nodes=record.get("nodes") or None,
        start_time=epoch_to_datetime(record.get("start_time")),
        end_time=epoch_to_datetime(end_s),
        time_left_s=compute_time_left_s(state, end_s, time_limit_min, now),
        time_limit_min=time_limit_min,
        comment=str(record.get("comment") or ""),
        exit_code=exit_code,
    )


def _signal_number(signal: str) -> int:
    """``USR1``, ``SIGUSR1`` or ``10`` as a number (pyslurm wants ``SIGUSR1`` or 10)."""
    text = signal.strip().upper()
    try:
        if text.isdigit():
            return int(signals.Signals(int(text)))
        return int(signals.Signals["SIG" + text.removeprefix("SIG")])
    except (KeyError, ValueError) as exc:
        raise SlurmRejected(f"unknown signal {signal!r}") from exc


def _last_line(traceback: str) -> str:
    """The exception line of a traceback (the whole text goes to the log)."""
    lines = traceback.strip().splitlines()
    return lines[-1] if lines else "no details"


class _Worker:
    """One worker process, its requests on stdin and its replies on stdout."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._replies = BufferedByteReceiveStream(cast(ByteReceiveStream, process.stdout))

    @classmethod
    async def start(cls, module: str, environment: Mapping[str, str]) -> _Worker:
        # The worker imports sgorch and ``module`` from wherever this process does.
        path = os.pathsep.join(entry for entry in sys.path if entry)
        env = {**os.environ, **environment, "PYTHONPATH": path}
        command = [sys.executable, "-m", pyslurm_worker.__name__, module]
        return cls(await anyio.open_process(command, env=env, stderr=None))

    async def send(self, message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        header = pyslurm_worker.FRAME_HEADER.pack(len(data))
        await cast(ByteSendStream, self.process.stdin).send(header + data)

    async def receive(self) -> Any:
        header = await self._replies.receive_exactly(pyslurm_worker.FRAME_HEADER.size)
        (size,) = pyslurm_worker.FRAME_HEADER.unpack(header)
        return pickle.loads(await self._replies.receive_exactly(size))

    def _kill(self) -> None:
        if self.process.returncode is None:
            with suppress(ProcessLookupError):  # it may have exited since
                self.process.kill()

    async def stop(self, *, kill: bool) -> int | None:
        """Stop the worker (end of stdin ends its loop; ``kill`` does not wait for that)
        and return its exit status."""
        with anyio.CancelScope(shield=True):
            if kill:
                self._kill()
            await cast(ByteSendStream, self.process.stdin).aclose()
            with anyio.move_on_after(5.0):
                await self.process.wait()
            self._kill()
            await self.process.aclose()
        return self.process.returncode


class PySlurmClient:
    """A :class:`~sgorch.slurm.SlurmClient` on pyslurm, one call at a time in a worker.

    ``module`` is what the worker imports (tests point it at the contract fake) with
    ``worker_env`` added to its environment first. ``timeout_s`` bounds every call,
    including the worker's start. ``environ`` is where the jobs' base environment comes
    from (the operator's own by default)."""

    name = "pyslurm"

    def __init__(
        self,
        *,
        module: str = "pyslurm",
        worker_env: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._module = module
        self._worker_env = dict(worker_env or {})
        self._timeout_s = timeout_s
        self._environ = os.environ if environ is None else environ
        self._clock = clock
        self._worker: _Worker | None = None
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"PySlurmClient(module={self._module!r})"

    async def _running_worker(self) -> _Worker:
        if self._worker is None:
            self._worker = await _Worker.start(self._module, self._worker_env)
            kind, detail = await self._worker.receive()
            if kind != "ready":
                logger.error("the pyslurm worker cannot import {}:\n{}", self._module, detail)
                await self._discard_worker(kill=False)  # it exits by itself
                raise SlurmUnavailable(
                    f"the pyslurm worker cannot import {self._module}: {_last_line(detail)}"
                )
            logger.info(
                "pyslurm worker {} started ({} {})", self._worker.process.pid, self._module, detail
            )
        return self._worker

    async def _discard_worker(self, *, kill: bool) -> int | None:
        worker, self._worker = self._worker, None
        return await worker.stop(kill=kill) if worker is not None else None

    async def _call(self, operation: str, *args: Any, what: str) -> Any:
        async with self._lock:
            try:
                with anyio.fail_after(self._timeout_s):
                    worker = await self._running_worker()
                    await worker.send((operation, args))
                    reply = await worker.receive()
            except TimeoutError as exc:
                await self._discard_worker(kill=True)
                raise SlurmUnavailable(
                    f"pyslurm did not answer {what} within {self._timeout_s:g} s; "
                    "its worker was killed and the next call starts a new one"
                ) from exc
            except (anyio.EndOfStream, anyio.IncompleteRead, anyio.BrokenResourceError) as exc:
                # It has exited already: killing it now would race the event loop's own
                # reaping of it (Popen.send_signal polls) and lose the exit status.
                exit_code = await self._discard_worker(kill=False)
                raise SlurmUnavailable(
                    f"the pyslurm worker died during {what} (exit code {exit_code})"
                ) from exc
            except BaseException:
                # A cancelled or failed call leaves an answer in flight that the next
                # call would read as its own: start afresh.
                await self._discard_worker(kill=True)
                raise
        return self._unwrap(reply, operation, what)

    def _unwrap(self, reply: tuple[Any, ...], operation: str, what: str) -> Any:
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "rpc_error":
            errno, message = reply[1], reply[2]
            text = f"pyslurm {what}: {message} (Slurm error {errno})"
            request_error = errno >= 2000 and not slurm_error_is_temporary(errno)
            if operation in {"submit", "cancel"} and request_error:
                raise SlurmRejected(text)
            raise SlurmUnavailable(text)
        if kind == "invalid" and operation == "submit":
            raise SlurmRejected(f"pyslurm refused {what}: {reply[1]}")
        logger.error("the pyslurm worker failed during {}:\n{}", what, reply[1])
        raise SlurmUnavailable(f"the pyslurm worker failed during {what}: {_last_line(reply[1])}")

    async def submit(self, request: JobRequest) -> JobId:
        description = render_submit_description(request, self._environ)
        job_id = await self._call("submit", description, what=f"the submission of {request.name}")
        return JobId(str(job_id))

    async def list_jobs(self, owner_tag: str) -> list[JobInfo]:
        records = await self._call("list_jobs", owner_tag, what="the job list")
        now = self._clock()
        return [parse_job_record(record, now) for record in records]

    async def cancel(self, job_id: JobId, signal: str | None = None) -> None:
        number = _signal_number(signal) if signal else None
        if not job_id.isdigit():
            return  # not a job id pyslurm could know (slurmrestd says "invalid job id")
        await self._call("cancel", int(job_id), number, what=f"the cancel of job {job_id}")

    async def ping(self) -> None:
        await self._call("ping", what="ping")

    async def can_exclude_nodes(self) -> bool:
        return True

    async def aclose(self) -> None:
        async with self._lock:
            await self._discard_worker(kill=False)


async def pyslurm_usable(
    *, module: str = "pyslurm", scontrol: str = "scontrol", timeout_s: float = 20.0
) -> tuple[bool, str]:
    """Whether the pyslurm client can work here, and why (not).

    Imports ``module`` in a throw-away interpreter, with a deadline: with an unreadable
    slurm.conf the import kills its process after ~60 s, and a binding built for another
    Slurm must never load into the operator. A pyslurm release works only with the Slurm
    major.minor it was built for, so its version must match ``scontrol --version``."""
    probe = "import importlib, sys; print(importlib.import_module(sys.argv[1]).__version__)"
    try:
        with anyio.fail_after(timeout_s):
            imported = await anyio.run_process([sys.executable, "-c", probe, module], check=False)
    except TimeoutError:
        return False, f"importing {module} took over {timeout_s:g} s (is slurm.conf readable?)"
    if imported.returncode != 0:
        error = imported.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        return False, f"{module} does not import: {error[0]}"
    binding = imported.stdout.decode().strip()
    try:
        with anyio.fail_after(timeout_s):
            version = await anyio.run_process([scontrol, "--version"], check=False)
    except (TimeoutError, OSError) as exc:
        return False, f"cannot ask {scontrol} for the Slurm version: {exc or 'timed out'}"
    slurm = version.stdout.decode().strip()
    binding_match, slurm_match = _VERSION.search(binding), _VERSION.search(slurm)
    if binding_match is None or slurm_match is None:
        return False, f"cannot compare {module} {binding!r} with {scontrol} {slurm!r}"
    # Numerically: pyslurm numbers Slurm 24.05 as 24.5.
    if tuple(map(int, binding_match.groups())) != tuple(map(int, slurm_match.groups())):
        return False, (
            f"{module} {binding} is built for another Slurm than this cluster's ({slurm}); "
            "a pyslurm release only works with the Slurm major.minor it was built for"
        )
    return True, f"{module} {binding} matches {slurm}"

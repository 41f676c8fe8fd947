"""The worker-process side of the ``pyslurm`` client. pyslurm never releases the GIL: called
from a thread, one hung controller froze the operator's whole event loop for 9 s. So every
pyslurm call runs here, in a process of its own (``python -m sgorch.slurm.pyslurm_worker
MODULE``) that :mod:`sgorch.slurm.pyslurm_client` starts, feeds one request at a time
over stdin/stdout, and kills when a call overruns.

The request functions take the imported binding and plain data and return plain data,
so tests run them in-process on the contract fake (``tests/fakes/pyslurm``). Attribute
names follow pyslurm 25.11.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, BinaryIO

__all__ = [
    "FRAME_HEADER",
    "cancel",
    "list_jobs",
    "main",
    "ping",
    "read_message",
    "serve",
    "submit",
    "write_message",
]

_ESLURM_INVALID_JOB_ID = 2017
_ESLURM_ALREADY_DONE = 2021


def submit(pyslurm: ModuleType, description: Mapping[str, Any]) -> int:
    """Submit a batch job described by ``JobSubmitDescription`` keyword arguments."""
    return int(pyslurm.JobSubmitDescription(**description).submit())


def list_jobs(pyslurm: ModuleType, prefix: str) -> list[dict[str, Any]]:
    """Every job slurmctld holds whose comment starts with ``prefix``, as plain records.
    ``Jobs.load()`` has no comment filter: the whole table crosses the RPC once."""
    records = []
    for job in pyslurm.Jobs.load().values():
        comment = job.comment or ""
        if not comment.startswith(prefix):
            continue
        records.append(
            {
                "job_id": job.id,
                "name": job.name,
                "state": job.state,
                "state_reason": job.state_reason,
                "nodes": job.allocated_nodes,
                "start_time": job.start_time,
                "end_time": job.end_time,
                "time_limit": job.time_limit,
                "exit_code": job.exit_code,
                "exit_signal": job.exit_code_signal,
                "comment": comment,
            }
        )
    return records


def cancel(pyslurm: ModuleType, job_id: int, signal_number: int | None) -> None:
    """Cancel a job, or send it a signal. Unknown and finished jobs are not an error."""
    job = pyslurm.Job(job_id)
    try:
        if signal_number is None:
            job.cancel()
        else:
            # steps="all" reaches the batch shell too (scancel --full), as slurmrestd does;
            # pyslurm's default ("children") would miss an engine exec'd by the script.
            job.send_signal(signal_number, steps="all")
    except pyslurm.RPCError as exc:
        if exc.errno not in (_ESLURM_INVALID_JOB_ID, _ESLURM_ALREADY_DONE):
            raise


def ping(pyslurm: ModuleType) -> None:
    """Raise ``RPCError`` unless the primary slurmctld answers."""
    pyslurm.slurmctld.ping_primary()


_OPERATIONS: dict[str, Callable[..., Any]] = {
    "submit": submit,
    "list_jobs": list_jobs,
    "cancel": cancel,
    "ping": ping,
}

FRAME_HEADER = struct.Struct(">Q")
"""Every message is a pickle preceded by its length."""


def write_message(stream: BinaryIO, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(FRAME_HEADER.pack(len(data)) + data)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """The next message, or None at the end of the stream."""
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def serve(requests: BinaryIO, replies: BinaryIO, module_name: str) -> None:
    """Import the binding, say ``("ready", version)``, then answer each ``(operation,
    args)`` with ``("ok", result)``, ``("rpc_error", errno, message)``, ``("invalid",
    message)`` (the binding refused the arguments) or ``("crash", traceback)``. Returns
    at the end of ``requests``: when the operator closes the pipe, or dies."""
    try:
        pyslurm = importlib.import_module(module_name)
    except Exception:
        write_message(replies, ("crash", traceback.format_exc()))
        return
    write_message(replies, ("ready", str(getattr(pyslurm, "__version__", "unknown"))))
    while (request := read_message(requests)) is not None:
        operation, args = request
        reply: tuple[Any, ...]
        try:
            result = _OPERATIONS[operation](pyslurm, *args)
        except pyslurm.RPCError as exc:
            errno = exc.errno if isinstance(exc.errno, int) else -1
            reply = ("rpc_error", errno, str(exc))
        except (ValueError, TypeError) as exc:
            reply = ("invalid", f"{type(exc).__name__}: {exc}")
        except Exception:
            reply = ("crash", traceback.format_exc())
        else:
            reply = ("ok", result)
        write_message(replies, reply)


def main(module_name: str) -> None:
    """``python -m sgorch.slurm.pyslurm_worker MODULE``: requests on stdin, replies on
    the original stdout. Everything else written to stdout (Python or C) goes to
    stderr, so it can never corrupt a reply."""
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Ctrl-C reaches the whole process group; the operator stops us by closing stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, replies, module_name)


if __name__ == "__main__":
    main(sys.argv[1])

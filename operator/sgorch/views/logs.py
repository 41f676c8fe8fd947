"""Finding and tailing a worker's engine log for ``sgorch logs``. A job's stdout is
``LOG_DIR/%x-%j.out`` (job name ``PREFIX-NAME-SLOT``, job id), with ``LOG_DIR`` the
Deployment's ``slurm.log_dir`` or ``STATE_DIR/logs/NAME``; the status file says which
job fills which slot."""

from __future__ import annotations

import codecs
import glob
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from sgorch.resources import Deployment, iter_resource_files, load_file
from sgorch.resources.status import WorkerStatus

__all__ = [
    "choose_worker",
    "configured_log_dir",
    "copy_log",
    "find_job_logs",
    "follow_log",
    "job_order",
    "tail_start",
]

_CHUNK = 64 * 1024


def choose_worker(workers: Sequence[WorkerStatus], slot: int) -> WorkerStatus | None:
    """The worker whose log to show for ``slot``: during a replacement a slot has two
    jobs, and the running one (then the newest) is the one people ask about."""
    candidates = [w for w in workers if w.slot == slot and w.job_id]
    if not candidates:
        return None
    return max(candidates, key=lambda w: (w.state == "RUNNING", job_order(w.job_id or "")))


def job_order(job_id: str) -> tuple[int, str]:
    """Sort key of job ids: numerically (``999`` before ``1000``)."""
    return (int(job_id) if job_id.isdigit() else -1, job_id)


def find_job_logs(log_dirs: Iterable[Path], deployment: str, slot: int) -> dict[str, Path]:
    """Job id → log file of every job that filled ``slot`` of ``deployment``, found by
    globbing ``*-NAME-SLOT-*.out``; the first directory that has a job's log wins.
    The job-name prefix must be one word, so slot 0 of ``a`` never matches ``b-a-0-…``."""
    exact = re.compile(rf"^[a-z0-9]+-{re.escape(deployment)}-{slot}-(?P<job>[^-/]+)\.out$")
    found: dict[str, Path] = {}
    for log_dir in log_dirs:
        for path in sorted(log_dir.glob(f"*-{glob.escape(deployment)}-{slot}-*.out")):
            match = exact.match(path.name)
            if match:
                found.setdefault(match["job"], path)
    return found


def configured_log_dir(resources_dir: Path, deployment: str) -> Path | None:
    """``spec.slurm.log_dir`` of ``deployment`` in ``resources_dir``, resolved as the
    operator resolves it (relative to the current directory); None when unset, or when
    the resource cannot be found or read."""
    if not resources_dir.is_dir():
        return None
    for path in iter_resource_files([resources_dir]):
        for document in load_file(path).documents:
            resource = document.resource
            if isinstance(resource, Deployment) and resource.name == deployment:
                configured = resource.spec.slurm.log_dir
                return Path(configured).expanduser().resolve() if configured else None
    return None


def tail_start(path: Path, lines: int) -> int:
    """The byte offset where the last ``lines`` lines of ``path`` begin (a last line
    without a newline counts), read backwards so a huge log costs only its tail."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if lines <= 0 or size == 0:
            return size
        handle.seek(size - 1)
        end = size - 1 if handle.read(1) == b"\n" else size
        needed = lines
        while end > 0:
            start = max(0, end - _CHUNK)
            handle.seek(start)
            block = handle.read(end - start)
            index = len(block)
            while (index := block.rfind(b"\n", 0, index)) >= 0:
                needed -= 1
                if needed == 0:
                    return start + index + 1
            end = start
        return 0


def copy_log(path: Path, out: TextIO, start: int) -> int:
    """Write ``path`` from byte ``start`` to its current end to ``out``; the end offset."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with path.open("rb") as handle:
        handle.seek(start)
        while chunk := handle.read(_CHUNK):
            out.write(decoder.decode(chunk))
        out.write(decoder.decode(b"", final=True))
        out.flush()
        return handle.tell()


def follow_log(
    path: Path,
    out: TextIO,
    *,
    offset: int,
    interval_s: float,
    stop: Callable[[], bool] = lambda: False,
    notice: Callable[[str], None] = lambda message: None,
) -> None:
    """Write what is appended to ``path`` after ``offset`` to ``out``, polling every
    ``interval_s`` (polling works on the network filesystems job logs live on), until
    ``stop()``. A truncated or replaced file is read again from its start."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    handle = path.open("rb")
    try:
        handle.seek(offset)
        inode = os.fstat(handle.fileno()).st_ino
        while not stop():
            chunk = handle.read(_CHUNK)
            if chunk:
                out.write(decoder.decode(chunk))
                out.flush()
                continue
            try:
                current = path.stat()
            except FileNotFoundError:
                current = None
            if current is not None and (current.st_ino != inode or current.st_size < handle.tell()):
                notice(f"{path} was truncated or replaced; reading it from the start")
                handle.close()
                handle = path.open("rb")
                inode = os.fstat(handle.fileno()).st_ino
                decoder.reset()
                continue
            time.sleep(interval_s)
    finally:
        handle.close()

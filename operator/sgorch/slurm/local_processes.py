"""Processes of the local executor: starting a job's supervisor, telling whether a
recorded process is still the same one (pid reuse), signalling process groups, and the
environment a job starts with. Linux only: identity comes from ``/proc``.

Called from the executor's scheduler thread; everything here blocks only briefly.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sgorch.slurm import local_wrapper
from sgorch.slurm.environment import select_inherited

__all__ = [
    "ProcStat",
    "Supervisor",
    "build_job_environment",
    "find_group_members",
    "find_supervisor",
    "parse_proc_stat",
    "parse_signal",
    "read_boot_id",
    "read_proc_stat",
    "reap_children",
    "signal_group",
    "spawn_supervisor",
    "supervisor_alive",
]

_WRAPPER = Path(local_wrapper.__file__)
_PROC = Path("/proc")
_CHILDREN: set[int] = set()
"""Supervisors this OS process spawned and has not reaped yet, whichever executor spawned
them: a job outlives a closed executor, and the next one on its state dir reaps it."""


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of ``/proc/PID/stat`` the executor needs."""

    state: str
    pgid: int
    session: int
    start_ticks: int
    """Start time in clock ticks after boot: with the boot id, a process's identity."""


@dataclass(frozen=True, slots=True)
class Supervisor:
    """A job's supervisor process, identified so that a reused pid is not mistaken for it."""

    pid: int
    start_ticks: int
    boot_id: str


def parse_proc_stat(text: str) -> ProcStat:
    """Parse ``/proc/PID/stat``; the command name may contain spaces and parentheses."""
    fields = text[text.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, session, ..., starttime (22)
    return ProcStat(
        state=fields[0],
        pgid=int(fields[2]),
        session=int(fields[3]),
        start_ticks=int(fields[19]),
    )


def read_proc_stat(pid: int) -> ProcStat | None:
    """The process's stat, or None when there is no such process."""
    try:
        return parse_proc_stat((_PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def read_boot_id() -> str:
    return (_PROC / "sys/kernel/random/boot_id").read_text().strip()


def spawn_supervisor(
    *,
    job_dir: Path,
    working_dir: Path,
    bash: str,
    script: Path,
    environment: Mapping[str, str],
    output: Path,
    boot_id: str,
) -> Supervisor:
    """Start the supervisor of one job in a new session (so that it outlives the operator
    and no terminal signal reaches it), output appended to ``output``."""
    raw = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        # Above 2, so the file actions below cannot clobber it even if the operator runs
        # with stdin/stdout closed and the open() above got one of those numbers.
        out = fcntl.fcntl(raw, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(raw)
    argv = [
        sys.executable,
        "-I",
        "-S",
        str(_WRAPPER),
        str(job_dir),
        str(working_dir),
        bash,
        str(script),
    ]
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            dict(environment),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, out, 2),
            ],
            setsid=True,
            setsigdef=local_wrapper.DEFAULT_SIGNALS,
        )
    finally:
        os.close(out)
    _CHILDREN.add(pid)
    stat = read_proc_stat(pid)
    assert stat is not None, "an unreaped child always has a /proc entry"
    return Supervisor(pid, stat.start_ticks, boot_id)


def reap_children() -> None:
    """Reap every supervisor this process spawned that has ended, whichever executor
    started it (jobs outlive a closed executor, so a later one reaps them)."""
    for pid in list(_CHILDREN):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # another executor's thread reaped it just now
            done = pid
        if done:
            _CHILDREN.discard(pid)


def supervisor_alive(supervisor: Supervisor, boot_id: str) -> bool:
    """Whether the recorded supervisor still runs: same pid, same start time, same boot."""
    if supervisor.boot_id != boot_id:
        return False
    stat = read_proc_stat(supervisor.pid)
    return stat is not None and stat.start_ticks == supervisor.start_ticks and stat.state != "Z"


def find_supervisor(job_dir: Path, boot_id: str) -> Supervisor | None:
    """The running supervisor of the job in ``job_dir``, found by its command line — for
    a launch the operator did not get to record before it stopped."""
    wanted = os.fsencode(job_dir)
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if str(_WRAPPER).encode() in argv and wanted in argv:
            stat = read_proc_stat(int(entry.name))
            if stat is not None and stat.state != "Z":
                return Supervisor(int(entry.name), stat.start_ticks, boot_id)
    return None


def find_group_members(pgid: int, session: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` in session ``session``. A
    job's group lives in its supervisor's session, so the pair identifies the job's
    processes even after the supervisor is gone."""
    members = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            stat = read_proc_stat(int(entry.name))
            if stat and stat.pgid == pgid and stat.session == session and stat.state != "Z":
                members.append(int(entry.name))
    return members


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send ``sig`` to the process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


_SIGNAL_NUMBER = re.compile(r"^\d+$")


def parse_signal(name: str) -> signal.Signals:
    """A signal as scancel takes it: ``USR1``, ``SIGUSR1``, ``usr1`` or a number."""
    text = name.strip().upper()
    try:
        if _SIGNAL_NUMBER.match(text):
            return signal.Signals(int(text))
        return signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except (KeyError, ValueError):
        raise ValueError(f"{name!r} is not a signal name or number") from None


def build_job_environment(
    operator_env: Mapping[str, str],
    request_env: Mapping[str, str],
    slurm_env: Mapping[str, str],
) -> dict[str, str]:
    """The job's environment: a few operator variables, then the request's own, then the
    ``SLURM_*`` variables (which, as in Slurm, win)."""
    return {**select_inherited(operator_env), **request_env, **slurm_env}

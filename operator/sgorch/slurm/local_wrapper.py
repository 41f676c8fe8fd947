"""The supervisor of one job of the local executor: it runs the batch script in a
process group of its own and writes the script's exit status to a file, so that the
status outlives the operator that started the job (an operator restart must not turn
finished jobs into "exit status unknown").

:class:`~sgorch.slurm.local.LocalExecutor` starts it in a new session, with stdout and
stderr on the job's output file and the job's environment, as::

    python -I -S local_wrapper.py JOB_DIR WORKING_DIR BASH SCRIPT

It imports the standard library only: isolated mode (``-I -S``) keeps the job's
``PYTHONPATH`` and the operator's virtualenv out of it.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from pathlib import Path

__all__ = ["DEFAULT_SIGNALS", "EXIT_FILE", "STARTED_FILE", "exit_code_of", "main"]

STARTED_FILE = "started"
"""The job's process group id, written once the script runs in that group."""

EXIT_FILE = "exit"
"""The script's exit code (128 + N when signal N ended it), written atomically."""

DEFAULT_SIGNALS = frozenset(
    {
        signal.SIGPIPE,
        signal.SIGXFSZ,
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGALRM,
    }
)
"""Signals a job starts with the default action for: Python ignores SIGPIPE and
SIGXFSZ, and an operator started under ``nohup`` ignores SIGHUP; ignored signals would
otherwise be inherited by the engine, which must die on ``cancel``'s SIGTERM."""


def exit_code_of(info: os.waitid_result) -> int:
    """The exit code a shell would report: the status, or 128 + the fatal signal."""
    if info.si_code == os.CLD_EXITED:
        return info.si_status
    return 128 + info.si_status


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    Path(tmp).replace(path)


def main(argv: list[str]) -> int:
    job_dir, working_dir, bash, script = (Path(argv[1]), argv[2], argv[3], argv[4])
    try:
        os.chdir(working_dir)
        pgid = os.posix_spawn(
            bash, [bash, script], os.environ, setpgroup=0, setsigdef=DEFAULT_SIGNALS
        )
    except OSError as exc:
        print(f"sgorch-local: cannot start {script} in {working_dir}: {exc}", file=sys.stderr)
        _write_atomic(job_dir / EXIT_FILE, "1\n")
        return 0
    _write_atomic(job_dir / STARTED_FILE, f"{pgid}\n")
    # Wait without reaping: while the script is a zombie its pid cannot be reused, so
    # the group can be killed safely — nothing it started outlives the job, as in Slurm.
    info = os.waitid(os.P_PID, pgid, os.WEXITED | os.WNOWAIT)
    assert info is not None, "waitid returns None only with WNOHANG"
    os.killpg(pgid, signal.SIGKILL)
    _write_atomic(job_dir / EXIT_FILE, f"{exit_code_of(info)}\n")
    os.waitpid(pgid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

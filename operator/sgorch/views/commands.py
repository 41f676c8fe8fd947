"""The commands people use to look at a running operator from its files alone: ``get``,
``describe``, ``logs`` and ``wait``. Each reads ``STATUS_DIR`` (and the job logs), needs
no running operator, and exits 0 when all is well, 1 when the resource is not there or
a wait timed out, 2 on a usage error."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

from ruamel.yaml import YAML

from sgorch.resources.status import DeploymentStatusDocument
from sgorch.status.events import read_events
from sgorch.views.describe import render_description
from sgorch.views.documents import (
    KINDS,
    Kind,
    StatusFile,
    StatusUnreadable,
    list_status_files,
    parse_kind,
    read_status_file,
    status_path,
)
from sgorch.views.durations import parse_duration_s
from sgorch.views.get import render_deployment_table, render_router_table
from sgorch.views.logs import (
    choose_worker,
    configured_log_dir,
    copy_log,
    find_job_logs,
    follow_log,
    job_order,
    tail_start,
)
from sgorch.views.wait import WaitFor, parse_wait_for, wait_until

__all__ = ["Handler", "add_view_commands", "run_logs"]

Handler = Callable[[argparse.Namespace], int]

EXIT_CODES = "exit status: 0 ok, 1 not found, 2 usage error"

GET_EPILOG = f"""\
examples:
  sgorch get                          every Deployment and Router
  sgorch get deploy                   all Deployments
  sgorch get deployment llama -o wide also model, router, nodes and the main problem
  sgorch get routers -o json          the status documents, as the operator wrote them
  sgorch get deploy -o name           deployment/NAME lines, for scripts

columns: READY ready/desired workers; UP-TO-DATE workers on the current job template;
AVAILABLE workers passing readiness (they are in the router); AGE since the earliest
condition; CONDITION (wide) the reason of the first problem condition.

{EXIT_CODES}
"""

DESCRIBE_EPILOG = f"""\
examples:
  sgorch describe deployment llama    conditions, workers (with pending reasons), events
  sgorch describe router main
  sgorch describe deploy              every Deployment

{EXIT_CODES}
"""

LOGS_EPILOG = f"""\
examples:
  sgorch logs deployment llama                 the log of the lowest slot's job
  sgorch logs deployment llama --worker 1 -f   follow slot 1 (Ctrl-C stops)
  sgorch logs deploy llama --tail 100
  sgorch logs deploy llama --previous          the job before the current one (a crash?)
  sgorch logs deploy llama --log-dir /shared/logs/llama
  sgorch logs router main                      the router sidecar's log

A job's log is LOG_DIR/PREFIX-NAME-SLOT-JOBID.out. LOG_DIR is --log-dir if given, else the
Deployment's slurm.log_dir (read from --resources), else STATE_DIR/logs/NAME.

{EXIT_CODES}
"""

WAIT_EPILOG = """\
examples:
  sgorch wait deployment llama --for condition=Available --timeout 10m
  sgorch wait deploy llama --for condition=Progressing=True
  sgorch wait deploy llama --for condition=Available=False --timeout 30s
  sgorch wait deploy llama --for delete --timeout 5m   after removing its resource file

The status file is re-read until the condition holds; a status file that does not exist
yet is waited for too. TIMEOUT is 30s, 10m, 1h, 1h30m or plain seconds.

exit status: 0 ok (condition met), 1 timed out, 2 usage error
"""

_FOLLOW_INTERVAL_S = 0.5


def add_view_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Handler]:
    """Add ``get``, ``describe``, ``logs`` and ``wait`` to ``sub``; their handlers by name.
    ``clock`` is "now" for ages (tests pin it)."""
    get = _add_parser(
        sub,
        "get",
        help="list Deployments and Routers with their state, as tables",
        description="Print one line per resource from the status files the operator "
        "writes; no running operator needed.",
        epilog=GET_EPILOG,
    )
    get.add_argument(
        "kind",
        nargs="?",
        default="all",
        type=_kind_or_all,
        metavar="KIND",
        help="deployments (deployment, deploy), routers (router) or all (default: all)",
    )
    get.add_argument("name", nargs="?", metavar="NAME", help="only this resource")
    get.add_argument(
        "-o",
        "--output",
        choices=["wide", "json", "yaml", "name"],
        help="wide: more columns; json/yaml: the status documents (one object for a "
        "NAME, else a list); name: KIND/NAME lines",
    )

    describe = _add_parser(
        sub,
        "describe",
        help="show everything about a Deployment or Router: conditions, workers, events",
        description="Print the state of a resource in detail: replicas, conditions with "
        "their age, each worker (job, state, node, URL, readiness, restarts, pending "
        "reason), the error of an invalid resource file, and the latest events.",
        epilog=DESCRIBE_EPILOG,
    )
    describe.add_argument("kind", type=_kind, metavar="KIND", help="deployment (deploy) or router")
    describe.add_argument(
        "name", nargs="?", metavar="NAME", help="the resource (default: all of KIND)"
    )

    logs = _add_parser(
        sub,
        "logs",
        help="print (or follow) a worker's engine log",
        description="Print the log (stdout and stderr) of the job filling a slot of a "
        "Deployment, found from the status file; or the log of a Router's sidecar.",
        epilog=LOGS_EPILOG,
    )
    logs.add_argument("kind", type=_kind, metavar="KIND", help="deployment (deploy) or router")
    logs.add_argument("name", metavar="NAME", help="the resource")
    logs.add_argument(
        "--worker",
        type=_slot,
        metavar="SLOT",
        help="slot index (default: the lowest slot with a job)",
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines; Ctrl-C stops"
    )
    logs.add_argument(
        "--tail",
        type=int,
        default=-1,
        metavar="N",
        help="print only the last N lines first (default: all)",
    )
    logs.add_argument(
        "-p",
        "--previous",
        action="store_true",
        help="the log of the job that filled the slot before the current one",
    )
    logs.add_argument(
        "--log-dir",
        type=Path,
        metavar="DIR",
        help="where the job logs are (the Deployment's slurm.log_dir); default: found "
        "from --resources, else STATE_DIR/logs/NAME",
    )
    logs.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sgorch"),
        metavar="DIR",
        help="the operator's --state-dir (default: ./.sgorch)",
    )
    logs.add_argument(
        "--resources",
        type=Path,
        default=Path("resources"),
        metavar="DIR",
        help="the operator's --resources, read for slurm.log_dir (default: ./resources)",
    )

    wait = _add_parser(
        sub,
        "wait",
        help="wait until a Deployment or Router meets a condition, or is deleted",
        description="Poll the status file until the resource meets --for, then exit 0; "
        "exit 1 with the current state when --timeout passes first.",
        epilog=WAIT_EPILOG,
    )
    wait.add_argument("kind", type=_kind, metavar="KIND", help="deployment (deploy) or router")
    wait.add_argument("name", metavar="NAME", help="the resource")
    wait.add_argument(
        "--for",
        dest="wait_for",
        required=True,
        type=_wait_for,
        metavar="CONDITION",
        help="condition=TYPE[=True|False|Unknown] (e.g. condition=Available) or delete",
    )
    wait.add_argument(
        "--timeout",
        type=_duration,
        default=30.0,
        metavar="TIMEOUT",
        help="give up after this long: 30s, 10m, 1h or seconds (default: 30s; 0 checks once)",
    )
    wait.add_argument(
        "--interval",
        type=_duration,
        default=1.0,
        metavar="SECONDS",
        help="how often the status file is re-read (default: 1s)",
    )
    return {
        "get": partial(_cmd_get, clock=clock),
        "describe": partial(_cmd_describe, clock=clock),
        "logs": _cmd_logs,
        "wait": _cmd_wait,
    }


# ------------------------------------------------------------------------- parsing


def _add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,
    description: str,
    epilog: str,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help,
        description=textwrap.fill(description, width=80),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--status-dir",
        type=Path,
        default=Path("status"),
        metavar="DIR",
        help="the operator's --status-dir (default: ./status)",
    )
    return parser


def _kind(text: str) -> Kind:
    try:
        return parse_kind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kind_or_all(text: str) -> Kind | Literal["all"]:
    if text.lower() == "all":
        return "all"
    try:
        return parse_kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown kind {text!r}; use deployments (deploy), routers or all, "
            f"e.g. 'sgorch get deployment {text}'"
        ) from None


def _slot(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a slot index (0, 1, ...)")
    return int(text)


def _duration(text: str) -> float:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wait_for(text: str) -> WaitFor:
    try:
        return parse_wait_for(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ------------------------------------------------------------------------- helpers


def _error(message: str) -> None:
    print(message, file=sys.stderr)


def _not_found(kind: Kind, name: str, status_dir: Path) -> int:
    _error(f'Error (NotFound): {kind.lower()} "{name}" not found in {status_dir}')
    if not status_dir.is_dir():
        _error(f"{status_dir} does not exist; pass the operator's --status-dir")
    return 1


def _read_one(status_dir: Path, kind: Kind, name: str) -> StatusFile | int:
    """The status, or the exit code after printing why there is none."""
    try:
        status = read_status_file(status_dir, kind, name)
    except StatusUnreadable as exc:
        _error(f"error: {exc}")
        return 1
    if status is None:
        return _not_found(kind, name, status_dir)
    return status


def _read_all(status_dir: Path, kinds: tuple[Kind, ...]) -> list[StatusFile]:
    statuses: list[StatusFile] = []
    for kind in kinds:
        found, problems = list_status_files(status_dir, kind)
        statuses += found
        for problem in problems:
            _error(f"warning: skipped {problem}")
    return statuses


def _no_resources(status_dir: Path) -> None:
    _error(f"No resources found in {status_dir}.")
    if not status_dir.is_dir():
        _error(f"{status_dir} does not exist; pass the operator's --status-dir")


# --------------------------------------------------------------------------- get


def _cmd_get(args: argparse.Namespace, *, clock: Callable[[], datetime]) -> int:
    status_dir: Path = args.status_dir
    if args.name is not None:
        if args.kind == "all":
            _error(f"sgorch get: a NAME needs a kind, e.g. 'sgorch get deployment {args.name}'")
            return 2
        one = _read_one(status_dir, args.kind, args.name)
        if isinstance(one, int):
            return one
        statuses = [one]
    else:
        statuses = _read_all(status_dir, KINDS if args.kind == "all" else (args.kind,))
    output: str | None = args.output
    if output in ("json", "yaml"):
        payload: Any = statuses[0].raw if args.name else [s.raw for s in statuses]
        _print_document(payload, output)
        return 0
    if not statuses:
        _no_resources(status_dir)
        return 0
    if output == "name":
        for status in statuses:
            print(f"{status.kind.lower()}/{status.name}")
        return 0
    now = clock()
    wide = output == "wide"
    prefixed = args.kind == "all"
    tables = []
    deployments = [s for s in statuses if s.kind == "Deployment"]
    routers = [s for s in statuses if s.kind == "Router"]
    if deployments:
        prefix = "deployment/" if prefixed else ""
        tables.append(render_deployment_table(deployments, now, wide=wide, prefix=prefix))
    if routers:
        prefix = "router/" if prefixed else ""
        tables.append(render_router_table(routers, now, wide=wide, prefix=prefix))
    sys.stdout.write("\n".join(tables))
    return 0


def _print_document(payload: Any, output: str) -> None:
    if output == "json":
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # a long message folded over lines is harder to grep
    yaml.dump(payload, sys.stdout)


# ---------------------------------------------------------------------- describe


def _cmd_describe(args: argparse.Namespace, *, clock: Callable[[], datetime]) -> int:
    status_dir: Path = args.status_dir
    kind: Kind = args.kind
    if args.name is not None:
        one = _read_one(status_dir, kind, args.name)
        if isinstance(one, int):
            return one
        statuses = [one]
    else:
        statuses = _read_all(status_dir, (kind,))
        if not statuses:
            _no_resources(status_dir)
            return 0
    now = clock()
    pages = [render_description(s, read_events(status_dir, s.kind, s.name), now) for s in statuses]
    sys.stdout.write("\n\n".join(page.rstrip("\n") for page in pages) + "\n")
    return 0


# -------------------------------------------------------------------------- logs


def _cmd_logs(args: argparse.Namespace) -> int:
    stop = threading.Event()
    try:
        return run_logs(args, out=sys.stdout, interval_s=_FOLLOW_INTERVAL_S, stop=stop.is_set)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # piped into head, which has seen enough
        # Python would report the failing flush of stdout at exit: point it elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_logs(
    args: argparse.Namespace,
    *,
    out: Any,
    interval_s: float,
    stop: Callable[[], bool],
) -> int:
    """``sgorch logs`` with the output stream, polling interval and stop signal given
    (the command passes stdout, 0.5 s and Ctrl-C; tests pass their own)."""
    path = _find_log(args)
    if isinstance(path, int):
        return path
    start = tail_start(path, args.tail) if args.tail >= 0 else 0
    offset = copy_log(path, out, start)
    if args.follow:
        follow_log(path, out, offset=offset, interval_s=interval_s, stop=stop, notice=_error)
    return 0


def _find_log(args: argparse.Namespace) -> Path | int:
    """The log file to print, or the exit code after saying why there is none."""
    status_dir: Path = args.status_dir
    name: str = args.name
    if args.kind == "Router":
        path: Path = args.state_dir / "logs" / "routers" / f"{name}.log"
        if path.is_file():
            return path
        if read_status_file(status_dir, "Router", name) is None:
            return _not_found("Router", name, status_dir)
        _error(
            f"error: no router log {path}; the operator writes it under its --state-dir "
            "(pass the same --state-dir), and only for routers it runs itself"
        )
        return 1
    status = _read_one(status_dir, "Deployment", name)
    if isinstance(status, int):
        return status
    assert isinstance(status.document, DeploymentStatusDocument)
    workers = status.document.status.workers
    with_jobs = sorted(w.slot for w in workers if w.job_id)
    slot: int = args.worker if args.worker is not None else (with_jobs[0] if with_jobs else 0)
    if args.log_dir is not None:
        log_dirs = [args.log_dir]
    else:
        configured = configured_log_dir(args.resources, name)
        default = args.state_dir / "logs" / name
        log_dirs = [configured] if configured is not None else []
        if default.resolve() not in [d.resolve() for d in log_dirs]:
            log_dirs.append(default)
    logs = find_job_logs(log_dirs, name, slot)
    searched = ", ".join(str(d) for d in log_dirs)
    worker = choose_worker(workers, slot)
    current = worker.job_id if worker is not None else None
    if args.previous:
        earlier = sorted((j for j in logs if j != current), key=job_order)
        if not earlier:
            _error(f"error: no earlier job log for slot {slot} of deployment {name} in {searched}")
            return 1
        return logs[earlier[-1]]
    if current is not None and current in logs:
        return logs[current]
    if current is not None:
        assert worker is not None
        if worker.state in ("PENDING", "Submitting"):
            why = f" ({worker.reason})" if worker.reason else ""
            _error(
                f"error: job {current} (slot {slot}) is {worker.state}{why}: it has no log "
                f"until it starts. Try again later, or wait with 'sgorch wait deployment "
                f"{name} --for condition=Available'"
            )
            return 1
        _error(
            f"error: no log *-{name}-{slot}-{current}.out of job {current} in {searched}. "
            "If the Deployment sets slurm.log_dir, pass --log-dir DIR (or --resources DIR "
            "so it can be read); if the operator runs with --state-dir, pass the same one"
        )
        return 1
    if logs:
        newest = max(logs, key=job_order)
        _error(f"slot {slot} has no job now; this is the log of job {newest}, the last one")
        return logs[newest]
    slots = ", ".join(str(s) for s in with_jobs) or "none"
    _error(
        f"error: slot {slot} of deployment {name} has no job and no log in {searched} "
        f"(slots with jobs: {slots})"
    )
    return 1


# -------------------------------------------------------------------------- wait


def _cmd_wait(args: argparse.Namespace) -> int:
    status_dir: Path = args.status_dir
    kind: Kind = args.kind
    name: str = args.name
    want: WaitFor = args.wait_for
    outcome = wait_until(
        lambda: read_status_file(status_dir, kind, name),
        want,
        timeout_s=args.timeout,
        interval_s=args.interval,
    )
    label = f"{kind.lower()}/{name}"
    if outcome.met:
        print(f"{label} {'deleted' if want.condition is None else 'condition met'}")
        return 0
    _error(f"error: timed out waiting for {want.describe()} on {label}: {outcome.current}")
    if outcome.current == "no status file yet":
        _error(
            f"({status_path(status_dir, kind, name)} does not exist: is the operator running "
            f"with --status-dir {status_dir}, and is the resource named {name}?)"
        )
    return 1

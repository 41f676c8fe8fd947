"""The ``sgorch`` command line: parses arguments and dispatches to subcommands.

``python -m sgorch`` and ``sgorch`` are the same program; with no subcommand it runs the
operator (``sgorch run``). Exit codes: 0 success, 1 the input or the system said no,
2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from sgorch import __version__
from sgorch.app import Settings, run_operator, setup_logging
from sgorch.errors import ConfigError, ErrorLocation
from sgorch.resources import (
    find_duplicate_names,
    iter_resource_files,
    load_file,
)
from sgorch.resources.loader import LocatedError, dump_resources
from sgorch.resources.schema import render_schemas
from sgorch.resources.v2 import V2Conversion, convert_v2_text
from sgorch.router.cli import add_router_arguments, run_router
from sgorch.slurm.tags import validate_instance
from sgorch.views import add_view_commands

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  sgorch                                run the operator on ./resources (same as 'sgorch run')
  sgorch run --resources r/ --slurm local   run it with the embedded local executor
  sgorch router --port 8080 --worker http://127.0.0.1:8001   a standalone router
  sgorch validate resources/            check every *.yaml/*.yml under resources/
  sgorch validate --config v2.yaml      check an SGOrch v2 configuration file
  sgorch convert v2.yaml -o resources/  turn a v2 configuration into resource files
  sgorch schema -o crds-like-schemas/   write the JSON Schemas of all resources
  sgorch get                            the state of every resource, from ./status
  sgorch describe deployment NAME       conditions, workers and events of one Deployment

The package is 'sgorch' ('python -m sgorch'); 'operator/' is only its source folder.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgorch",
        description="Run LLM and embedding inference servers as SLURM jobs, declared as "
        "Deployment and Router resources in a directory.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sgorch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run_parser(sub)
    router = sub.add_parser(
        "router",
        help="run the OpenAI-compatible router (standalone, or as the operator's sidecar)",
        description="One OpenAI-compatible endpoint in front of many workers: balancing, "
        "retries, streaming, health tracking, model-aware routing. Workers are registered "
        "with its token-protected API (/workers/add?url=...) or --worker.",
    )
    add_router_arguments(router)

    validate = sub.add_parser(
        "validate",
        help="check resource files (or a v2 config) and report every error with its place",
        description="Check resource files without running anything. Prints one line per "
        "valid resource; on errors prints each as FILE:LINE:COLUMN: FIELD: MESSAGE and "
        "exits 1.",
    )
    validate.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="resource files or directories (searched recursively for *.yaml and *.yml)",
    )
    validate.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="an SGOrch v2 configuration file (orchestrator: + deployments:) to check; repeatable",
    )

    convert = sub.add_parser(
        "convert",
        help="convert an SGOrch v2 configuration file into resource files",
        description="Write one Deployment resource file per v2 deployment into DIR. "
        "Settings that moved to the command line are printed as warnings.",
    )
    convert.add_argument("config", type=Path, metavar="CONFIG", help="v2 configuration file")
    convert.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory to write NAME.yaml files into (created if missing)",
    )
    convert.add_argument("--force", action="store_true", help="overwrite files that already exist")

    schema = sub.add_parser(
        "schema",
        help="write the JSON Schemas of resources and status files",
        description="Write JSON Schema files for Deployment, Router and their status "
        "documents, for editors (yaml-language-server) and dashboards.",
    )
    schema.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="output directory"
    )
    schema.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files in DIR differ from the models",
    )
    _HANDLERS.update(add_view_commands(sub))
    return parser


def _add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run the operator (the default command)",
        description="Watch a directory of Deployment and Router resources and keep Slurm "
        "jobs, probes, router registrations and status files in line with it. SIGTERM or "
        "Ctrl-C stops the operator and leaves the jobs running; the next start adopts them.",
    )
    run.add_argument(
        "--resources",
        type=Path,
        default=Path("resources"),
        metavar="DIR",
        help="directory of resource files, watched recursively (default: ./resources)",
    )
    run.add_argument(
        "--status-dir",
        type=Path,
        default=Path("status"),
        metavar="DIR",
        help="where status files are written (default: ./status)",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sgorch"),
        metavar="DIR",
        help="the operator's own bookkeeping, job logs and endpoint files unless "
        "a Deployment sets slurm.log_dir (default: ./.sgorch)",
    )
    run.add_argument(
        "--slurm",
        choices=["auto", "cli", "rest", "pyslurm", "local"],
        default="auto",
        help="how to reach Slurm: auto picks pyslurm if usable, else the CLI if "
        "a controller answers, else the embedded local executor (default: auto)",
    )
    run.add_argument(
        "--slurmrestd",
        metavar="URL",
        dest="slurmrestd_url",
        help="slurmrestd address for --slurm rest: http://HOST:PORT or unix:PATH; "
        "the JWT is read from SLURM_JWT, the user from SLURM_USER_NAME",
    )
    run.add_argument(
        "--instance",
        metavar="NAME",
        help="name tagged on every job, separating operators that share a Slurm "
        "account (default: derived from the resources path)",
    )
    run.add_argument(
        "--poll",
        action="store_true",
        help="poll the resources directory instead of inotify (network filesystems)",
    )
    run.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="directory polling interval with --poll (default: 2)",
    )
    run.add_argument(
        "--job-poll-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between job listings; 1 s right after a submit (default: 5)",
    )
    run.add_argument(
        "--resync-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="reconcile every resource at least this often (default: 15)",
    )
    run.add_argument(
        "--local-cpus",
        type=int,
        metavar="N",
        help="CPU budget of the local executor (default: all CPUs)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve Prometheus metrics on http://HOST:N/metrics (default: off)",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics endpoint listens on (default: 127.0.0.1)",
    )
    run.add_argument(
        "--http-port",
        type=int,
        metavar="N",
        help="serve the read-only status board on http://HOST:N/ (default: off)",
    )
    run.add_argument(
        "--http-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the status board listens on; it has no authentication, so keep "
        "it on loopback unless a proxy guards it (default: 127.0.0.1)",
    )
    run.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="log format (default: text on a terminal, JSON lines otherwise)",
    )
    run.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="(default: INFO)",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    settings = Settings(
        resources_dir=args.resources,
        status_dir=args.status_dir,
        state_dir=args.state_dir,
        slurm=args.slurm,
        instance=args.instance,
        poll=args.poll,
        poll_interval_s=args.poll_interval,
        job_poll_interval_s=args.job_poll_interval,
        resync_s=args.resync_interval,
        slurmrestd_url=args.slurmrestd_url,
        local_cpus=args.local_cpus,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        http_port=args.http_port,
        http_host=args.http_host,
    )
    try:
        if settings.instance is not None:
            validate_instance(settings.instance)
        return anyio.run(run_operator, settings)
    except (ConfigError, ValueError) as exc:
        print(f"sgorch run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _print_errors(errors: Sequence[LocatedError]) -> None:
    for location, message in errors:
        print(f"{location}: {message}", file=sys.stderr)


def _cmd_validate(args: argparse.Namespace) -> int:
    if not args.paths and not args.config:
        print(
            "sgorch validate: give resource files or directories, or --config FILE", file=sys.stderr
        )
        return 2
    errors: list[LocatedError] = []
    results = []
    files = list(iter_resource_files(args.paths))
    for missing in (p for p in args.paths if not p.exists()):
        print(f"{missing}: no such file or directory", file=sys.stderr)
        return 1
    if args.paths and not files:
        print(
            "no *.yaml or *.yml files found in " + ", ".join(map(str, args.paths)), file=sys.stderr
        )
        return 1
    for path in files:
        result = load_file(path)
        results.append(result)
        errors.extend(result.all_errors())
        for doc in result.documents:
            if doc.resource is not None:
                print(f"ok  {doc.resource.kind}/{doc.resource.name}  ({doc.file}:{doc.line})")
    errors.extend(find_duplicate_names(results))
    for config in args.config:
        conversion = _convert(config)
        errors.extend(conversion.errors)
        for warning in conversion.warnings:
            print(f"{config}: warning: {warning}", file=sys.stderr)
        for deployment in conversion.deployments:
            print(f"ok  Deployment/{deployment.name}  ({config}, v2 configuration)")
    _print_errors(errors)
    if errors:
        print(f"{len(errors)} error(s); fix them and run 'sgorch validate' again", file=sys.stderr)
        return 1
    return 0


def _convert(config: Path) -> V2Conversion:
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return V2Conversion(errors=[(ErrorLocation(str(config)), f"cannot read: {exc}")])
    return convert_v2_text(text, str(config))


def _cmd_convert(args: argparse.Namespace) -> int:
    conversion = _convert(args.config)
    if conversion.errors:
        _print_errors(conversion.errors)
        return 1
    targets = {d.name: args.output / f"{d.name}.yaml" for d in conversion.deployments}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not args.force:
        print("refusing to overwrite " + ", ".join(existing) + " (use --force)", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    for deployment in conversion.deployments:
        target = targets[deployment.name]
        header = (
            "# yaml-language-server: $schema=https://sgorch.io/schemas/v1alpha1/"
            f"deployment.schema.json\n# Converted from {args.config} by sgorch convert.\n"
        )
        target.write_text(header + dump_resources([deployment]), encoding="utf-8")
        print(f"wrote {target}")
    for warning in conversion.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    rendered = render_schemas()
    if args.check:
        stale = [
            name
            for name, text in rendered.items()
            if not (args.output / name).is_file()
            or (args.output / name).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(
                f"{args.output / name} is out of date; run 'sgorch schema -o {args.output}'",
                file=sys.stderr,
            )
        return 1 if stale else 0
    args.output.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (args.output / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.output / name}")
    return 0


_HANDLERS = {
    "run": _cmd_run,
    "router": run_router,
    "validate": _cmd_validate,
    "convert": _cmd_convert,
    "schema": _cmd_schema,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (
        arguments[0].startswith("-") and arguments[0] not in ("-h", "--help", "--version")
    ):
        arguments.insert(0, "run")  # 'sgorch' alone is 'sgorch run'
    args = parser.parse_args(arguments)
    return int(_HANDLERS[args.command](args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

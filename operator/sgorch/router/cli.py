"""``sgorch router``: run one router process until SIGTERM or SIGINT.

The main CLI calls ``add_router_arguments`` on its ``router`` subparser and
``run_router`` with the parsed arguments; ``python -m sgorch.router`` does the same.
Options are those earlier SGOrch routers had, plus ``--config FILE`` (the JSON file the
operator writes); an option given on the command line overrides that field of the file.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
from loguru import logger
from pydantic import ValidationError

from sgorch.errors import ConfigError

from ._server import serve_router
from .config import BalancingPolicy, RouterConfig

__all__ = ["add_router_arguments", "config_from_args", "run_router"]

_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")


def _default(path: str) -> str:
    """The default of a ``RouterConfig`` field, by dotted path, for help texts."""
    value: Any = RouterConfig().model_dump(mode="json")
    for key in path.split("."):
        value = value[key]
    return str(value)


def add_router_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the router's options to ``parser``; unset options keep the config's value."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="JSON router config (as the operator writes it); options below override its fields",
    )
    listen = parser.add_argument_group("listening and auth")
    listen.add_argument("--host", help=f"address to listen on (default {_default('host')})")
    listen.add_argument(
        "--port",
        type=int,
        help=f"TCP port to listen on; 0 picks a free one (default {_default('port')})",
    )
    listen.add_argument(
        "--admin-token-env",
        metavar="VAR",
        help="environment variable holding the management API bearer token (default "
        f"{_default('admin_token_env')}); when it is unset, only loopback clients may "
        "manage workers",
    )
    listen.add_argument(
        "--client-token-env",
        action="append",
        metavar="VAR",
        help="environment variable holding a client bearer token; repeat for several tokens. "
        "When given, proxied requests need 'Authorization: Bearer <one of them>'",
    )
    listen.add_argument(
        "--max-body-bytes",
        type=int,
        metavar="N",
        help="largest request body accepted in bytes; larger gets 413 "
        f"(default {_default('max_body_bytes')})",
    )

    routing = parser.add_argument_group("routing")
    routing.add_argument(
        "--policy",
        choices=[policy.value for policy in BalancingPolicy],
        help=f"how to pick a worker (default {_default('policy')})",
    )
    routing.add_argument(
        "--worker",
        action="append",
        metavar="URL",
        help="static worker http://host:port registered at startup; repeat for several",
    )
    routing.add_argument(
        "--worker-model",
        metavar="MODEL",
        help="model the --worker workers serve; 'name,alias1,alias2' registers aliases",
    )
    routing.add_argument(
        "--default-model",
        action="append",
        metavar="ENDPOINT=MODEL",
        help="model for requests to ENDPOINT that name none, e.g. /v1/embeddings=bge-m3 "
        "(repeatable)",
    )

    health = parser.add_argument_group("health probes and circuit breaker")
    health.add_argument(
        "--health-path",
        metavar="PATH",
        help=f"path probed on each worker (default {_default('health.path')})",
    )
    health.add_argument(
        "--probe-interval",
        type=float,
        metavar="SECONDS",
        help=f"seconds between probe rounds (default {_default('health.interval_s')})",
    )
    health.add_argument(
        "--probe-timeout",
        type=float,
        metavar="SECONDS",
        help=f"seconds before a probe fails (default {_default('health.timeout_s')})",
    )
    health.add_argument(
        "--failure-cooldown",
        type=float,
        metavar="SECONDS",
        help="seconds a worker's open circuit rejects requests before a trial request "
        f"(default {_default('circuit_breaker.open_s')})",
    )

    timing = parser.add_argument_group("timeouts and retries (there is no total request timeout)")
    timing.add_argument(
        "--connect-timeout",
        type=float,
        metavar="SECONDS",
        help=f"seconds to connect to a worker (default {_default('timeouts.connect_s')})",
    )
    timing.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds until a worker sends response headers; non-streaming completions only "
        f"answer when generation ends (default {_default('timeouts.first_byte_s')})",
    )
    timing.add_argument(
        "--idle-timeout",
        type=float,
        metavar="SECONDS",
        help="seconds without a response byte before a worker is given up mid-response "
        f"(default {_default('timeouts.idle_s')})",
    )
    timing.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help="retries on other workers before any response byte was sent "
        f"(default {int(_default('retry.max_attempts')) - 1})",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=_LOG_LEVELS,
        help="log level (default INFO)",
    )


def _default_models(pairs: list[str]) -> dict[str, str]:
    defaults = {}
    for pair in pairs:
        endpoint, sep, model = pair.partition("=")
        if not sep or not endpoint or not model:
            raise ConfigError(f"--default-model expects ENDPOINT=MODEL, got {pair!r}")
        defaults[endpoint] = model
    return defaults


def _set(data: dict[str, Any], path: str, value: object) -> None:
    if value is None:
        return
    *sections, key = path.split(".")
    target = data
    for section in sections:
        target = target.setdefault(section, {})
    target[key] = value


def config_from_args(args: argparse.Namespace) -> RouterConfig:
    """The config file (if any) with every option given on the command line applied."""
    data: dict[str, Any] = (
        RouterConfig.from_json_file(args.config).model_dump(mode="json") if args.config else {}
    )
    if args.worker_model and not args.worker:
        raise ConfigError("--worker-model needs at least one --worker")
    overrides = {
        "host": args.host,
        "port": args.port,
        "admin_token_env": args.admin_token_env,
        "client_token_envs": args.client_token_env,
        "max_body_bytes": args.max_body_bytes,
        "policy": args.policy,
        "health.path": args.health_path,
        "health.interval_s": args.probe_interval,
        "health.timeout_s": args.probe_timeout,
        "circuit_breaker.open_s": args.failure_cooldown,
        "timeouts.connect_s": args.connect_timeout,
        "timeouts.first_byte_s": args.request_timeout,
        "timeouts.idle_s": args.idle_timeout,
        "retry.max_attempts": None if args.max_retries is None else args.max_retries + 1,
        "workers": args.worker
        and [{"url": url, "model": args.worker_model} for url in args.worker],
    }
    for path, value in overrides.items():
        _set(data, path, value)
    if args.default_model:
        data["default_models"] = {
            **data.get("default_models", {}),
            **_default_models(args.default_model),
        }
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid router options:\n{exc}") from exc


def _configure_logging(level: str) -> None:
    logger.remove()
    logger.add(sys.stderr, level=level)


async def _serve_until_signalled(config: RouterConfig) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with serve_router(config):
            async for signum in signals:
                logger.info(
                    "{} received: finishing in-flight requests (up to {} s), then exiting",
                    signal.Signals(signum).name,
                    config.shutdown_grace_s,
                )
                return


def run_router(args: argparse.Namespace) -> int:
    """Run the router until SIGTERM or SIGINT.

    Returns 0 after a clean stop, 2 for bad options, 1 when it cannot listen.
    """
    _configure_logging(args.log_level)
    try:
        config = config_from_args(args)
        anyio.run(_serve_until_signalled, config, backend="asyncio")
    except ConfigError as exc:
        logger.error("{}", exc)
        return 2
    except OSError as exc:
        logger.error("cannot start the router: {}", exc)
        return 1
    logger.info("router stopped")
    return 0

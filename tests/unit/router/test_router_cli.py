"""Command-line options and how they combine with the config file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sgorch.errors import ConfigError
from sgorch.router.cli import add_router_arguments, config_from_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_router_arguments(parser)
    return parser.parse_args(argv)


def test_without_options_the_config_defaults_apply() -> None:
    config = config_from_args(parse())
    assert (config.host, config.port, config.workers) == ("127.0.0.1", 8080, ())


def test_legacy_options_map_to_their_config_fields() -> None:
    config = config_from_args(
        parse(
            "--host", "0.0.0.0", "--port", "9000", "--health-path", "/ready",
            "--probe-interval", "7", "--probe-timeout", "3", "--request-timeout", "900",
            "--max-retries", "4", "--failure-cooldown", "45", "--connect-timeout", "2",
            "--idle-timeout", "60", "--max-body-bytes", "1000", "--policy", "round_robin",
            "--admin-token-env", "ADMIN", "--client-token-env", "C1", "--client-token-env", "C2",
        )
    )  # fmt: skip
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert (config.health.path, config.health.interval_s, config.health.timeout_s) == (
        "/ready",
        7,
        3,
    )
    assert (config.timeouts.first_byte_s, config.timeouts.connect_s, config.timeouts.idle_s) == (
        900,
        2,
        60,
    )
    assert config.retry.max_attempts == 5
    assert config.circuit_breaker.open_s == 45
    assert config.max_body_bytes == 1000
    assert config.policy == "round_robin"
    assert (config.admin_token_env, config.client_token_envs) == ("ADMIN", ("C1", "C2"))


def test_static_workers_and_default_models_come_from_repeatable_options() -> None:
    config = config_from_args(
        parse(
            "--worker", "http://a:1", "--worker", "http://b:2/", "--worker-model", "llama,chat",
            "--default-model", "/v1/embeddings=bge",
            "--default-model", "/v1/chat/completions=llama",
        )
    )  # fmt: skip
    assert [(w.url, w.model) for w in config.workers] == [
        ("http://a:1", "llama,chat"),
        ("http://b:2", "llama,chat"),
    ]
    assert config.default_models == {"/v1/embeddings": "bge", "/v1/chat/completions": "llama"}


def test_options_override_single_fields_of_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text(
        json.dumps(
            {
                "port": 7000,
                "health": {"interval_s": 9, "path": "/h"},
                "default_models": {"/v1/embeddings": "bge", "/v1/rerank": "rr"},
            }
        )
    )
    config = config_from_args(
        parse("--config", str(path), "--probe-interval", "1", "--default-model", "/v1/rerank=rr2")
    )
    assert config.port == 7000
    assert (config.health.interval_s, config.health.path) == (1, "/h")
    assert config.default_models == {"/v1/embeddings": "bge", "/v1/rerank": "rr2"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--default-model", "no-equals"], "ENDPOINT=MODEL"),
        (["--worker-model", "m"], "needs at least one --worker"),
        (["--worker", "http://a"], "port"),
        (["--probe-interval", "0"], "interval_s"),
        (["--max-retries", "-1"], "max_attempts"),
    ],
)
def test_bad_options_are_config_errors_that_name_the_problem(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_args(parse(*argv))


def test_every_option_has_help_text() -> None:
    parser = argparse.ArgumentParser()
    add_router_arguments(parser)
    assert all(action.help for action in parser._actions)

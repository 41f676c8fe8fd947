"""RouterConfig validation and loading from the JSON file the operator writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from sgorch.errors import ConfigError
from sgorch.router import BalancingPolicy, RouterConfig


def test_defaults_are_safe_for_a_sidecar() -> None:
    config = RouterConfig()
    assert (config.host, config.admin_token_env, config.policy) == (
        "127.0.0.1",
        "ROUTER_TOKEN",
        BalancingPolicy.LEAST_INFLIGHT,
    )
    assert config.retry.on_statuses == (502, 503, 504)
    assert config.concurrency.max_inflight is None
    assert config.health.path == "/health"


def test_every_field_has_a_description() -> None:
    def undescribed(model: type[BaseModel], prefix: str = "") -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(prefix + name)
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                missing += undescribed(annotation, f"{prefix}{name}.")
        return missing

    assert undescribed(RouterConfig) == []


@pytest.mark.parametrize(
    "data",
    [
        {"unknown": 1},
        {"health": {"interval_s": 0}},
        {"health": {"path": "health"}},
        {"retry": {"max_attempts": 0}},
        {"retry": {"on_statuses": [200]}},
        {"retry": {"backoff_base_s": 2, "backoff_cap_s": 1}},
        {"timeouts": {"idle_s": -1}},
        {"timeouts": {"total_s": 60}},
        {"circuit_breaker": {"failure_threshold": 0}},
        {"concurrency": {"max_inflight": 0}},
        {"admin_token_env": "NOT-A-NAME"},
        {"client_token_envs": ["1BAD"]},
        {"port": 70000},
        {"default_models": {"v1/embeddings": "bge"}},
        {"default_models": {"/v1/embeddings": " "}},
        {"workers": [{"url": "http://a"}]},
        {"workers": [{"url": "http://a:1", "model": "x,,y"}]},
        {"workers": [{"url": "http://a:1"}, {"url": "HTTP://A:1/"}]},
        {"policy": "fastest"},
    ],
)
def test_invalid_settings_are_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RouterConfig.model_validate(data)


def test_config_is_frozen() -> None:
    config = RouterConfig()
    with pytest.raises(ValidationError):
        config.port = 1  # type: ignore[misc]


def test_static_worker_urls_are_normalised() -> None:
    config = RouterConfig.model_validate({"workers": [{"url": " HTTP://Node-1:8000/ "}]})
    assert config.workers[0].url == "http://node-1:8000"


def test_known_models_gather_configured_default_and_static_worker_models() -> None:
    config = RouterConfig.model_validate(
        {
            "models": ["a"],
            "default_models": {"/v1/embeddings": "b"},
            "workers": [{"url": "http://w:1", "model": "c,c-alias"}],
        }
    )
    assert config.known_models == {"a", "b", "c", "c-alias"}


def test_json_file_round_trips(tmp_path: Path) -> None:
    config = RouterConfig.model_validate(
        {
            "port": 9000,
            "policy": "power_of_two",
            "client_token_envs": ["T1"],
            "retry": {"on_statuses": [503, 502]},
            "default_models": {"/v1/rerank": "bge-reranker"},
            "workers": [{"url": "http://w:1", "model": "m", "deployment": "d"}],
        }
    )
    path = tmp_path / "router.json"
    path.write_text(config.model_dump_json(indent=2))
    assert RouterConfig.from_json_file(path) == config


def test_loading_reports_file_and_position_of_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text('{\n  "port": 1,\n  oops\n}')
    with pytest.raises(ConfigError, match=r"router.json:3:3: invalid JSON"):
        RouterConfig.from_json_file(path)


def test_loading_reports_invalid_fields_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "router.json"
    path.write_text(json.dumps({"health": {"timeout_s": "soon"}}))
    with pytest.raises(ConfigError, match=r"health.timeout_s"):
        RouterConfig.from_json_file(path)
    with pytest.raises(ConfigError, match="cannot read"):
        RouterConfig.from_json_file(tmp_path / "missing.json")

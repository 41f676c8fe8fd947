"""Token checks, and the management API's loopback-only mode without a token."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from sgorch.errors import ConfigError
from sgorch.router._admin import ManagementApi
from sgorch.router._auth import bearer_matches, is_loopback, read_client_tokens, read_token
from sgorch.router._circuit import CircuitBreaker
from sgorch.router._metrics import RouterMetrics
from sgorch.router._pool import HealthTracker, WorkerPool


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer s3cret", True),
        ("bearer   s3cret  ", True),
        ("Bearer other", True),
        ("Bearer s3cre", False),
        ("Basic s3cret", False),
        ("s3cret", False),
        ("Bearer ", False),
        ("", False),
        (None, False),
    ],
)
def test_bearer_header_must_carry_one_of_the_tokens(header: str | None, ok: bool) -> None:
    assert bearer_matches(header, (b"s3cret", b"other")) is ok


def test_blank_token_variables_count_as_unset() -> None:
    assert read_token({"T": "  "}, "T") is None
    assert read_token({}, "T") is None
    assert read_token({"T": " tok "}, "T") == b"tok"


def test_a_configured_client_token_variable_that_is_unset_is_a_config_error() -> None:
    assert read_client_tokens({"A": "x", "B": "y"}, ["A", "B"]) == (b"x", b"y")
    with pytest.raises(ConfigError, match="B is unset"):
        read_client_tokens({"A": "x"}, ["A", "B"])


@pytest.mark.parametrize(
    ("remote", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("", False),
        (None, False),
        ("x", False),
    ],
)
def test_loopback_addresses_are_recognised(remote: str | None, loopback: bool) -> None:
    assert is_loopback(remote) is loopback


def _request_from(address: str, headers: dict[str, str] | None = None) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (address, 40000) if name == "peername" else default
    )
    return make_mocked_request("GET", "/workers/list", headers=headers, transport=transport)


def _api(token: bytes | None) -> tuple[ManagementApi, web.Application]:
    pool = WorkerPool(
        make_breaker=lambda: CircuitBreaker(
            failure_threshold=1, open_s=1, half_open_successes=1, clock=time.monotonic
        ),
        make_health=lambda: HealthTracker(failure_threshold=1, success_threshold=1),
    )
    api = ManagementApi(
        pool=pool,
        metrics=RouterMetrics(known_models=frozenset(), pool=pool, gate=None),
        token=token,
    )
    app = web.Application()
    api.add_routes(app)
    return api, app


async def _call(app: web.Application, request: web.Request) -> web.StreamResponse:
    match = await app.router.resolve(request)
    return await match.handler(request)


async def test_without_a_token_only_loopback_clients_may_manage_workers() -> None:
    _, app = _api(token=None)
    assert (await _call(app, _request_from("10.1.2.3"))).status == 403
    assert (await _call(app, _request_from("127.0.0.1"))).status == 200


async def test_with_a_token_the_address_does_not_matter_only_the_token() -> None:
    _, app = _api(token=b"t")
    assert (await _call(app, _request_from("127.0.0.1"))).status == 401
    assert (
        await _call(app, _request_from("10.1.2.3", {"Authorization": "Bearer t"}))
    ).status == 200

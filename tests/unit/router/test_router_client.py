"""RouterClient with a swapped httpx transport (no network): errors, auth, timeouts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from sgorch.errors import ConfigError, RouterUnavailable
from sgorch.router import HeaderAuth, RouterClient, RouterDialect


def client_with(
    handler: Callable[[httpx.Request], httpx.Response], **kwargs: object
) -> RouterClient:
    return RouterClient("http://router:8080", transport=httpx.MockTransport(handler), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429, 408])
async def test_server_errors_and_busy_answers_are_temporary(status: int) -> None:
    async with client_with(lambda request: httpx.Response(status, text="busy")) as client:
        with pytest.raises(RouterUnavailable, match=str(status)):
            await client.add_worker("http://w:1")


@pytest.mark.parametrize("status", [400, 401, 403, 405])
async def test_refusals_are_config_errors(status: int) -> None:
    async with client_with(lambda request: httpx.Response(status, text="no")) as client:
        with pytest.raises(ConfigError, match=str(status)):
            await client.list_workers()


async def test_connection_failures_and_timeouts_are_temporary() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    for handler in (refuse, stall):
        async with client_with(handler) as client:
            with pytest.raises(RouterUnavailable) as caught:
                await client.ping()
            assert isinstance(caught.value.__cause__, httpx.HTTPError)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"workers": "x"}', b'{"workers": [1]}'])
async def test_garbled_answers_are_temporary(body: bytes) -> None:
    async with client_with(lambda request: httpx.Response(200, content=body)) as client:
        with pytest.raises(RouterUnavailable):
            await client.list_workers()


@pytest.mark.parametrize("dialect", list(RouterDialect))
async def test_remove_of_an_unknown_worker_counts_as_done(dialect: RouterDialect) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"workers": [], "urls": []})
        return httpx.Response(404, json={"error": "not found"})

    async with client_with(handler, dialect=dialect) as client:
        await client.remove_worker("http://w:1")


async def test_drain_answer_without_inflight_count_is_temporary() -> None:
    async with client_with(lambda request: httpx.Response(200, json={"status": "ok"})) as client:
        with pytest.raises(RouterUnavailable, match="inflight"):
            await client.drain_worker("http://w:1")


async def test_auth_header_is_sent_and_never_shown_in_repr() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("X-Router-Key"))
        return httpx.Response(200, json={"workers": []})

    auth = HeaderAuth("X-Router-Key", "very-secret")
    async with client_with(handler, auth=auth) as client:
        await client.list_workers()
    assert seen == ["very-secret"]
    assert "very-secret" not in repr(auth)
    assert HeaderAuth.bearer("t").value == "Bearer t"


async def test_invalid_model_list_is_rejected_before_any_request() -> None:
    def unexpected(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with client_with(unexpected) as client:
        with pytest.raises(ConfigError, match="model list"):
            await client.add_worker("http://w:1", model="a,,b")


async def test_drain_that_waits_gets_a_longer_timeout_than_other_calls() -> None:
    read_timeouts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        read_timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json={"status": "ok", "inflight": 0, "workers": []})

    async with client_with(handler, timeout_s=2.0) as client:
        await client.list_workers()
        assert await client.drain_worker("http://w:1", wait_s=30) == 0
    assert read_timeouts == [2.0, 32.0]

"""The status board's HTTP side: serves the status files byte for byte, never a path
outside the status directory, only to loopback Host names when bound to loopback, and a
page that loads nothing from elsewhere."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from sgorch.board import build_board_app


@pytest.fixture
def status_dir(tmp_path: Path) -> Path:
    root = tmp_path / "status"
    (root / "deployments").mkdir(parents=True)
    (root / "routers").mkdir()
    (root / "index.json").write_text(json.dumps({"kind": "StatusIndex", "resources": []}))
    (root / "deployments" / "web.json").write_text('{"kind": "Deployment"}\n')
    (root / "routers" / "main.json").write_text('{"kind": "Router"}\n')
    (tmp_path / "secret.json").write_text('{"token": "do not serve"}')
    return root


@pytest.fixture
async def client(status_dir: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = build_board_app(status_dir, bind_host="127.0.0.1")
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def test_serves_the_index_and_status_files_exactly_as_the_operator_wrote_them(
    client: TestClient,  # type: ignore[type-arg]
    status_dir: Path,
) -> None:
    for path, file in [
        ("/api/index", status_dir / "index.json"),
        ("/api/status/deployments/web", status_dir / "deployments" / "web.json"),
        ("/api/status/routers/main", status_dir / "routers" / "main.json"),
    ]:
        response = await client.get(path)
        assert response.status == 200
        assert response.content_type == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.read() == file.read_bytes()


async def test_missing_files_are_404_with_a_json_reason(
    client: TestClient,  # type: ignore[type-arg]
    status_dir: Path,
) -> None:
    response = await client.get("/api/status/deployments/gone")
    assert response.status == 404
    assert "no status for Deployment gone" in (await response.json())["error"]
    (status_dir / "index.json").unlink()
    response = await client.get("/api/index")
    assert response.status == 404
    assert "no index" in (await response.json())["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/status/deployments/..%2F..%2Fsecret",
        "/api/status/deployments/..",
        "/api/status/deployments/Web",
        "/api/status/deployments/web.json",
        "/api/status/deployments/-web",
        "/api/status/deployments/" + "a" * 64,
        "/api/status/secrets/web",
        "/api/status/..%2F/secret",
        "/api/status/deployments/../../secret",
    ],
)
async def test_nothing_outside_the_status_directory_can_be_asked_for(
    client: TestClient,  # type: ignore[type-arg]
    path: str,
) -> None:
    response = await client.get(URL(path, encoded=True))
    assert response.status in (400, 404)
    assert "do not serve" not in await response.text()


async def test_the_api_is_read_only(client: TestClient) -> None:  # type: ignore[type-arg]
    for method in ("POST", "PUT", "DELETE"):
        response = await client.request(method, "/api/status/deployments/web")
        assert response.status == 405


async def test_a_loopback_board_refuses_requests_for_other_host_names(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """A page on another site that rebinds its DNS name to 127.0.0.1 cannot read it."""
    refused = await client.get("/api/index", headers={"Host": "attacker.example:8080"})
    assert refused.status == 421
    for host in ("localhost", f"127.0.0.1:{client.port}", "[::1]:9000"):
        assert (await client.get("/api/index", headers={"Host": host})).status == 200


async def test_a_board_bound_to_all_interfaces_answers_any_host_name(status_dir: Path) -> None:
    app = build_board_app(status_dir, bind_host="0.0.0.0")
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/api/index", headers={"Host": "sgorch.internal"})
        assert response.status == 200


async def test_the_page_is_self_contained_and_its_policy_allows_only_its_own_code(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/")
    assert response.status == 200 and response.content_type == "text/html"
    page = await response.text()
    assert not re.search(r"\b(src|href)\s*=", page), "no external scripts, styles or images"
    assert "http://" not in page and "https://" not in page and "url(" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for tag in ("script", "style"):
        (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy

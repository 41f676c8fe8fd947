"""The status board as a person sees it: a real headless Chromium renders the page over a
status directory written as the operator writes it, and follows its changes.

Needs Debian's ``chromium`` (``make browser``); skips without it, except under
``CI=true``, where a missing browser is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import expect

from e2e.board import chromium, find_chromium, recovered_embed, serve_board, write_scenario

pytestmark = pytest.mark.slow


@pytest.fixture
def chromium_path() -> str:
    path = find_chromium()
    if path is not None:
        return path
    problem = "Chromium is not installed: run 'make browser' as root, or apt-get install chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs the browser: {problem}")
    pytest.skip(problem)


async def test_the_board_shows_healthy_and_failing_resources_and_follows_status_changes(
    tmp_path: Path, chromium_path: str
) -> None:
    status_dir = tmp_path / "status"
    writer = await write_scenario(status_dir)
    page_errors: list[str] = []
    async with chromium(chromium_path, tmp_path / "profile") as browser:
        page = await browser.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on(
            "console",
            lambda message: page_errors.append(message.text) if message.type == "error" else None,
        )
        chat = page.locator('section[data-kind="Deployment"][data-name="chat"]')
        embed = page.locator('section[data-kind="Deployment"][data-name="embed"]')
        router = page.locator('section[data-kind="Router"][data-name="main"]')
        summary = page.locator("#summary")

        async with serve_board(status_dir) as url:
            await page.goto(url)
            await expect(summary).to_have_text(
                "2 deployments · 2/4 workers ready · 1 with problems"
            )
            await expect(page.locator("#instance")).to_have_text("instance gpu-cluster-3f9a2c71")

            await expect(chat).to_have_attribute("data-problem", "false")
            await expect(chat.locator(".replicas")).to_have_text("2/2")
            await expect(chat.locator(".badge")).to_have_text("available")
            await expect(chat.locator(".condition.problem")).to_have_count(0)
            await expect(chat.locator("tr.ready")).to_have_count(2)
            first = chat.locator('tr[data-job-id="4101"]')
            await expect(first.locator(".node")).to_have_text("gpu-a01")
            await expect(first.locator(".url")).to_have_text("http://10.1.0.11:30001")
            await expect(chat.locator(".meta").first).to_contain_text("model llama-3.1-8b-instruct")

            await expect(embed).to_have_attribute("data-problem", "true")
            await expect(embed.locator(".replicas")).to_have_text("0/2")
            await expect(embed.locator(".badge")).to_have_text("unavailable")
            await expect(embed.locator(".error")).to_have_text(
                "resources/embed.yaml:9:13: spec.replicas: Input should be a valid integer, "
                "unable to parse string as an integer"
            )
            await expect(embed.locator('.condition.problem[data-type="Invalid"]')).to_be_visible()
            failure = embed.locator('.condition.problem[data-type="ReplicaFailure"]')
            await expect(failure).to_contain_text("WorkerFailed")
            await expect(embed.locator('.condition.problem[data-type="Available"]')).to_be_visible()
            pending = embed.locator('tr.pending[data-job-id="4118"]')
            await expect(pending.locator(".why")).to_have_text("Resources")
            await expect(pending.locator(".node")).to_have_text("—")
            crashing = embed.locator('tr.notready[data-job-id="4117"]')
            await expect(crashing.locator(".why")).to_contain_text("startup probe")

            await expect(router).to_have_attribute("data-problem", "false")
            for missing in ("null", "undefined", "NaN"):
                await expect(page.locator("main")).not_to_contain_text(missing)
            await expect(router.locator(".meta")).to_contain_text("http://127.0.0.1:8080")
            await page.screenshot(path=tmp_path / "status-board.png", full_page=True)

            # the operator writes new status: the page follows within its 2 s refresh
            await writer.write(recovered_embed())
            await expect(embed).to_have_attribute("data-problem", "false")
            await expect(embed.locator(".replicas")).to_have_text("2/2")
            await expect(embed.locator('tr[data-job-id="4121"] .node')).to_have_text("cpu-b02")
            await expect(summary).to_have_text(
                "2 deployments · 4/4 workers ready · 0 with problems"
            )
            await writer.remove("Deployment", "chat")
            await expect(chat).to_have_count(0)
            await expect(summary).to_contain_text("1 deployments")
            assert page_errors == []

        # the operator is gone: say so, and keep showing the last status received
        await expect(page.locator("#banner")).to_be_visible()
        await expect(page.locator("#banner")).to_contain_text("Cannot reach the operator")
        await expect(embed.locator(".replicas")).to_have_text("2/2")

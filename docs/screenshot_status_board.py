"""Regenerates docs/status-board.png: the status board in headless Chromium over the
scenario the browser test uses (a converged Deployment, a failing one, a Router).

    .venv/bin/python docs/screenshot_status_board.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import anyio

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "tests"))

from e2e.board import chromium, find_chromium, serve_board, write_scenario  # noqa: E402


async def main() -> int:
    executable = find_chromium()
    if executable is None:
        print("Chromium is not installed: run 'make browser' as root", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        status_dir = Path(tmp) / "status"
        await write_scenario(status_dir)
        async with serve_board(status_dir) as url, chromium(executable, Path(tmp)) as browser:
            page = await browser.new_page()
            await page.goto(url)
            await page.locator("section.resource").nth(2).wait_for()
            await page.screenshot(path=DOCS / "status-board.png", full_page=True)
    print(f"wrote {DOCS / 'status-board.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))

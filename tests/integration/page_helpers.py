"""A browser for the page's end-to-end tests: Debian's Chromium under Playwright, in Node.

Playwright runs in `page_driver.mjs` (playwright-core from `web/node_modules`, installed
with Chromium by `scripts/setup-browser`); this side sends it one JSON command a line over
a pipe, so the app under test keeps serving on pytest's event loop while the browser acts,
and the assertions stay in Python next to the app they check.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("page_driver.mjs")
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = (
    REPO_ROOT / "docs" / "screenshots"
    if os.environ.get("CONTEXT_BOT_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "context-bot-screenshots"
)
"""Where the page tests save what they saw: a temporary folder, so a test run leaves the
work tree as it was (every run differs from the last by a few pixels);
CONTEXT_BOT_UPDATE_SCREENSHOTS=1 writes the committed ones in docs/screenshots/."""
SETUP_HINT = "run scripts/setup-browser (installs Chromium and web/node_modules)"


def missing_tools() -> list[str]:
    """What `scripts/setup-browser` would install, if it is not there."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    if shutil.which("node") is None:
        missing.append("node")
    if not (REPO_ROOT / "web" / "node_modules" / "playwright-core").is_dir():
        missing.append("web/node_modules/playwright-core")
    return missing


class DriverError(AssertionError):
    """The browser could not do what the test asked (a wait timed out, a click missed)."""


class Browser:
    """One Chromium page; `await browser.do("click", selector=...)` and friends."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._next = 0

    @classmethod
    async def start(cls) -> Browser:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        return cls(process)

    async def do(self, op: str, **args: Any) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._next += 1
        line = json.dumps({"id": self._next, "op": op, **args}) + "\n"
        self._process.stdin.write(line.encode())
        await self._process.stdin.drain()
        raw = await asyncio.wait_for(self._process.stdout.readline(), 60)
        if not raw:
            raise DriverError(f"the browser driver exited during {op} (see stderr)")
        answer = json.loads(raw)
        if not answer["ok"]:
            raise DriverError(f"{op} {args}: {answer['error']}")
        return answer["value"]

    async def wait(self, selector: str, text: str | None = None, timeout_ms: int = 15000) -> str:
        """The visible text of the first match for `selector` (containing `text`)."""
        args: dict[str, Any] = {"selector": selector, "timeout": timeout_ms}
        if text is not None:
            args["text"] = text
        value: str = await self.do("wait", **args)
        return value

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.do("screenshot", path=str(path))
        return path

    async def close(self) -> None:
        if self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.write(b'{"op": "close"}\n')
            await self._process.stdin.drain()
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

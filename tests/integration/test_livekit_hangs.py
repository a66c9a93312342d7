"""A livekit-server that hangs (issue 14, item 8): every call to it has a deadline that holds.

The server is stopped with SIGSTOP, so it accepts connections and never answers: the case
where an HTTP client's own timeout is all that stands between a request and forever. This
test stops a livekit-server of its own, never the suite's shared one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

import context_bot.admin
from context_bot.app import ContextBotApp
from context_bot.config import LiveKitSettings, Settings
from context_bot.devserver import DevServer, start_dev_server
from tests.integration.conftest import REPO_ROOT
from tests.integration.web_helpers import who

pytestmark = pytest.mark.integration

MARGIN_S = 5.0
"""On top of the deadline: a loaded 2-core machine, never the hang itself (that is forever)."""
DEADLINE_S = 2.0
"""`context_bot.admin.API_TIMEOUT_S` in this test (10 s in the product). What is under test
is that every call to the hung server has that deadline and that it holds, whatever its
value: with the product's, the test spent ten seconds waiting it out. A call that had a
deadline of its own, or none, fails here as it did with the product's value."""


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path / "livekit")
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # harmless if it runs; a stopped one must
    server.stop(timeout=3, drain=False)


@pytest.fixture
async def app(
    own_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ContextBotApp]:
    monkeypatch.setattr(context_bot.admin, "API_TIMEOUT_S", DEADLINE_S)
    livekit = LiveKitSettings(own_server.url, own_server.api_key, own_server.api_secret)
    app = ContextBotApp(Settings(livekit=livekit, port=0, repo=REPO_ROOT), handle_signals=False)
    await app.startup()
    try:
        yield app
    finally:
        os.kill(own_server.process.pid, signal.SIGCONT)
        await app.shutdown()


async def test_token_answers_503_livekit_unavailable_in_time_while_livekit_hangs(
    own_server: DevServer, app: ContextBotApp
) -> None:
    url = f"http://127.0.0.1:{app.port}"
    patience = aiohttp.ClientTimeout(total=DEADLINE_S + 3 * MARGIN_S)
    async with aiohttp.ClientSession(timeout=patience) as http:
        os.kill(own_server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            async with http.post(f"{url}/token", json=who("ada", room_name="hang-1")) as response:
                status, body = response.status, await response.json()
            took = time.monotonic() - started
            async with http.get(f"{url}/healthz") as health:
                assert health.status == 200  # the loop was never held
        finally:
            os.kill(own_server.process.pid, signal.SIGCONT)
        assert (status, body["error"]["code"]) == (503, "livekit_unavailable"), body
        assert took < DEADLINE_S + MARGIN_S, f"answered after {took:.1f}s"
        assert "secret" not in body["error"]["message"]
        # The server runs again: requests go through. Right after SIGCONT livekit-server can
        # still answer "could not find any available nodes" (its own node's stats went
        # stale while stopped; seen once in a fresh-clone run): that is a 503 too, and
        # gone within a few seconds.
        async with asyncio.timeout(15):
            while True:
                async with http.post(f"{url}/token", json=who("ada", room_name="hang-1")) as r:
                    if r.status == 200:
                        break
                    code = (await r.json())["error"]["code"]
                assert (r.status, code) == (503, "livekit_unavailable"), code
                await asyncio.sleep(0.5)

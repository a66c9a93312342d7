"""The TypeScript client (clients/js) against the real bot and livekit-server.

The bot runs in this process (`running_app`) on a copy of the repository the Node tests may
edit; each Node test joins the room with `@livekit/rtc-node` under a token from the bot's own
`POST /token`. `node --test clients/js/test/` runs the scenarios (clients/js/test/*.mjs) and
must exit 0; its TAP report is shown on failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from context_bot.app import ContextBotApp
from tests.integration.conftest import REPO_ROOT
from tests.integration.web_helpers import post, who

pytestmark = pytest.mark.integration

CLIENT = REPO_ROOT / "clients" / "js"
IDENTITIES = 14
"""One per Node test that joins, and a few spare: each test joins under its own identity."""
NODE_TIMEOUT_S = 240
TEST_TIMEOUT_MS = 60_000
"""Each Node test's own bound, so one that waits forever fails alone with its name."""


async def _run(*command: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{command[0]} still running after {NODE_TIMEOUT_S} s") from None
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_typescript_client_scenarios(running_app: object, repo_copy: Path) -> None:
    """overview on join, file, search, list, grep, symbols, typed errors, a lost request
    resent under its id, 4029 waited out, two data-packet answers reassembled, and a
    knowledge change as events: every Node test passes against the real bot."""
    assert shutil.which("node"), "node is missing: run scripts/setup-browser"
    code, output = await _run(str(REPO_ROOT / "scripts" / "build-client"), cwd=REPO_ROOT)
    assert code == 0, output
    shutil.copy(REPO_ROOT / "PROTOCOL.md", repo_copy / "PROTOCOL.md")
    app: ContextBotApp = await running_app(repo=repo_copy, watch=True)  # type: ignore[operator]
    room = "js-client"
    tokens = {}
    for n in range(IDENTITIES):
        identity = f"node-{n}"
        status, answer = await post(app.port, "/token", {"room_name": room, **who(identity)})
        assert status == 200, answer
        tokens[identity] = answer["token"]
    env = {
        **os.environ,
        "CONTEXT_BOT_TEST_URL": app.settings.livekit.url,
        "CONTEXT_BOT_TEST_TOKENS": json.dumps(tokens),
        "CONTEXT_BOT_TEST_REPO": str(repo_copy),
    }
    tests = sorted(str(path.relative_to(CLIENT)) for path in CLIENT.glob("test/*.test.mjs"))
    assert tests
    code, output = await _run(
        "node",
        "--test",
        "--test-reporter=tap",
        f"--test-timeout={TEST_TIMEOUT_MS}",
        *tests,
        cwd=CLIENT,
        env=env,
    )
    print(output)  # the TAP report, shown with `pytest -s`
    assert code == 0, f"node --test failed:\n{output}"
    assert "# fail 0" in output, output

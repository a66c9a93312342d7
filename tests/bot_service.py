"""The bot in a process of its own, reached over its HTTP endpoint.

For the suites that run in another virtualenv (tests/compat on `livekit==1.1.21`,
tests/agents with `livekit-agents`): the bot always runs from `$CONTEXT_BOT_BOT_PYTHON`
(default: this interpreter), with the newest SDK, as in production. Standard library
and `context_bot.devserver` only, so it imports under any `livekit` version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from context_bot.devserver import DevServer

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30


@dataclass(frozen=True)
class BotService:
    """A running bot: its endpoint, its LiveKit server, and the repository it serves."""

    endpoint: str
    livekit_url: str
    repo: Path = REPO_ROOT
    pid: int | None = None
    """The bot's process id (benchmarks read its scheduler statistics)."""

    def token(self, room: str, identity: str) -> str:
        """A join token from the bot's own `POST /token`, which also sends the bot in."""
        body = {"room_name": room, "participant_name": identity, "participant_identity": identity}
        request = urllib.request.Request(  # noqa: S310 - loopback, http only
            f"{self.endpoint}/token",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return str(json.loads(response.read())["token"])


@contextmanager
def bot_process(
    server: DevServer, log_path: Path, *, repo: Path = REPO_ROOT, **env: str
) -> Iterator[BotService]:
    """`context-bot run` against `server`, logging JSON to `log_path`; stopped at exit."""
    python = os.environ.get("CONTEXT_BOT_BOT_PYTHON") or sys.executable
    environment = {
        **os.environ,
        "LIVEKIT_URL": server.url,
        "LIVEKIT_API_KEY": server.api_key,
        "LIVEKIT_API_SECRET": server.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_LOG_FORMAT": "json",
        **env,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [python, "-m", "context_bot", "run"],
            cwd=REPO_ROOT,  # `-m` imports the package from here, whatever repo it serves
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield BotService(_started_url(process, log_path), server.url, repo, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _started_url(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The endpoint's URL from the bot's `started` log line, once it is written."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited at start:\n{log_path.read_text()}")
        for line in log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "started":
                return str(record["url"])
        time.sleep(0.05)
    raise RuntimeError(f"the bot did not start in {START_TIMEOUT_S} s:\n{log_path.read_text()}")

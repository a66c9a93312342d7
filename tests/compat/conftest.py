"""The client against a bot in its own process, for any `livekit` version in this one.

The suite runs these tests twice: with the newest `livekit` (the main virtualenv) and
with `livekit==1.1.21`, the version `livekit-agents` pins (a second virtualenv built by
`scripts/test`). The bot always runs from `$CONTEXT_BOT_BOT_PYTHON` (default: this
interpreter), as it would in production, so the second run is exactly an agent on an old
SDK talking to the bot on the newest one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from context_bot.devserver import DevServer, start_dev_server

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BotService:
    endpoint: str
    livekit_url: str

    def token(self, room: str, identity: str) -> str:
        body = {"room_name": room, "participant_name": identity, "participant_identity": identity}
        request = urllib.request.Request(  # noqa: S310 - loopback, http only
            f"{self.endpoint}/token",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return str(json.loads(response.read())["token"])


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("livekit"))
    yield server
    server.stop(timeout=3)


@pytest.fixture(scope="session")
def bot(
    livekit_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    python = os.environ.get("CONTEXT_BOT_BOT_PYTHON") or sys.executable
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    env = {
        **os.environ,
        "LIVEKIT_URL": livekit_server.url,
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_LOG_FORMAT": "json",
        "CONTEXT_BOT_WATCH": "false",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [python, "-m", "context_bot", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_start(process, log_path)
        yield BotService(endpoint=url, livekit_url=livekit_server.url)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_for_start(process: subprocess.Popen[bytes], log_path: Path) -> str:
    import time

    deadline = time.monotonic() + 30
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
    raise RuntimeError(f"the bot did not start within 30 s:\n{log_path.read_text()}")

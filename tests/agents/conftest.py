"""The agents extra against a real livekit-server and the real bot, on a copy of the repo.

These tests need `livekit-agents`, which pins `livekit==1.1.21` and brings heavy packages,
so they run in their own virtualenv (`scripts/test-agents`, which sets
`CONTEXT_BOT_AGENTS_TESTS=1`). The main virtualenv's pytest run collects this folder too:
there this file keeps its tests out of the collection instead of failing on the import.
With the variable set, a missing `livekit-agents` is an error, never a quiet pass.

The bot runs as a separate process from `$CONTEXT_BOT_BOT_PYTHON` (the main virtualenv,
newest `livekit`), as in production and as `tests/compat` does, serving a temporary copy
of the repository with watching on, so a test can edit the knowledge and see the change
arrive. The copy holds a 1 MB text file, for answers too large for a model, and a `.env`,
for a path the bot refuses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import rtc

from context_bot.devserver import DevServer, start_dev_server

if importlib.util.find_spec("livekit.agents") is None:
    if os.environ.get("CONTEXT_BOT_AGENTS_TESTS"):
        raise RuntimeError("CONTEXT_BOT_AGENTS_TESTS is set but livekit-agents is missing")
    collect_ignore_glob = ["test_*.py"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG_FILE = "notes/big.txt"
BIG_FILE_LINES = 20_000
"""Lines of 53 bytes (a numbered line of text and its newline): 1,060,000 bytes."""
BOT_START_TIMEOUT_S = 30


@dataclass(frozen=True)
class Bot:
    """The bot's process, what it serves, and how to get a room with it in."""

    endpoint: str
    livekit_url: str
    repo: Path

    def token(self, room: str, identity: str) -> str:
        body = {"room_name": room, "participant_name": identity, "participant_identity": identity}
        request = urllib.request.Request(  # noqa: S310 - loopback, http only
            f"{self.endpoint}/token",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return str(json.loads(response.read())["token"])


def big_file_line(n: int) -> str:
    """Line `n` of the 1 MB file, newline included (53 bytes)."""
    return f"line {n:06d}: the quick brown fox jumps over the dog.\n"


@pytest.fixture(scope="session")
def served_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's knowledge, package and README, plus two test files."""
    repo = tmp_path_factory.mktemp("served-repo")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "knowledge", repo / "knowledge", ignore=ignore)
    shutil.copytree(REPO_ROOT / "context_bot", repo / "context_bot", ignore=ignore)
    shutil.copy2(REPO_ROOT / "README.md", repo / "README.md")
    big = repo / BIG_FILE
    big.parent.mkdir()
    big.write_text("".join(big_file_line(n) for n in range(1, BIG_FILE_LINES + 1)))
    (repo / ".env").write_text("API_TOKEN=a-test-value-the-bot-must-never-serve\n")
    return repo


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("livekit"))
    yield server
    server.stop(timeout=3)


@pytest.fixture(scope="session")
def bot(
    livekit_server: DevServer, served_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    python = os.environ.get("CONTEXT_BOT_BOT_PYTHON") or sys.executable
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    env = {
        **os.environ,
        "LIVEKIT_URL": livekit_server.url,
        "LIVEKIT_API_KEY": livekit_server.api_key,
        "LIVEKIT_API_SECRET": livekit_server.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_LOG_FORMAT": "json",
        "CONTEXT_BOT_REPO": str(served_repo),
        "CONTEXT_BOT_WATCH": "true",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [python, "-m", "context_bot", "run"],
            cwd=REPO_ROOT,  # `-m` imports the package from here, not from the copy
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        endpoint = _started_url(process, log_path)
        yield Bot(endpoint=endpoint, livekit_url=livekit_server.url, repo=served_repo)
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
async def room(bot: Bot) -> AsyncIterator[rtc.Room]:
    """A fresh room with the bot in it, joined as an agent would be."""
    room = rtc.Room()
    await room.connect(bot.livekit_url, bot.token(f"agents-{uuid.uuid4().hex[:12]}", "agent"))
    yield room
    await room.disconnect()


def _started_url(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The endpoint's URL from the bot's `started` log line, once it is written."""
    deadline = time.monotonic() + BOT_START_TIMEOUT_S
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
    raise RuntimeError(f"the bot did not start in {BOT_START_TIMEOUT_S} s:\n{log_path.read_text()}")

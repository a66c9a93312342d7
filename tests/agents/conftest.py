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
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from livekit import rtc

from context_bot.devserver import DevServer
from tests.bot_service import BotService, bot_process

if TYPE_CHECKING:
    from context_bot.agents import RepositoryContext

if importlib.util.find_spec("livekit.agents") is None:
    if os.environ.get("CONTEXT_BOT_AGENTS_TESTS"):
        raise RuntimeError("CONTEXT_BOT_AGENTS_TESTS is set but livekit-agents is missing")
    collect_ignore_glob = ["test_*.py"]

REPO_ROOT = Path(__file__).resolve().parents[2]
BIG_FILE = "notes/big.txt"
BIG_FILE_LINES = 20_000
"""Lines of 53 bytes (a numbered line of text and its newline): 1,060,000 bytes."""


Bot = BotService
"""The bot's process, what it serves, and how to get a room with it in."""


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
def bot(
    livekit_server: DevServer, served_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    with bot_process(
        livekit_server,
        log_path,
        repo=served_repo,
        CONTEXT_BOT_REPO=str(served_repo),
        CONTEXT_BOT_WATCH="true",
    ) as service:
        yield service


@pytest.fixture
async def room(bot: Bot) -> AsyncIterator[rtc.Room]:
    """A fresh room with the bot in it, joined as an agent would be."""
    room = rtc.Room()
    await room.connect(bot.livekit_url, bot.token(f"agents-{uuid.uuid4().hex[:12]}", "agent"))
    yield room
    await room.disconnect()


@pytest.fixture
async def context(room: rtc.Room) -> AsyncIterator[RepositoryContext]:
    """The one-line entrypoint's context in that room."""
    # Imported here: the main virtualenv reads this file too, without livekit-agents.
    from context_bot.agents import repository_context

    context = await repository_context(room, budget_tokens=4000)
    yield context
    await context.aclose()

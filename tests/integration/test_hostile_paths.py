"""Paths and secrets (issue 14, items 1, 3 and 4), against the real server and real SDKs.

A participant's worst path must not slow anyone else down, and no secret reaches a room:
not through a `file` request, and not through the overview the bot pushes to everyone.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.errors import InvalidPath, PathDenied
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

#: 5,000 components: the code before the fix spent about 4.5 s of the event loop on each.
HOSTILE_PATH = "/".join(["a"] * 5_000)
#: Generous for one small answer on a loaded machine; the hostile requests took 4.5 s each.
PROMPT_S = 2.0
SECRET = "hunter2-do-not-serve"


async def test_a_hostile_path_never_delays_another_participant(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    app: ContextBotApp = await running_app(repo=repo_copy)
    attacker = ContextClient(await join_with_token(app, connect, "hostile-path", "attacker"))
    victim = ContextClient(await join_with_token(app, connect, "hostile-path", "victim"))
    await victim.file("context_bot/knowledge/sandbox.py")  # warm: the bot is in and answering
    loop = asyncio.get_running_loop()

    hostile = [asyncio.create_task(attacker.file(HOSTILE_PATH)) for _ in range(3)]
    await asyncio.sleep(0)  # the three are on their way before the victim asks
    for _ in range(5):
        started = loop.time()
        result = await victim.file("context_bot/knowledge/sandbox.py", lines=(1, 5))
        took = loop.time() - started
        assert result.content is not None
        assert took < PROMPT_S, f"an ordinary request took {took:.1f}s beside hostile paths"

    for outcome in await asyncio.gather(*hostile, return_exceptions=True):
        assert isinstance(outcome, InvalidPath), outcome
        assert outcome.code == 4100


@pytest.fixture
def secret_repo(repo_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository copy, a git checkout, with every secret the adversarial run read."""
    root = repo_copy
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    config = tmp_path / "config"  # git's global excludes file, in its default place
    (config / "git").mkdir(parents=True)
    (config / "git" / "ignore").write_text("global-ignored.txt\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.gitconfig naming another one
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("excluded.txt\n")
    (root / "nested").mkdir()
    (root / "nested" / ".gitignore").write_text("local-notes.txt\n")
    for name in SECRET_FILES:
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{SECRET}\n")
    (root / ".env").write_text(f"TOKEN={SECRET}\n")
    (root / "README.md").unlink()
    (root / "README.md").symlink_to(".env")  # the overview must not quote it
    return root


SECRET_FILES = (
    "nested/local-notes.txt",
    "excluded.txt",
    "global-ignored.txt",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".aws/credentials",
    ".ENV",
    "cert.PEM",
)


async def test_no_secret_reaches_a_room(running_app: Any, connect: Any, secret_repo: Path) -> None:
    app: ContextBotApp = await running_app(repo=secret_repo)
    client = ContextClient(await join_with_token(app, connect, "secrets-room", "reader"))
    overview = await client.overview()
    assert SECRET not in overview
    for name in (*SECRET_FILES, "README.md"):
        with pytest.raises(PathDenied) as refused:
            await client.file(name)
        assert refused.value.code == 4103, name
        assert SECRET not in refused.value.message
    served = await client.file(
        "context_bot/knowledge/sandbox.py", lines=(1, 1)
    )  # the rest still is
    assert served.content

"""`context-bot draft` beside a running bot: the room hears of the new documents."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from tests.gitrepo import git
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

WORKTREE = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A small git repository with no knowledge folder at all."""
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text(
        '"""Start the app."""\n\nfrom app import users\n\n\ndef main() -> None:\n'
        "    users.list_users()\n"
    )
    (root / "app" / "users.py").write_text(
        '"""Who may sign in."""\n\n\ndef list_users() -> list[str]:\n    return []\n'
    )
    (root / "app" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


async def test_a_room_gets_knowledge_changed_after_draft_runs(
    running_app: Any, connect: Any, project: Path
) -> None:
    app: ContextBotApp = await running_app(repo=project)
    client = ContextClient(await join_with_token(app, connect, "draft-room", "newcomer"))
    before = await client.file("app/users.py")
    assert before.knowledge is None
    updates = client.updates()
    next_update = asyncio.ensure_future(anext(updates))
    await asyncio.sleep(0.5)  # the watcher registers its folders

    # The command line, as a team would run it: a process of its own, this worktree's code.
    env = {**os.environ, "PYTHONPATH": str(WORKTREE)}
    command = [sys.executable, "-m", "context_bot", "draft", "--repo", str(project)]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 2 documents (2 new" in done.stdout

    update = await asyncio.wait_for(next_update, 20)
    await updates.aclose()
    changed = {*update.added, *update.changed}
    assert {"app/main.py", "app/users.py"} <= changed
    after = await client.file("app/users.py")
    assert after.knowledge is not None and after.stale is False
    assert "## Purpose\nWho may sign in.\n" in after.knowledge
    assert f"fileVersion: '{git(project, 'hash-object', 'app/users.py')}'" in after.knowledge

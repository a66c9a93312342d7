"""A repository served whole, documented or not: listed in a real room, kept live."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient, KnowledgeUpdate
from context_bot.knowledge import changes
from tests.gitrepo import git
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository of nested folders: one file documented, the rest not, a binary
    file, a `.env` (tracked by mistake: still never listed), an ignored build folder."""
    root = tmp_path / "project"
    (root / "src" / "app" / "handlers").mkdir(parents=True)
    (root / "src" / "app" / "handlers" / "users.py").write_text("def list_users():\n    ...\n")
    (root / "src" / "app" / "main.py").write_text("from app.handlers import users\n")
    (root / "src" / "app" / "__init__.py").write_text("")
    (root / "assets").mkdir()
    (root / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64))
    (root / "README.md").write_text("# Project\n\nA small service.\n")
    (root / ".env").write_text("API_TOKEN=never-listed\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("generated\n")
    (root / "knowledge").mkdir()
    (root / "knowledge" / "main.md").write_text(
        "---\nfilePath: src/app/main.py\nfeature: api\n---\n## Purpose\nStarts the app.\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "add", "-f", ".env")  # a secret committed by mistake
    git(root, "commit", "-q", "-m", "first")
    return root


async def test_a_participant_lists_every_tracked_file_and_which_are_documented(
    running_app: Any, connect: Any, project: Path
) -> None:
    app: ContextBotApp = await running_app(repo=project)
    client = ContextClient(await join_with_token(app, connect, "whole-repo", "newcomer"))
    tracked = set(git(project, "ls-files").split())
    assert ".env" in tracked and "assets/logo.png" in tracked

    everything = await client.list("", depth=16, limit=5000)
    files = {e["path"]: e for e in everything["entries"] if e["kind"] == "file"}
    assert set(files) == tracked - {".env"}
    assert (everything["files"], everything["documented"]) == (len(tracked) - 1, 1)
    assert files["src/app/main.py"]["documented"] is True
    assert files["src/app/main.py"]["feature"] == "api"
    assert files["src/app/handlers/users.py"]["documented"] is False
    assert files["src/app/handlers/users.py"]["language"] == "python"
    assert files["assets/logo.png"]["binary"] is True
    assert all(".env" not in e["path"] and "build" not in e["path"] for e in everything["entries"])

    top = await client.list(depth=1)
    assert [e["path"] for e in top["entries"]] == [
        "assets",
        "knowledge",
        "src",
        ".gitignore",
        "README.md",
    ]  # folders first, then files
    src = next(e for e in top["entries"] if e["path"] == "src")
    assert (src["files"], src["documented"]) == (3, 1)
    # The undocumented file is readable like any other.
    users = await client.file("src/app/handlers/users.py")
    assert users.knowledge is None and users.content is not None


async def watching(
    running_app: Any, connect: Any, project: Path, room: str
) -> tuple[ContextClient, AsyncIterator[KnowledgeUpdate], asyncio.Future[KnowledgeUpdate]]:
    """The app serving `project`, a participant in `room` that has its overview, its
    updates, and the next one awaited (after the watcher had time to register)."""
    app: ContextBotApp = await running_app(repo=project)
    client = ContextClient(await join_with_token(app, connect, room, "watcher"))
    await client.overview()
    updates = client.updates()
    next_update = asyncio.ensure_future(anext(updates))
    await asyncio.sleep(0.5)  # the watcher registers its folders
    return client, updates, next_update


async def test_a_file_added_or_removed_reaches_the_room(
    running_app: Any, connect: Any, project: Path
) -> None:
    client, updates, next_update = await watching(running_app, connect, project, "live-repo")
    added = project / "src" / "app" / "handlers" / "orders.py"
    async with asyncio.timeout(20):
        while not next_update.done():  # rewrite until the watcher, now up, sees it
            added.write_text(f"def orders():\n    return {os.getpid()}\n")
            await asyncio.wait([next_update], timeout=1.5)
    update = next_update.result()
    assert "src/app/handlers/orders.py" in update.added
    listing = await client.list("src/app/handlers", depth=1)
    assert [e["path"] for e in listing["entries"]] == [
        "src/app/handlers/orders.py",
        "src/app/handlers/users.py",
    ]
    # The reload patched the symbol index with the new file (`SymbolIndex.patched`).
    assert [(h.name, h.path) for h in await client.symbols("orders")] == [
        ("orders", "src/app/handlers/orders.py")
    ]

    next_update = asyncio.ensure_future(anext(updates))
    (project / "src" / "app" / "handlers" / "users.py").unlink()
    update = await asyncio.wait_for(next_update, 15)
    await updates.aclose()
    assert "src/app/handlers/users.py" in update.removed
    listing = await client.list("src/app/handlers", depth=1)
    assert [e["path"] for e in listing["entries"]] == ["src/app/handlers/orders.py"]
    assert await client.symbols("list_users") == []
    assert [h.path for h in await client.symbols("orders")] == ["src/app/handlers/orders.py"]


async def test_an_edit_that_keeps_the_size_reaches_the_room_as_changed(
    running_app: Any, connect: Any, project: Path
) -> None:
    """The patched reload's report names a file edited in place (the same size): it
    named nothing before, though the version moved; and `grep` finds the new text."""
    client, updates, next_update = await watching(running_app, connect, project, "same-size")
    users = project / "src" / "app" / "handlers" / "users.py"
    original = users.read_text()
    edits = iter(original.replace("list_users", f"list_usr{n:02d}") for n in range(20))
    async with asyncio.timeout(20):
        while not next_update.done():  # rewrite until the watcher, now up, sees it
            edited = next(edits)
            assert len(edited) == len(original)
            users.write_text(edited)
            await asyncio.wait([next_update], timeout=1.5)
    update = next_update.result()
    await updates.aclose()
    assert update.changed == ["src/app/handlers/users.py"]
    assert update.added == update.removed == []
    name = edited.split("(")[0].removeprefix("def ")
    found = await client.grep(name)
    assert [(m.path, m.line) for m in found.matches] == [("src/app/handlers/users.py", 1)]


async def test_a_change_too_large_to_name_reaches_the_room_cut_and_marked(
    running_app: Any, connect: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "MAX_CHANGE_PATHS", 2)  # the bot runs in this process
    _, updates, next_update = await watching(running_app, connect, project, "big-change")
    async with asyncio.timeout(20):
        while not next_update.done():  # rewrite until the watcher, now up, sees them
            for n in range(4):
                (project / "src" / f"gen{n}.py").write_text(f"n = {os.getpid()}\n")
            await asyncio.wait([next_update], timeout=1.5)
    update = next_update.result()
    await updates.aclose()
    assert update.truncated is True
    assert update.added == ["src/gen0.py", "src/gen1.py"]

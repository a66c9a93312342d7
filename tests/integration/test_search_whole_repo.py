"""`search` in a real room finds what no document describes: files by path and by code."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@e",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@e",
    "PATH": "/usr/bin:/bin",
}


def make_repo(root: Path) -> Path:
    """A git repository with one document and files nobody documented."""
    files = {
        "README.md": "# Shop\n\nShop sells tea.\n",
        "src/pay/client.py": "import os\n\n\nclass Client:\n    def charge(self):\n        pass\n",
        "src/pay/worker.py": "from .client import Client\n\n# the invoices queue\n",
        "src/billing.ts": "export const total = 1\n",
        "knowledge/billing.md": "---\nfilePath: src/billing.ts\n---\n## Purpose\n"
        "Creates invoices for tenants.\n",
        ".gitignore": "secret-notes/\n",
        "secret-notes/client.txt": "Client list: do not serve\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=GIT_ENV)
    return root


async def test_a_participant_finds_an_undocumented_file_through_search(
    running_app: Any, connect: Any, tmp_path: Path
) -> None:
    app: ContextBotApp = await running_app(repo=make_repo(tmp_path / "shop"))
    room = await join_with_token(app, connect, "search-whole-repo", "newcomer")
    client = ContextClient(room)

    hits = await client.search("Client")
    top = hits[0]  # the query is a name: where it is defined comes first
    assert (top.path, top.kind, top.line) == ("src/pay/client.py", "symbol", 4)
    assert top.snippet == "class **Client**"
    assert top.score == 1
    paths = [h.path for h in hits]
    assert "src/pay/worker.py" in paths
    code = (await client.search("class Client"))[0]  # words: the line that holds them
    assert (code.path, code.kind, code.line) == ("src/pay/client.py", "code", 4)
    assert 0.5 < code.score <= 1
    assert not any(p.startswith("secret-notes/") for p in paths)  # git-ignored: never served

    hits = await client.search("invoices")
    assert [(h.path, h.kind) for h in hits] == [
        ("src/billing.ts", "file"),  # the document ranks above code that mentions the word
        ("src/pay/worker.py", "code"),
    ]
    assert hits[0].score > 0.5 >= hits[1].score

    overview = await client.overview()
    assert "1 of 3 source files documented" in overview

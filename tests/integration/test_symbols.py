"""`symbols`, `outline` and `references` in a real room, over files in six languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.errors import BadRequest, NotFound
from tests.integration.test_end_to_end import join_with_token
from tests.unit.test_symbols import GO, JAVA, JAVASCRIPT, PYTHON, RUST, TYPESCRIPT

pytestmark = pytest.mark.integration

SOURCES = {
    "poly/mod.py": PYTHON,
    "poly/net.ts": TYPESCRIPT,
    "poly/count.js": JAVASCRIPT,
    "poly/server.go": GO,
    "poly/geo.rs": RUST,
    "poly/Outer.java": JAVA,
}


async def test_a_participant_finds_definitions_outlines_and_uses_in_six_languages(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    for path, text in SOURCES.items():
        (repo_copy / path).parent.mkdir(parents=True, exist_ok=True)
        (repo_copy / path).write_text(text)
    app: ContextBotApp = await running_app(repo=repo_copy)
    client = ContextClient(await join_with_token(app, connect, "symbols-room", "newcomer"))

    wanted = {
        "MAX_RETRIES": ("poly/mod.py", "constant"),
        "HTTPTransport": ("poly/net.ts", "class"),
        "Counter": ("poly/count.js", "class"),
        "Server": ("poly/server.go", "struct"),
        "Shape": ("poly/geo.rs", "trait"),
        "Inner": ("poly/Outer.java", "class"),
    }
    for name, (path, kind) in wanted.items():
        hits = await client.symbols(name, path_glob=path, kind=kind)
        assert [(h.path, h.match) for h in hits] == [(path, "exact")], name
        lines = SOURCES[path].splitlines()
        assert name in lines[hits[0].line - 1], (name, hits[0].line)  # the right line
        assert lines[hits[0].end_line - 1].strip()  # the end is inside the file
    camel = await client.symbols("HTTPTr", path_glob="poly/")
    assert [(h.name, h.line, h.end_line) for h in camel] == [("HTTPTransport", 2, 4)]

    outline = await client.outline("poly/Outer.java")
    assert outline["parsed"] is True and outline["language"] == "java"
    outer = outline["symbols"][0]
    assert (outer["name"], outer["line"], outer["end_line"]) == ("Outer", 4, 18)
    assert [(c["name"], c["line"]) for c in outer["children"]] == [
        ("MAX", 5),
        ("count", 6),
        ("Outer", 9),
        ("run", 11),
        ("Inner", 15),
    ]
    go = await client.outline("poly/server.go")
    assert [(s["name"], s["line"]) for s in go["symbols"]] == [
        ("Server", 4),
        ("Handler", 8),
        ("Run", 13),
        ("New", 17),
        ("DefaultPort", 22),
    ]

    uses = await client.references("Server", path_glob="poly/")
    assert [(r["path"], r["line"]) for r in uses["references"]] == [
        ("poly/server.go", 13),
        ("poly/server.go", 17),
        ("poly/server.go", 18),
    ]
    assert uses["resolution"] == "name"
    python_uses = await client.references("MAX_RETRIES")
    assert [(r["path"], r["line"]) for r in python_uses["references"]] == [("poly/mod.py", 19)]

    with pytest.raises(NotFound):
        await client.outline("poly/missing.py")
    with pytest.raises(BadRequest):
        await client.symbols("x", kind="klass")

"""The protocol's methods over a small real repository: results, refusals, validation."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from context_bot.bot.handlers import Handlers
from context_bot.errors import (
    BadRequest,
    BinaryFile,
    InvalidPath,
    NotFound,
    PathDenied,
    RequestError,
    UnknownMethod,
)
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.protocol import Request

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"


@pytest.fixture
def handlers(tmp_path: Path) -> Handlers:
    """A repository with the seed documents, the file they describe, a binary and a secret."""
    shutil.copytree(SEEDS, tmp_path / "knowledge")
    source = tmp_path / "src" / "server" / "api"
    source.mkdir(parents=True)
    (source / "livekit.ts").write_text("export const x = 1;\n" * 3)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (tmp_path / ".env").write_text("SECRET=1\n")
    knowledge = load_knowledge(tmp_path / "knowledge", tmp_path)
    return Handlers(lambda: knowledge, RepoFiles(tmp_path))


async def call(handlers: Handlers, method: str, **params: Any) -> dict[str, Any]:
    return await handlers.handle(Request(id="t", method=method, params=params))


async def test_a_documented_file_comes_with_its_document_and_contents(handlers: Handlers) -> None:
    result = await call(handlers, "file", path="src/server/api/livekit.ts")
    assert result["knowledge"]["path"] == "src/server/api/livekit.ts"
    assert "filePath: src/server/api/livekit.ts" in result["knowledge"]["text"]
    assert result["content"]["text"] == "export const x = 1;\n" * 3
    assert result["content_error"] is None


async def test_a_line_range_serves_only_those_lines(handlers: Handlers) -> None:
    result = await call(handlers, "file", path="src/server/api/livekit.ts", lines=[2, 3])
    assert result["content"]["text"] == "export const x = 1;\n" * 2
    assert result["content"]["lines"] == [2, 3]


async def test_knowledge_only_skips_the_contents(handlers: Handlers) -> None:
    result = await call(handlers, "file", path="src/server/api/livekit.ts", content=False)
    assert result["content"] is None
    assert result["knowledge"] is not None


async def test_a_file_without_a_document_is_served_alone(handlers: Handlers) -> None:
    result = await call(handlers, "file", path="src/server/api/livekit.ts", knowledge=False)
    assert result["knowledge"] is None
    assert result["content"]["size"] == len("export const x = 1;\n" * 3)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"path": "no/such.py"}, NotFound),
        ({"path": "../outside"}, InvalidPath),
        ({"path": "/etc/passwd"}, InvalidPath),
        ({"path": ".env"}, PathDenied),
        ({"path": "logo.png"}, BinaryFile),
        ({"path": 5}, BadRequest),
        ({}, BadRequest),
        ({"path": "a.py", "lines": [3, 1]}, BadRequest),
        ({"path": "a.py", "lines": [0, 1]}, BadRequest),
        ({"path": "a.py", "lines": "1-2"}, BadRequest),
        ({"path": "a.py", "knowledge": "yes"}, BadRequest),
    ],
)
async def test_bad_file_requests_are_refused_with_their_code(
    handlers: Handlers, params: dict[str, Any], error: type[RequestError]
) -> None:
    with pytest.raises(error):
        await call(handlers, "file", **params)


async def test_search_finds_the_seed_document_by_an_identifier_fragment(handlers: Handlers) -> None:
    result = await call(handlers, "search", query="express router")
    assert result["hits"]
    assert result["hits"][0]["path"] == "src/server/api/livekit.ts"
    assert result["hits"][0]["kind"] == "file"


@pytest.mark.parametrize(
    "params", [{"query": ""}, {"query": 3}, {"query": "x" * 513}, {"query": "a", "limit": 0}]
)
async def test_bad_searches_are_refused(handlers: Handlers, params: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        await call(handlers, "search", **params)


async def test_list_and_feature(handlers: Handlers) -> None:
    listing = await call(handlers, "list", prefix="src", depth=5)
    assert any(e["path"] == "src/server/api/livekit.ts" for e in listing["entries"])
    everything = await call(handlers, "feature")
    names = [f["name"] for f in everything["features"]]
    assert names
    one = await call(handlers, "feature", name=names[0])
    assert one["name"] == names[0]
    with pytest.raises(NotFound, match="known:"):
        await call(handlers, "feature", name="no-such-feature")


async def test_an_unknown_method_names_the_known_ones(handlers: Handlers) -> None:
    with pytest.raises(
        UnknownMethod,
        match="feature, file, grep, list, outline, overview, references, retrieve, search, symbols",
    ):
        await call(handlers, "explode")

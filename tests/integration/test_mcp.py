"""`/mcp` on the running product (`context-bot run`), asked by the official `mcp` SDK client
in both protocol eras: the 2025-11-25 handshake (sessions) and 2026-07-28 (sessionless,
`server/discover`). Tools, resources, live-reload notifications, bad input, credentials."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from livekit import api
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from context_bot.devserver import DevServer
from tests.bot_service import REPO_ROOT, BotService, bot_process

pytestmark = pytest.mark.integration

MODES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TOOLS = {
    "overview",
    "read_file",
    "search",
    "retrieve",
    "grep",
    "list_folder",
    "symbols",
    "outline",
    "references",
    "features",
}
BIG_LINES = 20_000
JWT_KEY = "a-tenant-signing-key-of-32-bytes!"


def _repo(root: Path) -> Path:
    """A copy of this repository's knowledge, package and README, a 1 MB file, a secret."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "knowledge", root / "knowledge", ignore=ignore)
    shutil.copytree(REPO_ROOT / "context_bot", root / "context_bot", ignore=ignore)
    shutil.copy2(REPO_ROOT / "README.md", root / "README.md")
    (root / "notes").mkdir()
    (root / "notes" / "big.txt").write_text(
        "".join(
            f"line {n:06d}: the quick brown fox jumps over the dog.\n"
            for n in range(1, BIG_LINES + 1)
        )
    )
    (root / ".env").write_text("SECRET=do-not-serve\n")
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _repo(tmp_path_factory.mktemp("mcp-repo"))


UNLIMITED = {"CONTEXT_BOT_RATE_LIMIT": "60000", "CONTEXT_BOT_RATE_LIMIT_BURST": "1000"}
PRODUCTS = {
    "bot": {**UNLIMITED},  # watching on: the notifications test edits the repository
    "guarded": {
        **UNLIMITED,
        "CONTEXT_BOT_WATCH": "false",
        "CONTEXT_BOT_AUTH_REQUIRED": "true",
        "CONTEXT_BOT_API_KEYS": "acme=acme-key-0123456789",
        "CONTEXT_BOT_JWT_KEY": JWT_KEY,
        "CONTEXT_BOT_JWT_ISSUER": "auth.example",
        "CONTEXT_BOT_JWT_AUDIENCE": "context-bot",
    },
    "limited": {  # a minute's 120 requests, bursts of 10
        "CONTEXT_BOT_WATCH": "false",
        "CONTEXT_BOT_RATE_LIMIT": "120",
        "CONTEXT_BOT_RATE_LIMIT_BURST": "10",
    },
}
"""The product as each group of tests runs it: `context-bot run` with these settings."""


def _product(
    name: str, livekit_server: DevServer, served: Path, tmp: pytest.TempPathFactory
) -> Iterator[BotService]:
    log = tmp.mktemp(f"mcp-{name}") / "bot.log"
    env = {"CONTEXT_BOT_REPO": str(served), **PRODUCTS[name]}
    with bot_process(livekit_server, log, repo=served, **env) as service:
        yield service


@pytest.fixture(scope="module")
def bot(
    livekit_server: DevServer, served: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    yield from _product("bot", livekit_server, served, tmp_path_factory)


@pytest.fixture(scope="module")
def guarded(
    livekit_server: DevServer, served: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    """Authentication on: tenants' API keys and JWTs, and room participant tokens."""
    yield from _product("guarded", livekit_server, served, tmp_path_factory)


@pytest.fixture(scope="module")
def limited(
    livekit_server: DevServer, served: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    yield from _product("limited", livekit_server, served, tmp_path_factory)


@asynccontextmanager
async def connect(
    url: str, mode: str, headers: dict[str, str] | None = None, **kw: Any
) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers=headers or {}, timeout=httpx2.Timeout(10, read=60))
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, **kw) as client,
    ):
        yield client


def _text(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


@pytest.mark.parametrize("mode", MODES)
async def test_both_eras_list_the_tools_and_call_read_file_search_and_grep(
    bot: BotService, mode: str
) -> None:
    async with connect(f"{bot.endpoint}/mcp", mode) as client:
        assert client.protocol_version == MODES[mode]
        tools = (await client.list_tools()).tools
        assert {t.name for t in tools} == TOOLS
        for tool in tools:
            assert tool.annotations is not None and tool.annotations.read_only_hint is True
            assert tool.input_schema["type"] == "object" and tool.description

        read = await client.call_tool(
            "read_file", {"path": "context_bot/protocol.py", "first_line": 1, "last_line": 5}
        )
        assert not read.is_error
        answer = json.loads(_text(read))
        source = (REPO_ROOT / "context_bot/protocol.py").read_text().splitlines(keepends=True)
        assert answer["content"]["text"] == "".join(source[:5])

        found = json.loads(_text(await client.call_tool("search", {"query": "rate limit"})))
        assert found["hits"] and all("path" in hit for hit in found["hits"])

        grep = json.loads(
            _text(await client.call_tool("grep", {"pattern": "MAX_REQUEST_BYTES = "}))
        )
        assert any(m["path"] == "context_bot/protocol.py" for m in grep["matches"])

        turn = "where are the limits on a request's size kept?"
        block = json.loads(_text(await client.call_tool("retrieve", {"text": turn})))
        assert block["text"] and any(h["path"] == "context_bot/protocol.py" for h in block["hits"])
        small_talk = json.loads(_text(await client.call_tool("retrieve", {"text": "thanks!"})))
        assert small_talk["hits"] == []


async def test_a_large_file_is_cut_at_a_line_and_says_where_to_read_on(bot: BotService) -> None:
    async with connect(f"{bot.endpoint}/mcp", "auto") as client:
        cut = json.loads(_text(await client.call_tool("read_file", {"path": "notes/big.txt"})))
        assert len(json.dumps(cut)) <= 41_000
        last = cut["content"]["lines"][1]
        assert cut["content"]["text"].endswith(
            f"line {last:06d}: the quick brown fox jumps over the dog.\n"
        )
        assert f"first_line={last + 1}" in cut["more"]
        whole = json.loads(
            _text(
                await client.call_tool(
                    "read_file", {"path": "notes/big.txt", "max_chars": 2_000_000}
                )
            )
        )
        assert whole["content"]["text"].count("\n") == BIG_LINES and "more" not in whole


@pytest.mark.parametrize("mode", MODES)
async def test_files_and_documents_are_resources_by_template(
    bot: BotService, served: Path, mode: str
) -> None:
    async with connect(f"{bot.endpoint}/mcp", mode) as client:
        templates = {
            t.uri_template for t in (await client.list_resource_templates()).resource_templates
        }
        assert templates == {"repo://{+path}", "knowledge://{+path}"}
        listed = {r.uri for r in (await client.list_resources()).resources}
        assert "knowledge://context_bot/protocol.py" in listed
        file = (await client.read_resource("repo://README.md")).contents[0]
        assert isinstance(file, types.TextResourceContents)
        assert file.text == (served / "README.md").read_text()
        doc = (await client.read_resource("knowledge://context_bot/protocol.py")).contents[0]
        assert isinstance(doc, types.TextResourceContents) and doc.text.startswith("---")
        with pytest.raises(MCPError) as refused:
            await client.read_resource("repo://.env")
        assert "4103" in str(refused.value)
        with pytest.raises(MCPError) as refused:  # percent-encoded `..` is still `..`
            await client.read_resource("repo://%2e%2e/%2e%2e/etc/passwd")
        assert "4100" in str(refused.value)


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"path": 7}, 4000),  # a wrong argument type
        ({"path": "notes/big.txt", "extra": 1}, 4000),  # an argument the tool does not take
        ({"path": "../../etc/passwd"}, 4100),
        ({"path": "/etc/passwd"}, 4100),
        ({"path": ".env"}, 4103),
        ({"path": "context_bot/../.env"}, 4100),
        ({"path": "no/such/file.py"}, 4104),
    ],
)
async def test_bad_arguments_are_tool_errors_with_the_protocols_code(
    bot: BotService, arguments: dict[str, Any], code: int
) -> None:
    async with connect(f"{bot.endpoint}/mcp", "auto") as client:
        result = await client.call_tool("read_file", arguments)
        assert result.is_error
        assert result.structured_content is not None
        assert result.structured_content["error"]["code"] == code
        assert f"({code} " in _text(result) and "SECRET" not in _text(result)


@pytest.mark.parametrize("mode", MODES)
async def test_an_unknown_tool_is_a_protocol_error_naming_the_tools(
    bot: BotService, mode: str
) -> None:
    async with connect(f"{bot.endpoint}/mcp", mode) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("delete_everything", {})
        assert refused.value.error.code == types.INVALID_PARAMS
        assert "read_file" in refused.value.error.message


async def test_a_hostile_regex_answers_within_its_deadline_and_the_server_keeps_serving(
    bot: BotService,
) -> None:
    async with connect(f"{bot.endpoint}/mcp", "auto") as client:
        started = time.monotonic()
        result = await client.call_tool("grep", {"pattern": "(a+)+$" * 40, "regex": True})
        assert time.monotonic() - started < 5
        assert not result.is_error or "4000" in _text(result)
        bad = await client.call_tool("grep", {"pattern": "(?<=x)y", "regex": True})  # RE2 refuses
        assert bad.is_error and "4000" in _text(bad)
        assert not (await client.call_tool("overview", {})).is_error


async def test_http_refusals_oversized_foreign_origin_and_the_process_keeps_serving(
    bot: BotService,
) -> None:
    url = f"{bot.endpoint}/mcp"
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=10) as http:
        huge = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x" * 100_000}}
        too_big = await http.post(url, json=huge, headers=headers)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "body_too_large"
        foreign = await http.post(
            url, json={}, headers={**headers, "origin": "http://evil.example"}
        )
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_denied"
        garbage = await http.post(url, content=b"{not json", headers=headers)
        assert 400 <= garbage.status_code < 500
        deep = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + b"[" * 20_000 + b"]" * 20_000
        nested = await http.post(url, content=deep + b"}", headers=headers)
        assert 400 <= nested.status_code < 500
    async with connect(url, "legacy") as client:
        assert not (await client.call_tool("overview", {})).is_error


async def test_changes_reach_both_eras_as_notifications(bot: BotService, served: Path) -> None:
    legacy_seen: list[str] = []
    got_legacy = asyncio.Event()

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        method = getattr(root, "method", None)
        if isinstance(method, str) and method.startswith("notifications/resources/"):
            legacy_seen.append(method)
            got_legacy.set()

    async with (
        connect(f"{bot.endpoint}/mcp", "legacy", message_handler=on_message) as legacy,
        connect(f"{bot.endpoint}/mcp", "auto") as modern,
    ):
        with pytest.warns(MCPDeprecationWarning):  # the 2025-11-25 way, which legacy clients use
            await legacy.subscribe_resource("repo://notes/new.md")
        await legacy.list_tools()  # the session is known to the server from its second request
        async with modern.listen(resources_list_changed=True) as events:
            await asyncio.sleep(0.5)  # the GET stream and the listen stream are open
            (served / "notes" / "new.md").write_text("# A new note\n")
            event = await asyncio.wait_for(anext(aiter(events)), 15)
            assert "ResourcesListChanged" in type(event).__name__
        await asyncio.wait_for(got_legacy.wait(), 15)
        assert "notifications/resources/list_changed" in legacy_seen
        listed = json.loads(_text(await modern.call_tool("list_folder", {"folder": "notes"})))
        assert any(e["path"] == "notes/new.md" for e in listed["entries"])


async def test_a_changed_file_is_an_update_to_its_subscribers_in_both_eras(
    bot: BotService, served: Path
) -> None:
    updated: list[str] = []
    got_legacy = asyncio.Event()

    async def on_message(message: Any) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            updated.append(str(root.params.uri))
            got_legacy.set()

    uri = "repo://notes/changing.txt"
    (served / "notes" / "changing.txt").write_text("one\n")
    await asyncio.sleep(2)  # the watcher's reload of the new file, before anyone subscribes
    async with (
        connect(f"{bot.endpoint}/mcp", "legacy", message_handler=on_message) as legacy,
        connect(f"{bot.endpoint}/mcp", "auto") as modern,
    ):
        with pytest.warns(MCPDeprecationWarning):
            await legacy.subscribe_resource(uri)
        async with modern.listen(resource_subscriptions=[uri]) as events:
            await asyncio.sleep(0.5)
            (served / "notes" / "changing.txt").write_text("one\ntwo\n")
            event = await asyncio.wait_for(anext(aiter(events)), 15)
            assert getattr(event, "uri", None) == uri
        await asyncio.wait_for(got_legacy.wait(), 15)
        assert updated == [uri]
        text = (await modern.read_resource(uri)).contents[0]
        assert isinstance(text, types.TextResourceContents) and text.text == "one\ntwo\n"


def _participant_token(server: DevServer, secret: str | None = None) -> str:
    token = api.AccessToken(server.api_key, secret or server.api_secret)
    grants = api.VideoGrants(room_join=True, room="mcp-room")
    return (
        token.with_identity("agent-7").with_grants(grants).with_ttl(timedelta(minutes=5)).to_jwt()
    )


def _tenant_jwt(key: str = JWT_KEY) -> str:
    claims = {
        "sub": "globex",
        "iss": "auth.example",
        "aud": "context-bot",
        "exp": int(time.time()) + 300,
    }
    return jwt.encode(claims, key, algorithm="HS256")


async def test_with_auth_on_tenants_and_participant_tokens_are_served(
    guarded: BotService, livekit_server: DevServer
) -> None:
    url = f"{guarded.endpoint}/mcp"
    for headers in (
        {"x-api-key": "acme-key-0123456789"},
        {"authorization": f"Bearer {_tenant_jwt()}"},
        {"authorization": f"Bearer {_participant_token(livekit_server)}"},
    ):
        for mode in MODES:
            async with connect(url, mode, headers) as client:
                result = await client.call_tool(
                    "read_file", {"path": "README.md", "first_line": 1, "last_line": 1}
                )
                assert not result.is_error, headers


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "auth_required"),
        ({"x-api-key": "wrong"}, "invalid_credentials"),
        (
            {"authorization": "Bearer " + _tenant_jwt("another-key-of-thirty-two-bytes!!")},
            "invalid_credentials",
        ),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "invalid_credentials"),
    ],
)
async def test_with_auth_on_wrong_or_missing_credentials_are_401(
    guarded: BotService, headers: dict[str, str], code: str
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {}}
    sent = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        **headers,
    }
    async with httpx2.AsyncClient(timeout=10) as http:
        refused = await http.post(f"{guarded.endpoint}/mcp", json=body, headers=sent)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == code
    assert "WWW-Authenticate" in refused.headers


async def test_a_participant_token_signed_with_another_secret_is_refused(
    guarded: BotService, livekit_server: DevServer
) -> None:
    forged = _participant_token(livekit_server, secret="not-the-server-secret-at-all-000")
    async with httpx2.AsyncClient(timeout=10) as http:
        refused = await http.post(
            f"{guarded.endpoint}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "server/discover"},
            headers={"authorization": f"Bearer {forged}", "content-type": "application/json"},
        )
    assert refused.status_code == 401


async def test_the_per_client_rate_limit_refuses_with_retry_after_then_serves_again(
    limited: BotService,
) -> None:
    headers = {"content-type": "application/json"}
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    statuses: list[int] = []
    async with httpx2.AsyncClient(timeout=10) as http:
        for _ in range(80):
            answer = await http.post(f"{limited.endpoint}/mcp", json=body, headers=headers)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert answer.json()["error"]["code"] == "rate_limited"
                wait = int(answer.headers["Retry-After"])
                break
        assert 429 in statuses
        await asyncio.sleep(wait)
        again = await http.post(f"{limited.endpoint}/mcp", json=body, headers=headers)
        assert again.status_code != 429

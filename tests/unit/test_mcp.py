"""The MCP adapter's own rules (endpoint/mcp.py, endpoint/asgi.py): answers cut to a budget
that say how to read on, arguments checked against each tool's schema, the guard in front
of `/mcp`, the web role's refusal, and the ASGI bridge. The protocol itself, both eras,
against the running product: tests/integration/test_mcp.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from context_bot.config import Settings
from context_bot.endpoint.mcp import TOOLS, McpGuard, McpService, check_arguments, fit_answer
from context_bot.endpoint.routes import TokenService, create_app
from context_bot.endpoint.tenants import Authenticator, Tenant
from context_bot.errors import BadRequest
from context_bot.protocol import MCP_MAX_REQUEST_BYTES
from context_bot.ratelimit import RateLimiter
from tests.unit.served import Served

Client = TestClient[Any, Any]


def test_every_tool_is_read_only_with_an_object_schema_that_refuses_unknown_arguments() -> None:
    assert {"read_file", "search", "grep"} <= set(TOOLS)
    for spec in TOOLS.values():
        tool = spec.to_mcp()
        assert tool.annotations is not None and tool.annotations.read_only_hint
        assert tool.input_schema["additionalProperties"] is False
        with pytest.raises(BadRequest):
            check_arguments(spec, {"no_such_argument": 1})


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": 3}),
        ("read_file", {}),
        ("read_file", {"path": "a", "first_line": 0}),
        ("grep", {"pattern": "x", "context": 99}),
        ("search", {"query": "x" * 600}),
        ("list_folder", {"depth": "2"}),
    ],
)
def test_arguments_that_break_the_schema_are_a_bad_request_naming_the_argument(
    tool: str, arguments: dict[str, Any]
) -> None:
    with pytest.raises(BadRequest) as refused:
        check_arguments(TOOLS[tool], arguments)
    assert "input schema" in refused.value.message


def test_a_long_file_is_cut_at_a_line_and_names_the_next_line() -> None:
    text = "".join(f"line {n}\n" for n in range(1, 10_001))
    result = {
        "path": "big.txt",
        "knowledge": None,
        "content": {"path": "big.txt", "text": text, "line_count": 10_000, "lines": None},
    }
    answer = fit_answer(TOOLS["read_file"], result, 5_000)
    assert len(answer) <= 5_000
    cut = json.loads(answer)
    first, last = cut["content"]["lines"]
    assert first == 1 and cut["content"]["text"].endswith(f"line {last}\n")
    assert f"first_line={last + 1}" in cut["more"]


def test_a_line_range_cut_counts_from_its_first_line() -> None:
    text = "".join(f"{'é' * 40}\n" for _ in range(500))  # escapes would grow it: still fits
    result = {"path": "p", "content": {"text": text, "line_count": 900, "lines": [400, 899]}}
    cut = json.loads(fit_answer(TOOLS["read_file"], result, 3_000))
    assert cut["content"]["lines"][0] == 400
    assert f"first_line={cut['content']['lines'][1] + 1}" in cut["more"]


def test_a_line_longer_than_the_budget_is_cut_and_says_so() -> None:
    result = {"path": "min.js", "content": {"text": "x" * 50_000, "line_count": 1, "lines": None}}
    cut = json.loads(fit_answer(TOOLS["read_file"], result, 5_000))
    assert cut["content"]["lines"] == [1, 1] and len(cut["content"]["text"]) < 5_000
    assert "line 1 is longer than 5,000 characters" in cut["more"] and "max_chars" in cut["more"]


def test_a_long_list_keeps_its_leading_items_and_says_how_to_narrow() -> None:
    matches = [{"path": f"f{n}.py", "line": n, "text": "x" * 80} for n in range(500)]
    answer = fit_answer(TOOLS["grep"], {"matches": matches, "truncated": False}, 4_000)
    cut = json.loads(answer)
    assert len(answer) <= 4_000 and 0 < len(cut["matches"]) < 500
    assert cut["matches"] == matches[: len(cut["matches"])]
    assert cut["cut"] is True and "glob" in cut["more"]


def test_a_short_answer_is_the_result_unchanged() -> None:
    result = {"query": "q", "hits": [{"path": "a"}]}
    assert json.loads(fit_answer(TOOLS["search"], result, 40_000)) == result


# -- the guard -----------------------------------------------------------------------------


class Recorder:
    """The app behind the guard: records what reached it."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _through(guard: McpGuard, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.0.0.1", 5),
    }
    await guard(scope, receive, send)
    body = sent[1]["body"]
    return sent[0]["status"], json.loads(body) if body != b"ok" else {}


def _guard(
    app: Recorder, *, auth: bool = False, burst: int = 100, loopback: bool = False
) -> McpGuard:
    authenticator = Authenticator(required=auth, api_keys=(("acme", "acme-key-0123456789"),))

    def participant(token: str) -> Tenant | None:
        return Tenant("agent-7", "participant_token") if token == "room-token" else None

    limiter = RateLimiter(1.0, burst)
    return McpGuard(app, authenticator, participant, ("https://ok.example",), limiter, loopback)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"origin": "https://evil.example", "host": "h:1"}, 403, "origin_denied"),
        ({"content-length": str(MCP_MAX_REQUEST_BYTES + 1)}, 413, "body_too_large"),
    ],
)
async def test_the_guard_refuses_a_foreign_origin_and_an_oversized_body(
    headers: dict[str, str], status: int, code: str
) -> None:
    app = Recorder()
    answer = await _through(_guard(app), headers)
    assert answer == (status, {"error": {"code": code, "message": answer[1]["error"]["message"]}})
    assert app.calls == 0


@pytest.mark.parametrize(
    "origin", [None, "https://ok.example", "http://h:1"]
)  # none, configured, the page's own
async def test_the_guard_lets_allowed_origins_through(origin: str | None) -> None:
    app = Recorder()
    headers = {"host": "h:1"} | ({"origin": origin} if origin else {})
    assert (await _through(_guard(app), headers))[0] == 200
    assert app.calls == 1


async def test_with_auth_on_a_participant_token_or_a_tenant_gets_through_and_nothing_else() -> None:
    app = Recorder()
    guard = _guard(app, auth=True)
    assert (await _through(guard, {"authorization": "Bearer room-token"}))[0] == 200
    assert (await _through(guard, {"x-api-key": "acme-key-0123456789"}))[0] == 200
    for headers, code in (
        ({}, "auth_required"),
        ({"authorization": "Bearer forged"}, "invalid_credentials"),
        ({"x-api-key": "nope"}, "invalid_credentials"),
    ):
        assert await _through(guard, headers) == (401, _body(code, await _through(guard, headers)))
    assert app.calls == 2


def _body(code: str, answer: tuple[int, dict[str, Any]]) -> dict[str, Any]:
    assert answer[1]["error"]["code"] == code
    return answer[1]


@pytest.mark.parametrize(
    ("host", "status"),
    [("127.0.0.1:8080", 200), ("localhost", 200), ("[::1]:80", 200), ("evil.example:8080", 421)],
)
async def test_on_loopback_the_host_must_be_loopback_so_a_rebound_name_cannot_call(
    host: str, status: int
) -> None:
    app = Recorder()
    origin = f"http://{host}"  # a rebinding page's Origin matches its Host
    assert (await _through(_guard(app, loopback=True), {"host": host, "origin": origin}))[
        0
    ] == status


async def test_the_guard_rate_limits_per_client() -> None:
    app = Recorder()
    guard = _guard(app, burst=3)
    statuses = [(await _through(guard, {}))[0] for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


# -- through the real aiohttp app ----------------------------------------------------------


@pytest.fixture
async def served_client(tmp_path: Path) -> AsyncIterator[Client]:
    served = Served(tmp_path)
    service = McpService(served.handlers, lambda: served.knowledge)
    app = create_app(TokenService(Settings(repo=tmp_path), admin=None, rooms=None, mcp=service))
    started = asyncio.Event()
    task = asyncio.ensure_future(service.run(started))
    await started.wait()
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_bridge_serves_a_json_rpc_exchange_with_its_status_and_headers(
    served_client: Client,
) -> None:
    envelope = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": envelope}}
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "server/discover",
    }
    answer = await served_client.post("/mcp", json=body, headers=headers)
    assert answer.status == 200 and answer.content_type == "application/json"
    discovered = await answer.json()
    assert discovered["id"] == 1 and "2026-07-28" in json.dumps(discovered["result"])


async def test_the_web_role_answers_503_mcp_not_served() -> None:
    app = create_app(TokenService(Settings(), admin=None, rooms=None, knowledge_loaded=None))
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/mcp", json={})
        assert answer.status == 503
        assert (await answer.json())["error"]["code"] == "mcp_not_served"

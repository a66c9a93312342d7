"""`draft --llm` against a chat-completions server started here: a seam, not a model.

The server speaks the OpenAI chat-completions API on loopback and answers from a script
(prose, 429 with Retry-After, 500, a hang, bodies that are not the API's), so each way the
endpoint can fail is shown to leave the deterministic draft in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from context_bot.commands import draft
from context_bot.config import Settings
from context_bot.errors import ConfigError
from context_bot.knowledge.documents import parse_document
from tests.gitrepo import git

KEY = "sk-test-never-printed-0123456789"
PROSE = (
    "## Purpose\nPlaces orders.\n\n## Problem\nNo way to order.\n\n"
    "## Solution\n`place_order` builds an `Order`.\n\n## Impact\nCustomers can buy.\n\n"
    "## Gotchas\n- Taxes are ignored.\n"
)


@dataclass
class ChatServer:
    """A chat-completions endpoint on loopback in a thread of its own; `script` says what
    each request gets, in order (the last entry repeats)."""

    script: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay: float = 0.05
    """Seconds each answer takes (long enough for concurrent requests to overlap)."""
    in_flight: int = 0
    most_in_flight: int = 0
    url: str = ""
    released: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the server stops, so a hanging answer does not hold its shutdown."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        step = self.script[min(len(self.requests), len(self.script)) - 1]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if step == "hang":  # past the client's timeout; the stop releases it
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.released.wait(), 10)
            if step == "429":
                return web.json_response(
                    {"error": "slow down"}, status=429, headers={"Retry-After": "0.3"}
                )
            if step == "500":
                return web.json_response({"error": "boom"}, status=500)
            if step == "garbage":
                return web.Response(text="<html>not json", content_type="application/json")
            content = "Sure! Here it is, without headings." if step == "no_purpose" else PROSE
            return web.json_response(
                {"choices": [{"message": {"role": "assistant", "content": content}}]}
            )
        finally:
            self.in_flight -= 1


@pytest.fixture
def chat() -> Iterator[Callable[..., ChatServer]]:
    stops: list[Callable[[], None]] = []

    def start(*script: str) -> ChatServer:
        server = ChatServer(list(script))
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        async def serve() -> web.AppRunner:
            app = web.Application()
            app.router.add_post("/v1/chat/completions", server.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
            return runner

        def run() -> None:
            asyncio.set_event_loop(loop)
            runner = loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        ready.wait(10)

        def stop() -> None:
            loop.call_soon_threadsafe(server.released.set)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

        stops.append(stop)
        return server

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "orders.py").write_text(
        '"""Orders."""\n\nfrom shop import pricing\n\n\ndef place_order(item: str) -> int:\n'
        "    # HACK: one price for all\n    return pricing.price()\n"
    )
    (root / "shop" / "pricing.py").write_text(
        '"""What things cost."""\n\n\ndef price() -> int:\n    return 1\n'
    )
    (root / "shop" / "__init__.py").write_text("")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def run(root: Path, server: ChatServer, *paths: str, **settings: Any) -> str:
    values: dict[str, Any] = {
        "repo": root,
        "llm_base_url": server.url,
        "llm_model": "test-model",
        "llm_api_key": KEY,
        "llm_retries": 2,
        "llm_timeout_s": 5,  # generous: the machine may be busy; the hang test sets 1
    }
    out = io.StringIO()
    code = draft(Settings(**(values | settings)), list(paths), out, dry_run=False, llm=True)
    assert code == 0
    assert KEY not in out.getvalue()
    return out.getvalue()


def doc(root: Path, path: str) -> str:
    return (root / "knowledge" / f"{path}.md").read_text()


def test_the_model_writes_the_prose_and_draft_keeps_its_outline(
    repo: Path, chat: Callable[..., ChatServer]
) -> None:
    server = chat("ok")
    out = run(repo, server, "shop/orders.py")
    assert "wrote 1 documents (1 new" in out
    parsed, problems = parse_document("o", doc(repo, "shop/orders.py").encode())
    assert parsed is not None and problems == []
    assert parsed.model == "test-model"
    assert [s.heading for s in parsed.sections] == [
        "Purpose",
        "Problem",
        "Solution",
        "Impact",
        "Architecture Context",
        "Gotchas",
    ]
    assert parsed.section("Purpose").body.strip() == "Places orders."  # type: ignore[union-attr]
    gotchas = parsed.section("Gotchas").body  # type: ignore[union-attr]
    assert "- Taxes are ignored." in gotchas and "`HACK: one price for all`" in gotchas
    [body] = server.requests
    assert body["model"] == "test-model" and body["max_tokens"] <= 6000
    prompt = body["messages"][1]["content"]
    assert "def place_order" in prompt
    assert "`shop/pricing.py`: What things cost." in prompt  # a neighbour's summary
    assert server.headers[0]["Authorization"] == f"Bearer {KEY}"


def test_a_429_is_retried_after_the_wait_it_names(
    repo: Path, chat: Callable[..., ChatServer]
) -> None:
    server = chat("429", "ok")
    started = time.monotonic()
    out = run(repo, server, "shop/orders.py")
    assert time.monotonic() - started >= 0.3
    assert len(server.requests) == 2 and "model:" not in out
    assert "model: test-model" in doc(repo, "shop/orders.py")


@pytest.mark.parametrize(
    ("script", "code", "requests"),
    [
        (("500",), "http_error", 3),  # retried twice, then given up
        (("hang",), "timeout", 3),
        (("garbage",), "malformed", 1),  # a broken answer is not asked again
        (("no_purpose",), "malformed", 1),
    ],
)
def test_a_failing_endpoint_leaves_the_deterministic_draft(
    repo: Path,
    chat: Callable[..., ChatServer],
    script: tuple[str, ...],
    code: str,
    requests: int,
) -> None:
    server = chat(*script)
    out = run(repo, server, "shop/orders.py", llm_timeout_s=1)
    assert f"model: shop/orders.py: {code}: " in out
    assert "the deterministic draft is kept" in out
    assert len(server.requests) == requests
    text = doc(repo, "shop/orders.py")
    assert "model:" not in text and "## Purpose\nOrders.\n" in text and "## Problem" not in text


def test_requests_stay_within_the_concurrency_limit_and_the_token_budget(
    repo: Path, chat: Callable[..., ChatServer]
) -> None:
    for n in range(6):
        (repo / "shop" / f"part{n}.py").write_text(f'"""Part {n}."""\n' + "x = 1\n" * 2_000)
    server = chat("ok")
    server.delay = 0.5  # every request is still in flight when the next one may start
    run(repo, server, llm_concurrency=2, llm_token_budget=2000, llm_timeout_s=30)
    assert len(server.requests) == 8
    assert server.most_in_flight == 2
    for body in server.requests:
        chars = sum(len(m["content"]) for m in body["messages"])
        assert chars <= 2000 * 4
        assert body["max_tokens"] <= 2000 // 3


def test_llm_needs_its_endpoint_named(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"draft.llm_base_url \(CONTEXT_BOT_LLM_BASE_URL\)"):
        draft(Settings(repo=repo), [], io.StringIO(), dry_run=False, llm=True)
    assert not (repo / "knowledge").exists()


def test_the_key_is_never_in_the_settings_repr() -> None:
    assert KEY not in repr(Settings(llm_api_key=KEY))

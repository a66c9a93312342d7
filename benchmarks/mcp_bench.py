"""MCP benchmark: `tools/call` on context-bot's `/mcp`, beside the same request through the
room protocol and beside a bare `mcp` SDK server returning the same bytes (the floor).

Against a real livekit-server started here and the real product (`context-bot run`, its
own process), it times, for read_file of a 1 KB and a 1 MB file, search and grep:

- `mcp`: the official SDK client's `call_tool` on `/mcp`, in both protocol revisions
  (2025-11-25 handshake session; 2026-07-28 sessionless);
- `room`: `ContextClient` asking the bot in a LiveKit room for the same thing;
- `floor`: the same client against a bare SDK server (low-level `Server`, its Streamable
  HTTP app under uvicorn, JSON responses as ours) in its own process, whose tool answers
  the exact text ours gave: what the SDK and HTTP cost with no work behind them.

Target: `mcp` p50 ≤ 1.3× `floor` p50. Usage: `.venv/bin/python benchmarks/mcp_bench.py
[--trials 30]`. Not a test: numbers vary with the machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' helpers, run from anywhere

SIZES = {"1 KB": 1024, "1 MB": 1024 * 1024}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "read_file 1 KB": (
        "read_file",
        {"path": "bench/1KB.txt", "knowledge": False, "max_chars": 2_000_000},
    ),
    "read_file 1 MB": (
        "read_file",
        {"path": "bench/1MB.txt", "knowledge": False, "max_chars": 2_000_000},
    ),
    "search": ("search", {"query": "rate limit", "limit": 10}),
    "grep": ("grep", {"pattern": "def handler", "limit": 50}),
}


ROOM_PACE_S = 0.06
"""The bot admits 20 requests a second per participant (bursts of 40, bot/admission.py);
back to back, the room figures would time its waits, not its answers."""


def text_of(size: int) -> str:
    line = "def handler(request):  # a line of plausible source text\n"
    return (line * (size // len(line) + 1))[:size]


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    shutil.copytree(REPO / "knowledge", repo / "knowledge")
    shutil.copytree(REPO / "context_bot", repo / "context_bot")
    (repo / "bench").mkdir(parents=True)
    for name, size in SIZES.items():
        (repo / "bench" / f"{name.replace(' ', '')}.txt").write_text(text_of(size))
    return repo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the floor: a bare SDK server answering fixed text ------------------------------------


def serve_floor(answers_path: Path, port: int, host: str) -> None:
    """A bare SDK server whose tools answer fixed text, under uvicorn (as the SDK's own
    examples serve it) or under aiohttp through endpoint/asgi.py (as /mcp is served)."""
    import uvicorn
    from mcp import types
    from mcp.server import Server
    from mcp.server.transport_security import TransportSecuritySettings

    answers: dict[str, str] = json.loads(answers_path.read_text())

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        schema = {"type": "object"}
        names = sorted({tool for tool, _ in CASES.values()})
        return types.ListToolsResult(tools=[types.Tool(name=n, input_schema=schema) for n in names])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        key = params.name if params.name != "read_file" else params.arguments["path"]
        text = answers[key]
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    server = Server("floor", on_list_tools=list_tools, on_call_tool=call_tool)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(json_response=True, transport_security=security)
    if host == "uvicorn":
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="error")
        return
    from aiohttp import web

    from context_bot.endpoint.asgi import asgi_handler

    async def run() -> None:
        async with server.session_manager.run():
            webapp = web.Application()
            webapp.router.add_route("*", "/mcp", asgi_handler(app))
            runner = web.AppRunner(webapp, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await asyncio.Event().wait()

    asyncio.run(run())


# -- clients ------------------------------------------------------------------------------


async def time_mcp(
    urls: dict[str, str], mode: str, trials: int
) -> dict[str, dict[str, list[float]]]:
    """Each server's `call_tool` times per case, the servers taking turns within each
    trial, so that load from elsewhere on the machine falls on all of them alike."""
    from contextlib import AsyncExitStack

    from mcp import Client

    times: dict[str, dict[str, list[float]]] = {name: {} for name in urls}
    async with AsyncExitStack() as stack:
        clients = {
            n: await stack.enter_async_context(Client(u, mode=mode)) for n, u in urls.items()
        }
        for case, (tool, arguments) in CASES.items():
            for name, client in clients.items():
                await client.call_tool(tool, arguments)  # warm
                times[name][case] = []
            for _ in range(trials):
                for name, client in clients.items():
                    started = time.perf_counter()
                    result = await client.call_tool(tool, arguments)
                    times[name][case].append(time.perf_counter() - started)
                    assert not result.is_error, result
    return times


async def mcp_answers(url: str) -> dict[str, str]:
    from mcp import Client, types

    answers: dict[str, str] = {}
    async with Client(url, mode="auto") as client:
        for tool, arguments in CASES.values():
            block = (await client.call_tool(tool, arguments)).content[0]
            assert isinstance(block, types.TextContent)
            answers[arguments["path"] if tool == "read_file" else tool] = block.text
    return answers


async def time_room(endpoint: str, livekit_url: str, trials: int) -> dict[str, list[float]]:
    from livekit import rtc

    from context_bot.client import ContextClient

    body = json.dumps(
        {"room_name": "mcp-bench", "participant_name": "bench", "participant_identity": "bench"}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{endpoint}/token", data=body, headers={"content-type": "application/json"}
    )
    token = await asyncio.to_thread(_token, request)
    room = rtc.Room()
    await room.connect(livekit_url, token)
    client = ContextClient(room)
    asks = {
        "read_file 1 KB": lambda: client.file("bench/1KB.txt", knowledge=False),
        "read_file 1 MB": lambda: client.file("bench/1MB.txt", knowledge=False),
        "search": lambda: client.search("rate limit", limit=10),
        "grep": lambda: client.grep("def handler", limit=50),
    }
    times: dict[str, list[float]] = {}
    try:
        for case, ask in asks.items():
            await ask()  # warm
            runs = []
            for _ in range(trials):
                await asyncio.sleep(ROOM_PACE_S)  # within the participant's rate, untimed
                started = time.perf_counter()
                await ask()
                runs.append(time.perf_counter() - started)
            times[case] = runs
    finally:
        await room.disconnect()
    return times


def _token(request: urllib.request.Request) -> str:
    with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 - loopback
        return str(json.loads(answer.read())["token"])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args()

    from context_bot.devserver import start_dev_server
    from tests.bot_service import bot_process

    workdir = Path(tempfile.mkdtemp(prefix="mcp-bench-"))
    server = start_dev_server(workdir / "livekit")
    repo = make_repo(workdir)
    print(f"livekit-server at {server.url}; {args.trials} trials each", flush=True)
    floors: list[subprocess.Popen[bytes]] = []
    try:
        env = {"CONTEXT_BOT_REPO": str(repo), "CONTEXT_BOT_WATCH": "false"}
        env["CONTEXT_BOT_RATE_LIMIT"] = "0"
        with bot_process(server, workdir / "bot.log", repo=repo, **env) as bot:
            url = f"{bot.endpoint}/mcp"
            answers = await mcp_answers(url)
            answers_path = workdir / "answers.json"
            answers_path.write_text(json.dumps(answers))
            urls = {}
            for host in ("uvicorn", "aiohttp"):
                port = free_port()
                floors.append(
                    subprocess.Popen(
                        [sys.executable, __file__, "--floor", str(answers_path), str(port), host],
                        env={**os.environ, "PYTHONPATH": str(REPO)},
                    )
                )
                urls[host] = f"http://127.0.0.1:{port}/mcp"
                await wait_for(port)
            results = {}
            for era, mode in (("2025-11-25", "legacy"), ("2026-07-28", "auto")):
                timed = await time_mcp({"mcp": url, **urls}, mode, args.trials)
                results |= {f"{name} {era}": runs for name, runs in timed.items()}
            # Last: the bot's leaving the room afterwards must not fall on MCP's figures.
            results["room"] = await time_room(bot.endpoint, bot.livekit_url, args.trials)
        report(results, {k: len(v) for k, v in answers.items()})
    finally:
        for floor in floors:
            floor.terminate()
            floor.wait(timeout=10)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def wait_for(port: int) -> None:
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the floor server did not start on port {port}")


def report(results: dict[str, dict[str, list[float]]], sizes: dict[str, int]) -> None:
    """p50 per request; each ratio is ours over the floor beside it (target ≤ 1.3)."""
    for era in ("2025-11-25", "2026-07-28"):
        print(
            f"\n{era}\n| request | answer | /mcp | floor, aiohttp + bridge | ratio "
            "| floor, uvicorn | ratio | room protocol |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for case, (tool, arguments) in CASES.items():
            key = arguments["path"] if tool == "read_file" else tool
            ours = p50(results[f"mcp {era}"][case])
            row = [case, f"{sizes[key]:,} chars", f"{ours:.1f} ms"]
            for host in ("aiohttp", "uvicorn"):
                floor = p50(results[f"{host} {era}"][case])
                row += [f"{floor:.1f} ms", f"{ours / floor:.2f}"]
            row.append(f"{p50(results['room'][case]):.1f} ms")
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--floor":
        serve_floor(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        import warnings

        warnings.filterwarnings("ignore", message="The HMAC key is")
        asyncio.run(main())

"""Benchmark `POST /token`: tokens a second and latency, beside floors from the same run.

    python benchmarks/token_bench.py                      # defaults below
    python benchmarks/token_bench.py --requests 2000 --new-rooms 200 --concurrency 16

Starts a `livekit-server --dev` (context_bot.devserver) and the whole app in this process
(HTTP endpoint and bot), then measures, each at the same concurrency:

- floors: minting a join token alone (no HTTP, no LiveKit), a bare `CreateRoom` call
  through `Admin.ensure_room` on an existing room and on new rooms, and the bot's own
  SDK connect (its token and room options) into new rooms;
- `/token` for an existing room, unauthenticated and authenticated (X-API-Key, so the
  ownership path runs: per-name lock, store claim, CreateRoom, metadata check);
- `/token` for new rooms: CreateRoom plus the bot joining each room before the answer.

Prints one table: operations a second (wall clock), p50 and p99 latency. Not a test:
numbers depend on the machine; `benchmarks/RESULTS-token.md` keeps a run with its machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp
from livekit import rtc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from context_bot.admin import Admin, bot_token, join_token
from context_bot.app import ContextBotApp
from context_bot.bot.rooms import room_options
from context_bot.config import LiveKitSettings, Settings
from context_bot.devserver import start_dev_server
from context_bot.logs import configure_logging

REPO_ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-key-0123456789abcdef"


async def measure(
    name: str, count: int, concurrency: int, op: Callable[[int], Awaitable[object]]
) -> dict[str, object]:
    """Run `op(0..count-1)` on `concurrency` workers; latency of each, throughput overall."""
    latencies: list[float] = []
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            await op(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "name": name,
        "n": count,
        "per_s": count / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


async def bench(requests: int, new_rooms: int, concurrency: int) -> list[dict[str, object]]:
    workdir = Path(tempfile.mkdtemp(prefix="token-bench-"))
    server = start_dev_server(workdir)
    livekit = LiveKitSettings(server.url, server.api_key, server.api_secret)
    settings = Settings(
        livekit=livekit,
        port=0,
        repo=REPO_ROOT,
        watch=False,
        rate_limit_per_min=0,
        auth_required=True,
        api_keys=(("bench", API_KEY),),
    )
    open_settings = Settings(
        livekit=livekit, port=0, repo=REPO_ROOT, watch=False, rate_limit_per_min=0
    )
    apps = [ContextBotApp(s, handle_signals=False) for s in (open_settings, settings)]
    admin = Admin(livekit)
    results: list[dict[str, object]] = []
    try:
        for app in apps:
            await app.startup()
        open_url = f"http://127.0.0.1:{apps[0].port}/token"
        auth_url = f"http://127.0.0.1:{apps[1].port}/token"
        ttl = timedelta(hours=1)

        async def mint(i: int) -> object:
            return join_token(livekit, "bench-existing", f"user-{i}", "User", ttl)

        results.append(await measure("floor: mint a token (serial)", requests, 1, mint))
        await admin.ensure_room("bench-floor", {})

        async def create_existing(i: int) -> object:
            return await admin.ensure_room("bench-floor", {})

        async def create_new(i: int) -> object:
            return await admin.ensure_room(f"bench-floor-{i}", {})

        results.append(
            await measure("floor: CreateRoom, existing", requests, concurrency, create_existing)
        )
        results.append(
            await measure("floor: CreateRoom, new rooms", new_rooms, concurrency, create_new)
        )
        joined: list[rtc.Room] = []

        async def sdk_join(i: int) -> object:
            room = rtc.Room()
            token = bot_token(livekit, f"bench-sdk-{i}", "context-bot", "Bot")
            await room.connect(livekit.url, token, room_options())
            joined.append(room)
            return room

        results.append(
            await measure("floor: bot's SDK connect, new rooms", new_rooms, concurrency, sdk_join)
        )
        await asyncio.gather(*(room.disconnect() for room in joined))

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

            async def token(url: str, room: str, i: int, headers: dict[str, str]) -> object:
                body = {
                    "room_name": room,
                    "participant_name": "User",
                    "participant_identity": f"u{i}",
                }
                async with http.post(url, json=body, headers=headers) as response:
                    if response.status != 200:
                        raise RuntimeError(f"{response.status}: {await response.text()}")
                    return await response.json()

            await token(open_url, "bench-existing", 0, {})  # the room exists, the bot is in
            await token(auth_url, "bench-owned", 0, {"X-API-Key": API_KEY})
            results.append(
                await measure(
                    "/token, existing room",
                    requests,
                    concurrency,
                    lambda i: token(open_url, "bench-existing", i, {}),
                )
            )
            results.append(
                await measure(
                    "/token, existing room, API key",
                    requests,
                    concurrency,
                    lambda i: token(auth_url, "bench-owned", i, {"X-API-Key": API_KEY}),
                )
            )
            results.append(
                await measure(
                    "/token, new rooms (bot joins)",
                    new_rooms,
                    concurrency,
                    lambda i: token(open_url, f"bench-new-{i}", i, {}),
                )
            )
    finally:
        for app in apps:
            await app.shutdown()
        await admin.aclose()
        server.stop(timeout=5)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per existing-room run")
    parser.add_argument("--new-rooms", type=int, default=100, help="rooms created per run")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    configure_logging("error", "console")
    results = asyncio.run(bench(args.requests, args.new_rooms, args.concurrency))
    print(f"concurrency {args.concurrency}")
    print(f"{'measurement':<34} {'n':>6} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for row in results:
        print(
            f"{row['name']:<34} {row['n']:>6} {row['per_s']:>9.0f} "
            f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
        )


if __name__ == "__main__":
    main()

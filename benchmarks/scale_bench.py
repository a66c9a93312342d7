"""Scale-out benchmark: many rooms over worker processes on LiveKit's agent dispatch.

For each room count (default 50, 200, 500, 1000) on this machine, with livekit-server
started here (its CPU is part of the budget):

- starts ceil(rooms / --rooms-per-worker) worker processes (`CONTEXT_BOT_ROLE=worker`);
- creates the rooms and dispatches the bot into each, as `POST /token` does in worker
  mode; reports how long the whole batch took to have its bots, and then, with every
  room up, the dispatch time of single new rooms, room created to bot present (p50, max
  of 10);
- measures the workers' resident memory and idle CPU per room, beside a process per
  worker holding bare SDK connections to as many rooms with the same room options
  (docs/design.md, fact 9);
- measures a file request's round trip in one room while all rooms are up, beside a plain
  SDK echo of the same bytes between two participants of another room (target ≤ 1.5×).

Usage: `.venv/bin/python benchmarks/scale_bench.py [--rooms 50,200,500,1000]`.
Not a test; it prints figures and what stopped it, if anything did.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from livekit import api, rtc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ helpers, run from anywhere

from context_bot.admin import Admin
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings
from context_bot.devserver import DevServer, start_dev_server
from tests.integration.workers import BotProcess, start_bot

sys.path.insert(0, str(Path(__file__).resolve().parent))
from room_bench import (
    Answerer,
    ask_plain,
    cpu_seconds,
    plain_asker,
    rss_mb,
    spawn_bare,
    user_token,
    wait_ready,
)

AGENT = "scale-bench"
IDLE_S = 10.0
PROBES = 10
FLOOR_BATCH = 4


def total_usage(pids: list[int], seconds: float) -> tuple[float, float]:
    before = sum(cpu_seconds(p) for p in pids)
    time.sleep(seconds)
    cpu = (sum(cpu_seconds(p) for p in pids) - before) / seconds * 100
    return cpu, sum(rss_mb(p) for p in pids)


async def bots_present(lk: LiveKitSettings, rooms: list[str]) -> set[str]:
    async with api.LiveKitAPI(lk.url, lk.api_key, lk.api_secret) as client:
        present = set()
        for room in rooms:
            listed = await client.room.list_participants(api.ListParticipantsRequest(room=room))
            if any(p.identity == "context-bot" for p in listed.participants):
                present.add(room)
        return present


async def run_count(
    lk: LiveKitSettings,
    server: DevServer,
    count: int,
    per_worker: int,
    workdir: Path,
    options: argparse.Namespace,
) -> None:
    workers_n = math.ceil(count / per_worker)
    workers: list[BotProcess] = [
        start_bot(
            lk,
            workdir / f"w{count}-{n}.log",
            CONTEXT_BOT_ROLE="worker",
            CONTEXT_BOT_AGENT_NAME=AGENT,
            CONTEXT_BOT_MAX_ROOMS=str(per_worker + PROBES),  # room for the dispatch probes
            CONTEXT_BOT_EMPTY_GRACE="3600",  # no people in these rooms: keep the bot there
            CONTEXT_BOT_RECONCILE_INTERVAL="3600",
            CONTEXT_BOT_WARMUP=str(options.warmup).lower(),
            CONTEXT_BOT_JOIN_CONCURRENCY=str(options.join_concurrency),
            CONTEXT_BOT_NATIVE_LOGS=options.native_logs,
        )
        for n in range(workers_n)
    ]
    bare: list[subprocess.Popen[str]] = []
    admin = Admin(lk)
    try:
        for worker in workers:
            await asyncio.to_thread(worker.wait_for, "started")
        await asyncio.sleep(1.0)  # registrations
        rooms = [f"s{count}-{n}" for n in range(count)]
        started = time.monotonic()
        for room in rooms:
            await admin.ensure_room(room, {"context_bot": {"bot_identity": "context-bot"}})
            await admin.ensure_dispatch(room, AGENT)
        dispatched = time.monotonic() - started
        present: set[str] = set()
        deadline = time.monotonic() + max(60.0, count * 0.3)
        while len(present) < count and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            present = await bots_present(lk, rooms)
        all_in = time.monotonic() - started
        print(
            f"{count:>5} rooms, {workers_n} workers: created+dispatched in {dispatched:.1f} s, "
            f"{len(present)}/{count} bots present after {all_in:.1f} s "
            f"({all_in / count * 1000:.0f} ms a room)",
            flush=True,
        )
        if len(present) < count:
            print(f"      stopped short: {count - len(present)} rooms without a bot", flush=True)

        if options.no_bare_floor:
            cpu, rss = await asyncio.to_thread(
                total_usage, [w.process.pid for w in workers], IDLE_S
            )
            print(
                f"      workers {rss:7.0f} MB {cpu:6.1f} % CPU ({rss / count:.2f} MB, "
                f"{cpu / count:.3f} % a room) | bare SDK floor skipped",
                flush=True,
            )
            await latency(lk, rooms[0])
            await dispatch_probes(lk, admin, count)
            return
        # The floor's processes join a few at a time: twenty joining at once on top of the
        # rooms already held overloaded this machine (run 6 in RESULTS.md).
        for n in range(workers_n):
            share = min(per_worker, count - n * per_worker)
            proc = spawn_bare(
                lk, share, f"bare{count}-{n}", warm=options.warmup, native_logs=options.native_logs
            )
            bare.append(proc)
            if len(bare) % FLOOR_BATCH == 0:
                for started in bare[-FLOOR_BATCH:]:
                    await asyncio.to_thread(wait_ready, started)
        for proc in bare[len(bare) - len(bare) % FLOOR_BATCH :]:
            await asyncio.to_thread(wait_ready, proc)
        await asyncio.sleep(3.0)
        server_pid = server.process.pid
        bot_cpu, bot_rss = await asyncio.to_thread(
            total_usage, [w.process.pid for w in workers], IDLE_S
        )
        bare_cpu, bare_rss = await asyncio.to_thread(total_usage, [p.pid for p in bare], IDLE_S)
        server_cpu, server_rss = await asyncio.to_thread(total_usage, [server_pid], 3.0)
        print(
            f"      workers {bot_rss:7.0f} MB {bot_cpu:6.1f} % CPU "
            f"({bot_rss / count:.2f} MB, {bot_cpu / count:.3f} % a room) | bare SDK "
            f"{bare_rss:7.0f} MB {bare_cpu:6.1f} % ({bare_rss / count:.2f} MB, "
            f"{bare_cpu / count:.3f} % a room) | memory ×{bot_rss / bare_rss:.2f}, "
            f"CPU ×{bot_cpu / max(bare_cpu, 0.1):.2f} | server {server_cpu:.0f} % "
            f"{server_rss:.0f} MB",
            flush=True,
        )
        for proc in bare:
            proc.terminate()
        await latency(lk, rooms[0])
        await dispatch_probes(lk, admin, count)
    finally:
        for proc in bare:
            proc.kill()
        for worker in workers:
            worker.kill()
        await admin.aclose()


async def dispatch_probes(lk: LiveKitSettings, admin: Admin, count: int) -> None:
    """One new room at a time while all the others are held: created to bot present."""
    times = []
    for n in range(PROBES):
        room = f"probe{count}-{n}"
        started = time.monotonic()
        await admin.ensure_room(room, {"context_bot": {"bot_identity": "context-bot"}})
        await admin.ensure_dispatch(room, AGENT)
        while not await bots_present(lk, [room]):
            if time.monotonic() - started > 30:
                break
            await asyncio.sleep(0.02)
        times.append(time.monotonic() - started)
    print(
        f"      dispatch of a new room, created to bot present: p50 "
        f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
        f"({PROBES} rooms, one at a time)",
        flush=True,
    )


async def latency(lk: LiveKitSettings, busy_room: str) -> None:
    """A file request in a busy room beside a plain echo of the same bytes."""
    reader = rtc.Room()
    await reader.connect(lk.url, user_token(lk, busy_room, "reader"))
    client = ContextClient(reader)
    await client.overview()
    path = "context_bot/protocol.py"
    size = len((Path(__file__).resolve().parents[1] / path).read_bytes())
    answerer_room = rtc.Room()
    Answerer(answerer_room, {"file": (Path(__file__).resolve().parents[1] / path).read_text()})
    await answerer_room.connect(lk.url, user_token(lk, "echo-floor", "answerer"))
    inbox: asyncio.Queue[str] = asyncio.Queue()
    asker = plain_asker(inbox)
    await asker.connect(lk.url, user_token(lk, "echo-floor", "asker"))
    ours, floor = [], []
    await client.file(path, knowledge=False)
    await ask_plain(asker, inbox, "file")
    for _ in range(15):
        t = time.perf_counter()
        await client.file(path, knowledge=False)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        await ask_plain(asker, inbox, "file")
        floor.append(time.perf_counter() - t)
    o, f = statistics.median(ours) * 1000, statistics.median(floor) * 1000
    print(
        f"      file round trip ({size:,} B) in a busy room: p50 {o:.1f} ms beside floor "
        f"{f:.1f} ms: ×{o / f:.2f} (target ≤ 1.5)",
        flush=True,
    )
    for room in (reader, answerer_room, asker):
        await room.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", default="50,200,500,1000")
    parser.add_argument("--rooms-per-worker", type=int, default=250)
    parser.add_argument(
        "--warmup", action=argparse.BooleanOptionalAction, default=True, help="rooms.warmup"
    )
    parser.add_argument("--native-logs", choices=("stderr", "forward"), default="stderr")
    parser.add_argument("--join-concurrency", type=int, default=8, help="per worker")
    parser.add_argument("--keep", action="store_true", help="keep the logs (printed path)")
    parser.add_argument(
        "--no-bare-floor",
        action="store_true",
        help="skip the bare SDK processes (the machine may not hold twice the connections)",
    )
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; livekit-server, workers and harness share them")
    print(
        f"settings: {args.rooms_per_worker} rooms a worker, {args.join_concurrency} joins at once "
        f"each, warmup {args.warmup}, native logs {args.native_logs}; floors use the same "
        "warm-up and native-log routing"
    )
    for count in (int(c) for c in args.rooms.split(",")):
        workdir = Path(tempfile.mkdtemp(prefix=f"scale-{count}-"))
        server = start_dev_server(workdir / "livekit")
        lk = LiveKitSettings(server.url, server.api_key, server.api_secret)
        try:
            await run_count(lk, server, count, args.rooms_per_worker, workdir, args)
        except Exception as exc:  # a count that breaks reports it and the next one runs
            print(f"{count:>5} rooms: stopped by {exc.__class__.__name__}: {exc}", flush=True)
        finally:
            server.stop()
            if args.keep:
                print(f"      logs kept in {workdir}", flush=True)
            else:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message="The HMAC key is")
    asyncio.run(main())

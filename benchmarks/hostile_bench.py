"""Hostile-participant benchmark: one participant's worst requests against another's latency.

Against a real livekit-server started here, with the bot as its own process (`context-bot
run`, production defaults: rate limit, 8 requests in flight, 64 KiB request cap), each
phase puts two participants in a fresh room:

- the *victim* asks for a documented file (`context_bot/protocol.py`, document and
  contents) with `ContextClient`, one request at a time, paced under the rate limit;
- the *attacker*, a process of its own (this script with `--attacker`, so its client work
  never delays the victim's event loop), keeps 8 requests in flight for the whole phase,
  each the most expensive one the bot accepts for that phase's method, spoken on the wire
  directly (no client retries): `file` with a path of about 32,000 components `a/a/…/a`
  filling the request cap; `search` with a query of the longest length allowed, 16
  camelCase words drawn at random from the knowledge (so no answer comes from the cache)
  and the highest limit;
  `list` alternating the largest listing (the whole tree, deepest depth, highest limit)
  and a prefix of about 32,000 components; `feature` alternating every feature and the
  overview. A refused request (4029) waits the `retry_after_ms` it names, as a client
  that wants as much work done as possible would.

The floor is the same victim in the same room just before the attacker starts: the line
prints its p50/p99 quiet and under attack, the ratio of the p99s (target ≤ 1.5), how many
of the victim's requests got no answer within `--deadline`, the bot process's CPU in each
window, and what the attacker got done. An unanswered request counts as `--deadline` in
the percentiles, so a p99 printed with `≥` is a lower bound.

Bounded so it ends even when one request freezes the bot: each phase stops after
`--phase-seconds`, and a bot or attacker process that does not stop on SIGTERM within 5 s
is killed; the attacker also stops by itself after `--phase-seconds`. Loopback only.

Usage: `.venv/bin/python benchmarks/hostile_bench.py [--requests 100] [--attacks
file,search,list,feature] [--deadline 5] [--phase-seconds 40] [--profile DIR]` (`--profile`:
each phase's bot runs under cProfile, written to `DIR/bot-<attack>.prof`). About a minute when the
bot holds up. Not a test: numbers vary with the machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from livekit import rtc

from context_bot.client import ContextClient, ContextTimeout
from context_bot.devserver import DevServer, start_dev_server
from context_bot.protocol import (
    DEFAULT_BOT_IDENTITY,
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_QUERY_CHARS,
    MAX_REQUEST_BYTES,
    MAX_SEARCH_LIMIT,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
)

REPO = Path(__file__).resolve().parents[1]
VICTIM_PATH = "context_bot/protocol.py"
IN_FLIGHT = 8
VICTIM_INTERVAL_S = 0.06  # about 16 requests a second: under the 20 a second rate limit
START_TIMEOUT_S = 30.0
WORDS_IN_QUERY = 16
RANDOM = random.Random(14)  # noqa: S311 - seeded on purpose: every run asks the same queries


# -- the attacker's requests --------------------------------------------------------------


def _body(request_id: str, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"v": 1, "id": request_id, "method": method, "params": params})


def deep_path(method: str, key: str, **others: Any) -> str:
    """The longest `a/a/…/a` (ending in a varying component) whose request fits the cap."""
    request_id = "x" * 32
    tail = f"a{RANDOM.randrange(16**6):06x}"
    overhead = len(_body(request_id, method, {key: tail, **others}).encode())
    components = (MAX_REQUEST_BYTES - overhead) // 2
    return "a/" * components + tail


def vocabulary(knowledge: Path) -> list[str]:
    """The knowledge's most frequent words, to build queries that match many documents."""
    counts: collections.Counter[str] = collections.Counter()
    for doc in knowledge.rglob("*.md"):
        counts.update(w.lower() for w in re.findall(r"[A-Za-z]{4,}", doc.read_text()))
    return [word for word, _ in counts.most_common(400)]


def long_query(words: list[str]) -> str:
    """16 camelCase words (each matched also as its parts), padded to the longest query."""
    drawn = RANDOM.sample(words, 2 * WORDS_IN_QUERY)
    query = " ".join(a + b.capitalize() for a, b in zip(drawn[::2], drawn[1::2], strict=True))
    while len(query) < MAX_QUERY_CHARS:
        query += " " + RANDOM.choice(words)
    return query[:MAX_QUERY_CHARS]


Attack = Callable[[int], tuple[str, dict[str, Any]]]
LARGEST = {"depth": MAX_LIST_DEPTH, "limit": MAX_LIST_LIMIT}


def attacks(words: list[str]) -> dict[str, Attack]:
    return {
        "file": lambda n: ("file", {"path": deep_path("file", "path")}),
        "search": lambda n: ("search", {"query": long_query(words), "limit": MAX_SEARCH_LIMIT}),
        "list": lambda n: (
            ("list", {"prefix": "", **LARGEST})
            if n % 2 == 0
            else (
                "list",
                {
                    "prefix": deep_path("list", "prefix", **LARGEST),
                    **LARGEST,
                },
            )
        ),
        "feature": lambda n: ("feature", {}) if n % 2 == 0 else ("overview", {}),
    }


@dataclass
class Attacker:
    """Keeps `IN_FLIGHT` requests in flight, raw on the wire, until stopped."""

    room: rtc.Room
    make: Attack
    answered: collections.Counter[str] = field(default_factory=collections.Counter)
    sent: int = 0
    _waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.room.register_text_stream_handler(TOPIC_RESPONSE, self._on_response)

    def _on_response(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            try:
                answer = json.loads(await reader.read_all())
            except rtc.StreamError:  # the room closed under an answer at the phase's end
                return
            future = self._waiting.pop(str(answer.get("id")), None)
            if future is not None and not future.done():
                future.set_result(answer)

        task = asyncio.create_task(read())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, stop: asyncio.Event) -> None:
        workers = [asyncio.create_task(self._worker(stop)) for _ in range(IN_FLIGHT)]
        await stop.wait()
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            method, params = self.make(self.sent)
            request_id = uuid.uuid4().hex
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._waiting[request_id] = future
            self.sent += 1
            with contextlib.suppress(rtc.StreamError):
                await self.room.local_participant.send_text(
                    _body(request_id, method, params),
                    topic=TOPIC_REQUEST,
                    destination_identities=[DEFAULT_BOT_IDENTITY],
                    attributes={"id": request_id, "method": method},
                )
            answer = await future
            error = answer.get("error") or {}
            self.answered[str(error.get("name", "ok"))] += 1
            if error.get("code") == 4029:
                await asyncio.sleep(float(error.get("retry_after_ms", 100)) / 1000)

    @property
    def unanswered(self) -> int:
        return len(self._waiting)


# -- the victim -----------------------------------------------------------------------------


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    timeouts: int = 0
    cpu_percent: float = 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    def text(self, deadline_ms: float) -> str:
        if not self.latencies:
            return "no requests"
        bound = "≥" if self.p(0.99) >= deadline_ms else ""
        return (
            f"p50 {self.p(0.5):7.1f} ms  p99 {bound}{self.p(0.99):7.1f} ms  "
            f"unanswered {self.timeouts}/{len(self.latencies)}  bot CPU {self.cpu_percent:3.0f} %"
        )


async def measure(client: ContextClient, pid: int, count: int, until: float) -> Window:
    window = Window()
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    for _ in range(count):
        if time.monotonic() > until:
            break
        began = time.perf_counter()
        try:
            await client.file(VICTIM_PATH)
        except ContextTimeout:
            window.timeouts += 1
        took = time.perf_counter() - began
        window.latencies.append(min(took, client.timeout))
        await asyncio.sleep(max(0.0, VICTIM_INTERVAL_S - took))
    window.cpu_percent = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started) * 100
    return window


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the bot, the room ---------------------------------------------------------------------


@contextlib.contextmanager
def bot_process(
    server: DevServer, repo: Path, log_path: Path, profile: Path | None = None
) -> Iterator[tuple[int, str]]:
    """`context-bot run` serving `repo`: (pid, endpoint). Killed if SIGTERM is not enough
    (a frozen event loop cannot run its signal handler). With `profile`, under cProfile,
    written there when the bot stops."""
    env = {
        **os.environ,
        "LIVEKIT_URL": server.url,
        "LIVEKIT_API_KEY": server.api_key,
        "LIVEKIT_API_SECRET": server.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_REPO": str(repo),
        "CONTEXT_BOT_WATCH": "false",
        "CONTEXT_BOT_LOG_FORMAT": "json",
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                *(["-m", "cProfile", "-o", str(profile)] if profile else []),
                "-m",
                "context_bot",
                "run",
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process.pid, started_url(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def started_url(process: subprocess.Popen[bytes], log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bot exited at start:\n{log_path.read_text()[-2000:]}")
        for line in log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == "started":
                    return str(record["url"])
        time.sleep(0.05)
    raise RuntimeError(f"the bot did not start in {START_TIMEOUT_S} s")


async def join(lk_url: str, endpoint: str, room_name: str, identity: str) -> rtc.Room:
    """A token from the bot's own `POST /token` (which sends the bot in), then connect."""
    body = {"room_name": room_name, "participant_name": identity, "participant_identity": identity}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{endpoint}/token", json=body) as response,
    ):
        response.raise_for_status()
        token = (await response.json())["token"]
    room = rtc.Room()
    await room.connect(lk_url, token)
    return room


def make_repo(root: Path) -> Path:
    """This repository's knowledge and package: the documents the victim asks for are fresh."""
    repo = root / "repo"
    shutil.copytree(REPO / "knowledge", repo / "knowledge")
    shutil.copytree(
        REPO / "context_bot",
        repo / "context_bot",
        ignore=shutil.ignore_patterns("__pycache__", "page"),
    )
    shutil.copy(REPO / "README.md", repo / "README.md")
    return repo


@contextlib.contextmanager
def attacker_process(
    lk_url: str, endpoint: str, room_name: str, name: str, repo: Path, seconds: float
) -> Iterator[subprocess.Popen[str]]:
    """This script with `--attacker`: joins, says `joined`, attacks from `go` to `stop`
    (or its own `seconds`), then prints one JSON line of what it got done."""
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--attacker",
            json.dumps(
                {
                    "lk_url": lk_url,
                    "endpoint": endpoint,
                    "room": room_name,
                    "attack": name,
                    "repo": str(repo),
                    "seconds": seconds,
                }
            ),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def read_line(process: subprocess.Popen[str], within_s: float) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), within_s)
    if not line:
        raise RuntimeError(f"the attacker process exited ({process.poll()})")
    return line.strip()


def tell(process: subprocess.Popen[str], word: str) -> None:
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it stopped by itself: its summary says so
        process.stdin.write(word + "\n")
        process.stdin.flush()


async def attacker_main(config: dict[str, Any]) -> None:
    """The attacker process: one participant, `IN_FLIGHT` requests, bounded in time."""
    repo = Path(config["repo"])
    make = attacks(vocabulary(repo / "knowledge"))[config["attack"]]
    room = await join(config["lk_url"], config["endpoint"], config["room"], "attacker")
    attacker = Attacker(room, make)
    print("joined", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    give_up = float(config["seconds"]) + START_TIMEOUT_S  # the phase, and the victim's join
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(give_up):  # bounded even if the parent never says
                if (await stdin.readline()).strip() == b"go":
                    stop = asyncio.Event()
                    attacking = asyncio.create_task(attacker.run(stop))
                    try:
                        await stdin.readline()  # "stop", or the parent closed the pipe
                    finally:
                        stop.set()
                        await attacking
    finally:
        summary = {
            "sent": attacker.sent,
            "answered": dict(attacker.answered),
            "unanswered": attacker.unanswered,
        }
        print(json.dumps(summary), flush=True)
        await room.disconnect()


async def phase(
    server: DevServer, repo: Path, workdir: Path, name: str, args: argparse.Namespace
) -> None:
    room_name = f"hostile-{name}"
    with (
        bot_process(
            server,
            repo,
            workdir / f"bot-{name}.log",
            Path(args.profile) / f"bot-{name}.prof" if args.profile else None,
        ) as (pid, endpoint),
        attacker_process(
            server.url, endpoint, room_name, name, repo, args.phase_seconds
        ) as attacker,
    ):
        victim_room = await join(server.url, endpoint, room_name, "victim")
        try:
            if await read_line(attacker, START_TIMEOUT_S) != "joined":
                raise RuntimeError("the attacker process did not join")
            client = ContextClient(victim_room, timeout=args.deadline)
            await client.overview()
            for _ in range(5):  # warm: the file's cache entry, the streams
                await client.file(VICTIM_PATH)
            phase_end = time.monotonic() + args.phase_seconds
            quiet = await measure(client, pid, args.requests, phase_end)
            tell(attacker, "go")
            await asyncio.sleep(0.5)  # the attacker's 8 requests are in flight
            hostile = await measure(client, pid, args.requests, phase_end)
            tell(attacker, "stop")
            summary = json.loads(await read_line(attacker, 15))
        finally:
            await victim_room.disconnect()
    deadline_ms = args.deadline * 1000
    ratio = hostile.p(0.99) / quiet.p(0.99)
    verdict = "ok" if ratio <= 1.5 else "OVER TARGET"
    done = ", ".join(f"{k} {v}" for k, v in sorted(summary["answered"].items()))
    print(
        f"{name:<8} quiet  {quiet.text(deadline_ms)}\n"
        f"{'':<8} attack {hostile.text(deadline_ms)}\n"
        f"{'':<8} p99 ratio {ratio:5.2f} (target ≤ 1.5) {verdict}; attacker sent "
        f"{summary['sent']}, answered: {done or 'none'}; {summary['unanswered']} unanswered",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="victim requests per window")
    parser.add_argument("--attacks", default="file,search,list,feature")
    parser.add_argument("--deadline", type=float, default=5.0, help="victim's wait, seconds")
    parser.add_argument("--phase-seconds", type=float, default=40.0)
    parser.add_argument("--profile", help="a folder: run each phase's bot under cProfile")
    parser.add_argument("--attacker", help=argparse.SUPPRESS)  # the attacker process's mode
    args = parser.parse_args()
    if args.attacker:
        await attacker_main(json.loads(args.attacker))
        return
    workdir = Path(tempfile.mkdtemp(prefix="hostile-bench-"))
    server = start_dev_server(workdir / "livekit")
    repo = make_repo(workdir)
    print(
        f"livekit-server at {server.url}; {args.requests} victim requests a window, "
        f"{IN_FLIGHT} attacker requests in flight; file request of "
        f"{deep_path('file', 'path').count('/') + 1:,} components",
        flush=True,
    )
    try:
        for name in args.attacks.split(","):
            await phase(server, repo, workdir, name, args)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message="The HMAC key is")
    asyncio.run(main())

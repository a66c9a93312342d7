"""Room-protocol benchmark: the bot beside plain-SDK floors measured in the same run.

Prints, against a real livekit-server started here:

1. connect → overview held, with `ContextClient`, beside a plain SDK pair where one
   participant connects, asks, and the other answers with the same bytes (target ≤ 1.3×);
2. a file request's round trip for 1 KB, 32 KB and 1 MB files, beside a plain SDK echo of
   the same bytes (asked by `send_text`, answered by `send_text`: target ≤ 1.2×, issue 21),
   beside the same echo asked by one data packet (as our clients ask once the bot names
   them: PROTOCOL.md, "Asking by data packet"), and beside an echo whose answerer is
   placed as the bot is (hidden, agent, the bot's room options), for the Python client and
   for the TypeScript client on Node (clients/js/bench/room.mjs, its floors in
   @livekit/rtc-node). Every participant is in the room for `NAMED_S` before the timed
   requests, so everyone is named to everyone (docs/design.md, facts 2 and 11). The Node
   rows' floor answers from a Node process of its own (clients/js/bench/echo.mjs), as the
   bot answers from its own: the same echo inside the asker's process, printed beside it,
   never crosses a process boundary (docs/design.md, fact 12). The Python rows' floor
   shares one process with the asker, as the bot does in this benchmark. Also beside
   the Node rows, to tell where a gap goes: a plain Python echo, and `Mimic`, a Python
   answerer placed exactly as the bot is that answers with the bot's own bytes and none
   of its code, asked by our client and by a plain packet carrying the same request;
3. the bot process's resident memory and idle CPU with 1, 10 and 50 active rooms, beside a
   process holding bare SDK connections to as many rooms with the same room options
   (docs/design.md, fact 9; target ≤ 1.2×).

Usage: `.venv/bin/python benchmarks/room_bench.py [--trials 15] [--rooms 1,10,50]`
(`--rooms ''`: latency only; `--clients node`: the TypeScript rows only; `--bot-log
PATH`: keep the bot's JSON lines, whose `request_served` says where each request's time
went).
Not a test: numbers vary with the machine; the ratios are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from livekit import rtc

from context_bot.admin import bot_token
from context_bot.app import ContextBotApp
from context_bot.bot.rooms import room_options
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings, Settings
from context_bot.devserver import start_dev_server
from context_bot.logs import configure_logging
from context_bot.protocol import (
    DEFAULT_BOT_IDENTITY,
    NAMED_ATTRIBUTE,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    dumps,
    loads,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' helpers, run from anywhere
from tests.integration.conftest import user_token  # noqa: E402 - needs the path above

FLOOR_OPTIONS = "default"
CLIENTS = {"python", "node"}
SIZES = {"1 KB": 1024, "32 KB": 32 * 1024, "1 MB": 1024 * 1024}
FILE_TARGET = 1.2
NAMED_S = 3.5
"""The server's participant tick (3 s) and a margin: after it, every participant sees
every listed one, so streams between them go as one packet, and the bot names its askers."""
PACE_S = 0.03
"""Before each timed request: the bot allows a participant 20 requests a second, so paced
no trial waits out a rate limit, whatever `--trials`; and each request, ours or a floor's,
starts from the same idle pause."""


def text_of(size: int) -> str:
    line = "def handler(request):  # a line of plausible source text\n"
    return (line * (size // len(line) + 1))[:size]


def bench_path(name: str) -> str:
    """The file of `name`'s size in the served repository (`make_repo`)."""
    return f"bench/{name.replace(' ', '')}.txt"


def p50(values: list[float]) -> float:
    return statistics.median(values) * 1000


class Answerer:
    """The floor's other participant: answers every `ask`, a text stream or a data packet,
    with fixed bytes as a text stream."""

    def __init__(self, room: rtc.Room, answers: dict[str, str]) -> None:
        self.room, self.answers = room, answers
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler("ask", self._on_ask)
        room.on("data_received", self._on_packet)

    def _answer(self, key: Coroutine[Any, Any, str] | str, sender: str) -> None:
        async def answer() -> None:
            text = key if isinstance(key, str) else await key
            await self.room.local_participant.send_text(
                self.answers[text], topic="answer", destination_identities=[sender]
            )

        task = asyncio.create_task(answer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_ask(self, reader: rtc.TextStreamReader, sender: str) -> None:
        self._answer(reader.read_all(), sender)

    def _on_packet(self, packet: rtc.DataPacket) -> None:
        if packet.topic == "ask" and packet.participant is not None:
            self._answer(packet.data.decode(), packet.participant.identity)


class Mimic:
    """Answers as the bot with none of its code: placed as the bot is (hidden, agent, the
    bot's identity and room options, in a room of its own), it takes a request by text
    stream or by data packet exactly as the bot does and answers with the bot's own bytes
    for that path (captured from the bot, the request's id put in), with the `named`
    attribute when it lists the asker. Against it, what the bot's code costs and what the
    client's costs can be told apart from what any Python SDK answerer costs."""

    def __init__(self, room: rtc.Room, answers: dict[str, tuple[str, str]]) -> None:
        self.room, self.answers = room, answers
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler(TOPIC_REQUEST, self._on_stream)
        room.on("data_received", self._on_packet)

    @staticmethod
    async def capture(
        lk: LiveKitSettings, room_name: str, paths: list[str]
    ) -> dict[str, tuple[str, str]]:
        """The bot's answer to `file` of each path (`knowledge: false`) as it sent it,
        split around the request's id."""
        inbox: asyncio.Queue[str] = asyncio.Queue()
        room = plain_asker(inbox, TOPIC_RESPONSE)
        await room.connect(lk.url, user_token(lk, room_name, "mimic-capture"))
        answers = {}
        for n, path in enumerate(paths):
            request_id = f"mimic-capture-{n}"
            params = {"path": path, "knowledge": False}
            await room.local_participant.send_text(
                dumps({"v": 1, "id": request_id, "method": "file", "params": params}),
                topic=TOPIC_REQUEST,
                destination_identities=[DEFAULT_BOT_IDENTITY],
                attributes={"id": request_id, "method": "file"},
            )
            before, after = (await inbox.get()).split(dumps(request_id))
            answers[path] = (before, after)
        await room.disconnect()
        return answers

    def _answer(self, text: str, sender: str) -> None:
        async def answer() -> None:
            request = loads(text)
            before, after = self.answers[request["params"]["path"]]
            named = {NAMED_ATTRIBUTE: "1"} if sender in self.room.remote_participants else None
            await self.room.local_participant.send_text(
                before + dumps(request["id"]) + after,
                topic=TOPIC_RESPONSE,
                destination_identities=[sender],
                attributes=named,
            )

        task = asyncio.create_task(answer())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            self._answer(await reader.read_all(), sender)

        task = asyncio.create_task(read())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_packet(self, packet: rtc.DataPacket) -> None:
        if packet.topic == TOPIC_REQUEST and packet.participant is not None:
            self._answer(packet.data.decode(), packet.participant.identity)


async def ask_plain(room: rtc.Room, inbox: asyncio.Queue[str], key: str) -> str:
    await room.local_participant.send_text(key, topic="ask", destination_identities=["answerer"])
    return await inbox.get()


async def ask_by_packet(room: rtc.Room, inbox: asyncio.Queue[str], key: str) -> str:
    await room.local_participant.publish_data(
        key.encode(), topic="ask", destination_identities=["answerer"]
    )
    return await inbox.get()


def plain_asker(inbox: asyncio.Queue[str], topic: str = "answer") -> rtc.Room:
    room = rtc.Room()
    tasks: set[asyncio.Task[None]] = set()

    def on_answer(reader: rtc.TextStreamReader, _sender: str) -> None:
        async def read() -> None:
            await inbox.put(await reader.read_all())

        task = asyncio.create_task(read())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    room.register_text_stream_handler(topic, on_answer)
    return room


async def latency(lk: LiveKitSettings, repo: Path, trials: int) -> None:
    app = ContextBotApp(Settings(livekit=lk, port=0, repo=repo, watch=False), handle_signals=False)
    await app.startup()
    assert app.knowledge is not None and app.rooms is not None
    overview = json.dumps({"text": app.knowledge.overview})
    answers = {"overview": overview} | {n: text_of(s) for n, s in SIZES.items()}
    try:
        await app.rooms.join("bench-bot")
        floor_room = rtc.Room()
        Answerer(floor_room, answers)
        # The answerer uses the bot's room options when asked (--floor-options bot), to
        # tell the cost of our code from the cost of the options we chose (fact 9).
        options = room_options() if FLOOR_OPTIONS == "bot" else rtc.RoomOptions()
        await floor_room.connect(lk.url, user_token(lk, "bench-floor", "answerer"), options)
        # The second floor answers as the bot is placed: hidden, agent, the bot's room
        # options. A stream to a hidden participant costs the SDK more than one to a
        # listed one; this floor shows how much of a gap is that, not our code.
        hidden_room = rtc.Room()
        Answerer(hidden_room, answers)
        await hidden_room.connect(
            lk.url, bot_token(lk, "bench-hidden", "answerer", "Answerer"), room_options()
        )
        ours, floor = [], []
        for n in range(trials):
            room = rtc.Room()
            await room.connect(lk.url, user_token(lk, "bench-bot", f"agent-{n}"))
            started = time.perf_counter()
            await ContextClient(room).overview()
            ours.append(time.perf_counter() - started)
            await room.disconnect()

            inbox: asyncio.Queue[str] = asyncio.Queue()
            room = plain_asker(inbox)
            await room.connect(lk.url, user_token(lk, "bench-floor", f"asker-{n}"))
            started = time.perf_counter()
            await ask_plain(room, inbox, "overview")
            floor.append(time.perf_counter() - started)
            await room.disconnect()
        report("connect → overview held", ours, floor, 1.3, f"{len(overview):,} B")
        if "python" in CLIENTS:
            await python_latency(lk, trials)
        # The bot's answers, for an answerer placed as the bot with none of its code.
        paths = [bench_path(name) for name in SIZES]
        mimic_room = rtc.Room()
        Mimic(mimic_room, await Mimic.capture(lk, "bench-bot", paths))
        await mimic_room.connect(
            lk.url, bot_token(lk, "bench-mimic", DEFAULT_BOT_IDENTITY, "Mimic"), room_options()
        )
        if "node" in CLIENTS:
            await node_latency(lk, trials)
        await floor_room.disconnect()
        await hidden_room.disconnect()
        await mimic_room.disconnect()
    finally:
        await app.shutdown()


async def python_latency(lk: LiveKitSettings, trials: int) -> None:
    """The Python client against the bot, beside the plain echoes `latency` placed."""
    client_room = rtc.Room()
    await client_room.connect(lk.url, user_token(lk, "bench-bot", "reader"))
    client = ContextClient(client_room)
    inbox: asyncio.Queue[str] = asyncio.Queue()
    asker = plain_asker(inbox)
    await asker.connect(lk.url, user_token(lk, "bench-floor", "echo-asker"))
    hidden_inbox: asyncio.Queue[str] = asyncio.Queue()
    hidden_asker = plain_asker(hidden_inbox)
    await hidden_asker.connect(lk.url, user_token(lk, "bench-hidden", "echo-asker"))
    await asyncio.sleep(NAMED_S)
    print("Python client (livekit):", flush=True)
    for name in SIZES:
        path = bench_path(name)
        await client.file(path, knowledge=False)  # warm
        await ask_plain(asker, inbox, name)
        await ask_by_packet(asker, inbox, name)
        await ask_plain(hidden_asker, hidden_inbox, name)
        ours, floor, by_packet, hidden = [], [], [], []
        for _ in range(trials):
            # The same pause before each, so none starts warmer than the others.
            await asyncio.sleep(PACE_S)
            started = time.perf_counter()
            await client.file(path, knowledge=False)
            ours.append(time.perf_counter() - started)
            for asking, times in (
                (ask_plain(asker, inbox, name), floor),
                (ask_by_packet(asker, inbox, name), by_packet),
                (ask_plain(hidden_asker, hidden_inbox, name), hidden),
            ):
                await asyncio.sleep(PACE_S)
                started = time.perf_counter()
                await asking
                times.append(time.perf_counter() - started)
        report(f"file round trip, {name}", ours, floor, FILE_TARGET, "", hidden, by_packet)
    await client_room.disconnect()
    await asker.disconnect()
    await hidden_asker.disconnect()


async def node_latency(lk: LiveKitSettings, trials: int) -> None:
    """The TypeScript client on Node (clients/js/bench/room.mjs) against the same bot,
    beside a plain @livekit/rtc-node echo and the hidden answerer above."""
    if shutil.which("node") is None:
        print("TypeScript client: node is missing (scripts/setup-browser); not measured")
        return
    built = await asyncio.create_subprocess_exec(str(REPO / "scripts" / "build-client"))
    if await built.wait() != 0:
        print("TypeScript client: scripts/build-client failed; not measured", flush=True)
        return
    spec = {
        "url": lk.url,
        "trials": trials,
        "paceMs": PACE_S * 1000,
        "sizes": SIZES,
        "answererIdentity": "node-answerer",
        "tokens": {
            "client": user_token(lk, "bench-bot", "node-reader"),
            "asker": user_token(lk, "bench-node-floor", "node-asker"),
            "answerer": user_token(lk, "bench-node-floor", "node-answerer"),
            "hiddenAsker": user_token(lk, "bench-hidden", "node-asker"),
            "pythonAsker": user_token(lk, "bench-floor", "node-asker"),
            "mimicClient": user_token(lk, "bench-mimic", "node-reader"),
            "mimicAsker": user_token(lk, "bench-mimic", "node-asker"),
            "apartAnswerer": user_token(lk, "bench-node-apart", "node-answerer"),
            "apartAsker": user_token(lk, "bench-node-apart", "node-asker"),
        },
        "apartIdentity": "node-answerer",
        "mimicIdentity": DEFAULT_BOT_IDENTITY,
        "hiddenIdentity": "answerer",
        "pythonIdentity": "answerer",
        "namedMs": NAMED_S * 1000,
    }
    node = await asyncio.create_subprocess_exec(
        "node",
        "bench/room.mjs",
        json.dumps(spec),
        cwd=REPO / "clients" / "js",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await node.communicate()
    if node.returncode != 0:
        print(f"TypeScript client: the Node run failed ({node.returncode})", flush=True)
        return
    results = json.loads(out.decode().strip().splitlines()[-1])
    # The floor is the Node echo in a process of its own (clients/js/bench/echo.mjs), as
    # the bot is: the same echo inside the asker's process never crosses a process
    # boundary, which no answerer outside it can match (docs/design.md, fact 12). That one
    # is printed beside it, with a plain Python echo and `Mimic` (the Python answerer
    # placed as the bot, with its bytes): ours against the mimic is the bot's code, the
    # mimic asked by our client against asked plainly is the client's.
    print("TypeScript client (@livekit/rtc-node), floors in Node:", flush=True)
    for name in SIZES:
        r = results[name]
        ours = p50(r["ours"])
        beside = f"  same-process echo p50 {p50(r['floor']):5.1f} ms (ratio"
        beside += f" {ours / p50(r['floor']):4.2f}), asked by packet {p50(r['byPacket']):5.1f}"
        beside += f"  Python echo asked by packet p50 {p50(r['python']):5.1f} ms"
        beside += f" (ratio {ours / p50(r['python']):4.2f})"
        beside += f"  mimic (as the bot, its bytes) p50 {p50(r['mimic']):5.1f} ms"
        beside += f" (ratio {ours / p50(r['mimic']):4.2f}),"
        beside += f" asked plainly {p50(r['mimicPlain']):5.1f} ms"
        report(
            f"file round trip, {name}",
            r["ours"],
            r["apartStream"],
            FILE_TARGET,
            beside,
            r["hidden"],
            r["apartPacket"],
        )


def report(
    what: str,
    ours: list[float],
    floor: list[float],
    target: float,
    note: str,
    hidden: list[float] | None = None,
    by_packet: list[float] | None = None,
) -> None:
    ratio = p50(ours) / p50(floor)
    verdict = "ok" if ratio <= target else "OVER TARGET"
    beside = ""
    if by_packet is not None:
        beside += (
            f"  asked-by-packet floor p50 {p50(by_packet):5.1f} ms"
            f" (ratio {p50(ours) / p50(by_packet):4.2f})"
        )
    if hidden is not None:
        beside += (
            f"  as-the-bot floor p50 {p50(hidden):5.1f} ms (ratio {p50(ours) / p50(hidden):4.2f})"
        )
    print(
        f"{what:<28} ours p50 {p50(ours):7.1f} ms  floor p50 {p50(floor):7.1f} ms  "
        f"ratio {ratio:4.2f} (target ≤ {target}) {verdict}{beside} {note}",
        flush=True,
    )


# -- resources ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_usage(pid: int, seconds: float) -> tuple[float, float]:
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / seconds * 100, rss_mb(pid)


BARE = """
import asyncio, os, sys
from livekit import rtc
from context_bot.admin import bot_token
from context_bot.config import LiveKitSettings
from context_bot.bot.native import install as install_native
from context_bot.bot.rooms import room_options
async def main(url, key, secret, count, prefix, warm):
    install_native(os.environ.get("CONTEXT_BOT_NATIVE_LOGS", "stderr"))  # as the bot does
    lk = LiveKitSettings(url, key, secret)
    rooms = []
    me = "bare-warm" if warm else "bare-bot"
    for n in range(count):
        room = rtc.Room()
        for attempt in range(3):  # a connect can time out on a busy machine; the bot retries too
            try:
                await room.connect(url, bot_token(lk, f"{prefix}-{n}", me, "Bare"), room_options())
                break
            except rtc.ConnectError:
                if attempt == 2:
                    raise
                room = rtc.Room()
        if warm:  # open the publisher connection, as the bot's warm-up does
            await room.local_participant.publish_data(b"{}", destination_identities=[me])
        rooms.append(room)
    print("ready", flush=True)
    await asyncio.Event().wait()
prefix = sys.argv[5] if len(sys.argv) > 5 else "bare"
warm = len(sys.argv) > 6 and sys.argv[6] == "warm"
asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), prefix, warm))
"""


async def hold_people(lk: LiveKitSettings, prefix: str, count: int) -> list[rtc.Room]:
    people = []
    for n in range(count):
        room = rtc.Room()
        await room.connect(lk.url, user_token(lk, f"{prefix}-{n}", "person"))
        people.append(room)
    return people


def spawn_bare(
    lk: LiveKitSettings, count: int, prefix: str, *, warm: bool, native_logs: str = "stderr"
) -> subprocess.Popen[str]:
    """Bare SDK connections with the bot's room options and native-log routing, hidden
    agents in the same rooms."""
    mode = "warm" if warm else "cold"
    return subprocess.Popen(
        [sys.executable, "-c", BARE, lk.url, lk.api_key, lk.api_secret, str(count), prefix, mode],
        cwd=REPO,
        env={**os.environ, "CONTEXT_BOT_NATIVE_LOGS": native_logs},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    """Until a `spawn_bare` process holds its rooms; its error if it died instead."""
    assert proc.stdout is not None and proc.stderr is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"bare SDK floor failed: {proc.stderr.read()[-600:]}")


def _ratio(ours: float, floor: float) -> str:
    return f"{ours / floor:4.2f}" if floor > 0.5 else "n/a (floor under 0.5 %)"


async def resources(lk: LiveKitSettings, counts: list[int], settle_s: float, idle_s: float) -> None:
    env = {
        **os.environ,
        "LIVEKIT_URL": lk.url,
        "LIVEKIT_API_KEY": lk.api_key,
        "LIVEKIT_API_SECRET": lk.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_LOG_LEVEL": "warning",
        "CONTEXT_BOT_WATCH": "false",
        "CONTEXT_BOT_LOG_FORMAT": "json",
        "CONTEXT_BOT_RATE_LIMIT": "0",  # the harness asks for a token per room at once
    }
    for count in counts:
        bot = subprocess.Popen(
            [sys.executable, "-c", "from context_bot.cli import main; main(['run'])"],
            cwd=REPO,
            env=env,
            stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        floors: list[subprocess.Popen[str]] = []
        people: list[rtc.Room] = []
        try:
            await asyncio.sleep(2)
            people = await hold_people(lk, f"res{count}", count)
            await dispatch(lk, bot.pid, f"res{count}", count)
            # The floors: bare SDK connections with the same options in the same rooms,
            # without and with the publisher connection the bot's warm-up opens.
            floors = [spawn_bare(lk, count, f"res{count}", warm=w) for w in (False, True)]
            for proc in floors:
                await asyncio.to_thread(wait_ready, proc)
            await asyncio.sleep(settle_s)
            bot_cpu, bot_rss = await asyncio.to_thread(idle_usage, bot.pid, idle_s)
            bare_cpu, bare_rss = await asyncio.to_thread(idle_usage, floors[0].pid, idle_s)
            warm_cpu, warm_rss = await asyncio.to_thread(idle_usage, floors[1].pid, idle_s)
            print(
                f"{count:>3} rooms: bot {bot_rss:6.1f} MB {bot_cpu:5.1f} % CPU | bare SDK "
                f"{bare_rss:6.1f} MB {bare_cpu:5.1f} % | bare with its publisher connection "
                f"open {warm_rss:6.1f} MB {warm_cpu:5.1f} % | bot / bare: memory "
                f"{bot_rss / bare_rss:4.2f}, CPU {_ratio(bot_cpu, bare_cpu)}; bot / warm bare: "
                f"memory {bot_rss / warm_rss:4.2f}, CPU {_ratio(bot_cpu, warm_cpu)} (target 1.2)",
                flush=True,
            )
        finally:
            for proc in (bot, *floors):
                proc.terminate()
                proc.wait(10)
            await asyncio.gather(*(p.disconnect() for p in people))


async def dispatch(lk: LiveKitSettings, pid: int, prefix: str, count: int) -> None:
    """Ask the bot process's endpoint for a token per room, which sends the bot in."""
    import aiohttp

    port = await asyncio.to_thread(_listening_port, pid)  # polls: off the event loop
    async with aiohttp.ClientSession() as http:
        for n in range(count):
            body = {
                "room_name": f"{prefix}-{n}",
                "participant_name": "p",
                "participant_identity": "person",
            }
            async with http.post(f"http://127.0.0.1:{port}/token", json=body) as response:
                response.raise_for_status()


LISTEN_WAIT_S = 30.0
"""How long the bot process may take to listen (its imports and first load: about 3.5 s
here; a fixed 2 s wait failed once the start grew past it)."""


def _listening_port(pid: int) -> int:
    deadline = time.monotonic() + LISTEN_WAIT_S
    while True:
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if f"pid={pid}," in line:
                return int(line.split()[3].rsplit(":", 1)[1])
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the bot process is not listening after {LISTEN_WAIT_S:.0f} s")
        time.sleep(0.2)


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    shutil.copytree(REPO / "knowledge", repo / "knowledge")
    (repo / "bench").mkdir(parents=True)
    for name, size in SIZES.items():
        (repo / bench_path(name)).write_text(text_of(size))
    return repo


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--rooms", default="1,10,50")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--floor-options",
        choices=("default", "bot"),
        default="default",
        help="room options of the floor's answerer: the SDK's defaults, or the bot's",
    )
    parser.add_argument(
        "--bot-log", type=Path, help="keep the bot's JSON log lines (a line per request) here"
    )
    parser.add_argument(
        "--clients", default="python,node", help="whose file round trips to time (python,node)"
    )
    args = parser.parse_args()
    global FLOOR_OPTIONS, CLIENTS
    FLOOR_OPTIONS = args.floor_options
    CLIENTS = set(args.clients.split(","))
    workdir = Path(tempfile.mkdtemp(prefix="room-bench-"))
    # The bot logs as deployed (JSON lines; a line per request), into a file: structlog's
    # unconfigured default renders colour to the terminal, which no deployment pays.
    bot_log = (args.bot_log or workdir / "bot.log").open("w")
    configure_logging("info", "json", stream=bot_log)
    server = start_dev_server(workdir / "livekit")
    lk = LiveKitSettings(server.url, server.api_key, server.api_secret)
    print(f"livekit-server at {server.url}; {args.trials} trials each", flush=True)
    try:
        await latency(lk, make_repo(workdir), args.trials)
        counts = [int(c) for c in args.rooms.split(",") if c]  # --rooms "": latency only
        await resources(lk, counts, 3.0, args.idle_seconds)
    finally:
        server.stop()
        bot_log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message="The HMAC key is")
    asyncio.run(main())

"""What placing a participant as the bot is placed costs, one property at a time.

The bot joins hidden, as an agent, without the publish grant, with its own room options
(docs/design.md, facts 1 and 9). Against an answerer with none of these, each property is
tried alone and all together, with the same echo as `room_bench.py`: an asker sends a
short key, the answerer sends back that many bytes as a text stream. The key is sent two
ways: as a text stream (`send_text`) and as one reliable data packet (`publish_data`).
Also timed: how long a 100-byte `send_text` / `publish_data` to the answerer takes to
return, the sender's own cost of a request.

Why: a stream to a participant the sender's SDK cannot see (a hidden one) is sent as
header, chunk and trailer instead of one packet (docs/design.md, fact 11); this shows it
is `hidden` alone that costs, and that a data packet does not pay it.

Usage: `.venv/bin/python benchmarks/placement_bench.py [--trials 25]`.
Not a test: numbers vary with the machine; the ratios to "plain" are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from livekit import api, rtc
from room_bench import PACE_S, SIZES, text_of

from context_bot.bot.rooms import room_options
from context_bot.config import LiveKitSettings
from context_bot.devserver import start_dev_server
from tests.integration.conftest import user_token  # room_bench put the repository on the path


@dataclass(frozen=True)
class Placement:
    hidden: bool = False
    agent: bool = False
    can_publish: bool = True
    bot_options: bool = False


PLACEMENTS = {
    "plain": Placement(),
    "hidden": Placement(hidden=True),
    "agent": Placement(agent=True),
    "no publish grant": Placement(can_publish=False),
    "bot room options": Placement(bot_options=True),
    "as the bot": Placement(hidden=True, agent=True, can_publish=False, bot_options=True),
}
ANSWERS = {name: text_of(size) for name, size in SIZES.items()}


def placed_token(lk: LiveKitSettings, room: str, placement: Placement) -> str:
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        hidden=placement.hidden,
        can_publish=placement.can_publish,
        can_publish_data=True,
        can_subscribe=True,
    )
    token = (
        api.AccessToken(lk.api_key, lk.api_secret)
        .with_identity("answerer")
        .with_name("answerer")
        .with_grants(grants)
    )
    return (token.with_kind("agent") if placement.agent else token).to_jwt()


class Echo:
    """The answerer: answers a key, from a stream or a data packet, with its bytes."""

    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler("ask", self._on_stream)
        room.on("data_received", self._on_packet)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, key: str, to: str) -> None:
        await self.room.local_participant.send_text(
            ANSWERS[key], topic="answer", destination_identities=[to]
        )

    def _on_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read_and_answer() -> None:
            await self._answer(await reader.read_all(), sender)

        self._spawn(read_and_answer())

    def _on_packet(self, packet: rtc.DataPacket) -> None:
        if packet.topic == "ask" and packet.participant is not None:
            self._spawn(self._answer(packet.data.decode(), packet.participant.identity))


class Asker:
    def __init__(self, room: rtc.Room) -> None:
        self.room = room
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler("answer", self._on_answer)

    def _on_answer(self, reader: rtc.TextStreamReader, _sender: str) -> None:
        async def read() -> None:
            await self.inbox.put(await reader.read_all())

        task = asyncio.ensure_future(read())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, payload: str, how: str, topic: str = "ask") -> None:
        local = self.room.local_participant
        if how == "stream":
            await local.send_text(
                payload, topic=topic, destination_identities=["answerer"], compress=False
            )
        else:
            await local.publish_data(
                payload.encode(), topic=topic, destination_identities=["answerer"]
            )

    async def ask(self, key: str, how: str) -> str:
        await self.send(key, how)
        return await self.inbox.get()


async def run(trials: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="placement-bench-"))
    server = start_dev_server(workdir / "livekit")
    lk = LiveKitSettings(server.url, server.api_key, server.api_secret)
    print(f"livekit-server at {server.url}; {trials} trials each, p50 ms (÷ plain)", flush=True)
    rooms: list[rtc.Room] = []
    askers: dict[str, Asker] = {}
    try:
        for n, (name, placement) in enumerate(PLACEMENTS.items()):
            answerer = rtc.Room()
            Echo(answerer)
            options = room_options() if placement.bot_options else rtc.RoomOptions()
            await answerer.connect(lk.url, placed_token(lk, f"place-{n}", placement), options)
            asker = Asker(rtc.Room())
            await asker.room.connect(lk.url, user_token(lk, f"place-{n}", "asker"))
            rooms += [answerer, asker.room]
            askers[name] = asker
        await asyncio.sleep(3.5)  # past the server's participant tick: every sender named
        for how in ("stream", "packet"):
            for size in SIZES:
                times: dict[str, list[float]] = {name: [] for name in askers}
                for asker in askers.values():
                    await asker.ask(size, how)  # warm
                for _ in range(trials):
                    for name, asker in askers.items():  # interleaved: load hits all alike
                        await asyncio.sleep(PACE_S)
                        started = time.perf_counter()
                        answer = await asker.ask(size, how)
                        times[name].append(time.perf_counter() - started)
                        assert answer == ANSWERS[size]
                show(f"asked by {how}, {size} answer", times)
            sends: dict[str, list[float]] = {name: [] for name in askers}
            for _ in range(trials):
                for name, asker in askers.items():
                    await asyncio.sleep(PACE_S / 3)
                    started = time.perf_counter()
                    await asker.send("x" * 100, how, topic="nobody-listens")
                    sends[name].append(time.perf_counter() - started)
            show(f"100 B {how} send returns", sends, digits=2)
    finally:
        for room in rooms:
            await room.disconnect()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def show(what: str, times: dict[str, list[float]], digits: int = 1) -> None:
    plain = statistics.median(times["plain"])
    cells = [
        f"{name} {statistics.median(t) * 1000:.{digits}f} ({statistics.median(t) / plain:.2f})"
        for name, t in times.items()
    ]
    print(f"{what:<28} " + " | ".join(cells), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=25)
    args = parser.parse_args()
    asyncio.run(run(args.trials))


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message="The HMAC key is")
    main()

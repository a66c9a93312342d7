"""Restarting livekit-server itself: every room gets its bot back, everyone keeps context.

A restarted single-node server (no Redis) remembers nothing: rooms, participants and
agent jobs are gone. What brings a room back is its people, whose SDK reconnects and
recreates it; what brings the bot back is either its own SDK reconnecting, our rejoin
after the SDK gives up, or a worker's reconcile. This test does not care which: it
checks, on a server of its own, that each room ends with exactly one bot and that the
people in it are answered, in both deployments (one process; web + workers).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from livekit import rtc

from context_bot.admin import Admin
from context_bot.bot.rooms import serves
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings
from context_bot.devserver import DevServer, start_dev_server
from tests.integration.conftest import REPO_ROOT
from tests.integration.test_workers import until_one_bot_each
from tests.integration.workers import BotProcess, start_bot

BOT = "context-bot"
"""The default identity: this test's server is its own, with no other test's bots."""

pytestmark = pytest.mark.integration

ROOMS = 4
AGENT = "ctx-restart"


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[DevServer]:
    """A server this test may restart without disturbing the others' shared one."""
    server = start_dev_server(tmp_path / "livekit")
    yield server
    server.stop(timeout=3, drain=False)


def settings_of(server: DevServer) -> LiveKitSettings:
    return LiveKitSettings(server.url, server.api_key, server.api_secret)


async def tokens(web: BotProcess, rooms: list[str]) -> list[str]:
    url = (await asyncio.to_thread(web.wait_for, "started"))["url"]
    out = []
    async with aiohttp.ClientSession() as http:
        for room in rooms:
            body = {"room_name": room, "participant_name": "P", "participant_identity": "p"}
            async with http.post(f"{url}/token", json=body) as response:
                assert response.status == 200, await response.text()
                out.append((await response.json())["token"])
    return out


async def all_marked(livekit: LiveKitSettings, rooms: list[str]) -> bool:
    admin = Admin(livekit)
    try:
        listed = await admin.list_rooms(rooms)
    finally:
        await admin.aclose()
    return len(listed) == len(rooms) and all(serves(room, "context-bot") for room in listed)


@pytest.mark.parametrize("deployment", ["one-process", "web-and-workers"])
async def test_after_a_server_restart_every_room_has_its_bot_and_answers(
    own_server: DevServer, tmp_path: Path, deployment: str
) -> None:
    livekit = settings_of(own_server)
    fast = {"CONTEXT_BOT_RECONCILE_INTERVAL": "2"}
    if deployment == "one-process":
        processes = [start_bot(livekit, tmp_path / "bot.log", **fast)]
        web = processes[0]
    else:
        worker_env = {"CONTEXT_BOT_ROLE": "worker", "CONTEXT_BOT_AGENT_NAME": AGENT, **fast}
        processes = [
            start_bot(livekit, tmp_path / f"worker-{n}.log", **worker_env) for n in range(2)
        ]
        # The web process starts beside the workers (its start, seconds of imports, used
        # to follow theirs); it hands out no token before they have registered.
        web = start_bot(
            livekit,
            tmp_path / "web.log",
            CONTEXT_BOT_ROLE="web",
            CONTEXT_BOT_AGENT_NAME=AGENT,
        )
        for worker in processes:
            await asyncio.to_thread(worker.wait_for, "worker_registered")
        processes.append(web)
    people: list[rtc.Room] = []
    try:
        rooms = [f"restart-{n}" for n in range(ROOMS)]
        for token in await tokens(web, rooms):
            person = rtc.Room()
            await person.connect(livekit.url, token, rtc.RoomOptions(auto_subscribe=False))
            people.append(person)
        before = await until_one_bot_each(livekit, rooms, within=30, identity=BOT)
        clients = [ContextClient(person) for person in people]
        await asyncio.gather(*(client.overview() for client in clients))

        assert await all_marked(livekit, rooms)

        await asyncio.to_thread(own_server.restart, down_s=1.0)

        # New bot connections (new sids) in every room, one each.
        await until_one_bot_each(
            livekit, rooms, within=60, not_sids=frozenset(before.values()), identity=BOT
        )
        # The rooms came back empty-handed (recreated by reconnecting people); the bot
        # gives them back the metadata that marks them ours, or no later reconcile,
        # webhook or ownership check would know them.
        async with asyncio.timeout(15):
            while not await all_marked(livekit, rooms):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        readme = (REPO_ROOT / "README.md").read_text()
        for client in clients:
            answer = await client.file("README.md")
            assert answer.content == readme

        # A room created after the restart gets its bot too: in worker mode that takes the
        # workers registered again with the new server.
        for token in await tokens(web, ["restart-new"]):
            person = rtc.Room()
            await person.connect(livekit.url, token, rtc.RoomOptions(auto_subscribe=False))
            people.append(person)
        await until_one_bot_each(livekit, ["restart-new"], within=30, identity=BOT)
        assert (await ContextClient(people[-1]).file("README.md")).content == readme
        for worker in processes[:-1] if deployment != "one-process" else []:
            registrations = [r for r in worker.records() if r.get("event") == "worker_registered"]
            assert len(registrations) >= 2, "a worker did not register with the new server"
        for process in processes:
            assert process.process.poll() is None, process.log_path.read_text()[-3000:]
    finally:
        await asyncio.gather(*(p.disconnect() for p in people), return_exceptions=True)
        for process in processes:
            process.kill(signal.SIGTERM)

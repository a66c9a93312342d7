"""Restarts lose nothing: a new process finds its rooms and everyone gets context."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import rtc

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings, Settings
from context_bot.protocol import TOPIC_PUSH
from tests.integration.conftest import REPO_ROOT, user_token
from tests.integration.streams import Inbox
from tests.integration.test_end_to_end import join_with_token
from tests.integration.workers import start_bot

pytestmark = pytest.mark.integration


async def start_app(livekit: LiveKitSettings, repo: Path = REPO_ROOT) -> ContextBotApp:
    app = ContextBotApp(
        Settings(livekit=livekit, port=0, repo=repo, watch=False), handle_signals=False
    )
    await app.startup()
    return app


async def test_a_restarted_bot_rejoins_its_rooms_and_serves_who_arrived_meanwhile(
    livekit: LiveKitSettings, connect: Any, repo_copy: Path
) -> None:
    # A copy nothing else writes to: the knowledge version covers every file of the
    # repository, and the suite's own page test rewrites screenshots in this one.
    first = await start_app(livekit, repo_copy)
    try:
        stayer = await join_with_token(first, connect, "restart-room", "stayer")
        client = ContextClient(stayer)
        before = await client.overview()
    finally:
        await first.shutdown()  # the bot leaves; the room lives on with its participant

    newcomer = rtc.Room()
    pushes = Inbox(newcomer, TOPIC_PUSH)
    await newcomer.connect(livekit.url, user_token(livekit, "restart-room", "newcomer"))

    second = await start_app(livekit, repo_copy)
    try:
        assert second.rooms is not None
        async with asyncio.timeout(10):
            while "restart-room" not in second.rooms.active_rooms:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        sender, text = await pushes.next(10)
        assert sender == ""
        assert json.loads(text)["data"]["text"] == before
        again = await client.file("README.md")
        assert again.content == (REPO_ROOT / "README.md").read_text()
    finally:
        await newcomer.disconnect()
        await second.shutdown()


async def test_reconcile_leaves_rooms_of_other_services_alone(
    livekit: LiveKitSettings, connect: Any
) -> None:
    await connect("not-ours", "someone")  # created by a join, no context-bot metadata
    app = await start_app(livekit)
    try:
        assert app.admin is not None and app.rooms is not None
        admin = app.admin
        joined = await app.rooms.reconcile(
            await admin.list_rooms(), lambda room: admin.needs_bot(room, "context-bot")
        )
        assert "not-ours" not in joined
        assert "not-ours" not in app.rooms.active_rooms
    finally:
        await app.shutdown()


RESTART_DELAY_S = 2.0
"""What deploy/context-bot.service waits before restarting a failed bot (`RestartSec`)."""


async def test_a_request_pending_when_the_bot_is_killed_is_answered_after_its_restart(
    livekit: LiveKitSettings, tmp_path: Path
) -> None:
    """SIGKILL leaves the dead bot listed in its rooms for a while; the restarted bot
    replaces that stale connection at once, within the client's default timeout."""
    first = start_bot(livekit, tmp_path / "first.log")
    second = None
    person = rtc.Room()
    try:
        url = (await asyncio.to_thread(first.wait_for, "started"))["url"]
        body = {"room_name": "sigkill-1", "participant_name": "S", "participant_identity": "s"}
        async with aiohttp.ClientSession() as http, http.post(f"{url}/token", json=body) as r:
            assert r.status == 200, await r.text()
            token = (await r.json())["token"]
        await person.connect(livekit.url, token, rtc.RoomOptions(auto_subscribe=False))
        client = ContextClient(person)  # the defaults are what is under test
        await client.overview()

        first.kill(signal.SIGKILL)
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        pending = asyncio.create_task(client.file("README.md"))
        await asyncio.sleep(RESTART_DELAY_S)
        second = start_bot(livekit, tmp_path / "second.log")
        result = await pending  # ContextTimeout if the restart outlasts the client's patience
        assert result.content == (REPO_ROOT / "README.md").read_text()
        print(f"answered {loop.time() - asked_at:.1f} s after the kill")
    finally:
        await person.disconnect()
        first.kill(signal.SIGKILL)
        if second is not None:
            second.kill(signal.SIGTERM)

"""Restarts lose nothing: a new process finds its rooms and everyone gets context."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from livekit import rtc

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings, Settings
from context_bot.protocol import TOPIC_PUSH
from tests.integration.conftest import REPO_ROOT, user_token
from tests.integration.streams import Inbox
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration


async def start_app(livekit: LiveKitSettings) -> ContextBotApp:
    app = ContextBotApp(
        Settings(livekit=livekit, port=0, repo=REPO_ROOT, watch=False), handle_signals=False
    )
    await app.startup()
    return app


async def test_a_restarted_bot_rejoins_its_rooms_and_serves_who_arrived_meanwhile(
    livekit: LiveKitSettings, connect: Any
) -> None:
    first = await start_app(livekit)
    try:
        stayer = await join_with_token(first, connect, "restart-room", "stayer")
        client = ContextClient(stayer)
        before = await client.overview()
    finally:
        await first.shutdown()  # the bot leaves; the room lives on with its participant

    newcomer = rtc.Room()
    pushes = Inbox(newcomer, TOPIC_PUSH)
    await newcomer.connect(livekit.url, user_token(livekit, "restart-room", "newcomer"))

    second = await start_app(livekit)
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

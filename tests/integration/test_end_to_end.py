"""The thin path, end to end: token from the endpoint, bot in the room, overview, a file.

Everything is real: livekit-server, the app (HTTP endpoint and bot in one process), and
the `livekit` SDK as the agent, using `context_bot.client`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest
from livekit import rtc

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings
from context_bot.errors import RequestError
from context_bot.protocol import TOPIC_PUSH
from tests.integration.conftest import REPO_ROOT
from tests.integration.streams import Inbox

pytestmark = pytest.mark.integration


async def post_token(app: ContextBotApp, **body: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{app.port}/token", json=body) as response,
    ):
        return response.status, await response.json()


async def join_with_token(
    app: ContextBotApp, connect: Any, room_name: str, identity: str
) -> rtc.Room:
    """Join through the endpoint, as a user would; `connect` disconnects it at the end."""
    status, body = await post_token(
        app, room_name=room_name, participant_name=identity.title(), participant_identity=identity
    )
    assert status == 200, body
    room: rtc.Room = await connect(room_name, identity, token=body["token"])
    return room


async def test_an_agent_gets_the_overview_and_a_file_through_the_token_endpoint(
    running_app: Any,
) -> None:
    app: ContextBotApp = await running_app()
    status, body = await post_token(
        app, room_name="onboarding-1", participant_name="Agent", participant_identity="agent-1"
    )
    assert status == 200, body
    assert body["room_name"] == "onboarding-1"
    assert body["participant_identity"] == "agent-1"
    assert body["livekit_url"] == app.settings.livekit.url
    assert app.rooms is not None
    assert app.rooms.active_rooms == ["onboarding-1"]

    room = rtc.Room()
    await room.connect(body["livekit_url"], body["token"], rtc.RoomOptions(auto_subscribe=False))
    try:
        assert room.name == "onboarding-1"
        assert "context-bot" not in room.remote_participants  # the bot is hidden
        client = ContextClient(room)
        overview = await asyncio.wait_for(client.overview(), 5)
        assert app.knowledge is not None
        assert overview == app.knowledge.overview
        assert client.knowledge_version == app.knowledge.version

        source = await client.file("context_bot/protocol.py")
        on_disk = (REPO_ROOT / "context_bot" / "protocol.py").read_bytes()
        assert source.content is not None
        assert source.content.encode("utf-8") == on_disk
        assert source.size == len(on_disk)
        document = app.knowledge.document("context_bot/protocol.py")
        assert document is not None, "knowledge/ must document context_bot/protocol.py"
        assert source.knowledge == document.text
    finally:
        await room.disconnect()


async def test_a_client_holds_the_overview_within_tens_of_milliseconds(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    await join_with_token(app, connect, "warm-room", "first")  # the bot is in and warmed up
    room = await join_with_token(app, connect, "warm-room", "second")
    started = time.monotonic()
    client = ContextClient(room)
    await asyncio.wait_for(client.overview(), 5)
    elapsed = time.monotonic() - started
    await room.disconnect()
    assert elapsed < 0.5, f"overview took {elapsed:.3f}s; pull should take tens of ms"


async def test_without_warm_up_the_first_answer_and_the_push_still_arrive(
    running_app: Any, connect: Any
) -> None:
    """`rooms.warmup: false` trades each room's first answer's speed for idle CPU; the
    bot's send path then opens on its first send, which must still arrive whole."""
    app: ContextBotApp = await running_app(warmup=False)
    quiet = rtc.Room()
    pushes = Inbox(quiet, TOPIC_PUSH)
    status, body = await post_token(
        app, room_name="cold-room", participant_name="Quiet", participant_identity="quiet"
    )
    assert status == 200, body
    await quiet.connect(body["livekit_url"], body["token"])
    try:
        _, text = await pushes.next(10)  # the first send of the bot in this room
        assert app.knowledge is not None
        assert json.loads(text)["data"]["text"] == app.knowledge.overview
        asker = await join_with_token(app, connect, "cold-room", "asker")
        source = await asyncio.wait_for(ContextClient(asker).file("context_bot/protocol.py"), 10)
        assert source.content == (REPO_ROOT / "context_bot" / "protocol.py").read_text()
    finally:
        await quiet.disconnect()


async def test_a_plain_participant_that_never_asks_gets_the_overview_pushed(
    running_app: Any,
) -> None:
    app: ContextBotApp = await running_app()
    room = rtc.Room()
    inbox = Inbox(room, TOPIC_PUSH)
    status, body = await post_token(
        app, room_name="push-room", participant_name="Plain", participant_identity="plain"
    )
    assert status == 200
    await room.connect(body["livekit_url"], body["token"])
    sender, text = await inbox.next(8)  # the server's tick is 3 s
    message = json.loads(text)
    await room.disconnect()
    assert sender == ""
    assert message["event"] == "overview"
    assert app.knowledge is not None
    assert message["data"]["text"] == app.knowledge.overview


async def test_a_participant_present_before_the_bot_gets_the_overview_when_it_joins(
    running_app: Any, connect: Any, livekit: LiveKitSettings
) -> None:
    early: rtc.Room = await connect("early-room", "early-bird")
    inbox = Inbox(early, TOPIC_PUSH)
    app: ContextBotApp = await running_app()
    await join_with_token(app, connect, "early-room", "latecomer")
    _, text = await inbox.next(10)
    message = json.loads(text)
    assert message["event"] == "overview"


async def test_the_bot_leaves_and_forgets_a_room_when_everyone_has_gone(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app(departure_timeout_s=1)
    room = await join_with_token(app, connect, "short-room", "visitor")
    assert app.rooms is not None
    assert app.rooms.active_rooms == ["short-room"]
    await room.disconnect()
    async with asyncio.timeout(10):
        while app.rooms.active_rooms:  # noqa: ASYNC110 - polling state we do not own an event for
            await asyncio.sleep(0.1)


async def test_a_missing_file_is_a_typed_error_and_the_bot_keeps_serving(
    running_app: Any,
    connect: Any,
) -> None:
    from context_bot.errors import InvalidPath, NotFound

    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "errors-room", "curious")
    client = ContextClient(room)
    with pytest.raises(NotFound):
        await client.file("no/such/file.py")
    with pytest.raises(InvalidPath):
        await client.file("../etc/passwd")
    good = await client.file("README.md")
    assert good.content == (REPO_ROOT / "README.md").read_text()
    await room.disconnect()


async def test_metrics_count_what_the_bot_did(running_app: Any, connect: Any) -> None:
    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "metrics-room", "counted")
    client = ContextClient(room)
    await client.overview()
    await client.file("README.md")
    with pytest.raises(RequestError):
        await client.file("no/such/file")
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{app.port}/metrics") as response,
    ):
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    assert 'context_bot_requests_total{code="0",method="file"} 1.0' in text
    assert 'context_bot_requests_total{code="4104",method="file"} 1.0' in text
    assert 'context_bot_overviews_total{how="pull"} 1.0' in text
    assert "context_bot_active_rooms 1.0" in text
    assert "context_bot_tokens_issued_total 1.0" in text
    assert 'context_bot_sent_bytes_total{kind="response"}' in text

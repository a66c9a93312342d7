"""`POST /webhook` with a real livekit-server configured to call it (docs/design.md, fact 8).

Each test gets a livekit-server of its own whose config sends every event to the app's
port, chosen before either starts. Forged calls are refused; real ones send the bot into
onboarding rooms and free the names of finished rooms.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from base64 import b64encode
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api, rtc
from structlog.testing import capture_logs

from context_bot.app import ContextBotApp
from context_bot.config import LiveKitSettings, Settings
from context_bot.devserver import DevServer, free_port
from tests.integration.conftest import REPO_ROOT, user_token
from tests.integration.web_helpers import AUTH_SETTINGS, api_key_of, post, start_webhook_server, who

pytestmark = pytest.mark.integration


class Setup:
    def __init__(self, server: DevServer, app: ContextBotApp) -> None:
        self.server, self.app = server, app
        self.livekit = LiveKitSettings(server.url, server.api_key, server.api_secret)
        self.rooms: list[rtc.Room] = []

    async def join(self, room_name: str, identity: str, token: str | None = None) -> rtc.Room:
        room = rtc.Room()
        await room.connect(self.livekit.url, token or user_token(self.livekit, room_name, identity))
        self.rooms.append(room)
        return room

    async def sid(self, room_name: str) -> str:
        """The sid of the live room by that name, as LiveKit lists it."""
        async with api.LiveKitAPI(
            self.livekit.url, self.livekit.api_key, self.livekit.api_secret
        ) as lk:
            response = await lk.room.list_rooms(api.ListRoomsRequest(names=[room_name]))
        (room,) = response.rooms
        return str(room.sid)

    async def participants(self, room_name: str) -> list[str]:
        async with api.LiveKitAPI(
            self.livekit.url, self.livekit.api_key, self.livekit.api_secret
        ) as lk:
            response = await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))
        return sorted(p.identity for p in response.participants)


@pytest.fixture
async def webhooks(tmp_path: Path) -> AsyncIterator[Setup]:
    port = free_port()
    server = start_webhook_server(tmp_path / "livekit", port)
    livekit = LiveKitSettings(server.url, server.api_key, server.api_secret)
    settings = Settings(
        livekit=livekit,
        port=port,
        repo=REPO_ROOT,
        onboarding_pattern="walk-in-.*",
        departure_timeout_s=1,
        **AUTH_SETTINGS,
    )
    app = ContextBotApp(settings, handle_signals=False)
    await app.startup()
    setup = Setup(server, app)
    try:
        yield setup
    finally:
        await asyncio.gather(*(r.disconnect() for r in setup.rooms), return_exceptions=True)
        await app.shutdown()
        server.stop(timeout=3, drain=False)


async def until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _value(condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.05)


async def _value(result: Any) -> Any:
    return await result if asyncio.iscoroutine(result) else result


def signed(body: bytes, secret: str) -> str:
    digest = b64encode(hashlib.sha256(body).digest()).decode()
    return api.AccessToken("devkey", secret).with_sha256(digest).to_jwt()


async def test_forged_or_unsigned_webhooks_are_refused_and_change_nothing(
    webhooks: Setup,
) -> None:
    body = b'{"event": "room_started", "room": {"name": "walk-in-forged"}}'
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"Authorization": signed(body, "not-the-servers-secret")}):
            async with http.post(
                f"http://127.0.0.1:{webhooks.app.port}/webhook", data=body, headers=headers
            ) as response:
                assert response.status == 401
                code = (await response.json())["error"]["code"]
                assert code in ("webhook_unsigned", "webhook_invalid")
    await asyncio.sleep(0.3)
    assert webhooks.app.rooms is not None
    assert "walk-in-forged" not in webhooks.app.rooms.active_rooms


async def test_the_servers_room_started_sends_the_bot_into_a_room_matching_the_rule(
    webhooks: Setup,
) -> None:
    rooms = webhooks.app.rooms
    assert rooms is not None
    with capture_logs() as logs:
        # Nobody asked /token: the room starts because someone joins it directly.
        await webhooks.join("walk-in-1", "visitor")
        await until(
            lambda: any(e["event"] == "bot_sent_by_webhook" for e in logs),
            10,
            "the bot joins walk-in-1",
        )
        assert "walk-in-1" in rooms.active_rooms
        await until(
            lambda: webhooks.participants("walk-in-1"),
            5,
            "LiveKit lists participants",
        )
        assert "context-bot" in await webhooks.participants("walk-in-1")
        await until(
            lambda: any(e.get("reason") == "bot_itself" for e in logs),
            10,
            "the bot's own participant_joined arrives and is ignored",
        )
    events = [(e["event"], e.get("webhook_event"), e.get("room")) for e in logs]
    assert ("webhook_received", "room_started", "walk-in-1") in events
    assert ("bot_sent_by_webhook", None, "walk-in-1") in events
    assert events.index(("webhook_received", "room_started", "walk-in-1")) < events.index(
        ("bot_sent_by_webhook", None, "walk-in-1")
    )


async def test_a_room_outside_the_rule_does_not_get_the_bot(webhooks: Setup) -> None:
    rooms = webhooks.app.rooms
    assert rooms is not None
    with capture_logs() as logs:
        await webhooks.join("private-1", "someone")
        await until(
            lambda: any(
                e.get("webhook_event") == "room_started" and e.get("room") == "private-1"
                for e in logs
            ),
            10,
            "the room_started webhook for private-1 arrives",
        )
        await asyncio.sleep(0.5)
    assert "private-1" not in rooms.active_rooms
    assert await webhooks.participants("private-1") == ["someone"]


async def test_a_finished_room_frees_its_name_for_another_tenant(webhooks: Setup) -> None:
    port = webhooks.app.port
    status, body = await post(port, "/token", who("a1", room_name="finish-1"), api_key_of("acme"))
    assert status == 200, body
    status, _ = await post(port, "/token", who("g1", room_name="finish-1"), api_key_of("globex"))
    assert status == 403
    room = await webhooks.join("finish-1", "a1", token=body["token"])
    with capture_logs() as logs:
        await room.disconnect()  # the last person leaves; the room closes 1 s later
        await until(
            lambda: any(e["event"] == "room_forgotten" and e["room"] == "finish-1" for e in logs),
            20,
            "room_finished arrives for finish-1",
        )
    forgotten = next(e for e in logs if e["event"] == "room_forgotten")
    assert forgotten["owner"] == "acme"
    status, body = await post(port, "/token", who("g1", room_name="finish-1"), api_key_of("globex"))
    assert status == 200, body


def room_finished(room: str, sid: str, event_id: str, created_at: float) -> bytes:
    """A `room_finished` as livekit-server sends it (protojson, int64 as a string)."""
    event = {
        "event": "room_finished",
        "room": {"sid": sid, "name": room},
        "id": event_id,
        "createdAt": str(int(created_at)),
    }
    return json.dumps(event).encode()


async def send_webhook(port: int, body: bytes, authorization: str) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{port}/webhook", data=body, headers={"Authorization": authorization}
        ) as response,
    ):
        return response.status, await response.json()


async def test_a_stale_room_finished_keeps_the_bot_and_a_replayed_one_is_refused(
    webhooks: Setup,
) -> None:
    """Issue 14, item 7: a signed `room_finished` of an earlier room by the same name made
    the bot leave the live one; the same signed event could be sent again for minutes."""
    port, rooms, secret = webhooks.app.port, webhooks.app.rooms, webhooks.server.api_secret
    assert port is not None and rooms is not None
    status, body = await post(port, "/token", who("a1", room_name="stale-1"), api_key_of("acme"))
    assert status == 200, body
    await webhooks.join("stale-1", "a1", token=body["token"])
    live_sid = await webhooks.sid("stale-1")

    stale = room_finished("stale-1", "RM_an_earlier_room", "EV_stale_1", time.time())
    with capture_logs() as logs:
        assert await send_webhook(port, stale, signed(stale, secret)) == (
            200,
            {"received": "room_finished"},
        )
        await until(
            lambda: any(e["event"] in ("room_finished_ignored", "room_left") for e in logs),
            10,
            "the bot decides about the stale room_finished",
        )
    assert [e["event"] for e in logs if e.get("room") == "stale-1"].count("room_left") == 0
    assert "stale-1" in rooms.active_rooms
    assert "context-bot" in await webhooks.participants("stale-1")

    status, answer = await send_webhook(port, stale, signed(stale, secret))
    assert (status, answer["error"]["code"]) == (409, "webhook_replayed")
    old = room_finished("stale-1", live_sid, "EV_old_1", time.time() - 3600)
    status, answer = await send_webhook(port, old, signed(old, secret))
    assert (status, answer["error"]["code"]) == (400, "webhook_stale")
    assert "stale-1" in rooms.active_rooms

    # The same event for the instance the bot is in does make it leave.
    current = room_finished("stale-1", live_sid, "EV_current_1", time.time())
    with capture_logs() as logs:
        assert (await send_webhook(port, current, signed(current, secret)))[0] == 200
        await until(
            lambda: any(e["event"] == "room_left" and e["room"] == "stale-1" for e in logs),
            10,
            "the bot leaves stale-1",
        )
    left = next(e for e in logs if e["event"] == "room_left")
    assert left["reason"] == "room_finished"
    assert "stale-1" not in rooms.active_rooms

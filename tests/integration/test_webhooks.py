"""`POST /webhook` with a real livekit-server configured to call it (docs/design.md, fact 8).

Each test gets a livekit-server of its own whose config sends every event to the app's
port, chosen before either starts. Forged calls are refused; real ones send the bot into
onboarding rooms and free the names of finished rooms.
"""

from __future__ import annotations

import asyncio
import hashlib
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
        server.stop(timeout=3)


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

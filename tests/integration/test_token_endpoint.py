"""`POST /token` against the real livekit-server: the token, the room, its owner.

Every test runs the whole app (HTTP endpoint and bot) on a free port against the suite's
livekit-server, and joins with the real SDK where a join is the point.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from livekit import api, rtc

from context_bot.admin import Admin
from context_bot.app import ContextBotApp
from context_bot.bot.rooms import BotIdentity, RoomManager
from context_bot.config import LiveKitSettings, Settings
from context_bot.devserver import free_port
from context_bot.endpoint.ownership import InMemoryOwnershipStore
from context_bot.endpoint.routes import TokenService, create_app
from tests.integration.conftest import REPO_ROOT
from tests.integration.web_helpers import (
    AUTH_SETTINGS,
    api_key_of,
    bearer_of,
    post,
    who,
)

pytestmark = pytest.mark.integration


async def owner_in_livekit(livekit: LiveKitSettings, room: str) -> str | None:
    admin = Admin(livekit)
    try:
        rooms = await admin.list_rooms([room])
    finally:
        await admin.aclose()
    assert len(rooms) == 1, f"room {room} is not in LiveKit"
    owner = rooms[0].metadata.get("auth_id")
    return owner if isinstance(owner, str) else None


async def test_a_token_joins_the_named_room_as_asked_and_grants_nothing_else(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    app: ContextBotApp = await running_app(token_ttl_s=600)
    status, body = await post(
        app.port, "/token", who("ada", room_name="grants-1", participant_metadata='{"r":1}')
    )
    assert status == 200, body
    assert body["participant_token"] == body["token"]
    assert body["server_url"] == body["livekit_url"] == livekit.url
    assert body["bot_identity"] == "context-bot"

    room = rtc.Room()
    await room.connect(body["server_url"], body["participant_token"])
    try:
        assert room.name == "grants-1"
        assert room.local_participant.identity == "ada"
        assert room.local_participant.name == "Ada"
        assert room.local_participant.metadata == '{"r":1}'
    finally:
        await room.disconnect()

    claims = api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(body["token"])
    video = claims.video
    assert (video.room, video.room_join) == ("grants-1", True)
    assert (video.can_publish, video.can_subscribe, video.can_publish_data) == (True, True, True)
    assert not (video.room_admin or video.room_create or video.room_list or video.room_record)
    assert not video.hidden
    assert claims.kind != "agent"

    # The same token used on the server API is refused: it can join, nothing more.
    http_url = livekit.url.replace("ws://", "http://")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{http_url}/twirp/livekit.RoomService/ListRooms",
            json={},
            headers={"Authorization": f"Bearer {body['token']}"},
        ) as response,
    ):
        assert response.status in (401, 403), await response.text()


async def test_the_token_lives_as_long_as_the_settings_say(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    app: ContextBotApp = await running_app(token_ttl_s=600)
    _, body = await post(app.port, "/token", who("ttl", room_name="ttl-1"))
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["nbf"] == 600


async def test_without_a_room_name_the_session_or_a_fresh_name_names_the_room(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    app: ContextBotApp = await running_app()
    status, body = await post(app.port, "/token", who("sam", session_id="abc-123"))
    assert status == 200, body
    assert body["room_name"] == "session-abc-123"
    admin = Admin(livekit)
    try:
        (room,) = await admin.list_rooms(["session-abc-123"])
        assert room.metadata["context_bot"]["session_id"] == "abc-123"
        assert room.metadata["context_bot"]["repo"] == REPO_ROOT.name
        assert "auth_id" not in room.metadata  # unauthenticated mode records no owner

        status, body = await post(app.port, "/token", who("gen"))
        assert status == 200, body
        assert body["room_name"].startswith("onboarding-")
        assert [r.name for r in await admin.list_rooms([body["room_name"]])] == [body["room_name"]]
    finally:
        await admin.aclose()
    assert app.rooms is not None
    assert body["room_name"] in app.rooms.active_rooms  # the bot went in


async def test_livekit_refusing_our_key_is_500_livekit_error_without_the_secret(
    livekit: LiveKitSettings,
) -> None:
    wrong = LiveKitSettings(livekit.url, livekit.api_key, "a-wrong-secret-never-shown")
    app = ContextBotApp(Settings(livekit=wrong, port=0, repo=REPO_ROOT), handle_signals=False)
    await app.startup()
    try:
        status, body = await post(app.port, "/token", who("eve", room_name="refused-1"))
    finally:
        await app.shutdown()
    assert (status, body["error"]["code"]) == (500, "livekit_error")
    assert "a-wrong-secret-never-shown" not in str(body)


async def test_readyz_is_ready_against_a_live_server(running_app: Any) -> None:
    app: ContextBotApp = await running_app()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{app.port}/readyz") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"status": "ready", "livekit": "ok", "knowledge": "loaded"}


# -- tenants and ownership ---------------------------------------------------------------


async def test_the_owner_gets_tokens_and_another_tenant_gets_403(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    app: ContextBotApp = await running_app(**AUTH_SETTINGS)
    status, body = await post(app.port, "/token", who("a1", room_name="owned-1"))
    assert (status, body["error"]["code"]) == (401, "auth_required")

    status, body = await post(
        app.port, "/token", who("a1", room_name="owned-1"), api_key_of("acme")
    )
    assert status == 200, body
    assert await owner_in_livekit(livekit, "owned-1") == "acme"
    # The same tenant through its other credential: a bearer JWT whose subject is acme.
    status, body = await post(app.port, "/token", who("a2", room_name="owned-1"), bearer_of("acme"))
    assert status == 200, body
    status, body = await post(
        app.port, "/token", who("g1", room_name="owned-1"), api_key_of("globex")
    )
    assert (status, body["error"]["code"]) == (403, "room_owned_by_other_tenant")
    assert await owner_in_livekit(livekit, "owned-1") == "acme"


async def test_two_tenants_racing_for_twenty_new_rooms_leave_one_owner_each(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    """docs/design.md fact 7: CreateRoom alone lost this race in 5 of 20 trials."""
    app: ContextBotApp = await running_app(**AUTH_SETTINGS)
    rooms = [f"race-{i}" for i in range(20)]
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(
                post(app.port, "/token", who(f"{tenant}-user", room_name=room), creds, http)
                for room in rooms
                for tenant, creds in (("acme", api_key_of("acme")), ("globex", bearer_of("globex")))
            )
        )
    for i, room in enumerate(rooms):
        (acme_status, acme_body), (globex_status, globex_body) = results[2 * i : 2 * i + 2]
        assert sorted([acme_status, globex_status]) == [200, 403], (room, acme_body, globex_body)
        winner = "acme" if acme_status == 200 else "globex"
        loser_body = globex_body if winner == "acme" else acme_body
        assert loser_body["error"]["code"] == "room_owned_by_other_tenant"
        assert await owner_in_livekit(livekit, room) == winner, room


async def test_two_endpoint_instances_sharing_one_store_leave_one_owner(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    """Each instance has its own per-name locks; only the shared store orders them."""
    bot: ContextBotApp = await running_app(**AUTH_SETTINGS)
    shared = InMemoryOwnershipStore()
    runners, admins = [], []
    try:
        for _ in range(2):
            admin = Admin(livekit)
            admins.append(admin)
            service = TokenService(bot.settings, admin, bot.rooms, ownership=shared)
            runner = web.AppRunner(create_app(service))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
        ports = [runner.addresses[0][1] for runner in runners]
        rooms = [f"shared-{i}" for i in range(10)]
        results = await asyncio.gather(
            *(
                post(port, "/token", who(tenant, room_name=room), api_key_of(tenant))
                for room in rooms
                for port, tenant in zip(ports, ("acme", "globex"), strict=True)
            )
        )
        for i, room in enumerate(rooms):
            statuses = [results[2 * i][0], results[2 * i + 1][0]]
            assert sorted(statuses) == [200, 403], (room, results[2 * i : 2 * i + 2])
            winner = "acme" if statuses[0] == 200 else "globex"
            assert await owner_in_livekit(livekit, room) == winner
    finally:
        for runner in runners:
            await runner.cleanup()
        for admin in admins:
            await admin.aclose()


async def test_after_a_restart_the_rooms_metadata_still_decides_who_owns_it(
    running_app: Any, connect: Any, livekit: LiveKitSettings
) -> None:
    settings = Settings(livekit=livekit, port=0, repo=REPO_ROOT, **AUTH_SETTINGS)
    first = ContextBotApp(settings, handle_signals=False)
    await first.startup()
    try:
        status, body = await post(
            first.port, "/token", who("a1", room_name="restart-1"), api_key_of("acme")
        )
        assert status == 200, body
        await connect("restart-1", "a1", token=body["token"])  # keeps the room alive
    finally:
        await first.shutdown()

    second: ContextBotApp = await running_app(**AUTH_SETTINGS)  # an empty in-memory store
    status, body = await post(
        second.port, "/token", who("g1", room_name="restart-1"), api_key_of("globex")
    )
    assert (status, body["error"]["code"]) == (403, "room_owned_by_other_tenant")
    status, body = await post(
        second.port, "/token", who("a2", room_name="restart-1"), api_key_of("acme")
    )
    assert status == 200, body


async def test_a_room_with_no_owner_on_record_is_refused_to_every_tenant(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    admin = Admin(livekit)
    try:
        await admin.ensure_room("made-elsewhere", {"purpose": "someone else's"})
    finally:
        await admin.aclose()
    app: ContextBotApp = await running_app(**AUTH_SETTINGS)
    for tenant in ("acme", "globex"):
        status, body = await post(
            app.port, "/token", who(tenant, room_name="made-elsewhere"), api_key_of(tenant)
        )
        assert (status, body["error"]["code"]) == (403, "room_unowned")
    assert await owner_in_livekit(livekit, "made-elsewhere") is None


async def test_a_bot_that_cannot_join_is_503_bot_join_failed(livekit: LiveKitSettings) -> None:
    """CreateRoom works but the bot's connection goes to a port nobody listens on."""
    nowhere = LiveKitSettings(f"ws://127.0.0.1:{free_port()}", livekit.api_key, livekit.api_secret)
    admin = Admin(livekit)
    rooms = RoomManager(nowhere, BotIdentity("context-bot", "Bot"), handlers=None)  # type: ignore[arg-type]
    service = TokenService(Settings(livekit=livekit, repo=REPO_ROOT), admin, rooms)
    runner = web.AppRunner(create_app(service))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        status, body = await post(port, "/token", who("ada", room_name="no-bot-1"))
    finally:
        await runner.cleanup()
        await admin.aclose()
    assert (status, body["error"]["code"]) == (503, "bot_join_failed")


async def test_a_room_recreated_by_a_token_comes_back_as_we_made_it(
    running_app: Any, livekit: LiveKitSettings
) -> None:
    """A restarted server, or a room closed meanwhile: the participant's join recreates
    the room, and the token's room configuration gives it our metadata and timeouts."""
    app: ContextBotApp = await running_app(departure_timeout_s=7, empty_timeout_s=77)
    status, body = await post(app.port, "/token", who("ada", room_name="recreated-1"))
    assert status == 200, body
    assert app.admin is not None and app.rooms is not None
    first = (await app.admin.list_rooms(["recreated-1"]))[0].metadata
    await app.rooms.leave("recreated-1")
    async with api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret) as lk:
        await lk.room.delete_room(api.DeleteRoomRequest(room="recreated-1"))
        assert not (await lk.room.list_rooms(api.ListRoomsRequest(names=["recreated-1"]))).rooms

        room = rtc.Room()
        await room.connect(body["server_url"], body["token"])
        try:
            listed = await lk.room.list_rooms(api.ListRoomsRequest(names=["recreated-1"]))
        finally:
            await room.disconnect()
    again = listed.rooms[0]
    assert json.loads(again.metadata) == first
    assert first["context_bot"]["bot_identity"] == "context-bot"
    assert (again.departure_timeout, again.empty_timeout) == (7, 77)

"""Nobody becomes the bot: `/token` refuses its identity, clients trust only the hidden bot,
and a bot put out of its room by an impostor is back at once.

The impostor holds a token minted with the API keys under the bot's identity: the one way
left to take that identity once `/token` refuses it, and what a leaked key or a token
handed out before the identity was reserved amounts to. LiveKit lets one connection per
identity into a room, so its join puts the bot out (DUPLICATE_IDENTITY).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from livekit import api, rtc

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings
from context_bot.protocol import TOPIC_PUSH, TOPIC_REQUEST, TOPIC_RESPONSE
from tests.integration.conftest import REPO_ROOT
from tests.integration.test_end_to_end import join_with_token
from tests.integration.test_restart import start_app
from tests.integration.web_helpers import AUTH_SETTINGS, api_key_of, post, who

pytestmark = pytest.mark.integration

BOT = "context-bot"
FORGED = "# Forged by an impostor\n"


def impostor_token(livekit: LiveKitSettings, room: str, identity: str = BOT) -> str:
    """What a holder of the API keys can mint: a visible participant under any identity."""
    grants = api.VideoGrants(room_join=True, room=room, can_publish_data=True)
    return (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_identity(identity)
        .with_name("Context Bot")
        .with_grants(grants)
        .to_jwt()
    )


class Impostor:
    """A participant under the bot's identity that answers every request with forged
    content and pushes a forged overview to whoever asks."""

    def __init__(self) -> None:
        self.room = rtc.Room()
        self.forged = asyncio.Event()
        self.ended: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self.room.register_text_stream_handler(TOPIC_REQUEST, self._on_request)
        self.room.on("disconnected", self._on_disconnected)

    async def join(self, livekit: LiveKitSettings, room: str) -> None:
        await self.room.connect(
            livekit.url, impostor_token(livekit, room), rtc.RoomOptions(auto_subscribe=False)
        )

    def _on_disconnected(self, reason: int) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)

    def _on_request(self, reader: rtc.TextStreamReader, sender: str) -> None:
        task = asyncio.create_task(self._forge(reader, sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forge(self, reader: rtc.TextStreamReader, sender: str) -> None:
        request = json.loads(await reader.read_all())
        content = {"text": FORGED, "size": len(FORGED), "sha": "0" * 40, "line_count": 1}
        result = {"path": "README.md", "knowledge": None, "content": content}
        answer = {"v": 1, "id": request["id"], "ok": True, "result": result}
        push = {"v": 1, "event": "overview", "data": {"knowledge_version": "x", "text": FORGED}}
        local = self.room.local_participant
        await local.send_text(
            json.dumps(answer), topic=TOPIC_RESPONSE, destination_identities=[sender]
        )
        await local.send_text(json.dumps(push), topic=TOPIC_PUSH, destination_identities=[sender])
        self.forged.set()

    async def leave(self) -> None:
        await self.room.disconnect()


async def holder_of(livekit: LiveKitSettings, room: str) -> api.ParticipantInfo | None:
    """Whoever holds the bot's identity in `room`, as the server lists it."""
    async with api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret) as lk:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return next((p for p in listed.participants if p.identity == BOT), None)


async def until_the_bot_holds(livekit: LiveKitSettings, room: str, within: float) -> float:
    """Seconds until a hidden agent holds the bot's identity in `room`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(within):
        while True:
            holder = await holder_of(livekit, room)
            if holder is not None and holder.permission.hidden:
                assert holder.kind == api.ParticipantInfo.Kind.AGENT
                return loop.time() - started
            await asyncio.sleep(0.1)


@pytest.mark.parametrize(
    ("mode", "settings", "headers"),
    [
        ("open", {}, None),
        ("authenticated", AUTH_SETTINGS, api_key_of("acme")),
        ("web role with dispatch", {"role": "web", "agent_name": "ctx-reserved"}, None),
    ],
)
async def test_the_token_endpoint_never_hands_out_the_bots_identity(
    running_app: Any,
    livekit: LiveKitSettings,
    mode: str,
    settings: dict[str, Any],
    headers: dict[str, str] | None,
) -> None:
    app: ContextBotApp = await running_app(**settings)
    room = f"reserved-{mode.split()[0]}"
    status, body = await post(app.port, "/token", who(BOT, room_name=room), headers)
    assert status == 403, body
    assert body["error"]["code"] == "reserved_identity"
    assert "reserved" in body["error"]["message"]

    # The comparison is exact, as LiveKit's: a look-alike is another participant.
    status, body = await post(app.port, "/token", who("Context-Bot", room_name=room), headers)
    assert status == 200, body
    assert body["participant_identity"] == "Context-Bot"


async def test_a_look_alike_identity_does_not_displace_the_bot(
    running_app: Any, livekit: LiveKitSettings, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    person = await join_with_token(app, connect, "look-alike", "Context-Bot")
    client = ContextClient(person)
    assert (await client.file("README.md")).content == (REPO_ROOT / "README.md").read_text()
    holder = await holder_of(livekit, "look-alike")
    assert holder is not None and holder.permission.hidden
    assert app.rooms is not None and app.rooms.active_rooms == ["look-alike"]


async def test_an_impostor_that_puts_the_bot_out_is_put_out_at_once(
    running_app: Any, livekit: LiveKitSettings, connect: Any
) -> None:
    # No periodic reconcile: coming back is the displaced bot's own doing.
    app: ContextBotApp = await running_app(reconcile_interval_s=3600)
    person = await join_with_token(app, connect, "displaced-1", "ada")
    client = ContextClient(person)
    await client.overview()

    impostor = Impostor()
    await impostor.join(livekit, "displaced-1")
    try:
        back_after = await until_the_bot_holds(livekit, "displaced-1", within=10)
        result = await client.file("README.md")
        assert result.content == (REPO_ROOT / "README.md").read_text()
        assert await client.overview() != FORGED
        # Put out for good: its SDK saw the bot's join take the identity back.
        reason = await asyncio.wait_for(asyncio.shield(impostor.ended), 30)
        assert reason == rtc.DisconnectReason.DUPLICATE_IDENTITY
        await until_the_bot_holds(livekit, "displaced-1", within=10)
        assert app.rooms is not None and app.rooms.active_rooms == ["displaced-1"]
        print(f"the bot held its identity again {back_after:.2f} s after its join returned")
    finally:
        await impostor.leave()


async def test_another_bot_of_ours_that_takes_the_room_keeps_it(
    livekit: LiveKitSettings, connect: Any
) -> None:
    """Two bot processes do not fight: the displaced one sees a hidden agent and leaves."""
    first = await start_app(livekit)
    second = await start_app(livekit)
    try:
        assert first.rooms is not None and second.rooms is not None
        person = await join_with_token(first, connect, "two-bots", "grace")
        await second.rooms.join("two-bots")
        async with asyncio.timeout(10):
            while "two-bots" in first.rooms.active_rooms:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # time enough for a wrong reclaim (it takes well under 1 s)
        assert first.rooms.active_rooms == []
        assert second.rooms.active_rooms == ["two-bots"]
        client = ContextClient(person)
        assert (await client.file("README.md")).content == (REPO_ROOT / "README.md").read_text()
    finally:
        await second.shutdown()
        await first.shutdown()


async def test_a_client_ignores_an_impostors_answers_and_the_real_bot_answers(
    livekit: LiveKitSettings, connect: Any
) -> None:
    first = await start_app(livekit)
    try:
        person = await join_with_token(first, connect, "forged-1", "linus")
        client = ContextClient(person)
        real_overview = await client.overview()
    finally:
        await first.shutdown()  # the bot leaves; the room lives on with its participant

    # With no bot in the room, the impostor takes the identity without displacing anyone,
    # receives the request addressed to it, and answers first.
    impostor = Impostor()
    await impostor.join(livekit, "forged-1")
    try:
        pending = asyncio.create_task(client.file("README.md"))
        await asyncio.wait_for(impostor.forged.wait(), 10)
        await asyncio.sleep(1)  # the forged answer and push have arrived, and were dropped
        assert not pending.done()
        assert await client.overview() == real_overview

        # A new bot process finds the room held by someone who is not a bot, joins (which
        # puts the impostor out) and answers the pending request on its next attempt.
        second = await start_app(livekit)
        try:
            result = await pending
            assert result.content == (REPO_ROOT / "README.md").read_text()
            reason = await asyncio.wait_for(asyncio.shield(impostor.ended), 10)
            assert reason == rtc.DisconnectReason.DUPLICATE_IDENTITY
        finally:
            await second.shutdown()
    finally:
        await impostor.leave()

"""Nobody becomes the bot: `/token` refuses its identity.

LiveKit lets one connection per identity into a room, so a token under the bot's identity
would put the bot out (DUPLICATE_IDENTITY).
"""

from __future__ import annotations

from typing import Any

import pytest
from livekit import api

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.config import LiveKitSettings
from tests.integration.conftest import REPO_ROOT
from tests.integration.test_end_to_end import join_with_token
from tests.integration.web_helpers import AUTH_SETTINGS, api_key_of, post, who

pytestmark = pytest.mark.integration

BOT = "context-bot"


async def holder_of(livekit: LiveKitSettings, room: str) -> api.ParticipantInfo | None:
    """Whoever holds the bot's identity in `room`, as the server lists it."""
    async with api.LiveKitAPI(livekit.url, livekit.api_key, livekit.api_secret) as lk:
        listed = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return next((p for p in listed.participants if p.identity == BOT), None)


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

"""The server-API side of LiveKit: join tokens, the room service, webhook signatures.

The only module that imports `livekit.api`. It turns the SDK's failures into our two
errors: `LiveKitUnavailable` when the server cannot be reached (HTTP 503 upstream) and
`LiveKitFailure` when it answered with an error (HTTP 500). Neither message carries a
key, a secret or a token.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
from livekit import api

from context_bot.config import LiveKitSettings
from context_bot.errors import LiveKitFailure, LiveKitUnavailable
from context_bot.protocol import PROTOCOL_VERSION

API_TIMEOUT_S = 10.0
"""The most any one call to LiveKit's server API may take, enforced by `Admin._call`."""
BOT_TOKEN_TTL = timedelta(hours=24)
"""Long enough for any session; the bot re-mints a token for every (re)join anyway."""
NO_AVAILABLE_NODES = "could not find any available nodes"
"""livekit-server's refusal (Twirp code `unknown`) while no node's load figures are fresh,
for a few seconds after a stopped server (SIGSTOP) resumes, say. It is a named error of
the server's node selector (`ErrNoAvailableNodes`), so its text is stable, and it means
"try again shortly": `LiveKitUnavailable` (503) rather than a refusal (500)."""


@dataclass(frozen=True)
class RoomInfo:
    name: str
    metadata: dict[str, Any]
    num_participants: int
    created_at: float = 0.0
    """Unix time the server created the room."""


def bot_token(settings: LiveKitSettings, room: str, identity: str, name: str) -> str:
    """The bot's token: hidden, agent kind, data only (docs/design.md, fact 1).

    Agent kind makes the bot a *dependent* participant: it never keeps a room alive.
    `hidden` keeps it out of everyone's participant list; it still receives streams
    addressed to its identity.
    """
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        hidden=True,
        can_publish=False,
        can_publish_data=True,
        can_subscribe=True,
    )
    return (
        api.AccessToken(settings.api_key, settings.api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_kind("agent")
        .with_grants(grants)
        .with_ttl(BOT_TOKEN_TTL)
        .to_jwt()
    )


def participant_token(
    settings: LiveKitSettings, room: str, identity: str, name: str, ttl: timedelta
) -> str:
    """A user's token: this room only; join, publish, subscribe, publish data. Never hidden."""
    return join_token(settings, room, identity, name, ttl)


def join_token(
    settings: LiveKitSettings,
    room: str,
    identity: str,
    name: str,
    ttl: timedelta,
    metadata: str = "",
    room_config: api.RoomConfiguration | None = None,
) -> str:
    """`participant_token` with the participant's metadata, as `POST /token` hands out.

    No admin, create, list, record or hidden grant: the holder can join this one room and
    nothing else, and is never mistaken for the bot (docs/design.md, fact 4). `room_config` is
    what the server applies when this token's join has to create the room.
    """
    grants = api.VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=True,
    )
    token = (
        api.AccessToken(settings.api_key, settings.api_secret)
        .with_identity(identity)
        .with_name(name)
        .with_grants(grants)
        .with_ttl(ttl)
    )
    if metadata:
        token = token.with_metadata(metadata)
    if room_config is not None:
        token = token.with_room_config(room_config)
    return token.to_jwt()


def room_configuration(
    metadata: dict[str, Any],
    *,
    departure_timeout_s: int,
    empty_timeout_s: int,
    agent_name: str = "",
) -> api.RoomConfiguration:
    """The room as we create it, carried in every participant's token.

    livekit-server applies a token's room configuration when that token's join creates
    the room (livekit-server 1.13.5, `SetRoomConfiguration`). A restarted server has no
    rooms: the first participant to reconnect recreates theirs, and with this it comes
    back with our metadata, our timeouts and, in worker mode, its agent dispatch, as a
    room recreated after it closed does."""
    config = api.RoomConfiguration(
        metadata=json.dumps(metadata),
        departure_timeout=departure_timeout_s,
        empty_timeout=empty_timeout_s,
    )
    if agent_name:
        config.agents.append(api.RoomAgentDispatch(agent_name=agent_name))
    return config


def worker_token(settings: LiveKitSettings) -> str:
    """What a dispatch worker presents to the server's `/agent` endpoint."""
    return (
        api.AccessToken(settings.api_key, settings.api_secret)
        .with_grants(api.VideoGrants(agent=True))
        .to_jwt()
    )


METADATA_KEY = "context_bot"


def room_metadata(bot_identity: str, repo: str) -> dict[str, Any]:
    """What a room created by us records: who serves it and how to reach the bot."""
    return {
        METADATA_KEY: {"bot_identity": bot_identity, "protocol": PROTOCOL_VERSION, "repo": repo}
    }


def created_by_us(metadata: dict[str, Any]) -> bool:
    """Whether a room's (parsed) metadata carries our key, whoever the bot is."""
    return METADATA_KEY in metadata


def is_bot_connection(participant: api.ParticipantInfo) -> bool:
    """Whether a participant under the bot's identity is one of our bot processes.

    Our bots connect hidden and of kind agent (`bot_token`; a worker registers with those
    permissions), and a hidden grant comes only from a token minted with the API keys,
    which `/token` never gives out (`join_token`). Anything else holding the identity is
    an impostor (a key-minted token of another kind, or a leak from before identities were
    reserved), and the bot takes the room back."""
    return participant.permission.hidden and participant.kind == api.ParticipantInfo.Kind.AGENT


@dataclass(frozen=True)
class Presence:
    """A room's participants as the bot sees them: is anyone there to serve, and who
    holds the bot's identity."""

    people: bool
    """Someone who is not an agent, besides whoever holds the bot's identity."""
    holder_sid: str | None
    """The connection under the bot's identity, if any."""
    held_by_bot: bool
    """That connection is one of our bots (`is_bot_connection`), perhaps a stale one."""
    holder_active: bool = False
    """That connection is up (ACTIVE), not still joining."""

    @property
    def needs_bot(self) -> bool:
        """People to serve and no bot serving them (nobody under our identity, or an
        impostor, whom a join puts out)."""
        return self.people and not self.held_by_bot


class Admin:
    """Room-service calls with one HTTP session for the process's lifetime."""

    def __init__(self, settings: LiveKitSettings) -> None:
        self._settings = settings
        self._api: api.LiveKitAPI | None = None

    def _client(self) -> api.LiveKitAPI:
        if self._api is None:
            self._api = api.LiveKitAPI(
                self._settings.url,
                self._settings.api_key,
                self._settings.api_secret,
                timeout=aiohttp.ClientTimeout(total=API_TIMEOUT_S),
            )
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def ensure_room(
        self,
        name: str,
        metadata: dict[str, Any],
        *,
        departure_timeout_s: int = 20,
        empty_timeout_s: int = 300,
    ) -> RoomInfo:
        """Create the room if missing; an existing room keeps its metadata (fact 7)."""
        request = api.CreateRoomRequest(
            name=name,
            metadata=json.dumps(metadata),
            departure_timeout=departure_timeout_s,
            empty_timeout=empty_timeout_s,
        )
        room = await self._call(self._client().room.create_room(request))
        return _room_info(room)

    async def list_rooms(self, names: list[str] | None = None) -> list[RoomInfo]:
        response = await self._call(
            self._client().room.list_rooms(api.ListRoomsRequest(names=names or []))
        )
        return [_room_info(r) for r in response.rooms]

    async def needs_bot(self, room: str, bot_identity: str) -> bool:
        """Whether `room` has people (not agents) in it and no bot of ours.

        Asked per room because `ListRooms`' participant count stayed 0 with a participant
        connected for 4 s (livekit-server 1.13.5, measured in tests/integration). Checking
        for a bot connection keeps several bot processes from taking rooms off each other;
        an impostor under our identity is no bot, and joining puts it out."""
        return (await self.presence(room, bot_identity)).needs_bot

    async def presence(self, room: str, bot_identity: str) -> Presence:
        """Who is in `room`, as far as the bot cares (`Presence`)."""
        response = await self._call(
            self._client().room.list_participants(api.ListParticipantsRequest(room=room))
        )
        holder = next((p for p in response.participants if p.identity == bot_identity), None)
        people = any(
            p.kind != api.ParticipantInfo.Kind.AGENT and p.identity != bot_identity
            for p in response.participants
        )
        if holder is None:
            return Presence(people, None, held_by_bot=False)
        return Presence(
            people,
            holder.sid,
            held_by_bot=is_bot_connection(holder),
            holder_active=holder.state == api.ParticipantInfo.State.ACTIVE,
        )

    async def ensure_dispatch(self, room: str, agent_name: str) -> bool:
        """Ask LiveKit's agent dispatch to send a worker of `agent_name` into `room`,
        unless a dispatch for it exists already. Returns whether one was created."""
        dispatch = self._client().agent_dispatch
        existing = await self._call(dispatch.list_dispatch(room))
        if any(d.agent_name == agent_name for d in existing):
            return False
        request = api.CreateAgentDispatchRequest(room=room, agent_name=agent_name)
        await self._call(dispatch.create_dispatch(request))
        return True

    async def room_exists(self, name: str) -> bool:
        return bool(await self.list_rooms([name]))

    async def restore_metadata(self, name: str, metadata: str) -> bool:
        """Give `name` back the metadata we created it with, if it has lost our key.

        A restarted livekit-server remembers no room: the first participant to reconnect
        recreates it with empty metadata, and without our key the reconcile, the
        webhooks and the ownership check no longer know it as ours. Returns whether the
        metadata was written."""
        listed = await self.list_rooms([name])
        if not listed or created_by_us(listed[0].metadata):
            return False
        request = api.UpdateRoomMetadataRequest(room=name, metadata=metadata)
        await self._call(self._client().room.update_room_metadata(request))
        return True

    async def _call(self, awaitable: Any) -> Any:
        """Every server-API call goes through here: one deadline, our two errors.

        The deadline is ours, not the HTTP session's: livekit-api 1.2.2 passes
        `timeout=None` to each request, which tells aiohttp "no timeout" and overrides
        the session's. A stopped livekit-server (SIGSTOP) accepts the connection and
        never answers, so `/token` waited until it resumed (issue 14, item 8)."""
        try:
            async with asyncio.timeout(API_TIMEOUT_S):
                return await awaitable
        except api.TwirpError as exc:
            if exc.message == NO_AVAILABLE_NODES:
                raise LiveKitUnavailable(
                    f"LiveKit server cannot take rooms yet ({NO_AVAILABLE_NODES}); retry shortly"
                ) from None
            raise LiveKitFailure(f"LiveKit refused the call: {exc.code}: {exc.message}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise LiveKitUnavailable(
                f"LiveKit server unreachable ({exc.__class__.__name__})"
            ) from None


def _room_info(room: api.Room) -> RoomInfo:
    return RoomInfo(
        room.name, parse_metadata(room.metadata), room.num_participants, float(room.creation_time)
    )


def parse_metadata(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class WebhookNotice:
    """What we use of one LiveKit webhook event."""

    event: str
    room: str
    room_metadata: dict[str, Any]
    participant_identity: str
    participant_is_agent: bool
    event_id: str = ""
    """LiveKit's unique id of the event: the same id twice is a replay."""
    created_at: float = 0.0
    """Unix seconds when LiveKit made the event."""
    room_sid: str = ""
    """Which instance of the room named `room` (a name is reused after a room closes)."""


def verify_webhook(
    settings: LiveKitSettings, body: bytes, authorization: str
) -> WebhookNotice | None:
    """The event if LiveKit signed it with our key (a JWT over the body's SHA-256), else None.

    LiveKit sends the JWT bare in `Authorization`; a `Bearer ` prefix is tolerated. Any
    failure (bad signature, other key, hash mismatch, expired, not UTF-8) is a refusal:
    the caller answers 401 without saying more.
    """
    token = authorization.removeprefix("Bearer ").strip()
    receiver = api.WebhookReceiver(api.TokenVerifier(settings.api_key, settings.api_secret))
    try:
        event = receiver.receive(body.decode("utf-8"), token)
    except Exception:  # the SDK raises bare Exception for a hash mismatch
        return None
    participant = event.participant
    return WebhookNotice(
        event=event.event,
        room=event.room.name,
        room_metadata=parse_metadata(event.room.metadata),
        participant_identity=participant.identity,
        participant_is_agent=participant.kind == api.ParticipantInfo.Kind.AGENT,
        event_id=event.id,
        created_at=float(event.created_at),
        room_sid=event.room.sid,
    )


@dataclass(frozen=True)
class RoomPass:
    """Who a verified room participant token names: its identity and its room."""

    identity: str
    room: str


def verify_participant_token(settings: LiveKitSettings, token: str) -> RoomPass | None:
    """The identity and room of a join token signed with our API key and secret, else None.

    What lets an agent already in a room use `/mcp` with the token it holds (endpoint/mcp.py):
    LiveKit's own verifier (HS256, our key as issuer, `exp` required), and a room-join
    grant naming a room, as LiveKit itself requires to join. Any failure is a refusal; the
    caller says no more than that."""
    if not settings.api_key or not settings.api_secret:
        return None
    try:
        claims = api.TokenVerifier(settings.api_key, settings.api_secret).verify(token)
    except Exception:  # PyJWT's errors and the SDK's ValueError alike: not ours
        return None
    video = claims.video
    if video is None or not video.room_join or not video.room or not claims.identity:
        return None
    return RoomPass(claims.identity, video.room)

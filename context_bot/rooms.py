"""The bot's life in LiveKit rooms: the active-rooms map and one session per room.

The only module that imports `livekit.rtc`. What it builds on (DESIGN.md, re-checked by
tests/integration):

- the bot joins hidden, of kind agent, data only (fact 1): it never keeps a room alive;
- the server tells it about a newcomer only on a 3-second tick (fact 2), so clients ask
  for the overview as soon as they connect (pull), and the bot pushes it on
  `participant_active`, and to everyone already present when it joins, only to those who
  have not asked for the current knowledge version;
- everything goes out as a text stream addressed to one identity (facts 3, 4, 6);
- two peer connections and one-time ICE gathering cost a fifth of the CPU of the SDK
  defaults (fact 9); the price, a slow first answer, is paid at join time with one small
  data packet that opens the publisher connection early.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from livekit import rtc

from context_bot.admin import bot_token
from context_bot.config import LiveKitSettings
from context_bot.errors import InternalError, PayloadTooLarge, RequestError
from context_bot.handlers import Handlers
from context_bot.protocol import (
    ID_ATTRIBUTE,
    MAX_REQUEST_BYTES,
    TOPIC_PUSH,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    encode_error,
    encode_push,
    encode_result,
    parse_request,
    request_id_of,
)

log = structlog.get_logger(__name__)

WARMUP_TOPIC = "context-bot/warmup"
CONNECT_TIMEOUT_S = 10.0


def room_options() -> rtc.RoomOptions:
    """Options for the bot's connections; see the module docstring for the numbers."""
    return rtc.RoomOptions(
        auto_subscribe=False,
        single_peer_connection=False,
        rtc_config=rtc.RtcConfiguration(
            continual_gathering_policy=rtc.ContinualGatheringPolicy.GATHER_ONCE,
        ),
        data_stream=rtc.DataStreamOptions(max_payload_byte_length=MAX_REQUEST_BYTES),
    )


@dataclass(frozen=True)
class BotIdentity:
    identity: str
    name: str


class RoomSession:
    """The bot in one room: answers requests, pushes the overview, tracks who has it."""

    def __init__(
        self,
        name: str,
        livekit: LiveKitSettings,
        bot: BotIdentity,
        handlers: Handlers,
        on_closed: Callable[[RoomSession], None],
    ) -> None:
        self.name = name
        self._livekit = livekit
        self._bot = bot
        self._handlers = handlers
        self._on_closed = on_closed
        self.room = rtc.Room()
        self._served: dict[str, str] = {}  # identity → knowledge version it holds
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.log = log.bind(room=name)

    @property
    def connected(self) -> bool:
        return self.room.isconnected()

    async def connect(self) -> None:
        # Handlers go in before connect: a client may ask the instant the bot arrives.
        self.room.register_text_stream_handler(TOPIC_REQUEST, self._on_request_stream)
        self.room.on("participant_active", self._on_participant_active)
        self.room.on("participant_disconnected", self._on_participant_disconnected)
        self.room.on("disconnected", self._on_disconnected)
        token = bot_token(self._livekit, self.name, self._bot.identity, self._bot.name)
        await asyncio.wait_for(
            self.room.connect(self._livekit.url, token, room_options()), CONNECT_TIMEOUT_S
        )
        self.log.info("room_joined", participants=len(self.room.remote_participants))
        await self.room.local_participant.publish_data(
            b"{}", topic=WARMUP_TOPIC, destination_identities=[self._bot.identity]
        )
        # No event fires for those already here (fact 3): walk them once.
        for participant in list(self.room.remote_participants.values()):
            self._spawn(self._push_overview(participant.identity), "push_overview")

    async def aclose(self) -> None:
        """Leave the room; requests in flight are cancelled (the drain is the app's job)."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.room.disconnect()

    # -- events -------------------------------------------------------------------------

    def _on_participant_active(self, participant: rtc.RemoteParticipant) -> None:
        self._spawn(self._push_overview(participant.identity), "push_overview")

    def _on_participant_disconnected(self, participant: rtc.RemoteParticipant) -> None:
        self._served.pop(participant.identity, None)

    def _on_disconnected(self, reason: object = None) -> None:
        self.log.info("room_left", reason=_reason_name(reason), closing=self._closing)
        self._on_closed(self)

    def _on_request_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        self._spawn(self._serve(reader, sender), "serve_request")

    # -- work ---------------------------------------------------------------------------

    def _spawn(self, coro: object, what: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=f"{what}:{self.name}")  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("task_failed", task=task.get_name(), exc_info=task.exception())

    async def _serve(self, reader: rtc.TextStreamReader, sender: str) -> None:
        attributes = reader.info.attributes or {}
        request_id: str | None = attributes.get(ID_ATTRIBUTE) or None
        with structlog.contextvars.bound_contextvars(
            room=self.name, participant=sender, request_id=request_id
        ):
            try:
                text = await reader.read_all()
            except rtc.StreamError as exc:
                self.log.warning("request_unreadable", participant=sender, reason=str(exc))
                error: RequestError = PayloadTooLarge(
                    f"request unreadable: larger than {MAX_REQUEST_BYTES} bytes or cut off"
                )
                await self._send(sender, encode_error(request_id, error))
                return
            request_id = request_id_of(text) or request_id
            try:
                request = parse_request(text)
                result = await self._handlers.handle(request)
            except RequestError as exc:
                log.info("request_refused", code=exc.code, reason=exc.message)
                await self._send(sender, encode_error(request_id, exc))
                return
            except Exception:
                log.exception("request_crashed")
                error = InternalError("the bot failed to answer; it has been logged")
                await self._send(sender, encode_error(request_id, error))
                return
            if request.method == "overview":
                self._served[sender] = str(result.get("knowledge_version", ""))
            await self._send(sender, encode_result(request.id, result))
            log.info("request_served", method=request.method)

    async def _push_overview(self, identity: str) -> None:
        result = self._handlers.overview_result()
        version = str(result["knowledge_version"])
        if identity == self._bot.identity or self._served.get(identity) == version:
            return
        self._served[identity] = version
        await self._send_push(identity, encode_push("overview", result))
        self.log.info("overview_pushed", participant=identity, knowledge_version=version)

    async def _send(self, identity: str, body: str) -> None:
        await self.room.local_participant.send_text(
            body, topic=TOPIC_RESPONSE, destination_identities=[identity]
        )

    async def _send_push(self, identity: str, body: str) -> None:
        await self.room.local_participant.send_text(
            body, topic=TOPIC_PUSH, destination_identities=[identity]
        )


def _reason_name(reason: object) -> str:
    try:
        return str(rtc.DisconnectReason.Name(int(reason)))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(reason)


class RoomManager:
    """The active-rooms map: at most one session per room name in this process."""

    def __init__(self, livekit: LiveKitSettings, bot: BotIdentity, handlers: Handlers) -> None:
        self._livekit = livekit
        self._bot = bot
        self._handlers = handlers
        self._sessions: dict[str, RoomSession] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._accepting = True

    @property
    def active_rooms(self) -> list[str]:
        return sorted(self._sessions)

    def session(self, name: str) -> RoomSession | None:
        return self._sessions.get(name)

    async def join(self, name: str) -> RoomSession:
        """Send the bot into `name` unless it is there already; safe to call concurrently."""
        if not self._accepting:
            raise RuntimeError("the bot is shutting down and takes no new rooms")
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            session = self._sessions.get(name)
            if session is not None and session.connected:
                return session
            session = RoomSession(name, self._livekit, self._bot, self._handlers, self._forget)
            try:
                await session.connect()
            except BaseException:
                await session.room.disconnect()
                raise
            self._sessions[name] = session
            return session

    def _forget(self, session: RoomSession) -> None:
        if self._sessions.get(session.name) is session:
            del self._sessions[session.name]
            self._locks.pop(session.name, None)

    async def aclose(self) -> int:
        """Leave every room; returns how many were left."""
        self._accepting = False
        sessions = list(self._sessions.values())
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
        self._sessions.clear()
        return len(sessions)

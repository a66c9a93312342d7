"""A small fake of the parts of `livekit.rtc.Room` that `rooms.py` and `session.py` use.

Matched to the SDK (livekit/rtc/room.py, participant.py, data_stream.py):

- `Room()` takes no argument; `name`, `metadata` are empty and `local_participant`
  raises until `connect(url, token, options)` succeeds (failure: `rtc.ConnectError`);
- events are the SDK's own `EventEmitter` and event names, emitted synchronously;
- `disconnect(reason=CLIENT_INITIATED)` does nothing on a room that is not connected,
  and otherwise emits `disconnected` with the reason, as the SDK does;
- a text stream handler is called as `handler(reader, sender_identity)`; the reader has
  `info.attributes` and `read_all()`;
- `local_participant.send_text(text, *, destination_identities, topic, ...)` and
  `publish_data(payload, *, reliable, destination_identities, topic)` are recorded in
  `sent` instead of going anywhere; `publish_data` on a room no longer connected raises
  `PublishDataError`, as the SDK's native side answers then.

`FakeServer` stands in for livekit-server. It makes the rooms (pass
`room_factory=server.room_factory`), reads the room name and identity from the join token
as the server does, keeps each room's participants and metadata, and plays what the
server tells the bot's connected rooms: someone joins, becomes active, leaves, sends a
request or a data packet. `FakeRoom.lose_connection(reason)` is the server or the network
ending the bot's connection.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import jwt
from livekit import rtc
from livekit.rtc.event_emitter import EventEmitter
from livekit.rtc.participant import PublishDataError

from context_bot.bot.session import RoomFactory

STANDARD = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
AGENT = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

_stream_ids = itertools.count(1)


@dataclass
class FakeParticipant:
    """What the bot reads of an `rtc.RemoteParticipant`."""

    identity: str
    kind: int = STANDARD
    name: str = ""


@dataclass(frozen=True)
class Sent:
    """One send of the bot: `text` for `send_text`, `data` for `publish_data`."""

    how: str
    topic: str
    destination_identities: tuple[str, ...]
    payload: str | bytes
    attributes: Mapping[str, str] | None = None
    """A text stream's attributes."""


class FakeLocalParticipant:
    def __init__(self, room: FakeRoom, identity: str) -> None:
        self._room = room
        self.identity = identity
        self.sent: list[Sent] = []

    async def send_text(
        self,
        text: str,
        *,
        destination_identities: list[str] | None = None,
        topic: str = "",
        attributes: dict[str, str] | None = None,
        reply_to_id: str | None = None,
        compress: bool = True,
    ) -> rtc.TextStreamInfo:
        await asyncio.sleep(0)  # a real send yields to the loop
        destinations = tuple(destination_identities or ())
        self.sent.append(Sent("text", topic, destinations, text, attributes))
        return rtc.TextStreamInfo(
            stream_id=f"stream-{next(_stream_ids)}",
            mime_type="text/plain",
            topic=topic,
            timestamp=0,
            size=None,
            attributes=attributes,
            attachments=[],
        )

    async def publish_data(
        self,
        payload: bytes | str,
        *,
        reliable: bool = True,
        destination_identities: list[str] | None = None,
        topic: str = "",
    ) -> None:
        await asyncio.sleep(0)
        if not self._room.isconnected():
            raise PublishDataError("engine: connection error: not connected")
        self.sent.append(Sent("data", topic, tuple(destination_identities or ()), payload))


class FakeTextStreamReader:
    def __init__(self, topic: str, text: str, attributes: dict[str, str] | None) -> None:
        self.info = rtc.TextStreamInfo(
            stream_id=f"stream-{next(_stream_ids)}",
            mime_type="text/plain",
            topic=topic,
            timestamp=0,
            size=len(text.encode()),
            attributes=attributes,
            attachments=[],
        )
        self._text = text
        self.was_read = False

    async def read_all(self) -> str:
        await asyncio.sleep(0)
        self.was_read = True
        return self._text

    def close(self) -> None:
        """As the SDK's: stop consuming (a no-op once the text is read)."""


class FakeRoom(EventEmitter[Any]):
    """One client's connection to a `FakeServer` room (what `rtc.Room()` makes)."""

    def __init__(self, server: FakeServer) -> None:
        super().__init__()
        self._server = server
        self._state = rtc.ConnectionState.CONN_DISCONNECTED
        self._name = ""
        self._metadata = ""
        self._local: FakeLocalParticipant | None = None
        self._remote: dict[str, FakeParticipant] = {}
        self._text_stream_handlers: dict[str, Callable[[Any, str], None]] = {}
        self.connect_calls: list[tuple[str, str, Any]] = []

    # -- what the bot uses -----------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def metadata(self) -> str:
        return self._metadata

    @property
    def remote_participants(self) -> Mapping[str, FakeParticipant]:
        return self._remote

    @property
    def local_participant(self) -> FakeLocalParticipant:
        if self._local is None:
            raise Exception("cannot access local participant before connecting")  # as the SDK
        return self._local

    @property
    def connection_state(self) -> int:
        return self._state

    def isconnected(self) -> bool:
        return self._state != rtc.ConnectionState.CONN_DISCONNECTED

    async def connect(self, url: str, token: str, options: Any = None) -> None:
        self.connect_calls.append((url, token, options))
        await self._server._admit(self, token)

    async def disconnect(self, *, reason: int = rtc.DisconnectReason.CLIENT_INITIATED) -> None:
        if not self.isconnected():
            return
        await asyncio.sleep(0)
        self._drop(reason)

    def register_text_stream_handler(self, topic: str, handler: Callable[[Any, str], None]) -> None:
        if topic in self._text_stream_handlers:
            raise ValueError(f"text stream handler for topic '{topic}' already set")
        self._text_stream_handlers[topic] = handler

    def unregister_text_stream_handler(self, topic: str) -> None:
        self._text_stream_handlers.pop(topic, None)

    # -- what the server does to it ----------------------------------------------------

    def _connected(self, name: str, identity: str) -> None:
        self._name = name
        self._metadata = self._server.metadata.get(name, "")
        self._local = FakeLocalParticipant(self, identity)
        self._remote = {p.identity: p for p in self._server.participants.get(name, {}).values()}
        self._state = rtc.ConnectionState.CONN_CONNECTED

    def _drop(self, reason: int) -> None:
        self._state = rtc.ConnectionState.CONN_DISCONNECTED
        self._server._gone(self)
        self.emit("connection_state_changed", self._state)
        self.emit("disconnected", reason)

    def lose_connection(self, reason: int = rtc.DisconnectReason.SIGNAL_CLOSE) -> None:
        """The server or the network ends this connection (not the bot)."""
        if self.isconnected():
            self._drop(reason)

    @property
    def sent(self) -> list[Sent]:
        return self.local_participant.sent

    def sent_on(self, topic: str) -> list[Sent]:
        return [s for s in self.sent if s.topic == topic]


@dataclass
class FakeServer:
    """livekit-server, as far as the bot's rooms can tell; call it to make a `FakeRoom`."""

    participants: dict[str, dict[str, FakeParticipant]] = field(default_factory=dict)
    """Room name → who is in it (people and other agents; not the hidden bot)."""
    metadata: dict[str, str] = field(default_factory=dict)
    made: list[FakeRoom] = field(default_factory=list)
    """Every room client made, connected or not, in order."""
    connects: int = 0
    """`connect` calls that reached the server."""
    refuse: int = 0
    """Refuse this many of the next connects with `rtc.ConnectError`."""
    gate: asyncio.Event | None = None
    """When set, every connect waits for it (to hold joins in flight)."""
    streams: list[FakeTextStreamReader] = field(default_factory=list)
    """Every text stream `ask` opened, in order (whether the bot read it)."""
    _clients: dict[str, list[FakeRoom]] = field(default_factory=dict)

    def __call__(self) -> FakeRoom:
        room = FakeRoom(self)
        self.made.append(room)
        return room

    @property
    def room_factory(self) -> RoomFactory:
        """This server as the `room_factory` of `RoomSession` and `RoomManager`, typed as
        what it stands in for."""
        return cast("RoomFactory", self)

    def clients(self, name: str) -> list[FakeRoom]:
        """The rooms connected to `name` right now."""
        return list(self._clients.get(name, []))

    async def _admit(self, room: FakeRoom, token: str) -> None:
        self.connects += 1
        claims = jwt.decode(token, options={"verify_signature": False})
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse > 0:
            self.refuse -= 1
            raise rtc.ConnectError("failed to connect: server refused")
        name = claims["video"]["room"]
        room._connected(name, claims["sub"])
        self._clients.setdefault(name, []).append(room)

    def _gone(self, room: FakeRoom) -> None:
        clients = self._clients.get(room.name, [])
        if room in clients:
            clients.remove(room)

    # -- what happens in a room ----------------------------------------------------------

    def join(self, name: str, identity: str, kind: int = STANDARD) -> FakeParticipant:
        """`identity` joins `name`: its connected clients get `participant_connected`."""
        participant = FakeParticipant(identity, kind)
        self.participants.setdefault(name, {})[identity] = participant
        for room in self.clients(name):
            room._remote[identity] = participant
            room.emit("participant_connected", participant)
        return participant

    def activate(self, name: str, identity: str) -> None:
        """`identity`'s connection is ready for data: `participant_active`."""
        participant = self.participants[name][identity]
        for room in self.clients(name):
            room.emit("participant_active", participant)

    def leave(self, name: str, identity: str) -> None:
        participant = self.participants[name].pop(identity)
        for room in self.clients(name):
            room._remote.pop(identity, None)
            room.emit("participant_disconnected", participant)

    def ask(
        self,
        name: str,
        sender: str,
        text: str,
        topic: str,
        attributes: dict[str, str] | None = None,
    ) -> None:
        """`sender` opens a text stream on `topic` to every connected bot client."""
        for room in self.clients(name):
            handler = room._text_stream_handlers.get(topic)
            if handler is not None:
                reader = FakeTextStreamReader(topic, text, attributes)
                self.streams.append(reader)
                handler(reader, sender)

    def publish(self, name: str, sender: str, data: bytes, topic: str) -> None:
        """`sender` publishes a data packet on `topic`."""
        participant = self.participants[name].get(sender)
        for room in self.clients(name):
            packet = rtc.DataPacket(
                data=data,
                kind=rtc.DataPacketKind.KIND_RELIABLE,
                participant=participant,  # type: ignore[arg-type]
                topic=topic,
            )
            room.emit("data_received", packet)


async def eventually(check: Callable[[], bool], within_s: float = 2.0) -> None:
    """Wait for what the fake's events set off in the background (pushes, leaves)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while not check():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.005)

"""Receiving text streams in tests without losing tasks or exceptions."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from livekit import rtc

from context_bot.protocol import TOPIC_RESPONSE

if TYPE_CHECKING:
    from context_bot.app import ContextBotApp


class Inbox:
    """Every text stream on `topic` that reaches `room`, as (sender, text), in order."""

    def __init__(self, room: rtc.Room, topic: str) -> None:
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        room.register_text_stream_handler(topic, self._on_stream)

    def _on_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        task = asyncio.create_task(self._read(reader, sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, reader: rtc.TextStreamReader, sender: str) -> None:
        await self.queue.put((sender, await reader.read_all()))

    async def next(self, timeout: float) -> tuple[str, str]:
        return await asyncio.wait_for(self.queue.get(), timeout)

    def empty(self) -> bool:
        return self.queue.empty()


async def packet_client(
    app: ContextBotApp, room_name: str, identity: str
) -> tuple[rtc.Room, asyncio.Queue[bytes]]:
    """A participant of `room_name` that hears answers as data packets (what a client of an
    SDK without text streams gets): its room, and the queue of the packets' bodies."""
    from tests.integration.conftest import user_token

    room = rtc.Room()
    parts: asyncio.Queue[bytes] = asyncio.Queue()
    room.on(
        "data_received",
        lambda packet: parts.put_nowait(packet.data) if packet.topic == TOPIC_RESPONSE else None,
    )
    await room.connect(
        app.settings.livekit.url, user_token(app.settings.livekit, room_name, identity)
    )
    return room, parts

"""Receiving text streams in tests without losing tasks or exceptions."""

from __future__ import annotations

import asyncio

from livekit import rtc


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

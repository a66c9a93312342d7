"""The client keeps the current overview when answers and pushes cross (PROTOCOL.md, Pushes)."""

from __future__ import annotations

import asyncio
from typing import Any

from context_bot.client import ContextClient
from context_bot.protocol import TOPIC_PUSH, encode_push
from tests.unit.fake_room import FakeTextStreamReader


class Handlers:
    """Just what the client registers on a room: its stream handlers."""

    def __init__(self) -> None:
        self.by_topic: dict[str, Any] = {}

    def register_text_stream_handler(self, topic: str, handler: Any) -> None:
        self.by_topic[topic] = handler


async def push(room: Handlers, event: str, data: dict[str, Any]) -> None:
    room.by_topic[TOPIC_PUSH](FakeTextStreamReader(TOPIC_PUSH, encode_push(event, data), {}), "")
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_overview_older_than_the_announced_change_is_not_kept() -> None:
    room = Handlers()
    client = ContextClient(room, prefetch=False)  # type: ignore[arg-type]
    await push(room, "overview", {"knowledge_version": "aaa", "text": "old"})
    assert client.knowledge_version == "aaa"
    change = {"knowledge_version": "bbb", "previous_version": "aaa"}
    await push(room, "knowledge_changed", {**change, "added": [], "changed": [], "removed": []})
    await push(room, "overview", {"knowledge_version": "bbb", "text": "new"})
    client._remember_overview({"knowledge_version": "aaa", "text": "old"})  # a late answer
    assert client.knowledge_version == "bbb"
    assert await client.overview() == "new"

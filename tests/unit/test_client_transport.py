"""How the client sends a request: a text stream until the bot says it names us, then one
data packet answered by a stream, and a resend always as a stream (PROTOCOL.md, "Asking
by data packet"; docs/design.md, fact 11)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from context_bot.client import ContextClient, ContextTimeout
from context_bot.errors import PayloadTooLarge
from context_bot.protocol import (
    ANSWER_AS_FIELD,
    ANSWER_AS_STREAM,
    ID_ATTRIBUTE,
    MAX_PACKET_REQUEST_BYTES,
    MAX_REQUEST_BYTES,
    NAMED_ATTRIBUTE,
    REPLY_TO_FIELD,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    encode_error,
    encode_result,
)
from tests.unit.fake_room import FakeTextStreamReader


@dataclass
class Bot:
    """Answers what the client sends, as the bot does: a text stream with a blank sender,
    saying `named` when `names` is set; `deaf_to_packets` drops data-packet requests."""

    names: bool = True
    deaf_to_packets: bool = False
    cut_off: int = 0  # requests answered first as read cut short (4013)
    sender: str = ""
    heard: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    room: Room | None = None

    def hear(self, how: str, body: str) -> None:
        request = json.loads(body)
        self.heard.append((how, request))
        if how == "packet" and self.deaf_to_packets:
            return
        assert self.room is not None
        attributes = {NAMED_ATTRIBUTE: "1"} if self.names else {}
        answer = encode_result(request["id"], {"path": "README.md", "asked_by": how})
        if self.cut_off:
            self.cut_off -= 1
            refused = PayloadTooLarge("request unreadable: over 16384 bytes or cut off")
            answer = encode_error(request["id"], refused)
        reader = FakeTextStreamReader(TOPIC_RESPONSE, answer, attributes)
        self.room.handlers[TOPIC_RESPONSE](reader, self.sender)


class Participant:
    def __init__(self, bot: Bot) -> None:
        self.identity = "reader"
        self._bot = bot

    async def send_text(self, text: str, *, topic: str, **options: Any) -> None:
        assert topic == TOPIC_REQUEST
        assert options["attributes"][ID_ATTRIBUTE] == json.loads(text)["id"]
        await asyncio.sleep(0)
        self._bot.hear("stream", text)

    async def publish_data(self, payload: bytes, *, topic: str, **options: Any) -> None:
        assert topic == TOPIC_REQUEST
        assert options["destination_identities"] == ["context-bot"]
        await asyncio.sleep(0)
        self._bot.hear("packet", payload.decode())


class Room:
    """What of `rtc.Room` the client uses: stream handlers and the local participant."""

    def __init__(self, bot: Bot) -> None:
        self.handlers: dict[str, Any] = {}
        self.local_participant = Participant(bot)
        bot.room = self

    def register_text_stream_handler(self, topic: str, handler: Any) -> None:
        self.handlers[topic] = handler


def client_for(bot: Bot, **options: Any) -> ContextClient:
    return ContextClient(Room(bot), prefetch=False, **options)  # type: ignore[arg-type]


async def test_requests_go_as_data_packets_once_the_bot_says_it_names_us() -> None:
    bot = Bot()
    client = client_for(bot)
    first = await client.request("file", {"path": "README.md"})
    second = await client.request("file", {"path": "README.md"})
    assert [how for how, _ in bot.heard] == ["stream", "packet"]
    assert (first["asked_by"], second["asked_by"]) == ("stream", "packet")
    _, packet = bot.heard[1]
    assert packet[REPLY_TO_FIELD] == "reader"
    assert packet[ANSWER_AS_FIELD] == ANSWER_AS_STREAM
    assert (packet["method"], packet["params"]) == ("file", {"path": "README.md"})


async def test_until_the_bot_names_us_every_request_is_a_stream() -> None:
    bot = Bot(names=False)
    client = client_for(bot)
    for _ in range(3):
        await client.request("overview")
    assert [how for how, _ in bot.heard] == ["stream"] * 3


async def test_a_named_attribute_from_anyone_but_the_bot_is_ignored() -> None:
    """An answer from a named sender is not the bot's (fact 4), nor is its `named`."""
    bot = Bot(sender="context-bot")
    client = client_for(bot, timeout=0.3, attempt_timeout=0.1)
    with pytest.raises(ContextTimeout):  # the only answers are the impostor's
        await client.request("overview")
    assert {how for how, _ in bot.heard} == {"stream"}


async def test_an_unanswered_packet_is_resent_as_a_stream_under_the_same_id() -> None:
    bot = Bot()
    client = client_for(bot, attempt_timeout=0.05)
    await client.request("overview")  # named from here on
    bot.deaf_to_packets, bot.names = True, False
    answer = await client.request("file", {"path": "README.md"})
    assert answer["asked_by"] == "stream"
    _, (how_sent, lost), (how_resent, resent) = bot.heard
    assert (how_sent, how_resent) == ("packet", "stream")
    assert lost["id"] == resent["id"]
    bot.deaf_to_packets = False
    await client.request("overview")
    assert bot.heard[-1][0] == "stream", "after a lost packet, streams until named again"


async def test_a_request_too_large_for_one_packet_goes_as_a_stream() -> None:
    bot = Bot()
    client = client_for(bot)
    await client.request("overview")
    await client.request("search", {"query": "x" * MAX_PACKET_REQUEST_BYTES})
    await client.request("search", {"query": "x"})
    assert [how for how, _ in bot.heard] == ["stream", "stream", "packet"]


async def test_a_request_read_cut_short_is_asked_again_under_a_new_id() -> None:
    """A room that reconnects in the middle of a request's stream leaves the bot a body cut
    short, which it refuses as 4013: a request under the cap is asked again, not lost."""
    bot = Bot(names=False, cut_off=2)
    client = client_for(bot)
    answer = await client.request("file", {"path": "README.md"})
    assert answer["path"] == "README.md"
    ids = [request["id"] for _, request in bot.heard]
    assert len(ids) == 3
    assert len(set(ids)) == 3


async def test_a_request_over_the_cap_is_refused_once() -> None:
    bot = Bot(names=False, cut_off=5)
    client = client_for(bot)
    with pytest.raises(PayloadTooLarge):
        await client.request("search", {"query": "x" * MAX_REQUEST_BYTES})
    assert len(bot.heard) == 1

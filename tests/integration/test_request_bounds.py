"""What one participant can make the bot hold or send: forged `reply_to`, and request
streams that never finish (issue 14, items 5 and 6). Real server, real SDK."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc

import context_bot.bot.session
from context_bot.app import ContextBotApp
from context_bot.bot.session import RoomSession
from context_bot.client import ContextClient
from context_bot.protocol import (
    MAX_OPEN_STREAMS_PER_PARTICIPANT,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    UNNAMED_ANSWER_BYTES_BURST,
    UNNAMED_ANSWER_BYTES_PER_S,
    UNNAMED_REQUESTS_BURST,
    join_packet_parts,
)
from tests.integration.conftest import user_token
from tests.integration.streams import Inbox
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

BOT = "context-bot"
STREAM_TIMEOUT_S = 2.0
"""`REQUEST_STREAM_TIMEOUT_S` in the tests that wait it out (5 s in the product): they check
that an unfinished stream is ended by the timeout, whatever its value; each request of
theirs that should finish is one short stream, sent in milliseconds."""


async def until(condition: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def joined(app: ContextBotApp, room: str, identity: str) -> rtc.Room:
    """`identity` in `room` with a plain token, not through the endpoint."""
    participant = rtc.Room()
    await participant.connect(
        app.settings.livekit.url, user_token(app.settings.livekit, room, identity)
    )
    return participant


def session_of(app: ContextBotApp, room: str) -> RoomSession:
    assert app.rooms is not None
    session = app.rooms.session(room)
    assert session is not None
    return session


async def test_forged_reply_to_spends_neither_the_addressees_limit_nor_much_of_its_link(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    """A participant that joined a moment ago (the bot cannot name it yet) sends sixty
    requests for a 100 KB file with `reply_to` naming someone else. That someone's own
    requests are still served, and what reaches it is bounded by the unnamed allowance."""
    (repo_copy / "big.txt").write_text(("x" * 99 + "\n") * 1_000)
    app: ContextBotApp = await running_app(repo=repo_copy)
    victim = await join_with_token(app, connect, "forge-room", "victim")
    session = session_of(app, "forge-room")
    assert await until(lambda: "victim" in session.room.remote_participants, 10)
    pushed: list[bytes] = []
    victim.on(
        "data_received",
        lambda packet: pushed.append(packet.data) if packet.topic == TOPIC_RESPONSE else None,
    )
    own_answers = Inbox(victim, TOPIC_RESPONSE)

    forger = await joined(app, "forge-room", "forger")
    started = time.monotonic()
    for n in range(60):
        forged = {
            "id": f"f{n}",
            "method": "file",
            "params": {"path": "big.txt"},
            "reply_to": "victim",
        }
        await forger.local_participant.publish_data(
            json.dumps(forged), topic=TOPIC_REQUEST, destination_identities=[BOT]
        )
    answers = []
    for wave in (range(5), range(5, 10)):  # within the 8 in flight the protocol allows
        for n in wave:
            await victim.local_participant.send_text(
                json.dumps({"id": f"v{n}", "method": "overview"}),
                topic=TOPIC_REQUEST,
                destination_identities=[BOT],
                attributes={"id": f"v{n}"},
            )
        answers += [json.loads((await own_answers.next(20))[1]) for _ in wave]
    assert sorted(a["id"] for a in answers) == sorted(f"v{n}" for n in range(10))
    refused = [a["error"] for a in answers if not a["ok"]]
    assert not refused, f"the victim's own requests were refused: {refused}"

    await asyncio.sleep(4)  # what the forged requests could still make the bot send
    elapsed = time.monotonic() - started
    answers_pushed = sum(1 for p in pushed if json.loads(p)["part"] == 0)
    bound = (
        UNNAMED_ANSWER_BYTES_BURST
        + UNNAMED_ANSWER_BYTES_PER_S * elapsed
        + UNNAMED_REQUESTS_BURST * 1024  # the short 4029s that replace answers too large
    )
    received = sum(len(p) for p in pushed)
    assert received <= bound, f"{received} bytes pushed to the victim (bound {bound:.0f})"
    assert answers_pushed <= UNNAMED_REQUESTS_BURST
    await forger.disconnect()


async def test_a_packet_from_a_named_sender_is_answered_to_it_whatever_reply_to_says(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    victim = await join_with_token(app, connect, "named-room", "victim")
    overheard: list[bytes] = []
    victim.on(
        "data_received",
        lambda packet: overheard.append(packet.data) if packet.topic == TOPIC_RESPONSE else None,
    )
    sender = await joined(app, "named-room", "old-sdk")
    parts: asyncio.Queue[bytes] = asyncio.Queue()
    sender.on(
        "data_received",
        lambda packet: parts.put_nowait(packet.data) if packet.topic == TOPIC_RESPONSE else None,
    )
    session = session_of(app, "named-room")
    assert await until(lambda: "old-sdk" in session.room.remote_participants, 10)
    for request_id, extra in (("plain", {}), ("forged", {"reply_to": "victim"})):
        request = {"id": request_id, "method": "overview", **extra}
        await sender.local_participant.publish_data(
            json.dumps(request), topic=TOPIC_REQUEST, destination_identities=[BOT]
        )
        first = await asyncio.wait_for(parts.get(), 10)
        rest = [
            await asyncio.wait_for(parts.get(), 10) for _ in range(json.loads(first)["parts"] - 1)
        ]
        answer = json.loads(join_packet_parts([first, *rest]))
        assert answer["id"] == request_id
        assert answer["ok"] is True
    assert not overheard
    await sender.disconnect()


async def test_unfinished_request_streams_are_bounded_and_go_when_their_sender_leaves(
    running_app: Any, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Streams begun and never finished: past the bound they are refused with 4029 while
    another participant is served as usual, and they all go when their sender leaves
    (the timeout is set long here, so only the departure can end them: livekit 1.2.1
    ends them itself with a StreamError, and the bot cancels them on the event)."""
    monkeypatch.setattr(context_bot.bot.session, "REQUEST_STREAM_TIMEOUT_S", 600.0)
    app: ContextBotApp = await running_app()
    other = ContextClient(await join_with_token(app, connect, "open-room", "other"))
    await other.overview()
    holder = rtc.Room()
    refusals = Inbox(holder, TOPIC_RESPONSE)
    await holder.connect(
        app.settings.livekit.url, user_token(app.settings.livekit, "open-room", "holder")
    )
    session = session_of(app, "open-room")
    # The bot hears of a departure only for a participant the server has named to it.
    assert await until(lambda: "holder" in session.room.remote_participants, 10)
    assert await until(lambda: session.in_flight == 0, 10)

    extra = 3
    writers = []
    for n in range(MAX_OPEN_STREAMS_PER_PARTICIPANT + extra):
        writer = await holder.local_participant.stream_text(
            destination_identities=[BOT], topic=TOPIC_REQUEST, attributes={"id": f"h{n}"}
        )
        await writer.write(json.dumps({"id": f"h{n}", "method": "overview"})[:-1])
        writers.append(writer)  # never closed
    refused = [json.loads((await refusals.next(10))[1]) for _ in range(extra)]
    assert {a["error"]["code"] for a in refused} == {4029}
    assert all(a["error"]["retry_after_ms"] > 0 for a in refused)
    assert len({a["id"] for a in refused}) == extra
    # A refusal's task is counted until it returns, which can be a turn after its answer
    # reached us (bot and test share this event loop): then the held streams alone.
    assert await until(lambda: session.in_flight == MAX_OPEN_STREAMS_PER_PARTICIPANT, 5), (
        f"{session.in_flight} in flight, {MAX_OPEN_STREAMS_PER_PARTICIPANT} streams held open"
    )

    readme = (app.settings.repo / "README.md").read_text()
    assert (await other.file("README.md")).content == readme

    await holder.disconnect()
    assert await until(lambda: session.in_flight == 0, 15), (
        f"{session.in_flight} requests still in flight after their sender left"
    )
    assert refusals.empty()


async def test_a_request_stream_that_does_not_finish_in_time_is_answered_4013(
    running_app: Any, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context_bot.bot.session, "REQUEST_STREAM_TIMEOUT_S", STREAM_TIMEOUT_S)
    app: ContextBotApp = await running_app()
    await join_with_token(app, connect, "slow-room", "warm")
    slow = rtc.Room()
    answers = Inbox(slow, TOPIC_RESPONSE)
    await slow.connect(
        app.settings.livekit.url, user_token(app.settings.livekit, "slow-room", "slow")
    )
    session = session_of(app, "slow-room")
    assert await until(lambda: "slow" in session.room.remote_participants, 10)
    writer = await slow.local_participant.stream_text(
        destination_identities=[BOT], topic=TOPIC_REQUEST, attributes={"id": "s1"}
    )
    await writer.write('{"id": "s1", "method": "overview"')  # and nothing more
    _, text = await answers.next(context_bot.bot.session.REQUEST_STREAM_TIMEOUT_S + 15)
    answer = json.loads(text)
    assert answer["id"] == "s1"
    assert answer["ok"] is False
    assert answer["error"]["code"] == 4013
    assert await until(lambda: session.in_flight == 0, 5)
    await slow.disconnect()


async def test_streams_of_a_sender_that_left_before_the_bot_heard_of_it_go_too(
    running_app: Any, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A participant that opens streams and leaves within the server's 3-second tick is
    never named to the bot, so no departure event can end them: the timeout does."""
    monkeypatch.setattr(context_bot.bot.session, "REQUEST_STREAM_TIMEOUT_S", STREAM_TIMEOUT_S)
    app: ContextBotApp = await running_app()
    await join_with_token(app, connect, "gone-room", "warm")
    session = session_of(app, "gone-room")
    assert await until(lambda: session.in_flight == 0, 10)
    ghost = await joined(app, "gone-room", "ghost")
    for n in range(MAX_OPEN_STREAMS_PER_PARTICIPANT):
        writer = await ghost.local_participant.stream_text(
            destination_identities=[BOT], topic=TOPIC_REQUEST, attributes={"id": f"g{n}"}
        )
        await writer.write(json.dumps({"id": f"g{n}", "method": "overview"})[:-1])
    assert await until(lambda: session.in_flight > 0, 5)
    await ghost.disconnect()
    within_s = context_bot.bot.session.REQUEST_STREAM_TIMEOUT_S + 10
    assert await until(lambda: session.in_flight == 0, within_s), (
        f"{session.in_flight} requests still in flight {within_s:g} s after their sender left"
    )

"""One room's session over a fake room: overview pushes, answers, the empty-room timer.

The room is `tests/unit/fake_room.py` (the parts of `rtc.Room` the session uses); the
knowledge is real, a tiny folder served by `Handlers`. The same behaviour against a real
livekit-server is in tests/integration/test_room_protocol.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from livekit import rtc
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from context_bot.admin import bot_token
from context_bot.bot.session import LOG_AFTER_SEND_S, WARMUP_TOPIC, RoomSession
from context_bot.config import LiveKitSettings
from context_bot.errors import NotFound, PayloadTooLarge, RateLimited
from context_bot.protocol import (
    MAX_REQUEST_BYTES,
    MAX_SERVING_PER_PARTICIPANT,
    NAMED_ATTRIBUTE,
    TOPIC_PUSH,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    join_packet_parts,
)
from tests.unit.fake_room import AGENT, FakeRoom, FakeServer, Sent, eventually
from tests.unit.served import Served

BOT = "context-bot"
ROOM = "onboarding-1"
LIVEKIT = LiveKitSettings("ws://fake", "devkey", "a-secret-long-enough-for-hs256-signing")


async def idle(session: RoomSession, within_s: float = 2.0) -> None:
    """Wait until the session has no task left (pushes, requests) running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while session.in_flight:
        assert loop.time() < deadline, "the session's tasks did not finish"
        await asyncio.sleep(0.001)


def pushes(room: FakeRoom, event: str) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """(addressees, data) of each push of `event`."""
    found = []
    for sent in room.sent_on(TOPIC_PUSH):
        body = json.loads(sent.payload)
        if body["event"] == event:
            found.append((sent.destination_identities, body["data"]))
    return found


@pytest.fixture
def served(tmp_path: Path) -> Served:
    return Served(tmp_path)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


Open = Callable[..., Any]


@pytest.fixture
async def open_session(server: FakeServer, served: Served) -> AsyncIterator[Open]:
    """Make a session, connect its room as `RoomManager.join` does, return it."""
    made: list[RoomSession] = []

    async def open_(
        on_empty: Callable[[RoomSession], None] = lambda s: None,
        empty_grace_s: float = 20.0,
        warmup: bool = False,
    ) -> RoomSession:
        session = RoomSession(
            ROOM,
            BOT,
            served.handlers,
            on_empty=on_empty,
            empty_grace_s=empty_grace_s,
            warmup=warmup,
            room_factory=server.room_factory,
        )
        await session.room.connect(LIVEKIT.url, bot_token(LIVEKIT, ROOM, BOT, "Bot"))
        made.append(session)
        return session

    yield open_
    for session in made:
        await session.aclose()


def room_of(session: RoomSession) -> FakeRoom:
    assert isinstance(session.room, FakeRoom)
    return session.room


async def test_the_room_comes_from_the_factory_and_connects_as_the_bot(
    open_session: Open, server: FakeServer
) -> None:
    session = await open_session()
    assert len(server.made) == 1
    assert server.made[0] is session.room
    assert session.connected
    assert room_of(session).local_participant.identity == BOT
    assert room_of(session).name == ROOM


async def test_warm_up_is_one_packet_to_the_bot_itself(open_session: Open) -> None:
    session = await open_session(warmup=True)
    await session.started()
    assert room_of(session).sent == [Sent("data", WARMUP_TOPIC, (BOT,), b"{}")]


async def test_everyone_present_gets_the_overview_once_per_version(
    open_session: Open, server: FakeServer, served: Served
) -> None:
    server.join(ROOM, "ada")
    server.join(ROOM, "helper-agent", AGENT)
    session = await open_session()
    room = room_of(session)
    await session.started()
    await idle(session)
    first = pushes(room, "overview")
    assert sorted(to for to, _ in first) == [("ada",), ("helper-agent",)]
    assert {data["knowledge_version"] for _, data in first} == {served.version}

    server.activate(ROOM, "ada")  # the server's later `participant_active`
    await session.push_overview("ada")  # and any other push of the same version
    await idle(session)
    assert len(pushes(room, "overview")) == 2, "a participant got the same version twice"

    new = served.change()
    await session.push_overview("ada")
    await session.push_overview("ada")
    overviews = pushes(room, "overview")
    assert overviews[2:] == [
        (("ada",), {"knowledge_version": new, "text": served.knowledge.overview})
    ]


async def test_a_newcomer_gets_its_own_overview_when_active(
    open_session: Open, server: FakeServer, served: Served
) -> None:
    session = await open_session()
    room = room_of(session)
    server.join(ROOM, "bob")
    server.activate(ROOM, "bob")
    await idle(session)
    assert [to for to, _ in pushes(room, "overview")] == [("bob",)]


async def test_a_pulled_overview_counts_as_held_and_a_leaver_is_forgotten(
    open_session: Open, server: FakeServer
) -> None:
    session = await open_session()
    room = room_of(session)
    server.join(ROOM, "ada")
    server.ask(ROOM, "ada", json.dumps({"id": "1", "method": "overview"}), TOPIC_REQUEST)
    await idle(session)
    server.activate(ROOM, "ada")
    await idle(session)
    assert pushes(room, "overview") == [], "pushed an overview the participant had pulled"

    server.leave(ROOM, "ada")  # back later with a fresh client: it holds nothing
    server.join(ROOM, "ada")
    server.activate(ROOM, "ada")
    await idle(session)
    assert [to for to, _ in pushes(room, "overview")] == [("ada",)]


async def test_the_bot_pushes_nothing_to_itself(open_session: Open) -> None:
    session = await open_session()
    await session.push_overview(BOT)
    assert room_of(session).sent == []


async def test_a_change_is_told_to_everyone_then_the_new_overview(
    open_session: Open, server: FakeServer, served: Served
) -> None:
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    await session.started()
    await idle(session)
    new = served.change()
    await session.knowledge_changed({"knowledge_version": new, "changed": ["x"]})
    told = pushes(room, "knowledge_changed")
    assert told == [(("ada",), {"knowledge_version": new, "changed": ["x"]})]
    assert [(to, data["knowledge_version"]) for to, data in pushes(room, "overview")][-1] == (
        ("ada",),
        new,
    )


async def test_an_answer_goes_only_to_the_asker(open_session: Open, server: FakeServer) -> None:
    server.join(ROOM, "ada")
    server.join(ROOM, "bob")
    session = await open_session()
    room = room_of(session)
    server.ask(
        ROOM,
        "ada",
        json.dumps({"id": "q1", "method": "file", "params": {"path": "src/none.ts"}}),
        TOPIC_REQUEST,
        {"id": "q1"},
    )
    server.ask(ROOM, "bob", json.dumps({"id": "q2", "method": "overview"}), TOPIC_REQUEST)
    await idle(session)
    answers = {
        sent.destination_identities: json.loads(sent.payload)
        for sent in room.sent_on(TOPIC_RESPONSE)
    }
    assert set(answers) == {("ada",), ("bob",)}
    assert answers[("ada",)]["id"] == "q1"
    assert answers[("ada",)]["error"]["code"] == NotFound.code  # a refusal is answered too
    assert answers[("bob",)]["id"] == "q2"
    assert "result" in answers[("bob",)]


def answers_to(room: FakeRoom, identity: str) -> dict[str, dict[str, Any]]:
    """id → answer of every response sent to `identity`."""
    found = {}
    for sent in room.sent_on(TOPIC_RESPONSE):
        if sent.destination_identities == (identity,):
            body = json.loads(sent.payload)
            found[body["id"]] = body
    return found


def request(request_id: str, path: str = "src/none.ts") -> str:
    return json.dumps({"id": request_id, "method": "file", "params": {"path": path}})


async def test_a_stream_whose_header_says_it_is_too_large_is_refused_unread(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "mallory")
    session = await open_session()
    body = request("big", "a/" * MAX_REQUEST_BYTES)
    server.ask(ROOM, "mallory", body, TOPIC_REQUEST, {"id": "big"})
    await idle(session)
    assert answers_to(room_of(session), "mallory")["big"]["error"]["code"] == PayloadTooLarge.code
    assert not server.streams[-1].was_read


async def test_request_bytes_are_charged_from_the_header_and_refused_unread_when_over(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "mallory")
    server.join(ROOM, "ada")
    session = await open_session()
    path = "a/" * ((MAX_REQUEST_BYTES - 200) // 2) + "a"  # just under the limit: 15 tokens
    for n in range(4):  # a burst of 40 pays for two, the third is refused before reading
        server.ask(ROOM, "mallory", request(f"m{n}", path), TOPIC_REQUEST, {"id": f"m{n}"})
    server.ask(ROOM, "ada", request("a0"), TOPIC_REQUEST, {"id": "a0"})
    await idle(session)
    mallory = answers_to(room_of(session), "mallory")
    codes = [mallory[f"m{n}"]["error"]["code"] for n in range(4)]
    assert codes[2:] == [RateLimited.code, RateLimited.code]
    assert codes[:2] != [RateLimited.code, RateLimited.code]
    assert mallory["m2"]["error"]["retry_after_ms"] > 0
    assert [reader.was_read for reader in server.streams[:4]] == [True, True, False, False]
    assert answers_to(room_of(session), "ada")["a0"]["error"]["code"] == NotFound.code


async def test_one_participants_requests_take_turns_while_anothers_are_served(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "mallory")
    server.join(ROOM, "ada")
    session = await open_session()
    serving: dict[str, int] = {"mallory": 0, "ada": 0}
    most: dict[str, int] = {"mallory": 0, "ada": 0}
    release = asyncio.Event()
    real = session._handlers.handle

    async def slow(req: Any) -> dict[str, Any]:
        who = req.id.split("-")[0]
        serving[who] += 1
        most[who] = max(most[who], serving[who])
        if who == "mallory":
            await release.wait()
        serving[who] -= 1
        return await real(req)

    session._handlers.handle = slow  # type: ignore[method-assign]
    for n in range(6):
        server.ask(ROOM, "mallory", request(f"mallory-{n}"), TOPIC_REQUEST)
    await asyncio.sleep(0.05)
    server.ask(ROOM, "ada", request("ada-0"), TOPIC_REQUEST)
    await eventually(lambda: "ada-0" in answers_to(room_of(session), "ada"))
    assert most["mallory"] == MAX_SERVING_PER_PARTICIPANT, "the others wait their turn"
    assert not answers_to(room_of(session), "mallory"), "ada did not wait behind mallory"
    release.set()
    await idle(session)
    assert len(answers_to(room_of(session), "mallory")) == 6, "every one is answered in turn"
    assert not session._turns, "a participant's turns go once it has none waiting"


async def test_a_served_request_logs_where_its_time_went(
    open_session: Open, server: FakeServer
) -> None:
    """`request_served` comes after the answer is sent, with each step in ms (phases.py):
    the bot's side of a slow answer, read from its log (benchmarks/retrieve_bench.py)."""
    server.join(ROOM, "ada")
    session = await open_session()
    retrieve = {"id": "r1", "method": "retrieve", "params": {"text": "livekit access tokens"}}
    with structlog.testing.capture_logs() as logs:
        started = asyncio.get_running_loop().time()
        server.ask(ROOM, "ada", json.dumps(retrieve), TOPIC_REQUEST)
        server.ask(ROOM, "ada", request("missing"), TOPIC_REQUEST)
        await idle(session)
        elapsed_ms = (asyncio.get_running_loop().time() - started) * 1000
    assert answers_to(room_of(session), "ada")["r1"]["result"]["text"]  # a block was found
    served = [r for r in logs if r["event"] == "request_served"]
    assert [r["method"] for r in served] == ["retrieve"], "a refusal is not served"
    ms = served[0]["ms"]
    steps = ["start", "read", "admit", "turn", "parse", "to_thread", "search_documents"]
    steps += ["retrieve_read", "retrieve_render", "from_thread", "handle", "encode", "send"]
    assert set(steps) <= set(ms), ms
    assert list(ms)[-1] == "send"
    assert all(v >= 0 for v in ms.values())
    assert sum(ms.values()) <= elapsed_ms + 1  # steps of one request, never overlapping


async def test_a_data_packet_request_is_answered_in_packets_to_the_asker_only(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "old-sdk")
    server.join(ROOM, "bob")
    session = await open_session()
    room = room_of(session)
    request = {"id": "p1", "method": "overview", "reply_to": "old-sdk"}
    server.publish(ROOM, "old-sdk", json.dumps(request).encode(), TOPIC_REQUEST)
    await idle(session)
    parts = room.sent_on(TOPIC_RESPONSE)
    assert parts, "no answer"
    assert {sent.destination_identities for sent in parts} == {("old-sdk",)}
    assert {sent.how for sent in parts} == {"data"}
    answer = json.loads(join_packet_parts([bytes(sent.payload) for sent in parts]))  # type: ignore[arg-type]
    assert answer["id"] == "p1"


async def test_a_data_packet_asking_for_a_stream_answer_gets_one_saying_its_sender_is_named(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    asked = {"id": "q1", "method": "overview", "reply_to": "ada", "answer_as": "stream"}
    server.publish(ROOM, "ada", json.dumps(asked).encode(), TOPIC_REQUEST)
    await idle(session)
    (sent,) = room.sent_on(TOPIC_RESPONSE)
    assert (sent.how, sent.destination_identities) == ("text", ("ada",))
    assert json.loads(sent.payload)["id"] == "q1"
    assert sent.attributes == {NAMED_ATTRIBUTE: "1"}


async def test_a_served_packet_request_is_logged_with_its_id_once_its_answer_is_sent(
    open_session: Open, server: FakeServer
) -> None:
    """A data packet has no attribute id: the log line takes the body's. It is written
    after the send, so the line costs the answer no time."""
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    sent_when_logged: list[int] = []

    def note(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        sent_when_logged.append(len(room.sent_on(TOPIC_RESPONSE)))
        return event

    asked = {"id": "q3", "method": "overview", "reply_to": "ada", "answer_as": "stream"}
    with capture_logs(processors=[merge_contextvars, note]) as logs:
        server.publish(ROOM, "ada", json.dumps(asked).encode(), TOPIC_REQUEST)
        await idle(session)
    (served,) = [line for line in logs if line["event"] == "request_served"]
    assert (served["request_id"], served["participant"]) == ("q3", "ada")
    assert sent_when_logged[logs.index(served)] == 1


async def test_a_served_request_is_logged_only_once_its_answer_has_had_time_to_arrive(
    open_session: Open, server: FakeServer
) -> None:
    """Rendering the line while the answer is still leaving the SDK slowed the answer
    down (the SDK's native threads wait for the GIL to hand over their events), so the
    line waits `LOG_AFTER_SEND_S` after the send; the request's metrics do not wait."""
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    loop = asyncio.get_running_loop()
    answered_at: list[float] = []
    logged_at: list[float] = []
    send_text = room.local_participant.send_text

    async def timed_send(text: str, **options: Any) -> Any:
        info = await send_text(text, **options)
        answered_at.append(loop.time())
        return info

    room.local_participant.send_text = timed_send  # type: ignore[method-assign]

    def note(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        if event["event"] == "request_served":
            logged_at.append(loop.time())
        return event

    with capture_logs(processors=[merge_contextvars, note]) as logs:
        server.ask(ROOM, "ada", json.dumps({"id": "late-log", "method": "overview"}), TOPIC_REQUEST)
        deadline = loop.time() + 2
        while not answered_at:  # every turn of the loop: `eventually` polls every 5 ms
            assert loop.time() < deadline, "never answered"
            await asyncio.sleep(0)
        assert "late-log" in answers_to(room, "ada")
        assert not [line for line in logs if line["event"] == "request_served"]
        counted = session._metrics.registry.get_sample_value(
            "context_bot_requests_total", {"method": "overview", "code": "0"}
        )
        assert counted == 1, "counted as soon as sent"
        await idle(session)
    (served,) = [line for line in logs if line["event"] == "request_served"]
    assert served["request_id"] == "late-log"
    assert logged_at[0] - answered_at[0] >= LOG_AFTER_SEND_S * 0.9  # the loop's clock rounds


async def test_an_unnamed_packet_asking_for_a_stream_is_answered_by_one_once_reply_to_is_here(
    open_session: Open, server: FakeServer
) -> None:
    """Before the server's tick the packet has no sender: it is answered to `reply_to`
    once the bot lists it, as asked (a stream), on the unnamed allowance."""
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    asked = {"id": "q2", "method": "overview", "reply_to": "newcomer", "answer_as": "stream"}
    server.publish(ROOM, "newcomer", json.dumps(asked).encode(), TOPIC_REQUEST)
    await asyncio.sleep(0.1)
    assert not room.sent_on(TOPIC_RESPONSE), "answered before its reply_to was in the room"
    server.join(ROOM, "newcomer")
    await idle(session)
    (sent,) = room.sent_on(TOPIC_RESPONSE)
    assert (sent.how, sent.destination_identities) == ("text", ("newcomer",))
    assert json.loads(sent.payload)["id"] == "q2"


async def test_a_stream_answer_says_named_only_when_the_bot_lists_its_addressee(
    open_session: Open, server: FakeServer
) -> None:
    """A stream from a newcomer names it at once (fact 2), but until the server's tick
    the bot's own list does not have it: its packets would arrive without a sender."""
    server.join(ROOM, "ada")
    session = await open_session()
    room = room_of(session)
    server.ask(ROOM, "newcomer", request("n1"), TOPIC_REQUEST)
    server.ask(ROOM, "ada", request("a1"), TOPIC_REQUEST)
    await idle(session)
    named = {
        json.loads(sent.payload)["id"]: sent.attributes for sent in room.sent_on(TOPIC_RESPONSE)
    }
    assert named == {"n1": None, "a1": {NAMED_ATTRIBUTE: "1"}}


# -- the empty-room timer ---------------------------------------------------------------


async def test_once_only_agents_remain_the_session_asks_to_leave_after_the_grace(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "ada")
    server.join(ROOM, "helper-agent", AGENT)
    emptied: list[RoomSession] = []
    session = await open_session(on_empty=emptied.append, empty_grace_s=0.05)
    await session.started()
    await asyncio.sleep(0.15)
    assert emptied == [], "left a room with a person in it"
    server.leave(ROOM, "ada")
    assert emptied == [], "left without a grace period"
    await eventually(lambda: emptied == [session])


async def test_a_person_coming_back_within_the_grace_cancels_the_leave(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "ada")
    emptied: list[RoomSession] = []
    session = await open_session(on_empty=emptied.append, empty_grace_s=0.1)
    await session.started()
    server.leave(ROOM, "ada")  # the timer starts...
    await asyncio.sleep(0)
    server.join(ROOM, "bob")  # ...and stops
    await asyncio.sleep(0.25)
    assert emptied == []
    server.leave(ROOM, "bob")  # and starts afresh
    await eventually(lambda: emptied == [session])


async def test_a_room_with_only_agents_at_the_join_is_left_after_the_grace(
    open_session: Open, server: FakeServer
) -> None:
    server.join(ROOM, "helper-agent", AGENT)
    emptied: list[RoomSession] = []
    session = await open_session(on_empty=emptied.append, empty_grace_s=0.05)
    await session.started()  # no event fires for those already there: the start checks
    await eventually(lambda: emptied == [session])


async def test_a_closed_session_leaves_again_if_the_sdk_reconnects_its_room(
    open_session: Open,
) -> None:
    """An SDK that reconnects a room it reported disconnected (seen after a removal
    right after the join) finds the closed session leaving again."""
    session = await open_session()
    room = room_of(session)
    await session.aclose()
    assert not room.isconnected()
    room._state = rtc.ConnectionState.CONN_CONNECTED  # what the SDK's reconnect does
    room.emit("reconnected")
    for _ in range(10):
        await asyncio.sleep(0)
    assert not room.isconnected()

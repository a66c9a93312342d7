"""What PROTOCOL.md promises a client written from it alone, checked in a real room.

An independent client (Node, from PROTOCOL.md only) found rules the bot broke or the
document left to guessing (issue 21): ids matched on the id alone, data-packet parts that
could not be told apart, and a dozen unstated details. Each is checked here against the
real livekit-server and the real SDK, as such a client would see it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc

from context_bot.app import ContextBotApp
from context_bot.protocol import (
    MAX_REQUEST_BYTES,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    join_packet_parts,
)
from tests.integration.streams import Inbox, packet_client
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

BOT = "context-bot"


async def ask(room: rtc.Room, request_id: str, method: str, **params: Any) -> None:
    body = json.dumps({"v": 1, "id": request_id, "method": method, "params": params})
    await room.local_participant.send_text(
        body,
        topic=TOPIC_REQUEST,
        destination_identities=[BOT],
        attributes={"id": request_id, "method": method},
    )


async def answer_to(inbox: Inbox, request_id: str | None, timeout: float = 8) -> dict[str, Any]:
    """The next answer for `request_id`, skipping any other (there should be none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        sender, text = await inbox.next(max(0.1, deadline - loop.time()))
        assert sender == ""  # the hidden bot
        answer: dict[str, Any] = json.loads(text)
        if answer["id"] == request_id:
            return answer


async def test_a_reused_id_with_another_request_is_refused_and_a_repeat_replayed(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "reuse-room", "counter")
    inbox = Inbox(room, TOPIC_RESPONSE)
    await ask(room, "1", "overview")
    first = await answer_to(inbox, "1")
    assert first["ok"] is True
    assert "text" in first["result"]

    await ask(room, "1", "list", prefix="context_bot")
    reused = await answer_to(inbox, "1")
    assert reused["ok"] is False, "a list under an answered id got another request's answer"
    assert reused["error"]["code"] == 4009
    assert reused["error"]["name"] == "id_reused"

    await ask(room, "1", "overview")  # the same request again: the first answer, unchanged
    assert await answer_to(inbox, "1") == first

    # A new connection under the same identity (a client restarted, numbering from 1
    # again): LiveKit moves the identity over, and the bot must not hand it the old answer.
    again = await connect("reuse-room", "counter")
    inbox_again = Inbox(again, TOPIC_RESPONSE)
    await ask(again, "1", "list", prefix="context_bot")
    answer = await answer_to(inbox_again, "1")
    if answer["ok"]:  # the bot saw the old connection leave: the id is free again
        assert {e["path"] for e in answer["result"]["entries"]} >= {"context_bot/protocol.py"}
    else:
        assert answer["error"]["code"] == 4009
    assert "text" not in answer.get("result", {})


async def test_two_data_packet_answers_in_flight_at_once_both_reassemble(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    await join_with_token(app, connect, "packets-room", "warm")
    room, parts = await packet_client(app, "packets-room", "old-sdk")
    paths = {"a": "context_bot/bot/session.py", "b": "context_bot/knowledge/search.py"}
    await asyncio.gather(
        *(
            room.local_participant.publish_data(
                json.dumps(
                    {"id": rid, "method": "file", "params": {"path": p}, "reply_to": "old-sdk"}
                ),
                topic=TOPIC_REQUEST,
                destination_identities=[BOT],
            )
            for rid, p in paths.items()
        )
    )
    by_id: dict[str, list[bytes]] = {"a": [], "b": []}
    order: list[str] = []
    while any(not got or len(got) < json.loads(got[0])["parts"] for got in by_id.values()):
        part = await asyncio.wait_for(parts.get(), 8)
        request_id = json.loads(part)["id"]
        by_id[request_id].append(part)
        order.append(request_id)
    for request_id, path in paths.items():
        answer = json.loads(join_packet_parts(by_id[request_id]))
        assert answer["id"] == request_id
        assert answer["result"]["content"]["text"] == (app.settings.repo / path).read_text()
        assert len(by_id[request_id]) > 1
    await room.disconnect()


async def test_an_unreadable_body_is_answered_under_the_stream_attribute_id_and_may_be_resent(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "unreadable-room", "sloppy")
    inbox = Inbox(room, TOPIC_RESPONSE)

    async def raw(body: str, attributes: dict[str, str]) -> None:
        await room.local_participant.send_text(
            body, topic=TOPIC_REQUEST, destination_identities=[BOT], attributes=attributes
        )

    await raw("{not json", {"id": "u1", "method": "overview"})
    assert (await answer_to(inbox, "u1"))["error"]["code"] == 4000
    await raw("x" * (MAX_REQUEST_BYTES + 1), {"id": "u2", "method": "overview"})
    assert (await answer_to(inbox, "u2"))["error"]["code"] == 4013
    await raw("{not json", {})  # no id anywhere: answered with id null
    assert (await answer_to(inbox, None))["error"]["code"] == 4000

    # A refusal (4013 here) is not remembered: the same id may carry the request again.
    await ask(room, "u2", "overview")
    assert (await answer_to(inbox, "u2"))["ok"] is True


async def test_out_of_range_values_are_4000_and_a_range_past_the_end_too(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "range-room", "ranger")
    inbox = Inbox(room, TOPIC_RESPONSE)
    for n, (method, params) in enumerate(
        [
            ("search", {"query": "token", "limit": 51}),
            ("search", {"query": "token", "limit": 0}),
            ("list", {"depth": 17}),
            ("list", {"limit": 5001}),
            ("file", {"path": "README.md", "lines": [0, 3]}),
            ("file", {"path": "README.md", "lines": [5, 4]}),
            ("file", {"path": "README.md", "lines": [100_000, 100_001]}),
        ]
    ):
        await ask(room, f"r{n}", method, **params)
        answer = await answer_to(inbox, f"r{n}")
        assert answer["ok"] is False, (method, params)
        assert answer["error"]["code"] == 4000, (method, params, answer)


async def test_a_line_range_describes_the_whole_file_and_says_where_it_was_cut(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    (repo_copy / "five.txt").write_text("one\ntwo\nthree\nfour\nfive\n")
    app: ContextBotApp = await running_app(repo=repo_copy)
    room = await join_with_token(app, connect, "lines-room", "reader")
    inbox = Inbox(room, TOPIC_RESPONSE)
    await ask(room, "whole", "file", path="five.txt", knowledge=False)
    whole = (await answer_to(inbox, "whole"))["result"]["content"]
    assert whole["lines"] is None
    assert whole["line_count"] == 5
    await ask(room, "cut", "file", path="five.txt", knowledge=False, lines=[4, 9])
    cut = (await answer_to(inbox, "cut"))["result"]["content"]
    assert cut["text"] == "four\nfive\n"
    assert cut["lines"] == [4, 5]  # the lines actually sent
    assert (cut["size"], cut["sha"], cut["line_count"]) == (
        whole["size"],
        whole["sha"],
        whole["line_count"],
    )  # of the whole file, not of the range


async def test_a_free_document_is_read_by_its_name_with_file(
    running_app: Any, connect: Any
) -> None:
    app: ContextBotApp = await running_app()
    room = await join_with_token(app, connect, "doc-room", "reader")
    inbox = Inbox(room, TOPIC_RESPONSE)
    await ask(room, "s", "search", query="testing guide integration", limit=50)
    hits = (await answer_to(inbox, "s"))["result"]["hits"]
    doc = next(hit for hit in hits if hit["kind"] == "doc")
    await ask(room, "d", "file", path=doc["path"], content=False)
    served = (await answer_to(inbox, "d"))["result"]
    assert served["content"] is None
    assert served["content_error"] is None
    knowledge = served["knowledge"]
    assert knowledge["kind"] == "doc"
    assert knowledge["path"] == doc["path"] == knowledge["source"]
    assert knowledge["version"] is None
    assert (app.settings.repo / "knowledge" / knowledge["source"]).read_text() == knowledge["text"]
    assert all(0 < hit["score"] <= 1 for hit in hits)

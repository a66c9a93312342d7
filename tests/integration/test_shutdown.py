"""SIGTERM in the middle of a burst: every request is answered or explicitly refused."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from livekit import rtc

from context_bot.config import LiveKitSettings
from context_bot.protocol import TOPIC_REQUEST, TOPIC_RESPONSE
from tests.integration.conftest import user_token
from tests.integration.streams import Inbox
from tests.integration.workers import start_bot

pytestmark = pytest.mark.integration

PARTICIPANTS, EACH = 3, 12  # at most 6 in flight each: under the cap of 8
QUIET_S = 3.0
"""How long an inbox must stay silent after the burst before nothing more is expected."""


async def test_sigterm_during_a_burst_answers_or_refuses_every_request(
    livekit: LiveKitSettings, connect: object, tmp_path: Path
) -> None:
    import aiohttp

    bot = start_bot(livekit, tmp_path / "bot.log")
    try:
        started = await asyncio.to_thread(bot.wait_for, "started")
        async with aiohttp.ClientSession() as http:
            body = {"room_name": "burst", "participant_name": "w", "participant_identity": "warm"}
            async with http.post(f"{started['url']}/token", json=body) as response:
                assert response.status == 200
        rooms, inboxes = [], []
        for n in range(PARTICIPANTS):
            room = rtc.Room()
            inboxes.append(Inbox(room, TOPIC_RESPONSE))
            await room.connect(livekit.url, user_token(livekit, "burst", f"asker-{n}"))
            rooms.append(room)
        await asyncio.sleep(0.5)  # the bot's send path is open

        async def ask(room: rtc.Room, request_id: str) -> None:
            request = {"id": request_id, "method": "file", "params": {"path": "README.md"}}
            await room.local_participant.send_text(
                json.dumps(request),
                topic=TOPIC_REQUEST,
                destination_identities=["context-bot"],
                attributes={"id": request_id},
            )

        # First half: served while the bot is up (so both outcomes are exercised).
        for k in range(EACH // 2):
            await asyncio.gather(*(ask(room, f"{n}-{k}") for n, room in enumerate(rooms)))
        served_first = [
            json.loads((await inbox.next(10))[1]) for inbox in inboxes for _ in range(EACH // 2)
        ]
        assert all(answer["ok"] for answer in served_first)
        # Second half: a burst with SIGTERM in the middle of it.
        for k in range(EACH // 2, EACH):
            await asyncio.gather(*(ask(room, f"{n}-{k}") for n, room in enumerate(rooms)))
            if k == EACH * 3 // 4:
                bot.process.send_signal(signal.SIGTERM)

        # Everything the bot received it answered or refused; what it never received
        # (sent after it left) is the client's to send again, as the client library does.
        # The inboxes are drained side by side (one after the other, their quiet spells
        # added up to 9 s), each until the bot process has exited and the inbox has then
        # been quiet for QUIET_S: a slow stop is waited for, not cut short by a pause.
        outcomes: dict[str, int] = {answer["id"]: 0 for answer in served_first}

        give_up_at = asyncio.get_running_loop().time() + 15  # then the exit check fails

        async def drain(inbox: Inbox) -> list[dict]:
            answers = []
            while True:
                try:
                    _, text = await inbox.next(QUIET_S)
                except TimeoutError:
                    exited = bot.process.poll() is not None
                    if exited or asyncio.get_running_loop().time() > give_up_at:
                        return answers
                    continue
                answers.append(json.loads(text))

        for answers in await asyncio.gather(*(drain(inbox) for inbox in inboxes)):
            for answer in answers:
                assert answer["id"] not in outcomes, "a request was answered twice"
                outcomes[answer["id"]] = 0 if answer["ok"] else answer["error"]["code"]
        stopped = await asyncio.to_thread(bot.wait_for, "stopped")
        assert bot.process.wait(timeout=15) == 0
        assert stopped["requests_cut_short"] == 0
        received = {
            r["request_id"]
            for r in bot.records()
            if r.get("event") in ("request_served", "request_refused") and r.get("request_id")
        }
        assert received, "the bot logged no request"
        assert received <= set(outcomes), f"received but unanswered: {received - set(outcomes)}"
        assert set(outcomes.values()) <= {0, 5003}, outcomes
        assert len(outcomes) > len(served_first), "nothing of the burst reached the bot"
        for room in rooms:
            await room.disconnect()
    finally:
        bot.kill(signal.SIGKILL)


async def test_a_draining_room_refuses_new_requests_with_5003(
    running_app: object, connect: object
) -> None:
    from context_bot.app import ContextBotApp
    from context_bot.client import ContextClient
    from context_bot.errors import ShuttingDown
    from tests.integration.test_end_to_end import join_with_token

    app: ContextBotApp = await running_app()  # type: ignore[operator]
    room = await join_with_token(app, connect, "draining-room", "late")
    client = ContextClient(room, timeout=2.5)
    await client.overview()
    assert app.rooms is not None
    assert await app.rooms.drain(1.0) == 0
    with pytest.raises(ShuttingDown):
        await client.file("README.md")

"""Retrieval on every user turn, and the symbol tools, against the real bot in a real room.

The session tests end each user turn the way livekit-agents' audio pipeline does when the
user stops speaking: `AgentActivity.on_end_of_turn` with the final transcript. That is the
one call between speech recognition and `Agent.on_user_turn_completed`; a test has no
microphone, and `session.run(user_input=...)` (the framework's test entry) goes straight
to `generate_reply`, which never calls the hook. The model is scripted
(`scripted_llm.py`) and keeps every chat context it was given, so the tests read exactly
what the model would have read.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.voice.speech_handle import SpeechHandle

from context_bot.agents import RETRIEVAL_ID_PREFIX, RepositoryContext
from tests.agents.conftest import Bot
from tests.agents.driving import call, end_user_turn
from tests.agents.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.integration

PROMPT = "You are a friendly guide to this codebase for new engineers."
QUESTION = "So how does the bot decide that a participant sent too many requests?"
FOLLOW_UP = "And where are the webhooks from LiveKit checked?"
ANSWERS = ("context_bot/ratelimit.py", "context_bot/bot/admission.py", "context_bot/bot/session.py")
"""The files that answer QUESTION: where requests are counted, refused and told to wait."""
SMALL_TALK = "okay, thanks, that's great"


async def user_says(
    session: AgentSession, text: str, speeches: asyncio.Queue[SpeechHandle]
) -> None:
    """End a user turn as the audio pipeline does, then wait for the reply it caused."""
    await end_user_turn(session, text)
    async with asyncio.timeout(10):
        reply = await speeches.get()
        await reply.wait_for_playout()


def blocks(chat_ctx: llm.ChatContext) -> list[llm.ChatMessage]:
    """The retrieval blocks in a chat context."""
    return [
        item
        for item in chat_ctx.items
        if isinstance(item, llm.ChatMessage) and item.id.startswith(RETRIEVAL_ID_PREFIX)
    ]


def position(chat_ctx: llm.ChatContext, item: llm.ChatItem) -> int:
    return next(n for n, i in enumerate(chat_ctx.items) if i.id == item.id)


async def test_context_retrieve_gives_the_passages_or_nothing(context: RepositoryContext) -> None:
    block = await context.retrieve(QUESTION)

    assert block.startswith("<repository_context_for_this_turn>\n")
    assert block.endswith("\n</repository_context_for_this_turn>")
    assert "read more with read_file" in block
    assert any(f"- {path}" in block for path in ANSWERS)
    assert re.search(r"^  \d+: ", block, flags=re.MULTILINE), "numbered lines"
    assert len(block) <= context.turn_tokens * 4 + 400, "the bot's block plus our frame"

    assert await context.retrieve(SMALL_TALK) == ""


async def test_each_turn_gets_its_own_block_in_its_chat_context_and_no_extra_reply(
    context: RepositoryContext,
) -> None:
    model = ScriptedLLM(lambda ctx: "first", lambda ctx: "second", lambda ctx: "third")
    agent = context.retrieve_each_turn(
        Agent(instructions=f"{PROMPT}\n\n{context.instructions}", tools=[context.tools])
    )
    speeches: asyncio.Queue[SpeechHandle] = asyncio.Queue()
    async with AgentSession(llm=model) as session:
        session.on("speech_created", lambda ev: speeches.put_nowait(ev.speech_handle))
        await session.start(agent)

        await user_says(session, QUESTION, speeches)
        assert len(model.seen) == 1, "one reply to one turn: the block asked for none"
        [first] = blocks(model.seen[0])
        assert first.role == "system"
        users = [m for m in model.seen[0].messages() if m.role == "user"]
        assert [m.text_content for m in users] == [QUESTION], "the block is no user message"
        assert position(model.seen[0], first) > position(model.seen[0], users[-1])
        assert any(f"- {path}" in (first.text_content or "") for path in ANSWERS)

        await user_says(session, SMALL_TALK, speeches)
        assert len(model.seen) == 2
        assert blocks(model.seen[1]) == [], "nothing matched: nothing added, the old one gone"

        await user_says(session, FOLLOW_UP, speeches)
        assert len(model.seen) == 3
        [third] = blocks(model.seen[2])
        assert "- context_bot/endpoint/webhooks.py" in (third.text_content or "")
        assert third.id != first.id

    history = agent.chat_ctx
    assert blocks(history) == [], "blocks live for their turn, never in the kept history"
    said = [(m.role, m.text_content) for m in history.messages() if m.role != "system"]
    assert said == [
        ("user", QUESTION),
        ("assistant", "first"),
        ("user", SMALL_TALK),
        ("assistant", "second"),
        ("user", FOLLOW_UP),
        ("assistant", "third"),
    ]


async def test_an_agents_own_hook_still_runs_after_the_block_is_added(
    context: RepositoryContext,
) -> None:
    seen_by_hook: list[int] = []

    class Guide(Agent):
        async def on_user_turn_completed(
            self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
        ) -> None:
            seen_by_hook.append(len(blocks(turn_ctx)))

    model = ScriptedLLM(lambda ctx: "ok")
    agent = context.retrieve_each_turn(Guide(instructions=PROMPT, tools=[context.tools]))
    speeches: asyncio.Queue[SpeechHandle] = asyncio.Queue()
    async with AgentSession(llm=model) as session:
        session.on("speech_created", lambda ev: speeches.put_nowait(ev.speech_handle))
        await session.start(agent)
        await user_says(session, QUESTION, speeches)

    assert seen_by_hook == [1]
    assert len(blocks(model.seen[0])) == 1


async def test_a_block_left_in_the_turn_context_is_replaced_not_added_to(
    context: RepositoryContext,
) -> None:
    turn = llm.ChatContext()
    turn.add_message(role="system", content="old", id=f"{RETRIEVAL_ID_PREFIX}earlier")
    turn.add_message(role="user", content="kept")

    added = await context.add_to_turn(turn, llm.ChatMessage(role="user", content=[FOLLOW_UP]))

    assert added
    [block] = blocks(turn)
    assert block.id != f"{RETRIEVAL_ID_PREFIX}earlier"
    assert turn.messages()[0].text_content == "kept"

    assert not await context.add_to_turn(turn, llm.ChatMessage(role="user", content=[SMALL_TALK]))
    assert blocks(turn) == []


async def test_a_turn_waits_no_longer_than_its_timeout(context: RepositoryContext) -> None:
    context.turn_timeout = 0.000_1
    turn = llm.ChatContext()

    assert not await context.add_to_turn(turn, llm.ChatMessage(role="user", content=[QUESTION]))
    assert turn.items == []


# -- symbol tools -------------------------------------------------------------------------


async def test_the_symbol_tools_are_listed_and_named_in_the_instructions(
    context: RepositoryContext,
) -> None:
    names = set(llm.ToolContext([context.tools]).function_tools)

    assert {"find_definition", "file_outline", "find_references"} <= names
    for name in ("find_definition (", "file_outline (", "find_references ("):
        assert name in context.instructions


async def test_find_definition_gives_path_line_signature_and_doc(
    context: RepositoryContext, bot: Bot
) -> None:
    answer = await call(context.tools, "find_definition", name="ContextClient", kind="class")

    source = (bot.repo / "context_bot/client.py").read_text().splitlines()
    line = source.index(next(s for s in source if s.startswith("class ContextClient")))
    assert f"context_bot/client.py:{line + 1}: class ContextClient: class ContextClient" in answer
    assert len(answer) <= context.tools.answer_chars

    missing = await call(context.tools, "find_definition", name="NoSuchThingAnywhere42")
    assert missing.startswith("No definition matches 'NoSuchThingAnywhere42'")
    refused = await call(context.tools, "find_definition", name="x", kind="galaxy")
    assert refused.startswith("bad_request: ")


async def test_file_outline_lists_definitions_with_their_lines(
    context: RepositoryContext, bot: Bot
) -> None:
    answer = await call(context.tools, "file_outline", path="context_bot/tasks.py")

    source = (bot.repo / "context_bot/tasks.py").read_text().splitlines()
    defs = [n for n, s in enumerate(source, 1) if re.match(r"(async )?def |class ", s)]
    assert answer.startswith("context_bot/tasks.py defines:\n")
    for n in defs:
        assert f"- lines {n}-" in answer

    assert "not a language the bot parses" in await call(
        context.tools, "file_outline", path="README.md"
    )
    secret = await call(context.tools, "file_outline", path=".env")
    assert secret.startswith("not_found: ") and "API_TOKEN" not in secret


async def test_find_references_gives_each_use_and_the_total(
    context: RepositoryContext, bot: Bot
) -> None:
    answer = await call(
        context.tools, "find_references", name="check_relative", path_glob="context_bot/**"
    )

    rows = answer.splitlines()
    assert rows[0].startswith("Uses of 'check_relative' (")
    for row in rows[1:]:
        path, line = row.rsplit(":", 1)
        assert "check_relative" in (bot.repo / path).read_text().splitlines()[int(line) - 1]
    assert len(rows) > 2

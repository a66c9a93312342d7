"""An agent gets the repository's context in one line, and the model can use it.

Every test joins a fresh room that the real bot is in, builds the context the way an
entrypoint would (`repository_context(room)`, then `Agent(tools=[context.tools])`), and
calls the tools the way the framework does: through `llm.utils.execute_function_call`
with JSON arguments, the path an LLM's tool call takes. The last tests run a real
`AgentSession` whose LLM is scripted (`scripted_llm.py`).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import api, rtc
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.testing import fake_job_context

from context_bot.agents import CHARS_PER_TOKEN, RepositoryContext, repository_context
from context_bot.client import ContextTimeout
from context_bot.devserver import DevServer
from tests.agents.conftest import BIG_FILE, BIG_FILE_LINES, REPO_ROOT, Bot, big_file_line
from tests.agents.driving import call
from tests.agents.scripted_llm import ScriptedLLM, ToolCall, instructions_of, last_tool_output

pytestmark = pytest.mark.integration

PROMPT = "You are a friendly guide to this codebase for new engineers."
TOOL_NAMES = {
    "read_file",
    "search_knowledge",
    "search_code",
    "list_folder",
    "describe_feature",
    "find_definition",
    "file_outline",
    "find_references",
}


def served(bot: Bot, path: str) -> str:
    return (bot.repo / path).read_text()


async def test_the_entrypoint_one_liner_gives_an_agent_eight_described_tools(
    context: RepositoryContext,
) -> None:
    agent = Agent(instructions=f"{PROMPT}\n\n{context.instructions}", tools=[context.tools])

    tools = llm.ToolContext(agent.tools)
    assert set(tools.function_tools) == TOOL_NAMES
    schemas = {s["function"]["name"]: s["function"] for s in tools.parse_function_tools("openai")}
    read = schemas["read_file"]
    assert "knowledge document" in read["description"]
    assert set(read["parameters"]["properties"]) == {"path", "first_line", "last_line"}
    assert "Repository-relative" in read["parameters"]["properties"]["path"]["description"]
    assert all(schemas[name]["description"] for name in TOOL_NAMES)


async def test_read_file_gives_the_knowledge_document_and_the_exact_source(
    context: RepositoryContext, bot: Bot
) -> None:
    # A small documented file that fits the default answer budget whole (errors.py grew
    # past it).
    answer = await call(context.tools, "read_file", path="context_bot/tasks.py")

    assert "--- knowledge document for context_bot/tasks.py ---" in answer
    assert "filePath: context_bot/tasks.py" in answer
    source = served(bot, "context_bot/tasks.py")
    lines = source.count("\n")
    assert f"--- source of context_bot/tasks.py, lines 1–{lines} of {lines:,} ---\n" in answer
    assert answer.endswith(source), "the whole file, byte for byte, and no note after it"
    assert "Cut here" not in answer


async def test_a_line_range_gives_only_those_lines(context: RepositoryContext, bot: Bot) -> None:
    answer = await call(context.tools, "read_file", path="README.md", first_line=3, last_line=5)

    readme = served(bot, "README.md").splitlines(keepends=True)
    note = f"[Lines 6–{len(readme):,} not shown: read_file with first_line=6.]"
    assert answer.endswith("".join(readme[2:5]) + note)
    assert f"lines 3–5 of {len(readme):,}" in answer
    assert "knowledge document" not in answer


async def test_a_1_mb_file_is_cut_for_the_model_with_a_note_saying_how_to_read_on(
    context: RepositoryContext,
) -> None:
    answer = await call(context.tools, "read_file", path=BIG_FILE)

    assert len(answer) <= context.tools.answer_chars
    assert answer.startswith(f"{BIG_FILE}: 1,060,000 bytes, {BIG_FILE_LINES:,} lines.")
    shown = answer.count("the quick brown fox")
    assert 100 < shown < BIG_FILE_LINES
    assert big_file_line(shown) in answer and big_file_line(shown + 1) not in answer
    note = (
        f"[Cut here to fit: lines 1–{shown} of {BIG_FILE_LINES:,} shown. To read on, call "
        f"read_file with path='{BIG_FILE}' and first_line={shown + 1}.]"
    )
    assert answer.endswith(note)

    # The model follows the note.
    more = await call(context.tools, "read_file", path=BIG_FILE, first_line=shown + 1)
    assert len(more) <= context.tools.answer_chars
    body = more.split("---\n", 1)[1]
    assert body.startswith(big_file_line(shown + 1))
    assert "first_line=" in more.splitlines()[-1]


async def test_the_answer_budget_is_the_developers_to_set(room: rtc.Room) -> None:
    context = await repository_context(room, answer_tokens=500)
    try:
        answer = await call(context.tools, "read_file", path=BIG_FILE)
    finally:
        await context.aclose()
    assert len(answer) <= 500 * CHARS_PER_TOKEN
    assert "Cut here to fit" in answer


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("../etc/passwd", "invalid_path: path must not contain '..': '../etc/passwd'; give a"),
        ("/etc/passwd", "invalid_path:"),
        (".env", "path_denied: path is not served: .env; it is never served (secrets, .git/"),
        ("nowhere/nothing.py", "not_found: no file and no knowledge for 'nowhere/nothing.py'; "),
        ("context_bot", "not_a_file: not a regular file: context_bot; it is a folder: call list"),
    ],
)
async def test_a_refused_path_is_a_message_the_model_can_act_on(
    context: RepositoryContext, path: str, expected: str
) -> None:
    answer = await call(context.tools, "read_file", path=path)

    assert answer.startswith(expected)
    assert "a-test-value" not in answer
    # Called directly, as a developer might, it does not raise either.
    assert await context.tools.read_file(path) == answer


async def test_path_denied_says_to_try_a_different_path(context: RepositoryContext) -> None:
    answer = await call(context.tools, "read_file", path=".env")
    assert answer.endswith("try a different path.")


async def test_a_guide_reads_and_pages_like_a_file(room: rtc.Room, bot: Bot) -> None:
    context = await repository_context(room, answer_tokens=500)
    try:
        first = await call(context.tools, "read_file", path="guides/architecture.md")
        guide = served(bot, "knowledge/guides/architecture.md").splitlines(keepends=True)
        assert first.startswith("--- guide guides/architecture.md, lines 1–")
        assert len(first) <= 500 * CHARS_PER_TOKEN
        next_line = int(first.rsplit("first_line=", 1)[1].rstrip(".]"))
        assert "".join(guide[: next_line - 1]) in first

        more = await call(
            context.tools, "read_file", path="guides/architecture.md", first_line=next_line
        )
        assert more.split("---\n", 1)[1].startswith(guide[next_line - 1])
    finally:
        await context.aclose()


async def test_search_finds_the_documents_of_the_served_repository(
    context: RepositoryContext,
) -> None:
    answer = await call(context.tools, "search_knowledge", query="wire format protocol")

    assert answer.startswith("Results for 'wire format protocol', best first:\n1. ")
    assert "context_bot/protocol.py (file, feature room-protocol): " in answer
    nothing = await call(context.tools, "search_knowledge", query="zzzqqqxxyy")
    assert nothing.startswith("No knowledge matches 'zzzqqqxxyy'.")


async def test_search_code_finds_lines_in_every_file_as_grep_prints_them(
    context: RepositoryContext, bot: Bot
) -> None:
    source = served(bot, "context_bot/client.py").splitlines()
    line = next(n for n, text in enumerate(source, 1) if text.startswith("class ContextClient"))

    answer = await call(context.tools, "search_code", pattern="class ContextClient", glob="*.py")
    assert answer.startswith("Matches for 'class ContextClient' (")
    assert f"context_bot/client.py:{line}: class ContextClient:" in answer.splitlines()

    regex = await call(
        context.tools, "search_code", pattern=r"^class \w+Error\(", regex=True, context=1
    )
    assert "context_bot/errors.py:" in regex and "context_bot/errors.py-" in regex
    nothing = await call(context.tools, "search_code", pattern="zzzqqqxxyy")
    assert nothing.startswith("No line matches 'zzzqqqxxyy' (")
    refused = await call(context.tools, "search_code", pattern="(", regex=True)
    assert refused.startswith("bad_request: `params.pattern` is not a valid RE2 expression")


async def test_list_folder_shows_every_file_and_what_is_documented(
    context: RepositoryContext,
) -> None:
    root = await call(context.tools, "list_folder")
    assert re.search(r"^context_bot/ — folder, [\d,]+ files, [\d,]+ documented$", root, re.M)
    assert re.search(r"^The repository root: [\d,]+ entries\. [\d,]+ files in all, ", root)

    folder = (await call(context.tools, "list_folder", folder="context_bot", depth=1)).splitlines()
    assert folder[0].startswith("context_bot: ")
    errors = next(line for line in folder if line.startswith("context_bot/errors.py — "))
    assert errors.startswith("context_bot/errors.py — python, documented, feature room-protocol")
    # A file no document describes is listed too, and says so.
    typed = next(line for line in folder if line.startswith("context_bot/py.typed — "))
    assert typed.endswith("no document")


async def test_describe_feature_lists_then_describes_and_refuses_an_unknown_one(
    context: RepositoryContext,
) -> None:
    listing = await call(context.tools, "describe_feature")
    assert "- room-protocol: " in listing

    feature = await call(context.tools, "describe_feature", name="room-protocol")
    assert feature.startswith("Feature room-protocol.\nFiles:\n")
    assert "- context_bot/bot/session.py (" in feature

    unknown = await call(context.tools, "describe_feature", name="no-such-feature")
    assert unknown.startswith("not_found: ")
    assert unknown.endswith("call describe_feature without a name to list them.")


async def test_the_instructions_hold_the_overview_within_the_budget(room: rtc.Room) -> None:
    context = await repository_context(room, budget_tokens=4000)
    overview = await context.client.overview()
    await context.aclose()
    assert len(overview) > 4000 * CHARS_PER_TOKEN, "the served overview must need cutting"

    text = context.instructions
    assert len(text) <= 4000 * CHARS_PER_TOKEN
    assert text.startswith(f'<repository_context knowledge_version="{context.knowledge_version}">')
    assert text.endswith("</repository_context>")
    first_lines = "\n".join(overview.splitlines()[:3])  # the title and the revision line
    assert first_lines in text
    assert "[Overview cut to fit 4,000 tokens; " in text
    assert "The tools give the rest.]" in text

    roomy = await repository_context(room, budget_tokens=20_000)
    try:
        # Every section whole, in priority order, but the one naming the protocol's methods.
        for section in re.split(r"\n(?=## )", overview)[1:]:
            if section.startswith("## Asking for more"):
                assert section.strip() not in roomy.instructions
            else:
                assert section.strip() in roomy.instructions
        assert "Overview cut" not in roomy.instructions
    finally:
        await roomy.aclose()


async def test_a_tiny_budget_still_fits(room: rtc.Room) -> None:
    context = await repository_context(room, budget_tokens=300)
    try:
        assert len(context.instructions) <= 300 * CHARS_PER_TOKEN
        assert "onboarding overview" in context.instructions
    finally:
        await context.aclose()


async def test_a_room_without_the_bot_fails_at_the_start_not_at_the_first_question(
    livekit_server: DevServer,
) -> None:
    token = (
        api.AccessToken(livekit_server.api_key, livekit_server.api_secret)
        .with_identity("agent")
        .with_grants(api.VideoGrants(room_join=True, room=f"no-bot-{uuid.uuid4().hex[:8]}"))
        .to_jwt()
    )
    room = rtc.Room()
    await room.connect(livekit_server.url, token)
    try:
        with pytest.raises(ContextTimeout, match="is the bot in the room"):
            await repository_context(room, request_timeout=2)
    finally:
        await room.disconnect()


# -- a real AgentSession ------------------------------------------------------------------


async def test_a_session_with_a_scripted_llm_reads_a_file_through_the_tools(
    context: RepositoryContext, bot: Bot
) -> None:
    model = ScriptedLLM(
        lambda ctx: ToolCall("read_file", path="context_bot/tasks.py"),
        lambda ctx: "It starts with: " + last_tool_output(ctx).splitlines()[0],
    )
    agent = Agent(instructions=f"{PROMPT}\n\n{context.instructions}", tools=[context.tools])
    async with AgentSession(llm=model) as session:
        await session.start(agent)
        result = await session.run(user_input="What is in context_bot/tasks.py?")

    result.expect.next_event().is_function_call(
        name="read_file", arguments={"path": "context_bot/tasks.py"}
    )
    output = result.expect.next_event().is_function_call_output(is_error=False).event().item
    assert served(bot, "context_bot/tasks.py") in output.output
    reply = result.expect.next_event().is_message(role="assistant").event().item
    source = served(bot, "context_bot/tasks.py")
    lines = source.count("\n")
    header = f"context_bot/tasks.py: {len(source.encode()):,} bytes, {lines} lines."
    assert reply.text_content == f"It starts with: {header}"
    result.expect.no_more_events()
    assert context.instructions in instructions_of(model.seen[0])


async def test_a_knowledge_change_reaches_a_running_agent_without_reconnecting(
    room: rtc.Room, bot: Bot
) -> None:
    """The one-line entrypoint in a job: nothing else wired, the refresh finds the agent."""
    feature = f"probe-{uuid.uuid4().hex[:8]}"
    model = ScriptedLLM(
        lambda ctx: "before",
        lambda ctx: ToolCall("search_knowledge", query=feature),
        lambda ctx: "after",
    )
    participant_sid = room.local_participant.sid
    with fake_job_context(room=room) as job:
        context = await repository_context(room, budget_tokens=20_000)  # all of it: Features too
        agent = Agent(instructions=f"{PROMPT}\n\n{context.instructions}", tools=[context.tools])
        async with AgentSession(llm=model) as session:
            await session.start(agent)
            await session.run(user_input="hello")
            before = context.knowledge_version
            assert feature not in instructions_of(model.seen[0])

            write_document(bot.repo, feature)
            await wait_for(lambda: context.knowledge_version != before, timeout=20)
            await wait_for(lambda: feature in str(agent.instructions), timeout=5)

            result = await session.run(user_input="What did just change?")
        await context.aclose()
    # A fake job never shuts down, and its shutdown is what removes its scratch directory.
    job._tempdir.cleanup()

    assert str(agent.instructions).startswith(f"{PROMPT}\n\n<repository_context ")
    assert context.instructions in str(agent.instructions)
    assert f'knowledge_version="{context.knowledge_version}"' in instructions_of(model.seen[1])
    assert feature in instructions_of(model.seen[1]), "the model reads the new overview"
    assert "The knowledge changed during this conversation (README.md)" in context.instructions
    found = result.expect.next_event(type="function_call_output").event().item.output
    assert "1. README.md (file, feature " + feature in found, "the tools see it too"
    assert room.connection_state == rtc.ConnectionState.CONN_CONNECTED
    assert room.local_participant.sid == participant_sid, "same connection, no rejoin"


async def test_read_file_sees_a_new_document_in_the_same_room(room: rtc.Room, bot: Bot) -> None:
    context = await repository_context(room)
    try:
        path = "context_bot/tasks.py"
        assert "probe-edit" not in await call(context.tools, "read_file", path=path)
        before = context.knowledge_version
        document = bot.repo / "knowledge" / f"{path}.md"
        document.write_text(document.read_text() + "\n## Note\nprobe-edit: a test appended this.\n")
        await wait_for(lambda: context.knowledge_version != before, timeout=20)
        assert "probe-edit: a test appended this." in await call(
            context.tools, "read_file", path=path
        )
    finally:
        await context.aclose()


def write_document(repo: Path, feature: str) -> None:
    """A knowledge document for README.md (which had none), naming a new feature."""
    (repo / "knowledge" / "README.md.md").write_text(
        "---\n"
        "filePath: README.md\n"
        "importance: critical\n"
        f"feature: {feature}\n"
        "featureRole: docs\n"
        "---\n"
        "## Purpose\nThe front page of the repository, written by a test.\n"
    )


async def wait_for(condition: Callable[[], bool], *, timeout: float) -> None:
    """Poll: the state is changed by the bot's watcher and our refresh task, with no event."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the state itself
            await asyncio.sleep(0.05)


def test_the_repo_copy_is_what_the_bot_serves(bot: Bot) -> None:
    assert bot.repo != REPO_ROOT
    assert (bot.repo / BIG_FILE).stat().st_size == 1_060_000

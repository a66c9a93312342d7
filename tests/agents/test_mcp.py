"""context-bot as an MCP server for `livekit-agents` 1.8.9: the one line of the README,
`MCPToolset(id=..., mcp_server=MCPServerHTTP(url))`, against the running product, with the
toolset's defaults (5 s to connect, 5 s a call), and through a real `AgentSession`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import Agent, AgentSession
from livekit.agents.llm import mcp

from tests.agents.conftest import BIG_FILE, Bot, big_file_line
from tests.agents.scripted_llm import ScriptedLLM, ToolCall, last_tool_output

pytestmark = pytest.mark.integration


@pytest.fixture
async def toolset(bot: Bot) -> AsyncIterator[mcp.MCPToolset]:
    toolset = mcp.MCPToolset(id="context_bot", mcp_server=mcp.MCPServerHTTP(f"{bot.endpoint}/mcp"))
    await toolset.setup()
    yield toolset
    await toolset.aclose()


def _answer(model_reads: str) -> Any:
    """What the model reads is the text block as the toolset renders it; in it, our JSON."""
    return json.loads(json.loads(model_reads)["text"])


def _tool(toolset: mcp.MCPToolset, name: str) -> mcp.MCPTool:
    for tool in toolset.tools:
        if isinstance(tool, mcp.MCPTool) and tool.info.name == name:
            return tool
    raise AssertionError(f"no tool {name}")


async def test_the_toolset_lists_the_tools_and_calls_read_file_search_and_grep(
    toolset: mcp.MCPToolset,
) -> None:
    names = {t.info.name for t in toolset.tools if isinstance(t, mcp.MCPTool)}
    assert {"overview", "read_file", "search", "grep", "list_folder", "symbols"} <= names

    read = _answer(
        await _tool(toolset, "read_file")({"path": BIG_FILE, "first_line": 3, "last_line": 4})
    )
    assert read["content"]["text"] == big_file_line(3) + big_file_line(4)

    found = _answer(await _tool(toolset, "search")({"query": "rate limit"}))
    assert found["hits"]

    grep = _answer(await _tool(toolset, "grep")({"pattern": "class ContextClient"}))
    lines = {(m["path"], m["text"]) for m in grep["matches"]}
    assert ("context_bot/client.py", "class ContextClient:") in lines


async def test_a_refusal_reaches_the_model_as_a_tool_error_with_the_code(
    toolset: mcp.MCPToolset,
) -> None:
    with pytest.raises(Exception) as refused:  # the toolset raises its ToolError
        await _tool(toolset, "read_file")({"path": ".env"})
    assert "4103" in str(refused.value) and "a-test-value" not in str(refused.value)


async def test_an_agent_session_reads_a_file_through_the_mcp_toolset(
    toolset: mcp.MCPToolset,
) -> None:
    model = ScriptedLLM(
        lambda ctx: ToolCall("read_file", path=BIG_FILE, first_line=1, last_line=1),
        lambda ctx: "First line: " + _answer(last_tool_output(ctx))["content"]["text"].strip(),
    )
    agent = Agent(instructions="Answer from the repository.", tools=[toolset])
    async with AgentSession(llm=model) as session:
        await session.start(agent)
        result = await session.run(user_input="What is the first line of the notes?")
    result.expect.next_event().is_function_call(name="read_file")
    result.expect.next_event().is_function_call_output(is_error=False)
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == "First line: " + big_file_line(1).strip()

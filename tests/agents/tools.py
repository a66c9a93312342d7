"""Calling a repository tool the way the framework calls it for an LLM's tool call."""

from __future__ import annotations

import json

from livekit.agents import llm


async def call(toolset: llm.Toolset, tool: str, **arguments: object) -> str:
    """Call `tool` with JSON arguments through `execute_function_call`, the path an LLM's
    tool call takes; return what the model reads. Our tools answer refusals as text, so
    any exception or error flag is a failure."""
    result = await llm.utils.execute_function_call(
        llm.FunctionToolCall(name=tool, arguments=json.dumps(arguments), call_id="call_1"),
        llm.ToolContext([toolset]),
    )
    assert result.raw_exception is None, result.raw_exception
    assert not result.fnc_call_out.is_error
    return result.fnc_call_out.output

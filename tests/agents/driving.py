"""Driving the framework as it drives itself: a tool call as an LLM's, a user's turn as
the audio pipeline ends it."""

from __future__ import annotations

import json

from livekit.agents import AgentSession, llm
from livekit.agents.voice.audio_recognition import _EndOfTurnInfo, _EndOfTurnMetrics


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


async def end_user_turn(session: AgentSession, text: str) -> None:
    """End a user turn with `text` as its final transcript, as the audio pipeline does when
    the user stops speaking (`AgentActivity.on_end_of_turn`, the one call between speech
    recognition and `Agent.on_user_turn_completed`), and wait for the hook and the reply's
    scheduling. A test has no microphone, and `session.run(user_input=...)` goes straight
    to `generate_reply`, which never calls the hook."""
    activity = session._activity
    assert activity is not None
    activity.on_end_of_turn(
        _EndOfTurnInfo(
            skip_reply=False,
            new_transcript=text,
            transcript_confidence=1.0,
            metrics=_EndOfTurnMetrics(None, None, None, None),
        )
    )
    task = activity._user_turn_completed_atask
    assert task is not None
    await task

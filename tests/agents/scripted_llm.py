"""A scripted LLM for running a real `AgentSession` without a model or keys.

livekit-agents 1.8 ships the session's test harness (`AgentSession.run`, `RunResult.expect`)
but no fake LLM, so this is one: each `chat()` call plays the next step of a script. A step
looks at the chat context the session built (instructions, the user's turn, tool outputs)
and answers with either a tool call or text, streamed the way a provider plugin streams
them. Every context it was given is kept in `seen`, so a test can check what the model
would have read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    llm,
)

Step = Callable[[llm.ChatContext], "str | ToolCall"]


class ToolCall:
    """A step's answer asking the framework to call a tool."""

    def __init__(self, name: str, **arguments: Any) -> None:
        self.name = name
        self.arguments = arguments


class ScriptedLLM(llm.LLM):
    def __init__(self, *steps: Step) -> None:
        super().__init__()
        self._steps = list(steps)
        self.seen: list[llm.ChatContext] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        self.seen.append(chat_ctx.copy())
        if not self._steps:
            raise AssertionError("the session asked the LLM more often than the script says")
        answer = self._steps.pop(0)(chat_ctx)
        return _Stream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, answer=answer
        )


class _Stream(llm.LLMStream):
    def __init__(self, model: ScriptedLLM, *, answer: str | ToolCall, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self._answer = answer

    async def _run(self) -> None:
        if isinstance(self._answer, ToolCall):
            call = llm.FunctionToolCall(
                name=self._answer.name,
                arguments=json.dumps(self._answer.arguments),
                call_id=f"call_{uuid.uuid4().hex[:8]}",
            )
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        else:
            delta = llm.ChoiceDelta(role="assistant", content=self._answer)
        self._event_ch.send_nowait(llm.ChatChunk(id=uuid.uuid4().hex, delta=delta))


def instructions_of(chat_ctx: llm.ChatContext) -> str:
    """The system text the model was given in this context."""
    return "\n".join(
        item.text_content or ""
        for item in chat_ctx.items
        if item.type == "message" and item.role in ("system", "developer")
    )


def last_tool_output(chat_ctx: llm.ChatContext) -> str:
    outputs = [item.output for item in chat_ctx.items if item.type == "function_call_output"]
    if not outputs:
        raise AssertionError("no tool output in the chat context")
    return outputs[-1]

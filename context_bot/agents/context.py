"""One agent session's repository context: tools, instructions, their refresh, and the
retrieval block of each user turn (`RepositoryContext`, made by `repository_context`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from livekit import rtc
from livekit.agents import Agent, AgentSession, JobContext, get_job_context, llm

from context_bot.agents.budget import (
    DEFAULT_ANSWER_TOKENS,
    DEFAULT_BUDGET_TOKENS,
    MIN_BUDGET_TOKENS,
)
from context_bot.agents.instructions import render_instructions
from context_bot.agents.tools import ContextTools
from context_bot.client import ContextClient, ContextTimeout, KnowledgeUpdate, RequestError
from context_bot.protocol import (
    DEFAULT_RETRIEVE_BUDGET_TOKENS,
    MAX_RETRIEVE_BUDGET_TOKENS,
    MAX_RETRIEVE_TEXT_CHARS,
    MIN_RETRIEVE_BUDGET_TOKENS,
)

# The agent's process logs through livekit-agents' standard-library handlers (JSON in a
# worker); structlog, which the bot configures for itself, is not set up there.
log = logging.getLogger(__name__)

TURN_TIMEOUT_S = 1.0
"""Longest a user's turn waits for its retrieval (about 10 ms in a room on one machine:
benchmarks/RESULTS-retrieval.md); past it the reply goes without the block."""
RETRIEVAL_ID_PREFIX = "context_bot_retrieval_"
"""The id of every chat item a turn's retrieval adds, so the next turn finds and replaces it."""
_TURN_OPEN = "<repository_context_for_this_turn>"
_TURN_NOTE = (
    "Passages of the repository that may bear on the user's last turn, found for you (the "
    "user did not write this). Use them if they help; read more with {read}."
)
_TURN_CLOSE = "</repository_context_for_this_turn>"


class RepositoryContext:
    """Tools, instructions and their refresh for one agent session; from `repository_context`.

    When the bot announces a knowledge change, the overview is fetched again and
    `instructions` changes. Every agent it is following gets it too: the block this
    object wrote into the agent's instructions is swapped for the new one through
    `Agent.update_instructions`, keeping the developer's own text around it. Which agents:
    those given to `keep_fresh`, or, when none were and it was created inside a job, the
    current agent of the job's primary `AgentSession` (so handoffs are followed). Agents
    whose instructions are an `Instructions` object rather than a string are left alone.
    """

    def __init__(
        self,
        client: ContextClient,
        *,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        answer_tokens: int = DEFAULT_ANSWER_TOKENS,
        turn_tokens: int = DEFAULT_RETRIEVE_BUDGET_TOKENS,
        turn_timeout: float = TURN_TIMEOUT_S,
        job: JobContext | None = None,
    ) -> None:
        if budget_tokens < MIN_BUDGET_TOKENS:
            raise ValueError(f"budget_tokens must be at least {MIN_BUDGET_TOKENS}")
        if not MIN_RETRIEVE_BUDGET_TOKENS <= turn_tokens <= MAX_RETRIEVE_BUDGET_TOKENS:
            raise ValueError(
                f"turn_tokens must be from {MIN_RETRIEVE_BUDGET_TOKENS} "
                f"to {MAX_RETRIEVE_BUDGET_TOKENS}"
            )
        self.client = client
        self.tools = ContextTools(client, answer_tokens=answer_tokens)
        self.budget_tokens = budget_tokens
        self.turn_tokens = turn_tokens
        """The most a turn's retrieval block holds (`retrieve_each_turn`)."""
        self.turn_timeout = turn_timeout
        self._job = job
        self._targets: list[Agent | AgentSession[Any]] = []
        self._overview = ""
        self._version: str | None = None
        self._last_change: KnowledgeUpdate | None = None
        self._written: list[str] = []  # the last blocks handed out, newest last
        self._follower: asyncio.Task[None] | None = None

    @property
    def instructions(self) -> str:
        """The overview block for an agent's instructions, at most `budget_tokens` long."""
        return self._written[-1] if self._written else ""

    @property
    def knowledge_version(self) -> str | None:
        """The knowledge version the instructions describe."""
        return self._version

    def keep_fresh(self, target: Agent | AgentSession[Any]) -> None:
        """Rewrite this agent's instructions (or a session's current agent's) on a change."""
        self._targets.append(target)

    async def start(self) -> None:
        """Follow knowledge changes, then fetch the overview; raises if no bot answers."""
        if self._follower is None:
            # Owned here and cancelled by `aclose`; `_follow` logs each failed refresh.
            self._follower = asyncio.create_task(self._follow(), name="context_bot_refresh")
            await asyncio.sleep(0)  # subscribed before asking: no change falls in between
        await self._take(await self.client.overview(), self.client.knowledge_version)

    async def refresh(self) -> None:
        """Fetch the overview now and rewrite the instructions of the agents followed."""
        answer = await self.client.request("overview")
        await self._take(str(answer["text"]), str(answer["knowledge_version"]))

    async def retrieve(self, text: str) -> str:
        """The repository's passages that answer `text`, as the model reads them (paths
        with line numbers, documents' purposes, the lines that matter, at most
        `turn_tokens`), or "" when nothing scores well enough. Raises `RequestError` or
        `ContextTimeout` as the client does."""
        found = await self.client.retrieve(text, budget_tokens=self.turn_tokens)
        if not found.text:
            return ""
        read = self.tools.read_file.info.name
        return f"{_TURN_OPEN}\n{_TURN_NOTE.format(read=read)}\n{found.text}\n{_TURN_CLOSE}"

    def retrieve_each_turn(self, agent: Agent) -> Agent:
        """Give `agent` the repository's passages for each user turn, before it replies.

        One line in an entrypoint: `agent = context.retrieve_each_turn(MyAgent(...))`.
        The agent's `on_user_turn_completed` is wrapped (its own override still runs,
        after): the finished turn is sent to the bot's `retrieve`, and the block is added
        to that turn's chat context as a system message, never as a user message and
        without asking for a reply. The framework gives the hook a copy of the agent's
        history and keeps none of its additions, so a block lives for one turn (its tool
        calls included); one left by earlier code is removed first all the same. Nothing
        is added when nothing matched or the bot took longer than `turn_timeout`.
        Preemptive generation, when on, is discarded for a turn that got a block (the
        framework's rule for any change the hook makes). For pipeline agents (STT + LLM +
        TTS): livekit-agents 1.8.9 does not hand a realtime model the turn's chat context."""
        own = agent.on_user_turn_completed

        async def on_user_turn_completed(
            turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
        ) -> None:
            await self.add_to_turn(turn_ctx, new_message)
            await own(turn_ctx, new_message)

        agent.on_user_turn_completed = on_user_turn_completed  # type: ignore[method-assign]
        return agent

    async def add_to_turn(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> bool:
        """Replace the retrieval block in `turn_ctx` with one for `new_message`; whether
        one was added. For agents that override `on_user_turn_completed` themselves."""
        turn_ctx.items = [
            item for item in turn_ctx.items if not item.id.startswith(RETRIEVAL_ID_PREFIX)
        ]
        text = (new_message.text_content or "").strip()
        if not text:
            return False
        try:
            async with asyncio.timeout(self.turn_timeout):
                # A very long turn: its end is what the reply answers.
                block = await self.retrieve(text[-MAX_RETRIEVE_TEXT_CHARS:])
        except (RequestError, ContextTimeout, TimeoutError) as exc:
            # Never the turn's text: it is the user's words.
            log.warning("context_retrieval_skipped", extra={"reason": type(exc).__name__})
            return False
        if not block:
            return False
        turn_ctx.add_message(
            role="system", content=block, id=f"{RETRIEVAL_ID_PREFIX}{uuid.uuid4().hex[:12]}"
        )
        return True

    async def aclose(self) -> None:
        """Stop following changes and stop listening to the bot; idempotent."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await self.client.aclose()

    async def _follow(self) -> None:
        async for change in self.client.updates():
            self._last_change = change
            try:
                await self.refresh()
            except Exception:  # one failed refresh must not end the following
                log.warning("context_refresh_failed", exc_info=True)

    async def _take(self, overview: str, version: str | None) -> None:
        self._overview, self._version = overview, version
        old, new = self._written[-4:], self._render()
        self._written = [*old, new]
        for agent in self._agents():
            current = agent.instructions
            if not isinstance(current, str):
                continue
            # The exact text handed out, not a pattern: the overview may quote our tags.
            block = next((b for b in reversed(old) if b in current), None)
            if block is not None and block != new:
                await agent.update_instructions(current.replace(block, new, 1))
                log.info("context_instructions_refreshed", extra={"agent": agent.id})

    def _agents(self) -> list[Agent]:
        targets = list(self._targets)
        if not targets and self._job is not None:
            with contextlib.suppress(RuntimeError):  # no session started in the job yet
                targets.append(self._job.primary_session)
        agents: list[Agent] = []
        for target in targets:
            if isinstance(target, Agent):
                agents.append(target)
            else:
                with contextlib.suppress(RuntimeError):  # the session is not running
                    agents.append(target.current_agent)
        return agents

    def _render(self) -> str:
        change = self._last_change
        changed = None
        if change is not None:
            changed = [*change.changed, *change.added, *change.removed]
        return render_instructions(
            self._overview,
            budget_tokens=self.budget_tokens,
            tools=self.tools,
            version=self._version,
            changed=changed,
        )


async def repository_context(
    room: rtc.Room,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    answer_tokens: int = DEFAULT_ANSWER_TOKENS,
    turn_tokens: int = DEFAULT_RETRIEVE_BUDGET_TOKENS,
    bot_identity: str | None = None,
    request_timeout: float = 15.0,
) -> RepositoryContext:
    """The repository's context for an agent in `room`: `tools`, `instructions`, refresh.

    `room` must be connected (in an entrypoint: after `await ctx.connect()`) to a room the
    context bot is in. `budget_tokens` bounds the instructions block, `answer_tokens` each
    tool answer, `turn_tokens` each turn's retrieval block. The bot's identity comes from
    the room's metadata when the token endpoint created the room, else the default. Raises
    `ContextTimeout` when no bot answers within `request_timeout` seconds (each tool call
    waits as long at most). Inside a job it closes itself when the job shuts down;
    elsewhere call `aclose()`.
    """
    if not room.isconnected():
        raise RuntimeError("connect the room before asking for its context: await ctx.connect()")
    identity = bot_identity or _bot_identity(room)
    client = (
        ContextClient(room, timeout=request_timeout)
        if identity is None
        else ContextClient(room, bot_identity=identity, timeout=request_timeout)
    )
    job = get_job_context(required=False)
    context = RepositoryContext(
        client,
        budget_tokens=budget_tokens,
        answer_tokens=answer_tokens,
        turn_tokens=turn_tokens,
        job=job,
    )
    try:
        await context.start()
    except BaseException:
        await context.aclose()
        raise
    if job is not None:
        job.add_shutdown_callback(context.aclose)
    return context


def _bot_identity(room: rtc.Room) -> str | None:
    """The bot's identity from the room's metadata, where the token endpoint records it."""
    try:
        value = json.loads(room.metadata or "{}")["context_bot"]["bot_identity"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None

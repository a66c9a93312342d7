"""Retrieval latency: end of a user's turn → its block in the chat context, in a real room.

    CONTEXT_BOT_BOT_PYTHON=.venv/bin/python .venv-agents/bin/python benchmarks/retrieve_bench.py

Runs in the agents virtualenv (livekit-agents; `scripts/test-agents` builds it), against
a livekit-server started here and the bot in its own process from `$CONTEXT_BOT_BOT_PYTHON`
(the main virtualenv, newest SDK, as in production), serving a copy of this repository's
tracked files (its knowledge documents included; the question sets left out). An agent
joins the room, `repository_context` connects it, and an `AgentSession` with a scripted LLM
runs an agent given `retrieve_each_turn`. Each trial ends a user turn the way the
framework's audio pipeline does (`AgentActivity.on_end_of_turn`, as tests/agents does) with
one of the newcomer questions of benchmarks/questions/context-bot.yaml, each asked once
(so no answer comes from the bot's search cache), and times:

- **hook**: `on_user_turn_completed` entered → the block in the turn's chat context (the
  retrieve request's round trip over the room, the bot's work, the rendering);
- **end of turn → LLM**: `on_end_of_turn` → the LLM called with the block (the framework's
  own scheduling included), beside the same path for an agent without retrieval;
- **floor**: the plain round trip of a 1 KB `file` request from the same client, in the
  same run.

Target (issue 19): hook p95 ≤ 50 ms. Not a test: numbers vary with the machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from livekit import rtc
from livekit.agents import Agent, AgentSession, llm
from livekit.agents.voice.speech_handle import SpeechHandle

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' helpers, run from anywhere

from context_bot.agents import (  # noqa: E402 - the tests' helpers need the path above
    RETRIEVAL_ID_PREFIX,
    RepositoryContext,
    repository_context,
)
from context_bot.devserver import start_dev_server  # noqa: E402
from tests.agents.driving import end_user_turn  # noqa: E402
from tests.agents.scripted_llm import ScriptedLLM  # noqa: E402
from tests.bot_service import bot_process  # noqa: E402

ONE_KB = "bench/1KB.txt"


def served_copy(into: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for rel in listed:
        if rel.startswith("benchmarks/questions/") or not (REPO / rel).is_file():
            continue
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, into / rel)
    line = "def handler(request):  # a line of plausible source text\n"
    (into / "bench").mkdir()
    (into / ONE_KB).write_text((line * 20)[:1024])
    return into


def stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"


class Timed:
    """Marks when the hook starts and when the LLM is called, per turn."""

    def __init__(self) -> None:
        self.hook_started: list[float] = []
        self.hook_done: list[float] = []
        self.llm_called: list[float] = []
        self.had_block: list[bool] = []


def timed_agent(context: RepositoryContext | None, timed: Timed) -> Agent:
    class Guide(Agent):
        async def on_user_turn_completed(
            self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
        ) -> None:
            timed.hook_started.append(time.perf_counter())
            if context is not None:
                await context.add_to_turn(turn_ctx, new_message)
            timed.hook_done.append(time.perf_counter())

    return Guide(instructions="You guide newcomers through this repository.")


async def run_turns(
    context: RepositoryContext | None, questions: list[str], timed: Timed
) -> list[float]:
    """End a turn per question; the time from each end of turn to the LLM's call."""

    def step(ctx: llm.ChatContext) -> str:
        timed.llm_called.append(time.perf_counter())
        timed.had_block.append(any(i.id.startswith(RETRIEVAL_ID_PREFIX) for i in ctx.items))
        return "ok"

    model = ScriptedLLM(*([step] * len(questions)))
    speeches: asyncio.Queue[SpeechHandle] = asyncio.Queue()
    ended: list[float] = []
    async with AgentSession(llm=model) as session:
        session.on("speech_created", lambda ev: speeches.put_nowait(ev.speech_handle))
        await session.start(timed_agent(context, timed))
        for question in questions:
            ended.append(time.perf_counter())
            await end_user_turn(session, question)
            reply = await asyncio.wait_for(speeches.get(), 10)
            await reply.wait_for_playout()
    return [called - end for called, end in zip(timed.llm_called, ended, strict=True)]


async def main() -> None:
    questions = [
        q["q"]
        for q in yaml.safe_load((REPO / "benchmarks/questions/context-bot.yaml").read_text())[
            "questions"
        ]
    ]
    work = Path(tempfile.mkdtemp(prefix="retrieve-bench-"))
    server = start_dev_server(work / "livekit")
    try:
        repo = served_copy(work / "repo")
        with bot_process(server, work / "bot.log", repo=repo, CONTEXT_BOT_REPO=str(repo)) as bot:
            room = rtc.Room()
            await room.connect(bot.livekit_url, bot.token(f"bench-{uuid.uuid4().hex[:8]}", "a"))
            context = await repository_context(room)
            await context.client.file(ONE_KB, knowledge=False)  # warm
            await context.retrieve("how is the warm up question answered")
            print(
                f"livekit-server {server.url}; {len(questions)} turns, each question once; "
                f"machine: {os.cpu_count()} cores",
                flush=True,
            )
            floor: list[float] = []
            for _ in questions:
                started = time.perf_counter()
                await context.client.file(ONE_KB, knowledge=False)
                floor.append(time.perf_counter() - started)

            timed = Timed()
            to_llm = await run_turns(context, questions, timed)
            hook = [d - s for s, d in zip(timed.hook_started, timed.hook_done, strict=True)]
            plain = Timed()
            plain_to_llm = await run_turns(None, questions, plain)

            blocks = sum(timed.had_block)
            print(f"{'hook: end of turn → block in chat context':<46} {stats(hook)}")
            print(f"{'end of turn → LLM called, with retrieval':<46} {stats(to_llm)}")
            print(f"{'end of turn → LLM called, without (same run)':<46} {stats(plain_to_llm)}")
            print(f"{'floor: 1 KB file request round trip':<46} {stats(floor)}")
            print(f"turns that got a block: {blocks}/{len(questions)}")
            verdict = "ok" if sorted(hook)[round(0.95 * (len(hook) - 1))] <= 0.050 else "OVER"
            print(f"target hook p95 ≤ 50 ms: {verdict}")
            await context.aclose()
            await room.disconnect()
    finally:
        server.stop(timeout=3)
        shutil.rmtree(work, ignore_errors=True)


def _quiet(*_: Any) -> None:
    import logging

    logging.getLogger("livekit").setLevel(logging.WARNING)
    logging.getLogger("livekit.agents").setLevel(logging.WARNING)


if __name__ == "__main__":
    _quiet()
    asyncio.run(main())

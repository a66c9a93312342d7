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

Then where each hook's time went: the bot's own steps from its `request_served` log
line (`context_bot/phases.py`: stream open → task, read, admit, turn, parse, the thread
hop there and back, search, symbols, reads, lines, encode, send), and the client's: the
answer stream opened, read and decoded. The rest of a hook (`transport`) is the client's
send, the room's two hops and the event loops' scheduling on both sides; `(request
sent)` is when the client's send (a text stream, or a data packet once the bot names the
client) returned, from the hook's start (the bot may have the request earlier). Last,
how long the bot, livekit-server and this process ran and how long they waited for a
CPU (Linux `schedstat`) during the turns: on a shared machine, the wait is other
processes' load.

At the end, the same questions' `retrieve` called in this process (wall and CPU time),
over the same copy and index: the floor of the bot's own work.

Turns are paced (`TURN_GAP_S`) after the floor's burst has refilled; `--back-to-back`
asks without either, which trips the bot's rate limit on a quiet machine.

Target (issue 19): hook p95 ≤ 50 ms. Not a test: numbers vary with the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from context_bot.bot.admission import DEFAULT_BURST, DEFAULT_RATE_PER_S  # noqa: E402
from context_bot.client import ContextClient  # noqa: E402
from context_bot.devserver import start_dev_server  # noqa: E402
from tests.agents.driving import end_user_turn  # noqa: E402
from tests.agents.scripted_llm import ScriptedLLM  # noqa: E402
from tests.bot_service import bot_process  # noqa: E402

ONE_KB = "bench/1KB.txt"
TURN_GAP_S = 0.1
"""Pause after each turn's reply: ten user turns a second, far more than anyone speaks,
and under the bot's sustained rate per participant (`DEFAULT_RATE_PER_S`, 20 requests a
second). Turns back to back asked 36 a second: past the burst, a third of them were
refused for the rate (4029) and waited `retry_after_ms` to ask again, which is the rate
limit working, not a retrieval's latency (benchmarks/RESULTS-retrieval.md)."""
REFILL_S = DEFAULT_BURST / DEFAULT_RATE_PER_S
"""The wait for a participant's request bucket to be full again after the floor's burst."""


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


class ClientClock:
    """When the client sent each request and when its answer's stream opened and was
    read: `ContextClient`'s own steps, wrapped here (the product logs the bot's side)."""

    def __init__(self) -> None:
        self.sent: list[float] = []  # send_text or publish_data returned
        self.opened: list[float] = []  # the answer's stream handler called
        self.decoded: list[float] = []  # read, decoded, the caller's future set
        send = ContextClient._attempts
        on_response = ContextClient._on_response
        read_response = ContextClient._read_response
        clock = self

        async def attempts(client: ContextClient, request: Any, *args: Any) -> Any:
            # A request goes as a text stream until the bot names the client, then as one
            # data packet (PROTOCOL.md, "Asking by data packet"): time whichever it is.
            local = client._room.local_participant
            real_text, real_data = local.send_text, local.publish_data

            async def send_text(*a: Any, **k: Any) -> Any:
                info = await real_text(*a, **k)
                clock.sent.append(time.perf_counter())
                return info

            async def publish_data(*a: Any, **k: Any) -> Any:
                await real_data(*a, **k)
                clock.sent.append(time.perf_counter())

            local.send_text = send_text  # type: ignore[method-assign]
            local.publish_data = publish_data  # type: ignore[method-assign]
            try:
                return await send(client, request, *args)
            finally:
                local.send_text = real_text  # type: ignore[method-assign]
                local.publish_data = real_data  # type: ignore[method-assign]

        def opened(client: ContextClient, reader: Any, sender: str) -> None:
            clock.opened.append(time.perf_counter())
            on_response(client, reader, sender)

        async def decoded(client: ContextClient, reader: Any) -> None:
            await read_response(client, reader)
            clock.decoded.append(time.perf_counter())

        ContextClient._attempts = attempts  # type: ignore[method-assign]
        ContextClient._on_response = opened  # type: ignore[method-assign]
        ContextClient._read_response = decoded  # type: ignore[method-assign]

    def last(self) -> tuple[float, float, float]:
        """The last request's stamps: a request refused for the rate (4029) is sent again
        under a new id, and only the last attempt's answer ends the hook."""
        return self.sent[-1], self.opened[-1], self.decoded[-1]


def scheduled_ms(pid: int) -> tuple[float, float]:
    """(ms on a CPU, ms waiting in a run queue for one) of all of a process's threads so
    far (Linux `schedstat`): the wait is what other processes' load costs it."""
    ran = waited = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue  # a thread that ended meanwhile
        ran += int(fields[0])
        waited += int(fields[1])
    return ran / 1e6, waited / 1e6


class Scheduling:
    """CPU and run-queue time of the bot, livekit-server and this process over a span."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = {name: scheduled_ms(pid) for name, pid in pids.items()}

    def report(self, turns: int) -> str:
        parts = []
        for name, pid in self._pids.items():
            ran, waited = scheduled_ms(pid)
            ran0, waited0 = self._start[name]
            on_cpu, queued = (ran - ran0) / turns, (waited - waited0) / turns
            parts.append(f"{name} {on_cpu:.1f} on CPU, {queued:.1f} waiting")
        load = os.getloadavg()[0]
        return f"per turn (ms): {'; '.join(parts)}; load average {load:.1f}"


def in_process(repo: Path, index: Path, questions: list[str]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `retrieve` per question, called directly as the bot's
    handler calls it (the sandbox's reader), each question once."""
    from context_bot.knowledge.loading import load_knowledge
    from context_bot.knowledge.retrieval import retrieve
    from context_bot.knowledge.sandbox import RepoFiles
    from context_bot.knowledge.search import sandbox_reader

    files = RepoFiles(repo)
    knowledge = load_knowledge(repo / "knowledge", repo, files=files, cache_dir=index)
    read = sandbox_reader(files)
    retrieve(knowledge, "how is the warm up question answered", read=read)
    wall, cpu = [], []
    for question in questions:
        started, used = time.perf_counter(), time.thread_time()
        retrieve(knowledge, question, read=read)
        wall.append(time.perf_counter() - started)
        cpu.append(time.thread_time() - used)
    return wall, cpu


def refusals(log_path: Path) -> int:
    """Requests the bot refused for its rate limits (`request_limited` lines)."""
    return sum('"request_limited"' in line for line in log_path.read_text().splitlines())


def bot_phases(log_path: Path, method: str) -> list[dict[str, float]]:
    """Each `method` request's steps in ms, from the bot's `request_served` lines."""
    found = []
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "request_served" and record.get("method") == method:
            found.append(record.get("ms") or {})
    return found


def print_phases(rows: list[dict[str, float]], hooks_ms: list[float]) -> None:
    """p50/p95/max per step, and the slowest turns' steps side by side."""
    names = list(dict.fromkeys(name for row in rows for name in row))
    print("where a hook's time went (ms; bot steps from its log, client steps wrapped):")
    for name in names:
        values = [row.get(name, 0.0) / 1000 for row in rows]
        print(f"  {name:<22} {stats(values)}")
    slowest = sorted(range(len(hooks_ms)), key=lambda i: -hooks_ms[i])[:4]
    print("the four slowest turns (ms):")
    print(f"  {'step':<22}" + "".join(f"{f'turn {i + 1}':>10}" for i in slowest))
    for name in ["hook", *names]:
        cells = [hooks_ms[i] if name == "hook" else rows[i].get(name, 0.0) for i in slowest]
        print(f"  {name:<22}" + "".join(f"{c:>10.1f}" for c in cells))


class Timed:
    """Marks when the hook starts and when the LLM is called, per turn."""

    def __init__(self) -> None:
        self.hook_started: list[float] = []
        self.hook_done: list[float] = []
        self.llm_called: list[float] = []
        self.had_block: list[bool] = []
        self.clock: ClientClock | None = None
        self.client: list[tuple[float, float, float]] = []
        """Per turn, `ClientClock.last()` when the hook ended."""


def timed_agent(context: RepositoryContext | None, timed: Timed) -> Agent:
    class Guide(Agent):
        async def on_user_turn_completed(
            self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
        ) -> None:
            timed.hook_started.append(time.perf_counter())
            if context is not None:
                await context.add_to_turn(turn_ctx, new_message)
            timed.hook_done.append(time.perf_counter())
            if timed.clock is not None:
                timed.client.append(timed.clock.last())

    return Guide(instructions="You guide newcomers through this repository.")


async def run_turns(
    context: RepositoryContext | None, questions: list[str], timed: Timed, gap_s: float
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
            await asyncio.sleep(gap_s)
    return [called - end for called, end in zip(timed.llm_called, ended, strict=True)]


async def main(back_to_back: bool) -> None:
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
        index = work / "index"  # the served copy is new each run: so is its index
        env = {"CONTEXT_BOT_REPO": str(repo), "CONTEXT_BOT_CACHE_DIR": str(index)}
        with bot_process(server, work / "bot.log", repo=repo, **env) as bot:
            clock = ClientClock()
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

            gap_s = 0.0 if back_to_back else TURN_GAP_S
            if not back_to_back:
                await asyncio.sleep(REFILL_S)
            timed = Timed()
            timed.clock = clock
            served_before = len(bot_phases(work / "bot.log", "retrieve"))
            assert bot.pid is not None
            pids = {"bot": bot.pid, "livekit-server": server.process.pid, "agent": os.getpid()}
            scheduling = Scheduling(pids)
            to_llm = await run_turns(context, questions, timed, gap_s)
            cpu = scheduling.report(len(questions))
            hook = [d - s for s, d in zip(timed.hook_started, timed.hook_done, strict=True)]
            await asyncio.sleep(0.2)  # the bot's last log lines written
            rows = bot_phases(work / "bot.log", "retrieve")[served_before:]
            for row, start, done, (sent, opened, decoded) in zip(
                rows, timed.hook_started, timed.hook_done, timed.client, strict=True
            ):
                bot_ms = sum(row.values())
                row["bot total"] = bot_ms
                # The bot may have the request before the client's send returns:
                # `transport` is everything from the hook's start to the answer's stream
                # opening that the bot's steps do not cover (the client's send included,
                # and a refusal for the rate with its wait: the bot logs the last attempt).
                row["transport"] = (opened - start) * 1000 - bot_ms
                row["client read"] = (decoded - opened) * 1000
                row["client after"] = (done - decoded) * 1000
                row["(request sent)"] = (sent - start) * 1000
            plain = Timed()
            plain_to_llm = await run_turns(None, questions, plain, gap_s)

            blocks = sum(timed.had_block)
            print(f"{'hook: end of turn → block in chat context':<46} {stats(hook)}")
            print(f"{'end of turn → LLM called, with retrieval':<46} {stats(to_llm)}")
            print(f"{'end of turn → LLM called, without (same run)':<46} {stats(plain_to_llm)}")
            print(f"{'floor: 1 KB file request round trip':<46} {stats(floor)}")
            print(f"turns that got a block: {blocks}/{len(questions)}")
            limited = refusals(work / "bot.log")
            print(f"requests refused for the rate (4029, then asked again): {limited}")
            print(f"during the turns with retrieval, {cpu}")
            print_phases(rows, [h * 1000 for h in hook])
            verdict = "ok" if sorted(hook)[round(0.95 * (len(hook) - 1))] <= 0.050 else "OVER"
            if limited:
                verdict += " (not comparable: requests were rate-limited)"
            print(f"target hook p95 ≤ 50 ms: {verdict}")
            await context.aclose()
            await room.disconnect()
        # The floor of the bot's own work: the same questions in this process, over the
        # same copy and its index (a restart reads no file), after the room is gone.
        wall, cpu = await asyncio.to_thread(in_process, repo, index, questions)
        print(f"{'in-process retrieve, wall (this process)':<46} {stats(wall)}")
        print(f"{'in-process retrieve, CPU (thread_time)':<46} {stats(cpu)}")
    finally:
        server.stop(timeout=3)
        shutil.rmtree(work, ignore_errors=True)


def _quiet(*_: Any) -> None:
    import logging

    import structlog

    logging.getLogger("livekit").setLevel(logging.WARNING)
    logging.getLogger("livekit.agents").setLevel(logging.WARNING)
    # The in-process load's own log lines (structlog's default prints them all).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


if __name__ == "__main__":
    _quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--back-to-back",
        action="store_true",
        help="no refill after the floor, no pause between turns: shows the rate limit's tail",
    )
    asyncio.run(main(parser.parse_args().back_to_back))

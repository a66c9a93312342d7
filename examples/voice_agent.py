"""A voice agent that knows this repository: livekit-agents with context-bot's tools.

The repository's context is one line of the entrypoint (`repository_context`); the rest is
an ordinary livekit-agents worker. It speaks through OpenAI's realtime model, which is
only this example's choice: any LLM (or STT + LLM + TTS) that calls tools will do.

Set up, in a virtualenv of its own (livekit-agents pins livekit==1.1.21):

    python3 -m venv .venv-agents
    .venv-agents/bin/pip install -e '.[agents]' livekit-plugins-openai

Run the bot (`./scripts/run`), then the worker, with your keys:

    export LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret
    export OPENAI_API_KEY=sk-...
    .venv-agents/bin/python -m livekit.agents start examples/voice_agent.py --dev

LiveKit sends the worker into every new room; ask `POST /token` for a token (which creates
the room and sends the bot in) and join it from any LiveKit client to talk.

Without any LLM key, print what the model would get: the instructions and tool answers.

    .venv-agents/bin/python examples/voice_agent.py try --room onboarding-demo \\
        --read context_bot/client.py --search "token endpoint" --list context_bot \\
        --turn "so how does the bot decide who may join?"

(`--turn` prints the block `context.retrieve_each_turn(agent)` would add to that user turn;
it reaches pipeline agents, STT + LLM + TTS: livekit-agents 1.8.9 does not hand a realtime
model the turn's chat context.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
from livekit import rtc
from livekit.agents import Agent, AgentServer, AgentSession, JobContext

from context_bot.agents import repository_context

PROMPT = (
    "You are a friendly guide for engineers joining this code repository. Answer in short "
    "spoken sentences. Look things up with your tools before answering, and say which file "
    "an answer comes from."
)

server = AgentServer()


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    # Imported here so that `try` below works without the plugin installed.
    from livekit.plugins import openai

    await ctx.connect()
    context = await repository_context(ctx.room, budget_tokens=4000)
    agent = Agent(instructions=f"{PROMPT}\n\n{context.instructions}", tools=[context.tools])
    session: AgentSession[None] = AgentSession(llm=openai.realtime.RealtimeModel())
    await session.start(agent=agent, room=ctx.room)
    session.generate_reply(
        instructions="Greet the newcomer in one sentence and offer a tour of the repository."
    )


async def try_tools(args: argparse.Namespace) -> int:
    """Join a room with the bot in it and print what the model would read."""
    body = {"room_name": args.room, "participant_name": "Tools", "participant_identity": "tools"}
    async with aiohttp.ClientSession() as http, http.post(f"{args.endpoint}/token", json=body) as r:
        answer = await r.json()
        if r.status != 200:
            print(f"token refused ({r.status}): {answer}", file=sys.stderr)
            return 1

    room = rtc.Room()
    await room.connect(answer["livekit_url"], answer["token"])
    context = await repository_context(
        room, budget_tokens=args.budget_tokens, bot_identity=answer.get("bot_identity")
    )
    try:
        print(context.instructions)
        calls = [("read_file", {"path": path}) for path in args.read]
        calls += [("search_knowledge", {"query": query}) for query in args.search]
        calls += [("list_folder", {"folder": folder}) for folder in args.list]
        calls += [("describe_feature", {"name": name or None}) for name in args.feature]
        for name, arguments in calls:
            print(f"\n>>> {name}({', '.join(f'{k}={v!r}' for k, v in arguments.items())})")
            print(await getattr(context.tools, name)(**arguments))
        for turn in args.turn:
            print(f"\n>>> user turn {turn!r} adds:")
            print(await context.retrieve(turn) or "(nothing: no passage scored well enough)")
    finally:
        await context.aclose()
        await room.disconnect()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["try"]:
        sys.exit("run the worker with: python -m livekit.agents start examples/voice_agent.py")
    parser = argparse.ArgumentParser(prog="voice_agent.py try", description=try_tools.__doc__)
    parser.add_argument("--endpoint", default="http://127.0.0.1:8080")
    parser.add_argument("--room", default="onboarding-demo")
    parser.add_argument("--budget-tokens", type=int, default=4000)
    parser.add_argument("--read", action="append", default=[], metavar="PATH")
    parser.add_argument("--search", action="append", default=[], metavar="WORDS")
    parser.add_argument("--list", action="append", default=[], metavar="FOLDER")
    parser.add_argument("--feature", action="append", default=[], nargs="?", const="")
    parser.add_argument("--turn", action="append", default=[], metavar="TEXT")
    sys.exit(asyncio.run(try_tools(parser.parse_args(sys.argv[2:]))))

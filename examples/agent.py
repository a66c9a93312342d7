"""An agent joins an onboarding room and prints what the context bot tells it.

Run `./scripts/run` in one terminal, then `.venv/bin/python examples/agent.py` in another.
It asks the token endpoint for a token (which creates the room and sends the bot in),
joins with the `livekit` SDK, and prints the overview and one file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp
from livekit import rtc

from context_bot.client import ContextClient


async def main(endpoint: str, room_name: str, path: str) -> int:
    async with aiohttp.ClientSession() as http:
        body = {
            "room_name": room_name,
            "participant_name": "Example Agent",
            "participant_identity": "example-agent",
        }
        async with http.post(f"{endpoint}/token", json=body) as response:
            answer = await response.json()
            if response.status != 200:
                print(f"token refused ({response.status}): {answer}", file=sys.stderr)
                return 1

    room = rtc.Room()
    await room.connect(answer["livekit_url"], answer["token"])
    try:
        client = ContextClient(room, bot_identity=answer.get("bot_identity", "context-bot"))
        print(await client.overview())
        source = await client.file(path)
        print(f"\n===== knowledge for {source.path} (stale: {source.stale}) =====")
        print(source.knowledge or "(no knowledge document)")
        print(f"\n===== {source.path}: {source.size} bytes, blob {source.sha} =====")
        print(source.content if source.content is not None else source.content_error)
    finally:
        await room.disconnect()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", default="http://127.0.0.1:8080")
    parser.add_argument("--room", default="onboarding-demo")
    parser.add_argument("--file", default="context_bot/protocol.py")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.endpoint, args.room, args.file)))

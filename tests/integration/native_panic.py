"""Two interpreters that cancel a real connect (`test_native_panic.py`), started with the
session: the native library reports only after 15 s, which they then wait out beside the
other tests instead of in front of them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from context_bot.config import LiveKitSettings

CASES = ("sdk", "guarded")
"""The SDK alone (the control), and with `bot/native.py`'s guard installed."""
SCRIPT = """
import asyncio, os, sys
from livekit import rtc
if sys.argv[1] == "guarded":
    from context_bot.bot.native import install
    assert install("stderr")
url = os.environ["LK_URL"]
async def main():
    room = rtc.Room()
    connecting = asyncio.ensure_future(room.connect(url, os.environ["LK_TOKEN"]))
    await asyncio.sleep(0)  # the library has the connect; the coroutine waits for its answer
    connecting.cancel()
    await asyncio.sleep(17)  # the library reports after 15 s
    again = rtc.Room()
    await again.connect(url, os.environ["LK_TOKEN_2"])
    print("alive, connected again:", again.isconnected(), flush=True)
    await again.disconnect()
asyncio.run(main())
"""


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def finish(self, within_s: float) -> tuple[int, str, str]:
        code = self.process.wait(within_s)
        return code, self.out.read_text(), self.err.read_text()


def start(case: str, livekit: LiveKitSettings, folder: Path) -> Run:
    from tests.integration.conftest import user_token  # conftest imports this module

    env = {
        **os.environ,
        "LK_URL": livekit.url,
        "LK_TOKEN": user_token(livekit, f"panic-{case}", "cancelled"),
        "LK_TOKEN_2": user_token(livekit, f"panic-{case}", "again"),
    }
    out, err = folder / f"{case}.out", folder / f"{case}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, case], env=env, stdout=stdout, stderr=stderr
        )
    return Run(process, out, err)

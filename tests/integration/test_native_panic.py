"""A connect cancelled at its only `await` no longer ends the process (`bot/native.py`).

The SDK's own behaviour is run beside ours as the control, so the test fails if the
scenario stops producing the panic (a later SDK fixing #784, or changing its wording):
then the guard is moot and says so here. Each case is a fresh interpreter, since the
panic's SIGTERM would end the test runner, and the two run side by side (the library
waits 15 s before it reports)."""

from __future__ import annotations

import asyncio
import os
import sys

from context_bot.bot.native import HANDSHAKE_TIMEOUT
from context_bot.config import LiveKitSettings
from tests.integration.conftest import user_token

SCRIPT = """
import asyncio, os, sys, time
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


async def run(case: str, livekit: LiveKitSettings) -> tuple[int | None, str, str]:
    env = {
        **os.environ,
        "LK_URL": livekit.url,
        "LK_TOKEN": user_token(livekit, f"panic-{case}", "cancelled"),
        "LK_TOKEN_2": user_token(livekit, f"panic-{case}", "again"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, case, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_a_cancelled_connect_ends_the_sdk_alone_and_not_a_guarded_process(
    livekit: LiveKitSettings,
) -> None:
    (sdk_code, sdk_out, sdk_err), (code, out, err) = await asyncio.gather(
        run("sdk", livekit), run("guarded", livekit)
    )
    # The control: the SDK sends itself SIGTERM after the library's report.
    assert sdk_code != 0, sdk_out
    assert f"FFI Panic:  invalid request: {HANDSHAKE_TIMEOUT}" in sdk_err
    assert "alive" not in sdk_out
    # Guarded: the same report, a warning, and the process goes on to join a room.
    assert code == 0, err[-2000:]
    assert "native_handshake_timed_out" in err or "native_handshake_timed_out" in out
    assert "alive, connected again: True" in out
    assert "FFI Panic" not in err

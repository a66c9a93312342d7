"""`log.native`: the native library's records reach Python (forward) or only stderr.

Each case runs in a fresh interpreter: the switch is process-wide and the test process
itself holds SDK rooms in the integration tests. A failed connect to a closed port makes
the native library log, with no server needed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import asyncio, logging, sys
from livekit import rtc
from context_bot.bot.native_logs import route_native_logs
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
native = logging.getLogger("livekit")
native.addHandler(Keep())
native.setLevel(logging.DEBUG)
assert route_native_logs(sys.argv[1]), "the switch did not apply"
async def main():
    try:
        await asyncio.wait_for(rtc.Room().connect("ws://127.0.0.1:1", "a.b.c"), 10)
    except Exception:
        pass
    await asyncio.sleep(1.5)  # the library flushes forwarded records every second
    print(len(records))
asyncio.run(main())
"""


def run(mode: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout.strip().splitlines()[-1]), done.stderr


@pytest.mark.parametrize("mode", ["forward", "stderr"])
def test_native_records_go_where_the_setting_says(mode: str) -> None:
    in_python, stderr = run(mode)
    if mode == "forward":
        assert in_python > 0
        assert "error while connecting" not in stderr
    else:
        assert in_python == 0
        assert "error while connecting to a room" in stderr  # errors still reach stderr

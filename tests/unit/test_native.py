"""`bot/native.py`: the native library's records reach Python (forward) or only stderr,
and the handshake panic alone stops before the SDK's callback (which ends the process).

The log cases run in a fresh interpreter: the switch is process-wide and the test process
itself holds SDK rooms in the integration tests. A failed connect to a closed port makes
the native library log, with no server needed.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest
from livekit.rtc._proto import ffi_pb2

from context_bot.bot.native import HANDSHAKE_TIMEOUT, _guard, _parse_panic

SCRIPT = """
import asyncio, logging, sys
from livekit import rtc
from context_bot.bot.native import install
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record)
native = logging.getLogger("livekit")
native.addHandler(Keep())
native.setLevel(logging.DEBUG)
assert install(sys.argv[1]), "the switch did not apply"
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


def _event(kind: str, message: str = "") -> bytes:
    event = ffi_pb2.FfiEvent()
    if kind == "panic":
        event.panic.message = message
    else:
        event.logs.records.add(message=message)
    return event.SerializePartialToString()  # a log record's other fields are not read here


def _deliver(data: bytes) -> list[bytes]:
    """`data` through the guard as the library delivers it (a pointer and a length);
    what reached the SDK's callback."""
    passed: list[bytes] = []
    on_event = _guard(lambda ptr, size: passed.append(ctypes.string_at(ptr, size)), _parse_panic)
    buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    on_event(ctypes.cast(buffer, ctypes.POINTER(ctypes.c_uint8)), len(data))
    return passed


def test_the_handshake_panic_stops_at_the_guard() -> None:
    message = f"invalid request: {HANDSHAKE_TIMEOUT} (room_handle=7)"
    assert _deliver(_event("panic", message)) == []


@pytest.mark.parametrize(
    "data",
    [
        _event("panic", "task panicked: JoinError::Panic"),  # any other panic: the SDK decides
        _event("logs", HANDSHAKE_TIMEOUT),  # the words in a log record are not a panic
        b"",
    ],
)
def test_every_other_event_reaches_the_sdk_unchanged(data: bytes) -> None:
    assert _deliver(data) == [data]

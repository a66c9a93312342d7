"""The LiveKit SDK's native library: where it logs, and which of its "panics" end the process.

Both go through one entry point, `livekit_ffi_initialize(callback, capture_logs, ...)`,
the library's own public function, which the SDK calls once with its callback
(`ffi_event_callback`) for every event the library sends to Python. `install` calls it
again, before any room connects, with the log setting and a callback of ours in front of
the SDK's. It reaches the entry point through three names the SDK does not document
(`FfiClient._ffi_lib`, `ffi_event_callback`, `ffi_cb_fnc`); if a later SDK renames them,
`install` says so and changes nothing (tests/unit/test_native.py fails loudly first).

**Logs.** Measured on this machine (benchmarks/RESULTS.md, 2026-11-22): the library sets
its log level to *trace* and, while it captures logs for Python, sends every record
across the FFI as an event of its own (its batching task flushes after each record). An
idle room produces about 20 such records a second, almost all trace lines of the
signalling WebSocket's frames, and each one is a callback into Python on a native thread
(GIL, protobuf parse) before the SDK drops it. Idle rooms held by one process with bare
SDK connections, settled (`benchmarks/native_log_bench.py`): 100 rooms 16.9 % of a core
forwarding, 7.2 % not; 250 rooms 29–34 % against 10–12 %. In the first seconds after a
burst of joins the records come faster (connection set-up) and the gap is wider: 250
rooms measured 5 s after joining took 73–92 % forwarding, 12 % not. That early window is
what made idle CPU look super-linear in docs/design.md, fact 9. `stderr` turns capture
off: the library then logs through `env_logger` to stderr, filtered by `RUST_LOG`
(errors only when it is unset), and formats nothing below that level.

**The handshake panic.** After answering a connect, the library waits 15 s for the
Python side's "ready for room events" request, the last statement of `Room.connect()`.
When it does not come (a connect cancelled at its only `await`, livekit/python-sdks
#784; an event loop held that long), the library closes that room, drops its handle and
reports a `Panic` event, and the SDK answers every `Panic` by sending its own process
SIGTERM: one room's join ends every room of a long-running bot. `bot/connecting.py`
never cancels a connect, but an embedding application or a stalled loop still could,
and fresh-clone CI lost its room tests to this once (a test process that hosts the bot).
The library has already cleaned up (livekit-ffi `server/room.rs`: close, drop the
handle, then the event), so that one `Panic` is logged as a warning
(`native_handshake_timed_out`) and not passed on; every other one still reaches the SDK,
which ends the process as before. The guard reads two bytes of each event (a `Panic` is
field 20 of `FfiEvent`, first on the wire) and parses only panics.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, Final

import structlog

log = structlog.get_logger(__name__)

HANDSHAKE_TIMEOUT: Final = "timed out waiting for ReadyForRoomEventRequest after ConnectCallback"
"""The panic the library reports after closing a room whose connect was never finished
(livekit-ffi's wording; tests/integration/test_native_panic.py fails if it changes)."""
_PANIC_TAG: Final = b"\xa2\x01"
"""How a serialized `FfiEvent` holding a `panic` (field 20, length-delimited) begins."""

_installed: list[Any] = []
"""The callbacks handed to the library: kept alive for as long as the process lives."""


def install(mode: str) -> bool:
    """Apply the log `mode` (`stderr` or `forward`) and the panic guard, before any room
    connects; whether it applied."""
    from livekit.rtc import _ffi_client
    from livekit.rtc.version import __version__

    lib = getattr(_ffi_client.FfiClient.instance, "_ffi_lib", None)
    initialize = getattr(lib, "livekit_ffi_initialize", None)
    sdk_callback = getattr(_ffi_client, "ffi_event_callback", None)
    callback_type = getattr(_ffi_client, "ffi_cb_fnc", None)
    if initialize is None or sdk_callback is None or callback_type is None:
        log.warning("native_unchanged", reason="this livekit SDK has no known entry point")
        return False
    guarded = callback_type(_guard(sdk_callback, _parse_panic))
    _installed.append(guarded)
    initialize(guarded, mode == "forward", b"python", __version__.encode("ascii"))
    return True


def _parse_panic(data: bytes) -> str | None:
    """The message of a serialized `FfiEvent` that is a panic, else None."""
    from livekit.rtc._proto import ffi_pb2

    event = ffi_pb2.FfiEvent.FromString(data)
    return event.panic.message if event.WhichOneof("message") == "panic" else None


def _guard(
    sdk_callback: Callable[[Any, int], None], parse_panic: Callable[[bytes], str | None]
) -> Callable[[Any, int], None]:
    """The callback the library calls (on its own threads) for each event: the handshake
    panic stops here, everything else goes on to the SDK's."""

    def on_event(data: Any, size: int) -> None:
        if size >= len(_PANIC_TAG) and ctypes.string_at(data, len(_PANIC_TAG)) == _PANIC_TAG:
            try:
                message = parse_panic(ctypes.string_at(data, size))
            except Exception:  # not ours to judge: the SDK's callback parses it again
                message = None
            if message is not None and HANDSHAKE_TIMEOUT in message:
                log.warning("native_handshake_timed_out", detail=message[:200])
                return
        sdk_callback(data, size)

    return on_event

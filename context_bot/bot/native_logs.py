"""Where the LiveKit SDK's native library logs: into our logs (its default), or to stderr.

Why this exists, measured on this machine (benchmarks/RESULTS.md, 2026-11-22): the native
library under `livekit.rtc` (livekit-ffi) sets its log level to *trace* and, while it
captures logs for Python, sends every record across the FFI as an event of its own (its
batching task flushes after each record). An idle room produces about 20 such records a
second, almost all trace lines of the signalling WebSocket's frames, and each one is a
callback into Python on a native thread (GIL, protobuf parse) before the SDK drops it.
Idle rooms held by one process with bare SDK connections, settled
(`benchmarks/native_log_bench.py`): 100 rooms 16.9 % of a core forwarding, 7.2 % not;
250 rooms 29–34 % against 10–12 %. In the first seconds after a burst of joins the
records come faster (connection set-up) and the gap is wider: 250 rooms measured 5 s
after joining took 73–92 % forwarding, 12 % not. That early window is what made idle CPU
look super-linear in docs/design.md, fact 9.

`stderr` turns capture off with the library's own public entry point,
`livekit_ffi_initialize(callback, capture_logs=False, ...)`, called again with the SDK's
own callback: the library then logs through `env_logger` to stderr, filtered by
`RUST_LOG` (errors only when it is unset), and formats nothing below that level. The SDK
keeps its callback for every other event. Reaching the entry point uses two names the SDK
does not document (`FfiClient._ffi_lib`, `ffi_event_callback`); if a later SDK renames
them, `route_native_logs` says so and changes nothing (tests/unit/test_native_logs.py
fails loudly first).
"""

from __future__ import annotations

import structlog

log = structlog.get_logger(__name__)


def route_native_logs(mode: str) -> bool:
    """Apply `mode` (`stderr` or `forward`) before any room connects; whether it applied."""
    if mode == "forward":
        return True  # the SDK's own behaviour
    from livekit.rtc import _ffi_client
    from livekit.rtc.version import __version__

    lib = getattr(_ffi_client.FfiClient.instance, "_ffi_lib", None)
    initialize = getattr(lib, "livekit_ffi_initialize", None)
    callback = getattr(_ffi_client, "ffi_event_callback", None)
    if initialize is None or callback is None:
        log.warning("native_logs_unchanged", reason="this livekit SDK has no known entry point")
        return False
    initialize(callback, False, b"python", __version__.encode("ascii"))
    return True

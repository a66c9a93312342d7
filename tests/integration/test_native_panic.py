"""A connect cancelled at its only `await` no longer ends the process (`bot/native.py`).

The SDK's own behaviour is run beside ours as the control, so the test fails if the
scenario stops producing the panic (a later SDK fixing #784, or changing its wording):
then the guard is moot and says so here. Each case is a fresh interpreter, since the
panic's SIGTERM would end the test runner; both start with the session
(`conftest.cancelled_connects`, `native_panic.py`), the library waiting 15 s to report."""

from __future__ import annotations

import asyncio

from context_bot.bot.native import HANDSHAKE_TIMEOUT
from tests.integration.native_panic import Run


async def test_a_cancelled_connect_ends_the_sdk_alone_and_not_a_guarded_process(
    cancelled_connects: dict[str, Run],
) -> None:
    sdk_code, sdk_out, sdk_err = await asyncio.to_thread(cancelled_connects["sdk"].finish, 60)
    code, out, err = await asyncio.to_thread(cancelled_connects["guarded"].finish, 60)
    # The control: the SDK sends itself SIGTERM after the library's report.
    assert sdk_code != 0, sdk_out
    assert f"FFI Panic:  invalid request: {HANDSHAKE_TIMEOUT}" in sdk_err
    assert "alive" not in sdk_out
    # Guarded: the same report, a warning, and the process goes on to join a room.
    assert code == 0, err[-2000:]
    assert "native_handshake_timed_out" in err or "native_handshake_timed_out" in out
    assert "alive, connected again: True" in out
    assert "FFI Panic" not in err

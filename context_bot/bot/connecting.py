"""Joining a LiveKit room with a deadline, without ever cancelling `Room.connect()`.

Cancelling `connect()` (what `asyncio.wait_for` does at its deadline) leaves the SDK's
native side waiting for a handshake the Python side will never send; 15 s later the SDK
reports that as a panic and sends its own process SIGTERM (livekit/python-sdks #784; it
took our test suite down three times before we found it). So the connect runs as its own
task: past the deadline we stop waiting, let it finish, and disconnect it then.

The same holds at shutdown: an event loop that closes cancels every task still running,
a connect given up on among them, and the SIGTERM comes 15 s later to a process that may
still be alive (an embedding application, the test runner: it took our suite down with
no word, since pytest had captured the SDK's message). So whoever owns the loop waits
for those connects first (`settle_abandoned`).

A process that installed `native.py`'s guard (the bot does, at start) no longer dies of
that panic; it logs it. Not cancelling still matters: the library closes the room, so a
join cancelled this way is a join lost.
"""

from __future__ import annotations

import asyncio
import contextlib

from livekit import rtc

from context_bot.tasks import spawn

_abandoned: set[asyncio.Task[None]] = set()


async def connect_within(
    room: rtc.Room, url: str, token: str, options: rtc.RoomOptions, within_s: float
) -> None:
    """`room.connect(...)`, or `TimeoutError` after `within_s` with the room left behind
    to finish connecting and then disconnect, on its own."""
    connecting = asyncio.ensure_future(room.connect(url, token, options))
    try:
        await asyncio.wait_for(asyncio.shield(connecting), within_s)
    except (TimeoutError, asyncio.CancelledError):
        spawn(_close_when_done(room, connecting), "abandoned_connect", _abandoned)
        raise


async def settle_abandoned(within_s: float) -> int:
    """Wait up to `within_s` for the connects given up on to finish and leave again;
    returns how many were still under way at the deadline."""
    pending = list(_abandoned)
    if not pending:
        return 0
    _done, still = await asyncio.wait(pending, timeout=within_s)
    return len(still)


async def _close_when_done(room: rtc.Room, connecting: asyncio.Future[None]) -> None:
    with contextlib.suppress(Exception):
        await connecting
    await room.disconnect()

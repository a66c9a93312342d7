"""One `asyncio.Lock` per key (a room name), held only while someone uses it.

Shared by two layers: the endpoint serialises a room's claim-then-create with it
(`endpoint/ownership.py`) and the bot serialises a room's joins (`bot/rooms.py`). The bot
layer may not import the endpoint, so the class lives here, beside the other shared
modules, rather than in either layer. Not in `tasks.py`: that module is about owning
background tasks, and a lock map is a different concern with no dependency on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    """One `asyncio.Lock` per key, dropped when nobody holds or waits for it.

    A plain `dict[str, asyncio.Lock]` grows by one lock per key ever used (every room
    the process has seen); this map holds only the keys in use."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

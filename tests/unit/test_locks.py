"""`KeyedLocks`: one lock per key, kept only while it is used."""

from __future__ import annotations

import asyncio

from context_bot.locks import KeyedLocks


async def test_keyed_locks_serialise_one_key_and_are_dropped_when_unused() -> None:
    locks, inside, most = KeyedLocks(), 0, 0

    async def hold(key: str) -> None:
        nonlocal inside, most
        async with locks.hold(key):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(hold("same") for _ in range(10)))
    assert most == 1
    await asyncio.gather(*(hold(f"k{i}") for i in range(10)))
    assert len(locks) == 0

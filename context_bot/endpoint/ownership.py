"""Which tenant owns a room, decided before LiveKit is touched.

LiveKit's `CreateRoom` is not an ownership primitive (docs/design.md, fact 7): when two creates
race for a new room with different metadata, the room can end up with the metadata of the
create whose response said it lost. So ownership is decided here, in two layers:

- inside one process, a lock per room name (`KeyedLocks`, from `context_bot/locks.py`)
  serialises claim-then-create;
- across processes, an `OwnershipStore` whose `claim` is atomic set-if-absent. This
  module's `InMemoryOwnershipStore` serves one process; a shared store (Redis `SET NX`,
  issue 8) implements the same two methods for several endpoint instances.

`RoomOwnership.settle(room, tenant, create)` is the whole rule:

1. under the room's lock, `claim(room, tenant)`; another owner recorded → refused, and
   LiveKit is never called;
2. otherwise `create()` runs (CreateRoom with our `auth_id`) and reports the `auth_id` the
   room really carries. For a new room that is ours. For a room that existed before the
   claim, CreateRoom leaves the metadata as it was and reports it (fact 7, first half), so
   LiveKit's metadata stays the truth for rooms older than the record:
   - another `auth_id`: the record was missing (the process restarted and the in-memory
     store is empty, or the room was made by an instance with another store). The record
     is corrected to that owner and the caller is refused;
   - no `auth_id` (made in unauthenticated mode, or outside this service): nobody can prove
     ownership, so the room is refused to every tenant (fail closed) and nothing recorded;
3. if `create()` fails, the claim is released: a record must not outlive a room that may
   never have been made, or that belongs to someone the record does not know.

Records are released by `release(room, owner)` when LiveKit reports the room finished
(`room_finished` webhook); without webhooks a name stays with its first owner for the life
of the in-memory store. Pure: no aiohttp, no livekit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from context_bot.locks import KeyedLocks

log = structlog.get_logger(__name__)


class OwnershipStore(Protocol):
    """Room name → owning tenant; both methods must be atomic in the store."""

    async def claim(self, room: str, owner: str) -> str:
        """Record `owner` unless the room has one; return the owner recorded afterwards."""
        ...

    async def release(self, room: str, owner: str) -> bool:
        """Forget the room's record if `owner` holds it (compare-and-delete)."""
        ...


class InMemoryOwnershipStore:
    """The store of a single process; atomic because nothing in it awaits."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def claim(self, room: str, owner: str) -> str:
        return self._owners.setdefault(room, owner)

    async def release(self, room: str, owner: str) -> bool:
        if self._owners.get(room) != owner:
            return False
        del self._owners[room]
        return True

    def __len__(self) -> int:
        return len(self._owners)


@dataclass(frozen=True)
class Verdict:
    granted: bool
    owner: str | None
    """The owner afterwards; `None` for a room nobody can own (no `auth_id`)."""


class RoomOwnership:
    """The rule in the module docstring, over a store and a lock per room name."""

    def __init__(self, store: OwnershipStore) -> None:
        self.store = store
        self._locks = KeyedLocks()

    async def settle(
        self, room: str, tenant: str, create: Callable[[], Awaitable[str | None]]
    ) -> Verdict:
        async with self._locks.hold(room):
            owner = await self.store.claim(room, tenant)
            if owner != tenant:
                return Verdict(False, owner)
            try:
                reported = await create()
            except BaseException:
                await self.store.release(room, tenant)
                raise
            if reported == tenant:
                return Verdict(True, tenant)
            await self.store.release(room, tenant)
            if reported is None:
                log.warning("room_without_owner", room=room, tenant=tenant)
                return Verdict(False, None)
            actual = await self.store.claim(room, reported)
            log.info("ownership_learned", room=room, owner=actual, refused=tenant)
            return Verdict(False, actual)

    async def forget(self, room: str, owner: str) -> bool:
        """The room finished: its name is free again."""
        async with self._locks.hold(room):
            return await self.store.release(room, owner)

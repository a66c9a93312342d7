"""Room ownership shared by several endpoint instances, in Redis.

The same two atomic operations as `InMemoryOwnershipStore`, on the Redis a multi-node
LiveKit deployment already runs (docs/design.md, fact 7):

- `claim`: `SET key owner NX GET EX ttl` — records the owner unless one exists and
  returns the previous value in one round trip (Redis 7.0 or newer); nil means the claim
  is ours. The owner's later claims push the expiry back;
- `release`: a compare-and-delete script, so an instance never deletes a record that
  another tenant took after ours was released.

Records expire (`RECORD_TTL_S`, a week by default) so that a room whose `room_finished`
webhook never arrived does not keep its name taken for ever. Expiry is safe while the room
still runs: the next claim finds no record, and the room's own metadata (its `auth_id`)
decides and corrects the record, as after a restart (`ownership.py`, rule 2).

Needs the `redis` package (`pip install 'context-bot[redis]'`); imported only when
`tokens.redis_url` is set. Failures become `StoreUnavailable` (HTTP 503). The URL may hold a
password: it never reaches a log or an error message.
"""

from __future__ import annotations

from typing import Any

from context_bot.errors import ConfigError, StoreUnavailable

KEY_PREFIX = "context-bot:room-owner:"
TIMEOUT_S = 2.0
RECORD_TTL_S = 7 * 24 * 3600
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisOwnershipStore:
    """`OwnershipStore` over Redis; one connection pool per process."""

    def __init__(self, url: str, *, prefix: str = KEY_PREFIX, ttl_s: int = RECORD_TTL_S) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError:
            raise ConfigError(
                "tokens.redis_url (CONTEXT_BOT_REDIS_URL) is set but the redis package is "
                "missing: "
                "pip install 'context-bot[redis]'"
            ) from None
        self._errors: tuple[type[BaseException], ...] = (
            redis_asyncio.RedisError,
            OSError,
            TimeoutError,
        )
        self._redis: Any = redis_asyncio.from_url(
            url, decode_responses=True, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self._prefix = prefix
        self._ttl_s = ttl_s

    async def claim(self, room: str, owner: str) -> str:
        key = self._prefix + room
        try:
            previous = await self._redis.set(key, owner, nx=True, get=True, ex=self._ttl_s)
            if previous == owner:
                await self._redis.expire(key, self._ttl_s)  # the owner is still using it
        except self._errors as exc:
            raise StoreUnavailable(
                f"ownership store unreachable ({exc.__class__.__name__})"
            ) from None
        return owner if previous is None else str(previous)

    async def release(self, room: str, owner: str) -> bool:
        try:
            deleted = await self._redis.eval(_RELEASE, 1, self._prefix + room, owner)
        except self._errors as exc:
            raise StoreUnavailable(
                f"ownership store unreachable ({exc.__class__.__name__})"
            ) from None
        return bool(deleted)

    async def aclose(self) -> None:
        await self._redis.aclose()

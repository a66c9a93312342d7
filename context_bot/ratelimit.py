"""Token-bucket rate limits per key, shared by the HTTP endpoint and the room protocol.

Pure: the clock is injected, so tests step time instead of sleeping. A bucket holds up to
`burst` tokens and refills at `rate` tokens a second; a request takes one token (or
`cost` tokens, for a budget of bytes) or is refused with the time until they are back
(HTTP `Retry-After`, the protocol's `retry_after_ms`); a refusal can be charged too
(`penalty`), so a caller that asks before its wait is over is not served sooner by asking
more often. Idle buckets are dropped so a
stream of new keys cannot grow memory without bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

IDLE_SWEEP_EVERY = 1024
"""Sweep idle buckets after this many checks."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter:
    """`check(key)` → allowed, or refused with how long to wait."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._checks = 0

    def check(self, key: str, cost: float = 1.0, *, penalty: float = 0.0) -> Decision:
        """Take `cost` tokens, or refuse; a refusal takes `penalty` tokens all the same
        (down to `-burst` at most), so asking again before the wait it names only makes
        the next wait longer."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        self._checks += 1
        if self._checks % IDLE_SWEEP_EVERY == 0:
            self._sweep(now)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return Decision(True)
        bucket.tokens = max(-float(self.burst), bucket.tokens - penalty)
        return Decision(False, (cost - bucket.tokens) / self.rate)

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate  # a bucket idle this long is full: forget it
        idle = [k for k, b in self._buckets.items() if now - b.updated >= full_after]
        for key in idle:
            del self._buckets[key]

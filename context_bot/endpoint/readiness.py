"""`GET /readyz`'s answer: LiveKit reachable and knowledge loaded, reused for a moment.

Orchestrators probe every second or so; a probe costs one cheap LiveKit call (listing a
room by name) at most every `READY_TTL_S`, and concurrent probes share it. Pure: the
LiveKit call is an injected coroutine function, so tests hand in a fast or a failing one.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

from context_bot.errors import LiveKitFailure, LiveKitUnavailable

READY_TTL_S = 2.0
"""How long an answer is reused."""
READY_TIMEOUT_S = 1.5
"""A LiveKit that takes longer than this to answer is not ready."""


class Readiness:
    """`await check()` → `{"status", "livekit", "knowledge"}`."""

    def __init__(
        self,
        probe_livekit: Callable[[], Awaitable[object]] | None,
        knowledge_loaded: Callable[[], bool] | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe_livekit = probe_livekit
        self._knowledge_loaded = knowledge_loaded
        self._clock = clock
        self._checked_at = -math.inf
        self._answer: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def check(self) -> dict[str, str]:
        async with self._lock:
            if self._clock() - self._checked_at >= READY_TTL_S:
                self._answer = await self._probe()
                self._checked_at = self._clock()
            return self._answer

    async def _probe(self) -> dict[str, str]:
        livekit = "not_configured"
        if self._probe_livekit is not None:
            try:
                await asyncio.wait_for(self._probe_livekit(), READY_TIMEOUT_S)
                livekit = "ok"
            except (TimeoutError, LiveKitUnavailable, LiveKitFailure):
                livekit = "unreachable"
        # A process that serves no room (the web role) loads no knowledge: not its job.
        if self._knowledge_loaded is None:
            knowledge = "not_served"
        else:
            knowledge = "loaded" if self._knowledge_loaded() else "not_loaded"
        ready = livekit == "ok" and knowledge in ("loaded", "not_served")
        return {
            "status": "ready" if ready else "not_ready",
            "livekit": livekit,
            "knowledge": knowledge,
        }

"""Which signed webhook events to act on: each event once, and only while it is fresh.

A signature proves LiveKit made an event, not that it is new: livekit-server signs each
delivery with a token valid for 5 minutes (livekit/protocol, `webhook/url_notifier.go`)
and our verifier allows a minute of leeway, so whoever saw one delivery could send it
again for about 6 minutes, and a `room_finished` sent again made the bot leave a room
that had started since (issue 14, item 7). Two rules close that:

- an event whose `created_at` is more than `MAX_AGE_S` old is stale, whatever its
  signature says (LiveKit retries a failed delivery for about a minute, well inside);
- an event id seen within `MAX_AGE_S` is a replay. An id is remembered until both its
  receipt and its `created_at` are `MAX_AGE_S` behind, so by the time it is forgotten
  the event is stale anyway; at most `MAX_REMEMBERED` ids, the oldest dropped first.

Pure: the clock is injected, nothing here knows aiohttp or LiveKit.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_AGE_S = 600.0
"""Older events are refused: the token's 5 minutes, the verifier's leeway, retries, skew."""
MAX_REMEMBERED = 50_000
"""Ids kept at most (a few MB); LiveKit's own event rate is what fills it."""


class Verdict(enum.Enum):
    FRESH = "fresh"
    REPLAYED = "replayed"
    STALE = "stale"


class ReplayGuard:
    """`admit(event_id, created_at)` → whether to act on the event; remembers fresh ones."""

    def __init__(
        self,
        *,
        max_age_s: float = MAX_AGE_S,
        max_remembered: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_age_s = max_age_s
        self._max_remembered = max_remembered
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # id → when it may be forgotten

    def admit(self, event_id: str, created_at: float) -> Verdict:
        """`created_at` in Unix seconds, as LiveKit sends it; an event without an id or a
        creation time cannot be told from a replay and counts as stale."""
        now = self._clock()
        self._forget_expired(now)
        if not event_id or now - created_at > self._max_age_s:  # LiveKit sends both, always
            return Verdict.STALE
        if event_id in self._seen:
            return Verdict.REPLAYED
        # The server's clock may run ahead of ours: keep the id until the later of the two.
        self._seen[event_id] = max(now, created_at) + self._max_age_s
        while len(self._seen) > self._max_remembered:
            self._seen.popitem(last=False)
        return Verdict.FRESH

    def forget(self, event_id: str) -> None:
        """The event could not be handled: let LiveKit's retry of it through."""
        self._seen.pop(event_id, None)

    def _forget_expired(self, now: float) -> None:
        # Insertion order is nearly expiry order (skew aside): stop at the first one kept.
        while self._seen:
            event_id, until = next(iter(self._seen.items()))
            if until > now:
                return
            del self._seen[event_id]

    def __len__(self) -> int:
        return len(self._seen)

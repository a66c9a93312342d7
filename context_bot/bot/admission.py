"""Which requests a room session serves, and what it does with repeats.

Pure policy, no LiveKit: the room adapter asks `admit(participant, request_id)` before
serving and reports `finished(...)` after. Three rules:

- **Rate**: each participant has a token bucket (`RateLimiter`); over it, the request is
  refused with 4029 and a `retry_after_ms`. A request costs one token, plus one for each
  further KiB of its body (`request_cost`): a request of the largest size costs what 16
  small ones do, so bytes, which every participant's requests share on their way to the
  bot, are rationed as requests are. The room charges a request once, as soon as its size
  is known (`charge`): from the stream's header, before its body is read, when it says.
  A refused request is charged too (`REFUSAL_COST`, or its cost), so a participant that
  asks again before the wait it was told gets a longer one.
- **Concurrency**: at most `max_in_flight` requests per participant are served at once;
  more is refused with 4029 too. One participant cannot occupy the bot.
- **Repeats**: clients resend a request with the *same id* when an answer is late (a
  request or answer can vanish while either side reconnects: docs/design.md, fact 8). A
  repeat is the same sender, the same id *and the same request* (`fingerprint`: a digest
  of its method and params, `protocol.request_identity`). A repeat of a request still in
  flight is dropped (its answer is on the way); a repeat of an answered one gets the same
  answer again, from a bounded cache, without running the method twice. A repeat whose
  answer has left the cache is served again. A *different* request under an id in
  flight or answered is refused (`ID_REUSED`, 4009): the id alone once matched, and a
  client that numbered its requests from 1 after a reconnect got another request's
  answer. Refused requests (rate, concurrency) are never remembered: their id is free.

`OpenStreams` bounds what comes before all this: request streams begun but not finished.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from context_bot.protocol import (
    MAX_OPEN_STREAMS,
    MAX_OPEN_STREAMS_PER_PARTICIPANT,
    REPLAY_WINDOW_S,
)
from context_bot.ratelimit import RateLimiter

DEFAULT_RATE_PER_S = 20.0
DEFAULT_BURST = 40
DEFAULT_MAX_IN_FLIGHT = 8
DEFAULT_REPLAY_BYTES = 8 * 1024 * 1024
"""Answers kept for replay, per room, in bytes of encoded answer."""
DEFAULT_REPLAY_TTL_S = REPLAY_WINDOW_S
DEFAULT_BOUND_IDS = 16_384
"""Answered ids remembered per room with what they asked (a fingerprint each, ~200 bytes),
beyond the answers the byte budget keeps: an id stays bound to its request for the whole
replay window even when its answer was too large to keep or was evicted."""
REFUSAL_COST = 1.0
"""Tokens a request refused for the rate costs all the same: it was received, read and
answered. A client that waits the `retry_after_ms` it is told never pays it; one that asks
again sooner waits longer, so refusals cannot outnumber the rate (the bucket's debt is
bounded by its burst)."""
BYTES_PER_TOKEN = 1024
"""A request's first KiB comes with it; each further KiB costs one more token."""


def request_cost(size: int) -> float:
    """Tokens a request of `size` bytes costs: one, and one for each KiB past the first."""
    return 1.0 + max(0.0, (size - BYTES_PER_TOKEN) / BYTES_PER_TOKEN)


class Verdict(Enum):
    SERVE = "serve"
    REPLAY = "replay"  # send the cached answer again
    DROP = "drop"  # the same request is being served right now
    RATE_LIMITED = "rate_limited"
    TOO_MANY_IN_FLIGHT = "too_many_in_flight"
    ID_REUSED = "id_reused"  # another request under an id in flight or answered


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    answer: str | None = None
    retry_after_s: float = 0.0


class AdmissionPolicy:
    """Per-room bookkeeping of participants' requests."""

    def __init__(
        self,
        *,
        rate_per_s: float = DEFAULT_RATE_PER_S,
        burst: int = DEFAULT_BURST,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        replay_bytes: int = DEFAULT_REPLAY_BYTES,
        replay_ttl_s: float = DEFAULT_REPLAY_TTL_S,
        bound_ids: int = DEFAULT_BOUND_IDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = RateLimiter(rate_per_s, burst, clock=clock)
        self._max_in_flight = max_in_flight
        self._replay_bytes = replay_bytes
        self._replay_ttl_s = replay_ttl_s
        self._bound_ids = bound_ids
        self._clock = clock
        self._in_flight: dict[str, dict[str, str]] = {}  # participant → id → fingerprint
        # (participant, id) → (answered at, fingerprint): which request an id is bound to
        self._bound: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()
        self._answers: OrderedDict[tuple[str, str], str] = OrderedDict()  # within a budget
        self._answer_bytes = 0

    def admit(
        self,
        participant: str,
        request_id: str | None,
        *,
        paid: bool = False,
        fingerprint: str = "",
    ) -> Admission:
        """Serve, replay, drop or refuse a request; `paid`: `charge` took its cost already.

        `fingerprint` says what the request asks (`protocol.request_identity`): a repeat
        must match it as well as the id, or it is `ID_REUSED`."""
        if request_id is not None:
            running = self._in_flight.get(participant, {}).get(request_id)
            if running is not None:
                return Admission(Verdict.DROP if running == fingerprint else Verdict.ID_REUSED)
            cached = self._cached(participant, request_id)
            if cached is not None:
                asked, answer = cached
                if asked != fingerprint:
                    return Admission(Verdict.ID_REUSED)
                if answer is not None:
                    return Admission(Verdict.REPLAY, answer=answer)
                # the same request, its answer not kept: served again below
        if not paid:
            decision = self._limiter.check(participant, penalty=REFUSAL_COST)
            if not decision.allowed:
                return Admission(Verdict.RATE_LIMITED, retry_after_s=decision.retry_after_s)
        in_flight = self._in_flight.setdefault(participant, {})
        if len(in_flight) >= self._max_in_flight:
            return Admission(Verdict.TOO_MANY_IN_FLIGHT, retry_after_s=0.1)
        if request_id is not None:
            in_flight[request_id] = fingerprint
        return Admission(Verdict.SERVE)

    def charge(self, participant: str, size: int) -> Admission | None:
        """Charge a request of `size` bytes to the participant's bucket as soon as its size
        is known (`request_cost`): an `Admission` refusing it (4029) when the bucket cannot
        pay, else None, and `admit(..., paid=True)` after. Refused, it is charged all the
        same (its bytes came), down to the bucket's debt limit."""
        cost = min(request_cost(size), float(self._limiter.burst))  # never more than it holds
        decision = self._limiter.check(participant, cost=cost, penalty=cost)
        if decision.allowed:
            return None
        return Admission(Verdict.RATE_LIMITED, retry_after_s=decision.retry_after_s)

    def finished(self, participant: str, request_id: str | None, answer: str | None) -> None:
        """The request was answered (`answer` is what was sent) or abandoned (`None`)."""
        if request_id is None:
            return
        fingerprint = self._in_flight.get(participant, {}).pop(request_id, None)
        if fingerprint is None:
            return  # not admitted under this id (or forgotten since): nothing to remember
        if answer is not None:
            self._remember(participant, request_id, fingerprint, answer)

    def forget(self, participant: str) -> None:
        """The participant left: its requests and bucket go."""
        self._in_flight.pop(participant, None)
        self._limiter.forget(participant)
        for key in [k for k in self._bound if k[0] == participant]:
            self._drop(key)

    @property
    def replay_ttl_s(self) -> float:
        """How long an answered request's id stays bound to what it asked."""
        return self._replay_ttl_s

    def in_flight(self, participant: str) -> int:
        return len(self._in_flight.get(participant, ()))

    # -- the replay cache ---------------------------------------------------------------

    def _cached(self, participant: str, request_id: str) -> tuple[str, str | None] | None:
        """What the request answered under this id asked, and its answer if still kept;
        None when the id is not bound (never answered, or the window has passed)."""
        key = (participant, request_id)
        entry = self._bound.get(key)
        if entry is None:
            return None
        stored_at, fingerprint = entry
        if self._clock() - stored_at > self._replay_ttl_s:
            self._drop(key)
            return None
        return fingerprint, self._answers.get(key)

    def _remember(self, participant: str, request_id: str, fingerprint: str, answer: str) -> None:
        key = (participant, request_id)
        if key in self._bound:
            self._drop(key)
        self._bound[key] = (self._clock(), fingerprint)
        while len(self._bound) > self._bound_ids:
            self._drop(next(iter(self._bound)))
        if len(answer) > self._replay_bytes // 4:
            return  # too large to keep: a repeat is served again
        self._answers[key] = answer
        self._answer_bytes += len(answer)
        while self._answer_bytes > self._replay_bytes and self._answers:
            _, dropped = self._answers.popitem(last=False)  # its id stays bound
            self._answer_bytes -= len(dropped)

    def _drop(self, key: tuple[str, str]) -> None:
        self._bound.pop(key, None)
        answer = self._answers.pop(key, None)
        if answer is not None:
            self._answer_bytes -= len(answer)


class OpenStreams:
    """Request streams begun and not yet finished: per participant, and in total.

    A text stream holds memory and a task from its header until its end, before its body
    can be read, let alone admitted: one begun and never finished would be kept forever.
    One instance is shared by every room of the process (`SHARED_OPEN_STREAMS`), so the
    total bounds the process, however many rooms a caller can join.
    """

    def __init__(
        self,
        *,
        per_participant: int = MAX_OPEN_STREAMS_PER_PARTICIPANT,
        total: int = MAX_OPEN_STREAMS,
    ) -> None:
        self._per_participant = per_participant
        self._total = total
        self._open: dict[tuple[str, str], int] = {}
        self._count = 0

    def begin(self, room: str, participant: str) -> bool:
        """Count one more open stream, or False (and count nothing) when over a bound."""
        key = (room, participant)
        held = self._open.get(key, 0)
        if held >= self._per_participant or self._count >= self._total:
            return False
        self._open[key] = held + 1
        self._count += 1
        return True

    def end(self, room: str, participant: str) -> None:
        key = (room, participant)
        held = self._open.get(key, 0)
        if held <= 0:
            return
        self._count -= 1
        if held == 1:
            del self._open[key]
        else:
            self._open[key] = held - 1

    def held(self, room: str, participant: str) -> int:
        return self._open.get((room, participant), 0)

    @property
    def total(self) -> int:
        return self._count


SHARED_OPEN_STREAMS = OpenStreams()

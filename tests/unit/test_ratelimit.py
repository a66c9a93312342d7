"""Token buckets: bursts pass, the steady rate holds, the wait is what a token takes."""

from __future__ import annotations

import pytest

from context_bot.ratelimit import IDLE_SWEEP_EVERY, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_the_next_request_waits_for_one_token() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.check("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.check("a")
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(0.5)
    clock.now = 0.5
    assert limiter.check("a").allowed


def test_keys_have_their_own_buckets() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=Clock())
    assert limiter.check("a").allowed
    assert not limiter.check("a").allowed
    assert limiter.check("b").allowed


def test_idle_buckets_are_swept_so_new_keys_cannot_grow_memory() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10.0, burst=1, clock=clock)
    for n in range(IDLE_SWEEP_EVERY - 1):
        limiter.check(f"k{n}")
    clock.now = 100.0
    limiter.check("last")  # the sweeping check
    assert len(limiter) <= 1


def test_nonsense_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(rate=1, burst=0)


def test_a_cost_takes_that_many_tokens_and_the_wait_is_for_all_of_them() -> None:
    clock = Clock()
    bytes_out = RateLimiter(rate=100.0, burst=1_000, clock=clock)
    assert bytes_out.check("a", cost=800).allowed
    refused = bytes_out.check("a", cost=500)
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(3.0)  # 300 more tokens at 100 a second
    assert bytes_out.check("a", cost=200).allowed  # a refusal takes nothing
    clock.now = 5.0
    assert bytes_out.check("a", cost=500).allowed


def test_a_penalty_is_taken_from_a_refusal_down_to_minus_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=4, clock=clock)
    assert limiter.check("k", cost=4).allowed
    first = limiter.check("k", penalty=1)
    assert not first.allowed and first.retry_after_s == 1.0  # (1 - -1) / 2
    assert not limiter.check("k").allowed, "no penalty: nothing taken"
    waits = [limiter.check("k", penalty=3).retry_after_s for _ in range(3)]
    assert waits == [2.5, 2.5, 2.5], "down to -4 at most: (1 - -4) / 2"
    clock.now = 2.5
    assert limiter.check("k").allowed

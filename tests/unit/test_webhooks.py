"""`ReplayGuard`: each signed webhook event once, only while fresh, in bounded memory."""

from __future__ import annotations

from context_bot.endpoint.webhooks import MAX_AGE_S, ReplayGuard, Verdict


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_an_event_is_taken_once_and_its_replays_refused() -> None:
    clock = Clock()
    guard = ReplayGuard(clock=clock)
    assert guard.admit("EV_1", clock.now) is Verdict.FRESH
    clock.now += 300  # inside the signature's validity: the replay that mattered
    assert guard.admit("EV_1", clock.now - 300) is Verdict.REPLAYED
    assert guard.admit("EV_2", clock.now - 300) is Verdict.FRESH


def test_an_old_event_or_one_without_id_or_time_is_stale() -> None:
    clock = Clock()
    guard = ReplayGuard(clock=clock)
    assert guard.admit("EV_old", clock.now - MAX_AGE_S - 1) is Verdict.STALE
    assert guard.admit("EV_untimed", 0) is Verdict.STALE
    assert guard.admit("", clock.now) is Verdict.STALE
    assert len(guard) == 0


def test_an_id_is_forgotten_only_once_its_event_is_stale() -> None:
    clock = Clock()
    guard = ReplayGuard(clock=clock)
    created = clock.now
    assert guard.admit("EV_1", created) is Verdict.FRESH
    clock.now = created + MAX_AGE_S - 1
    assert guard.admit("EV_1", created) is Verdict.REPLAYED
    clock.now = created + MAX_AGE_S + 1
    assert guard.admit("EV_1", created) is Verdict.STALE
    assert len(guard) == 0  # forgotten, and refused all the same


def test_a_server_clock_ahead_of_ours_keeps_the_id_as_long_as_the_event_is_fresh() -> None:
    clock = Clock()
    guard = ReplayGuard(clock=clock)
    created = clock.now + 120  # LiveKit's clock two minutes ahead
    assert guard.admit("EV_1", created) is Verdict.FRESH
    clock.now = created + MAX_AGE_S - 1
    assert guard.admit("EV_1", created) is Verdict.REPLAYED


def test_memory_is_bounded_dropping_the_oldest_ids() -> None:
    clock = Clock()
    guard = ReplayGuard(max_remembered=3, clock=clock)
    for n in range(5):
        assert guard.admit(f"EV_{n}", clock.now) is Verdict.FRESH
    assert len(guard) == 3
    assert guard.admit("EV_4", clock.now) is Verdict.REPLAYED


def test_a_forgotten_event_is_taken_again() -> None:
    """What the endpoint does when handling an event failed: LiveKit's retry gets through."""
    clock = Clock()
    guard = ReplayGuard(clock=clock)
    assert guard.admit("EV_1", clock.now) is Verdict.FRESH
    guard.forget("EV_1")
    assert guard.admit("EV_1", clock.now) is Verdict.FRESH

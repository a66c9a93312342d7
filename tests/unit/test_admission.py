"""Admission: rate, concurrency, and what happens to a repeated request id."""

from __future__ import annotations

from context_bot.bot.admission import AdmissionPolicy, OpenStreams, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_repeat_while_in_flight_is_dropped_and_after_the_answer_replayed() -> None:
    policy = AdmissionPolicy(clock=Clock())
    assert policy.admit("alice", "r1").verdict is Verdict.SERVE
    assert policy.admit("alice", "r1").verdict is Verdict.DROP
    policy.finished("alice", "r1", "the answer")
    again = policy.admit("alice", "r1")
    assert again.verdict is Verdict.REPLAY
    assert again.answer == "the answer"


def test_ids_are_per_participant() -> None:
    policy = AdmissionPolicy(clock=Clock())
    policy.admit("alice", "r1")
    assert policy.admit("bob", "r1").verdict is Verdict.SERVE


def test_a_replay_expires_and_the_request_is_served_again() -> None:
    clock = Clock()
    policy = AdmissionPolicy(replay_ttl_s=10, clock=clock)
    policy.admit("alice", "r1")
    policy.finished("alice", "r1", "old")
    clock.now = 11
    assert policy.admit("alice", "r1").verdict is Verdict.SERVE


def test_the_replay_cache_keeps_to_its_byte_budget_dropping_the_oldest() -> None:
    policy = AdmissionPolicy(replay_bytes=400, clock=Clock())
    for n in range(5):
        policy.admit("alice", f"r{n}")
        policy.finished("alice", f"r{n}", "x" * 100)
    assert policy.admit("alice", "r0").verdict is Verdict.SERVE  # evicted
    assert policy.admit("alice", "r4").verdict is Verdict.REPLAY


def test_too_many_in_flight_is_refused_with_a_short_wait() -> None:
    policy = AdmissionPolicy(max_in_flight=2, clock=Clock())
    assert policy.admit("alice", "a").verdict is Verdict.SERVE
    assert policy.admit("alice", "b").verdict is Verdict.SERVE
    third = policy.admit("alice", "c")
    assert third.verdict is Verdict.TOO_MANY_IN_FLIGHT
    assert third.retry_after_s > 0
    policy.finished("alice", "a", None)
    assert policy.admit("alice", "c").verdict is Verdict.SERVE


def test_over_the_rate_is_refused_with_the_time_to_wait() -> None:
    clock = Clock()
    policy = AdmissionPolicy(rate_per_s=1, burst=2, max_in_flight=100, clock=clock)
    verdicts = [policy.admit("alice", f"r{n}").verdict for n in range(2)]
    assert verdicts == [Verdict.SERVE, Verdict.SERVE]
    refused = policy.admit("alice", "r2")
    assert refused.verdict is Verdict.RATE_LIMITED
    assert refused.retry_after_s == 2.0, "its own token, charged though refused, and the next"
    clock.now = 2.0
    assert policy.admit("alice", "r2").verdict is Verdict.SERVE, "served after the named wait"


def test_asking_again_before_the_wait_only_makes_it_longer() -> None:
    clock = Clock()
    policy = AdmissionPolicy(rate_per_s=1, burst=2, max_in_flight=100, clock=clock)
    for n in range(2):
        policy.admit("alice", f"r{n}")
    waits = [policy.admit("alice", f"x{n}").retry_after_s for n in range(6)]
    assert waits == [2.0, 3.0, 3.0, 3.0, 3.0, 3.0], "debt grows, bounded by the burst"
    clock.now = 2.9
    assert policy.admit("alice", "early").verdict is Verdict.RATE_LIMITED
    assert policy.admit("bob", "b").verdict is Verdict.SERVE, "bob's bucket is his own"


def test_a_request_costs_a_token_and_one_per_kib_beyond_the_first() -> None:
    clock = Clock()
    policy = AdmissionPolicy(rate_per_s=10, burst=40, max_in_flight=100, clock=clock)
    assert policy.charge("alice", 900) is None, "a small request: one token"  # 39 left
    assert policy.admit("alice", "r0", paid=True).verdict is Verdict.SERVE  # nothing more
    assert policy.charge("alice", 16 * 1024) is None  # 16 tokens: 23 left
    assert policy.charge("alice", 16 * 1024) is None  # 7 left
    refused = policy.charge("alice", 16 * 1024)
    assert refused is not None and refused.verdict is Verdict.RATE_LIMITED
    assert refused.retry_after_s == 2.5, "16 tokens, 7 held less 16 charged, 10 a second"
    assert policy.charge("alice", 100) is not None, "the refused bytes were charged"
    clock.now = 100.0
    assert policy.charge("alice", 10**9) is None, "never more than the bucket holds"


def test_an_abandoned_request_is_not_replayed() -> None:
    policy = AdmissionPolicy(clock=Clock())
    policy.admit("alice", "r1")
    policy.finished("alice", "r1", None)
    assert policy.admit("alice", "r1").verdict is Verdict.SERVE


def test_forgetting_a_participant_clears_its_state() -> None:
    policy = AdmissionPolicy(clock=Clock())
    policy.admit("alice", "r1")
    policy.finished("alice", "r1", "answer")
    policy.admit("alice", "r2")
    policy.forget("alice")
    assert policy.in_flight("alice") == 0
    assert policy.admit("alice", "r1").verdict is Verdict.SERVE


def test_open_streams_are_bounded_per_participant_and_in_total() -> None:
    streams = OpenStreams(per_participant=2, total=3)
    assert streams.begin("r1", "alice")
    assert streams.begin("r1", "alice")
    assert not streams.begin("r1", "alice"), "a third for one participant"
    assert streams.begin("r2", "alice"), "the same identity in another room is another"
    assert not streams.begin("r1", "bob"), "over the total"
    assert streams.held("r1", "alice") == 2
    assert streams.total == 3


def test_an_ended_stream_frees_its_place_and_an_extra_end_frees_nothing() -> None:
    streams = OpenStreams(per_participant=1, total=1)
    assert streams.begin("r", "alice")
    streams.end("r", "alice")
    streams.end("r", "alice")
    assert streams.total == 0
    assert streams.held("r", "alice") == 0
    assert streams.begin("r", "bob")
    assert not streams.begin("r", "alice")


def test_a_different_request_under_an_answered_id_is_refused_not_answered() -> None:
    policy = AdmissionPolicy(clock=Clock())
    assert policy.admit("alice", "1", fingerprint="overview").verdict is Verdict.SERVE
    policy.finished("alice", "1", "the overview")
    other = policy.admit("alice", "1", fingerprint="list")
    assert other.verdict is Verdict.ID_REUSED
    assert other.answer is None
    same = policy.admit("alice", "1", fingerprint="overview")
    assert same.verdict is Verdict.REPLAY
    assert same.answer == "the overview"


def test_a_different_request_under_an_id_in_flight_is_refused_the_same_one_dropped() -> None:
    policy = AdmissionPolicy(clock=Clock())
    assert policy.admit("alice", "1", fingerprint="a").verdict is Verdict.SERVE
    assert policy.admit("alice", "1", fingerprint="b").verdict is Verdict.ID_REUSED
    assert policy.admit("alice", "1", fingerprint="a").verdict is Verdict.DROP
    policy.finished("alice", "1", "answer to a")  # the refusal took nothing of `a`'s
    assert policy.admit("alice", "1", fingerprint="a").answer == "answer to a"


def test_an_id_is_bound_to_its_request_only_for_the_replay_window() -> None:
    clock = Clock()
    policy = AdmissionPolicy(replay_ttl_s=10, clock=clock)
    policy.admit("alice", "1", fingerprint="a")
    policy.finished("alice", "1", "answer to a")
    clock.now = 11
    assert policy.admit("alice", "1", fingerprint="b").verdict is Verdict.SERVE


def test_a_refused_request_leaves_its_id_free() -> None:
    clock = Clock()
    policy = AdmissionPolicy(rate_per_s=1, burst=1, max_in_flight=1, clock=clock)
    assert policy.admit("alice", "x", fingerprint="a").verdict is Verdict.SERVE
    assert policy.admit("alice", "1", fingerprint="b").verdict is Verdict.RATE_LIMITED
    clock.now = 5
    assert policy.admit("alice", "1", fingerprint="b").verdict is Verdict.TOO_MANY_IN_FLIGHT
    policy.finished("alice", "x", "answer")
    clock.now = 10
    assert policy.admit("alice", "1", fingerprint="c").verdict is Verdict.SERVE


def test_an_id_stays_bound_to_its_request_after_its_answer_left_the_cache() -> None:
    policy = AdmissionPolicy(replay_bytes=400, clock=Clock())
    policy.admit("alice", "big", fingerprint="a")
    policy.finished("alice", "big", "x" * 200)  # over a quarter of the budget: not kept
    for n in range(5):
        policy.admit("alice", f"r{n}", fingerprint="b")
        policy.finished("alice", f"r{n}", "x" * 100)
    assert policy.admit("alice", "big", fingerprint="z").verdict is Verdict.ID_REUSED
    assert policy.admit("alice", "r0", fingerprint="z").verdict is Verdict.ID_REUSED  # evicted
    assert policy.admit("alice", "r0", fingerprint="b").verdict is Verdict.SERVE  # run again
    assert policy.admit("alice", "big", fingerprint="a").verdict is Verdict.SERVE


def test_bound_ids_are_capped_oldest_first() -> None:
    policy = AdmissionPolicy(bound_ids=3, clock=Clock())
    for n in range(4):
        policy.admit("alice", f"r{n}", fingerprint="a")
        policy.finished("alice", f"r{n}", "answer")
    assert policy.admit("alice", "r0", fingerprint="b").verdict is Verdict.SERVE
    assert policy.admit("alice", "r3", fingerprint="b").verdict is Verdict.ID_REUSED

"""Per-request step timings (`context_bot/phases.py`): what the bot's `request_served`
line reports, so a slow answer says which step was slow."""

from __future__ import annotations

import asyncio
import time

from context_bot import phases


def test_marks_are_summed_per_step_in_the_order_first_marked() -> None:
    with phases.measuring() as timed:
        time.sleep(0.002)
        phases.mark("a")
        time.sleep(0.004)
        phases.mark("b")
        time.sleep(0.002)
        phases.mark("a")
    ms = timed.milliseconds()
    assert list(ms) == ["a", "b"]
    assert ms["a"] >= 4.0  # two sleeps of 2 ms
    assert ms["b"] >= 4.0


def test_skipped_time_belongs_to_no_step() -> None:
    with phases.measuring() as timed:
        time.sleep(0.02)
        phases.skip()
        phases.mark("quick")
    assert timed.milliseconds()["quick"] < 10.0


def test_the_first_step_counts_from_since() -> None:
    before = time.perf_counter() - 0.05
    with phases.measuring(since=before) as timed:
        phases.mark("waited")
    assert timed.milliseconds()["waited"] >= 50.0


def test_marking_with_nothing_measured_does_nothing() -> None:
    phases.mark("nobody")  # no request under way: no error, nothing kept
    phases.skip()
    with phases.measuring() as timed:
        pass
    phases.mark("after")  # the measurement ended: not reached
    assert timed.spans == {}


async def test_a_worker_thread_marks_the_request_that_started_it() -> None:
    def work() -> None:
        phases.mark("to_thread")
        time.sleep(0.003)
        phases.mark("work")

    with phases.measuring() as timed:
        await asyncio.to_thread(work)
        phases.mark("from_thread")
    assert list(timed.spans) == ["to_thread", "work", "from_thread"]
    assert timed.milliseconds()["work"] >= 3.0


async def test_two_requests_at_once_keep_their_own_steps() -> None:
    async def request(name: str, delay: float) -> dict[str, float]:
        with phases.measuring() as timed:
            await asyncio.sleep(delay)
            phases.mark(name)
        return timed.milliseconds()

    first, second = await asyncio.gather(
        asyncio.create_task(request("first", 0.01)), asyncio.create_task(request("second", 0.02))
    )
    assert list(first) == ["first"]
    assert list(second) == ["second"]

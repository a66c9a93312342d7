"""`/readyz`'s answer: LiveKit reachable and knowledge loaded, without flooding LiveKit."""

from __future__ import annotations

import asyncio

from context_bot.endpoint.readiness import READY_TIMEOUT_S, READY_TTL_S, Readiness
from context_bot.errors import LiveKitUnavailable


class Probe:
    def __init__(self, behaviour: str = "ok") -> None:
        self.calls = 0
        self.behaviour = behaviour

    async def __call__(self) -> None:
        self.calls += 1
        if self.behaviour == "down":
            raise LiveKitUnavailable("LiveKit server unreachable (ClientConnectorError)")
        if self.behaviour == "slow":
            await asyncio.sleep(READY_TIMEOUT_S * 4)


async def test_ready_when_livekit_answers_and_knowledge_is_loaded() -> None:
    answer = await Readiness(Probe(), lambda: True).check()
    assert answer == {"status": "ready", "livekit": "ok", "knowledge": "loaded"}


async def test_not_ready_says_which_part_is_missing() -> None:
    assert (await Readiness(Probe("down"), lambda: True).check())["livekit"] == "unreachable"
    assert (await Readiness(Probe(), lambda: False).check()) == {
        "status": "not_ready",
        "livekit": "ok",
        "knowledge": "not_loaded",
    }
    assert (await Readiness(None, lambda: True).check())["livekit"] == "not_configured"


async def test_a_process_that_serves_no_knowledge_is_ready_without_it() -> None:
    """The web role loads no knowledge; it is ready once LiveKit answers."""
    assert (await Readiness(Probe(), None).check()) == {
        "status": "ready",
        "livekit": "ok",
        "knowledge": "not_served",
    }
    assert (await Readiness(Probe("down"), None).check())["status"] == "not_ready"


async def test_a_livekit_slower_than_the_timeout_is_unreachable() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await Readiness(Probe("slow"), lambda: True).check()
    assert answer["livekit"] == "unreachable"
    assert loop.time() - started < READY_TIMEOUT_S * 2


async def test_probes_within_the_ttl_share_one_livekit_call() -> None:
    now = [0.0]
    probe = Probe()
    readiness = Readiness(probe, lambda: True, clock=lambda: now[0])
    await asyncio.gather(*(readiness.check() for _ in range(10)))
    assert probe.calls == 1
    now[0] += READY_TTL_S
    await readiness.check()
    assert probe.calls == 2

"""The dispatch worker's own bookkeeping, with a fake of our room manager (a seam of ours).

The protocol itself is tested against the real server in tests/integration/test_workers.py.
"""

from __future__ import annotations

from typing import Any

from context_bot.bot.rooms import BotIdentity
from context_bot.bot.worker import DispatchWorker, agent_url
from context_bot.config import LiveKitSettings
from context_bot.metrics import Metrics


class FakeRooms:
    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.load = 0
        self.metrics = Metrics()

    def session(self, name: str) -> object | None:
        return object() if name in self.sessions else None


def worker(rooms: Any) -> DispatchWorker:
    return DispatchWorker(
        LiveKitSettings("ws://127.0.0.1:1", "k", "s" * 32),
        BotIdentity("context-bot", "Context"),
        rooms,
        agent_name="a",
        max_rooms=2,
    )


def test_jobs_whose_room_the_bot_left_are_forgotten_but_joining_ones_kept() -> None:
    rooms = FakeRooms()
    w = worker(rooms)
    rooms.sessions = {"held"}
    w._jobs = {"j1": "held", "j2": "left-empty", "j3": "joining"}
    w._starting = {"j3"}
    w._forget_ended_jobs()
    assert w.jobs == {"j1": "held", "j3": "joining"}


def test_availability_counts_rooms_and_promises_against_the_limit() -> None:
    rooms = FakeRooms()
    w = worker(rooms)
    rooms.load = 1
    assert w.available
    w._promised.add("offer")
    assert not w.available  # one room plus one accepted offer reaches max_rooms=2


def test_agent_url_follows_the_livekit_url_scheme() -> None:
    assert agent_url("ws://h:7880") == "ws://h:7880/agent"
    assert agent_url("https://lk.example/base/") == "wss://lk.example/base/agent"


class FakeSession:
    def __init__(self, losses: int) -> None:
        self.connection_losses = losses


class LeavingRooms(FakeRooms):
    def __init__(self, losses: int) -> None:
        super().__init__()
        self.sessions = {"r"}
        self.losses = losses
        self.left: list[str] = []

    def session(self, name: str) -> object | None:
        return FakeSession(self.losses) if name in self.sessions else None

    async def leave(self, name: str, reason: str = "asked") -> bool:
        self.left.append(name)
        return True


async def test_a_termination_leaves_a_room_whose_connection_never_dropped() -> None:
    rooms = LeavingRooms(losses=0)
    w = worker(rooms)
    w._jobs = {"j": "r"}
    await w._end_job("j")
    assert rooms.left == ["r"]  # the dispatch was deleted: the operator wants the bot out
    assert w.jobs == {}


async def test_a_termination_after_a_lost_connection_keeps_the_room() -> None:
    """The server ends a job when it loses the job's participant; the SDK is bringing the
    bot back, and leaving would strand the room (the 1,000-room benchmark lost 258)."""
    rooms = LeavingRooms(losses=1)
    w = worker(rooms)
    w._jobs = {"j": "r"}
    await w._end_job("j")
    assert rooms.left == []
    assert w.jobs == {}
    samples = rooms.metrics.render().decode()
    assert 'context_bot_worker_jobs_total{outcome="terminated"} 1.0' in samples

"""Room ownership: decided before LiveKit is touched; LiveKit's metadata wins for old rooms."""

from __future__ import annotations

import asyncio

import pytest

from context_bot.endpoint.ownership import InMemoryOwnershipStore, RoomOwnership
from context_bot.errors import LiveKitUnavailable


class FakeLiveKit:
    """CreateRoom as fact 7 says it behaves for one caller at a time: an existing room
    keeps its metadata and reports it; a new one takes the caller's."""

    def __init__(self) -> None:
        self.rooms: dict[str, str | None] = {}
        self.creates = 0

    def create(self, room: str, owner: str) -> asyncio.Future[str | None]:
        async def _create() -> str | None:
            self.creates += 1
            await asyncio.sleep(0.001)  # a real round trip yields to other requests
            return self.rooms.setdefault(room, owner)

        return asyncio.ensure_future(_create())


async def test_claim_is_set_if_absent_and_release_is_compare_and_delete() -> None:
    store = InMemoryOwnershipStore()
    assert await store.claim("r", "acme") == "acme"
    assert await store.claim("r", "globex") == "acme"
    assert await store.release("r", "globex") is False
    assert await store.claim("r", "acme") == "acme"
    assert await store.release("r", "acme") is True
    assert await store.claim("r", "globex") == "globex"


async def test_a_new_room_goes_to_the_first_tenant_and_the_second_never_reaches_livekit() -> None:
    livekit, ownership = FakeLiveKit(), RoomOwnership(InMemoryOwnershipStore())
    first = await ownership.settle("r", "acme", lambda: livekit.create("r", "acme"))
    second = await ownership.settle("r", "globex", lambda: livekit.create("r", "globex"))
    assert (first.granted, first.owner) == (True, "acme")
    assert (second.granted, second.owner) == (False, "acme")
    assert livekit.creates == 1


async def test_twenty_tenants_racing_for_one_new_room_leave_exactly_one_owner() -> None:
    livekit, ownership = FakeLiveKit(), RoomOwnership(InMemoryOwnershipStore())
    tenants = [f"t{i}" for i in range(20)]
    verdicts = await asyncio.gather(
        *(ownership.settle("r", t, lambda t=t: livekit.create("r", t)) for t in tenants)
    )
    winners = [v for v in verdicts if v.granted]
    assert len(winners) == 1
    assert {v.owner for v in verdicts} == {winners[0].owner} == {livekit.rooms["r"]}
    assert livekit.creates == 1


async def test_after_a_restart_the_rooms_metadata_names_the_owner() -> None:
    livekit = FakeLiveKit()
    livekit.rooms["r"] = "acme"  # made before this process started; the store is empty
    ownership = RoomOwnership(InMemoryOwnershipStore())
    intruder = await ownership.settle("r", "globex", lambda: livekit.create("r", "globex"))
    assert (intruder.granted, intruder.owner) == (False, "acme")
    owner = await ownership.settle("r", "acme", lambda: livekit.create("r", "acme"))
    assert owner.granted
    again = await ownership.settle("r", "globex", lambda: livekit.create("r", "globex"))
    assert not again.granted
    assert livekit.creates == 2, "once the record is learned, the intruder is refused at once"


async def test_a_room_without_an_owner_is_refused_to_every_tenant() -> None:
    livekit = FakeLiveKit()
    livekit.rooms["walk-in"] = None
    ownership = RoomOwnership(InMemoryOwnershipStore())
    for tenant in ("acme", "globex"):
        verdict = await ownership.settle(
            "walk-in", tenant, lambda tenant=tenant: livekit.create("walk-in", tenant)
        )
        assert (verdict.granted, verdict.owner) == (False, None)
    assert len(ownership.store) == 0  # type: ignore[arg-type]


async def test_a_failed_create_leaves_no_record_behind() -> None:
    ownership = RoomOwnership(InMemoryOwnershipStore())

    async def unreachable() -> str | None:
        raise LiveKitUnavailable("LiveKit server unreachable (ClientConnectorError)")

    with pytest.raises(LiveKitUnavailable):
        await ownership.settle("r", "acme", unreachable)
    assert await ownership.store.claim("r", "globex") == "globex"


async def test_a_finished_room_is_free_for_the_next_tenant() -> None:
    livekit, ownership = FakeLiveKit(), RoomOwnership(InMemoryOwnershipStore())
    await ownership.settle("r", "acme", lambda: livekit.create("r", "acme"))
    assert await ownership.forget("r", "globex") is False
    assert await ownership.forget("r", "acme") is True
    del livekit.rooms["r"]
    assert (await ownership.settle("r", "globex", lambda: livekit.create("r", "globex"))).granted

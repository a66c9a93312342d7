"""Two endpoint instances, one Redis: racing tenants end with one owner per room.

A real `redis-server` (Debian's, installed by scripts/test when missing) is started on a
free loopback port for these tests, like livekit-server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.config import LiveKitSettings
from context_bot.devserver import free_port
from context_bot.endpoint.ownership_redis import RedisOwnershipStore
from tests.integration.test_token_endpoint import owner_in_livekit
from tests.integration.web_helpers import AUTH_SETTINGS, api_key_of, post, who

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    assert binary, (
        "redis-server is missing: scripts/test installs it (apt-get install redis-server)"
    )
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        check = subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        )
        if check.stdout.strip() == "PONG":
            break
        assert time.monotonic() < deadline, "redis-server did not answer"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


async def test_the_store_claims_once_and_releases_only_for_its_owner(redis_url: str) -> None:
    store = RedisOwnershipStore(redis_url, prefix="unit:")
    try:
        assert await store.claim("r", "acme") == "acme"
        assert await store.claim("r", "globex") == "acme"
        assert not await store.release("r", "globex")
        assert await store.release("r", "acme")
        assert await store.claim("r", "globex") == "globex"
    finally:
        await store.aclose()


async def test_records_expire_and_the_owner_keeps_theirs_alive(redis_url: str) -> None:
    """A room whose `room_finished` never arrived frees its name; one in use does not."""
    store = RedisOwnershipStore(redis_url, prefix="ttl:", ttl_s=2)
    try:
        assert await store.claim("kept", "acme") == "acme"
        assert await store.claim("dropped", "acme") == "acme"
        for _ in range(3):  # the owner comes back every second, past the 2 s expiry
            await asyncio.sleep(1)
            assert await store.claim("kept", "acme") == "acme"
        assert await store.claim("dropped", "globex") == "globex"
        assert await store.claim("kept", "globex") == "acme"
    finally:
        await store.aclose()


async def test_two_instances_sharing_redis_leave_one_owner_per_raced_room(
    running_app: Any, livekit: LiveKitSettings, redis_url: str
) -> None:
    first: ContextBotApp = await running_app(**AUTH_SETTINGS, redis_url=redis_url)
    second: ContextBotApp = await running_app(**AUTH_SETTINGS, redis_url=redis_url)
    rooms = [f"redis-race-{n}" for n in range(10)]
    results = await asyncio.gather(
        *(
            post(app.port, "/token", who(tenant, room_name=room), api_key_of(tenant))
            for room in rooms
            for app, tenant in ((first, "acme"), (second, "globex"))
        )
    )
    for n, room in enumerate(rooms):
        statuses = [results[2 * n][0], results[2 * n + 1][0]]
        assert sorted(statuses) == [200, 403], (room, results[2 * n : 2 * n + 2])
        winner = "acme" if statuses[0] == 200 else "globex"
        assert await owner_in_livekit(livekit, room) == winner


async def test_an_unreachable_store_is_a_503_not_a_guess(running_app: Any) -> None:
    app: ContextBotApp = await running_app(
        **AUTH_SETTINGS, redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    status, body = await post(
        app.port, "/token", who("acme", room_name="nowhere"), api_key_of("acme")
    )
    assert status == 503
    assert body["error"]["code"] == "ownership_store_unavailable"

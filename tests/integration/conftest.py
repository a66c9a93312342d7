"""Helpers to join the real livekit-server of the integration tests.

The server itself (`livekit_server`) is the suite's one, from `tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from livekit import api, rtc

import context_bot.bot.rooms
from context_bot.config import LiveKitSettings
from context_bot.devserver import DevServer
from tests.integration import native_panic

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def livekit(livekit_server: DevServer) -> LiveKitSettings:
    return LiveKitSettings(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)


@pytest.fixture(scope="session")
def cancelled_connects(
    livekit: LiveKitSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, native_panic.Run]]:
    """`native_panic`'s interpreters, each cancelling a connect and waiting 17 s."""
    folder = tmp_path_factory.mktemp("native-panic")
    runs = {case: native_panic.start(case, livekit, folder) for case in native_panic.CASES}
    yield runs
    for run in runs.values():
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


@pytest.fixture(scope="session", autouse=True)
def _waits_start_first(request: pytest.FixtureRequest) -> None:
    """Fixtures that wait for time to pass start with the session when a selected test
    uses them, and pass it beside the other tests rather than in front of their own."""
    if any("cancelled_connects" in item.fixturenames for item in request.session.items):
        request.getfixturevalue("cancelled_connects")


def user_token(settings: LiveKitSettings, room: str, identity: str) -> str:
    grants = api.VideoGrants(room_join=True, room=room, can_publish_data=True)
    return (
        api.AccessToken(settings.api_key, settings.api_secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(grants)
        .to_jwt()
    )


@pytest.fixture
async def connect(livekit: LiveKitSettings) -> AsyncIterator[object]:
    """`await connect(room, identity)` → a connected `rtc.Room`, disconnected at the end."""
    rooms: list[rtc.Room] = []

    async def _connect(room_name: str, identity: str, token: str | None = None) -> rtc.Room:
        room = rtc.Room()
        await room.connect(
            livekit.url,
            token or user_token(livekit, room_name, identity),
            rtc.RoomOptions(auto_subscribe=False),
        )
        rooms.append(room)
        return room

    yield _connect
    await asyncio.gather(*(r.disconnect() for r in rooms), return_exceptions=True)


@pytest.fixture(scope="session")
def repo_copy_place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("repo-copy") / "repo"


@pytest.fixture
def repo_copy(repo_copy_place: Path) -> Path:
    """This repository's knowledge and package sources, copied so tests may edit them.

    Copied afresh for each test (whatever the last test added, changed or removed is gone),
    always to the same place, file times kept (`copytree` copies them): the code index is
    cached by the repository's path (`knowledge/store.py`), so a test's app finds the last
    one's cache and re-indexes only the files that test touched, as a restarted bot does;
    a new place each time cost a whole first index, about 1.5 s, in each of these tests."""
    target = repo_copy_place
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(REPO_ROOT / "knowledge", target / "knowledge")
    shutil.copytree(REPO_ROOT / "context_bot", target / "context_bot")
    shutil.copy(REPO_ROOT / "README.md", target / "README.md")
    return target


@pytest.fixture
async def running_app(livekit: LiveKitSettings) -> AsyncIterator[object]:
    """`await running_app(repo=...)` → a started `ContextBotApp` on a free port."""
    from context_bot.app import ContextBotApp
    from context_bot.config import Settings

    apps: list[ContextBotApp] = []

    async def _start(repo: Path = REPO_ROOT, **overrides: object) -> ContextBotApp:
        settings = Settings(livekit=livekit, port=0, repo=repo, **overrides)  # type: ignore[arg-type]
        app = ContextBotApp(settings, handle_signals=False)
        await app.startup()
        apps.append(app)
        return app

    yield _start
    # The test is over: no participant waits for an answer still queued in the bot's data
    # channel, so the apps leave without the flush a production stop gives such answers
    # (`FLUSH_S`, 0.5 s, taken by most tests' teardown: their last answer is recent). A
    # test that stops an app itself, and asserts on what arrives, still gets the flush.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context_bot.bot.rooms, "FLUSH_S", 0.0)
        for app in apps:
            await app.shutdown()

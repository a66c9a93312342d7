"""A real livekit-server for the integration tests, and helpers to join it.

The server is started once per test session (`--dev` keys, loopback, free ports) by
`context_bot.devserver`, the same code `context-bot run --dev` uses. Its log is kept in a
file and attached to the report of any failing test.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import pytest
from livekit import api, rtc

from context_bot.config import LiveKitSettings
from context_bot.devserver import DevServer, start_dev_server

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("livekit"))
    yield server
    server.stop(timeout=3)  # a clean stop waits for rooms to drain; tests are done


@pytest.fixture(scope="session")
def livekit(livekit_server: DevServer) -> LiveKitSettings:
    return LiveKitSettings(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    server = getattr(item, "funcargs", {}).get("livekit_server")
    if report.failed and isinstance(server, DevServer):
        lines = server.log_text().splitlines()[-60:]
        tail = "\n".join(line[:400] for line in lines)  # SDP lines run to kilobytes
        report.sections.append(("livekit-server log (tail)", tail))


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


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """This repository's knowledge and package sources, copied so tests may edit them."""
    target = tmp_path / "repo"
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
    for app in apps:
        await app.shutdown()

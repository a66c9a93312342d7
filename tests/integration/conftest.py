"""Helpers to join the real livekit-server of the integration tests.

The server itself (`livekit_server`) is the suite's one, from `tests/conftest.py`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit import api, rtc

from context_bot.config import LiveKitSettings
from context_bot.devserver import DevServer

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def livekit(livekit_server: DevServer) -> LiveKitSettings:
    return LiveKitSettings(livekit_server.url, livekit_server.api_key, livekit_server.api_secret)


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

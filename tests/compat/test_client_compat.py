"""`context_bot.client` as an agent uses it, on whichever `livekit` is installed here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib.metadata import version

import pytest
from livekit import rtc

from context_bot.client import ContextClient
from context_bot.errors import InvalidPath, NotFound
from tests.bot_service import REPO_ROOT, BotService

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(bot: BotService, request: pytest.FixtureRequest) -> AsyncIterator[ContextClient]:
    room_name = f"compat-{request.node.name}"[:100].replace("[", "-").replace("]", "")
    room = rtc.Room()
    await room.connect(bot.livekit_url, bot.token(room_name, "agent"))
    yield ContextClient(room)
    await room.disconnect()


def test_the_livekit_version_under_test_is_reported() -> None:
    installed = version("livekit")
    print(f"livekit {installed}")
    assert tuple(int(p) for p in installed.split(".")[:2]) >= (1, 1)


async def test_overview_then_a_file_byte_for_byte(client: ContextClient) -> None:
    overview = await asyncio.wait_for(client.overview(), 10)
    assert "onboarding overview" in overview
    result = await client.file("context_bot/protocol.py")
    assert result.content is not None
    assert result.content.encode() == (REPO_ROOT / "context_bot/protocol.py").read_bytes()
    assert result.knowledge is not None
    assert "filePath: context_bot/protocol.py" in result.knowledge


async def test_a_line_range(client: ContextClient) -> None:
    result = await client.file("README.md", lines=(1, 3))
    expected = "".join((REPO_ROOT / "README.md").read_text().splitlines(keepends=True)[:3])
    assert result.content == expected


async def test_search_list_and_feature(client: ContextClient) -> None:
    hits = await client.search("wire format protocol")
    assert any(hit.path == "context_bot/protocol.py" for hit in hits)
    listing = await client.list("context_bot")
    assert any(entry["path"].startswith("context_bot/") for entry in listing["entries"])
    features = await client.feature()
    assert features["features"], "this repository's knowledge names features"


async def test_errors_arrive_as_typed_exceptions_with_their_codes(client: ContextClient) -> None:
    with pytest.raises(NotFound) as missing:
        await client.file("nowhere/nothing.py")
    assert missing.value.code == 4104
    with pytest.raises(InvalidPath):
        await client.file("/etc/passwd")

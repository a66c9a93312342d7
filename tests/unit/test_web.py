"""The HTTP endpoint's refusals: each bad request gets its status and stable code."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from context_bot.config import Settings
from context_bot.web import MAX_BODY_BYTES, TokenService, create_app

GOOD = {"room_name": "r1", "participant_name": "Ada L.", "participant_identity": "ada"}


@pytest.fixture
async def client() -> AsyncIterator[TestClient[object, object]]:
    """An endpoint with no LiveKit configured: validation runs before any LiveKit call."""
    app = create_app(TokenService(Settings(), admin=None, rooms=None))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def error_of(response: object) -> tuple[int, str]:
    body = await response.json()  # type: ignore[attr-defined]
    return response.status, body["error"]["code"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({**GOOD, "room_name": ""}, "missing_field", "room_name"),
        (
            {k: v for k, v in GOOD.items() if k != "participant_identity"},
            "missing_field",
            "participant_identity",
        ),
        ({**GOOD, "participant_name": 42}, "invalid_field", "participant_name"),
        ({**GOOD, "room_name": "has space"}, "invalid_field", "room_name"),
        ({**GOOD, "room_name": "x" * 129}, "invalid_field", "room_name"),
        ({**GOOD, "participant_identity": "a/b"}, "invalid_field", "participant_identity"),
        ({**GOOD, "participant_name": "bell\x07"}, "invalid_field", "participant_name"),
    ],
)
async def test_missing_empty_or_invalid_fields_are_400_naming_the_field(
    client: TestClient[object, object], body: dict[str, object], code: str, field: str
) -> None:
    response = await client.post("/token", json=body)
    assert await error_of(response) == (400, code)
    assert field in (await response.json())["error"]["message"]


async def test_malformed_json_is_400_bad_json(client: TestClient[object, object]) -> None:
    response = await client.post(
        "/token", data=b"{nope", headers={"content-type": "application/json"}
    )
    assert await error_of(response) == (400, "bad_json")
    response = await client.post("/token", json=["a", "list"])
    assert await error_of(response) == (400, "bad_json")


async def test_an_oversized_body_is_413(client: TestClient[object, object]) -> None:
    response = await client.post("/token", data=b"x" * (MAX_BODY_BYTES + 1))
    assert await error_of(response) == (413, "body_too_large")


async def test_without_livekit_settings_a_valid_request_is_500_naming_what_is_missing(
    client: TestClient[object, object],
) -> None:
    response = await client.post("/token", json=GOOD)
    assert await error_of(response) == (500, "livekit_not_configured")
    assert "LIVEKIT_URL" in (await response.json())["error"]["message"]


async def test_healthz_answers_ok(client: TestClient[object, object]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok", "active_rooms": 0}


async def test_an_unknown_route_is_a_json_404(client: TestClient[object, object]) -> None:
    response = await client.get("/nope")
    assert await error_of(response) == (404, "http_error")


async def test_an_unreachable_livekit_is_503() -> None:
    import socket

    from context_bot.admin import Admin
    from context_bot.config import LiveKitSettings
    from context_bot.rooms import BotIdentity, RoomManager

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    livekit = LiveKitSettings(f"ws://127.0.0.1:{port}", "key", "a-secret-never-shown")
    admin = Admin(livekit)
    rooms = RoomManager(livekit, BotIdentity("context-bot", "Bot"), handlers=None)  # type: ignore[arg-type]
    app = create_app(TokenService(Settings(livekit=livekit), admin=admin, rooms=rooms))
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.post("/token", json=GOOD)
        assert await error_of(response) == (503, "livekit_unavailable")
        assert "a-secret-never-shown" not in await response.text()
    await admin.aclose()

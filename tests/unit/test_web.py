"""The HTTP endpoint's refusals and plumbing: each bad request gets its status and code.

These run the real aiohttp app over a real socket with no LiveKit, or one that cannot be
reached: validation, authentication, rate limits, CORS and webhook signatures are all
decided before LiveKit is called. What needs a server is in tests/integration.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import socket
import time
from base64 import b64encode
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from livekit import api

from context_bot.admin import Admin
from context_bot.bot.rooms import BotIdentity, RoomManager
from context_bot.config import LiveKitSettings, Settings
from context_bot.endpoint.openapi import build_spec
from context_bot.endpoint.routes import MAX_BODY_BYTES, MAX_WEBHOOK_BYTES, TokenService, create_app
from context_bot.errors import ConfigError
from context_bot.logs import configure_logging

GOOD = {"room_name": "r1", "participant_name": "Ada L.", "participant_identity": "ada"}
JWT_KEY = "an-hmac-key-of-at-least-thirty-two-bytes!"
ACME_KEY = "acme-key-0123456789abcdef"
AUTH = Settings(
    auth_required=True,
    jwt_key=JWT_KEY,
    jwt_issuer="https://auth.example",
    jwt_audience="context-bot",
    api_keys=(("acme", ACME_KEY),),
)

REPO = Path().resolve().name
"""The repository the app serves by default: the working directory."""
BOT = BotIdentity("context-bot", "Context Bot")
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNREACHABLE = LiveKitSettings(f"ws://127.0.0.1:{closed_port()}", "devkey", "a-secret-never-shown")


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """`await make_client(settings, admin=...)` → a client of a freshly built app."""
    clients: list[Client] = []
    admins: list[Admin] = []

    async def _make(
        settings: Settings | None = None, *, admin: bool = False, rooms: bool = False
    ) -> Client:
        settings = settings or Settings()
        livekit_admin = Admin(settings.livekit) if admin else None
        if livekit_admin is not None:
            admins.append(livekit_admin)
        # A manager that is never reached: every test here stops before the bot joins.
        manager = RoomManager(settings.livekit, BOT, handlers=None) if rooms else None  # type: ignore[arg-type]
        app = create_app(TokenService(settings, admin=livekit_admin, rooms=manager))
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield _make
    for client in clients:
        await client.close()
    for admin in admins:
        await admin.aclose()


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    """An endpoint with no LiveKit configured: validation runs before any LiveKit call."""
    return await make_client()


async def error_of(response: ClientResponse) -> tuple[int, str]:
    body = await response.json()
    return response.status, body["error"]["code"]


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
        ({**GOOD, "room_name": None}, "invalid_field", "room_name"),
        ({**GOOD, "room_name": "has space"}, "invalid_field", "room_name"),
        ({**GOOD, "room_name": "x" * 129}, "invalid_field", "room_name"),
        ({**GOOD, "participant_identity": "a/b"}, "invalid_field", "participant_identity"),
        ({**GOOD, "participant_name": "bell\x07"}, "invalid_field", "participant_name"),
        ({**GOOD, "participant_metadata": "m" * 1025}, "invalid_field", "participant_metadata"),
        ({**GOOD, "session_id": "s" * 121}, "invalid_field", "session_id"),
        ({**GOOD, "repo": "not-served"}, "unknown_repo", "repo"),
        ({**GOOD, "room_config": {}}, "unknown_field", "room_config"),
    ],
)
async def test_missing_empty_unknown_or_invalid_fields_are_400_naming_the_field(
    client: Client, body: dict[str, object], code: str, field: str
) -> None:
    response = await client.post("/token", json=body)
    assert await error_of(response) == (400, code)
    assert field in (await response.json())["error"]["message"]


async def test_malformed_json_is_400_bad_json(client: Client) -> None:
    response = await client.post(
        "/token", data=b"{nope", headers={"content-type": "application/json"}
    )
    assert await error_of(response) == (400, "bad_json")
    response = await client.post("/token", json=["a", "list"])
    assert await error_of(response) == (400, "bad_json")


async def test_an_oversized_body_is_413_with_or_without_a_content_length(client: Client) -> None:
    response = await client.post("/token", data=b"x" * (MAX_BODY_BYTES + 1))
    assert await error_of(response) == (413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * MAX_BODY_BYTES

    response = await client.post("/token", data=chunks())
    assert await error_of(response) == (413, "body_too_large")


async def test_a_webhook_over_its_own_limit_is_413(make_client: MakeClient) -> None:
    client = await make_client(Settings(livekit=UNREACHABLE), admin=True)
    response = await client.post(
        "/webhook", data=b"x" * (MAX_WEBHOOK_BYTES + 1), headers={"Authorization": "x"}
    )
    assert await error_of(response) == (413, "body_too_large")


async def test_without_livekit_settings_a_valid_request_is_500_naming_what_is_missing(
    client: Client,
) -> None:
    response = await client.post("/token", json=GOOD)
    assert await error_of(response) == (500, "livekit_not_configured")
    assert "LIVEKIT_URL" in (await response.json())["error"]["message"]


async def test_an_unreachable_livekit_is_503_without_the_secret(make_client: MakeClient) -> None:
    client = await make_client(Settings(livekit=UNREACHABLE), admin=True, rooms=True)
    response = await client.post("/token", json=GOOD)
    assert await error_of(response) == (503, "livekit_unavailable")
    assert "a-secret-never-shown" not in await response.text()


async def test_an_unknown_route_is_a_json_404_and_a_wrong_method_a_405_with_allow(
    client: Client,
) -> None:
    assert await error_of(await client.get("/nope")) == (404, "not_found")
    response = await client.put("/token", json=GOOD)
    assert await error_of(response) == (405, "method_not_allowed")
    assert response.headers["Allow"] == "POST"


async def test_healthz_answers_ok_without_livekit(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json()) == {"status": "ok", "active_rooms": 0}


async def test_readyz_is_503_naming_what_is_not_ready(make_client: MakeClient) -> None:
    response = await (await make_client()).get("/readyz")
    assert response.status == 503
    assert await response.json() == {
        "status": "not_ready",
        "livekit": "not_configured",
        "knowledge": "not_loaded",
    }
    response = await (await make_client(Settings(livekit=UNREACHABLE), admin=True)).get("/readyz")
    assert response.status == 503
    assert (await response.json())["livekit"] == "unreachable"


async def test_openapi_json_serves_this_deployments_spec(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec == build_spec([REPO], auth_required=False)
    assert spec["paths"]["/token"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "properties"
    ]["repo"]["enum"] == [REPO]


# -- authenticated mode ----------------------------------------------------------------


def bearer(**claims: Any) -> dict[str, str]:
    now = int(time.time())
    body = {"sub": "globex", "iss": "https://auth.example", "aud": "context-bot"}
    body |= {"iat": now, "exp": now + 60, **claims}
    key = body.pop("key", JWT_KEY)
    return {"Authorization": f"Bearer {jwt.encode(body, key, algorithm='HS256')}"}


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "auth_required"),
        ({"X-API-Key": "wrong-key-0123456789abcdef"}, "invalid_credentials"),
        ({"Authorization": "Basic YWRhOmFkYQ=="}, "invalid_credentials"),
        # Bearer claims are made into a token when the test runs: one made at collection
        # could expire before a long suite gets here, and be refused for the wrong reason.
        ({"key": "another-hmac-key-of-thirty-two-bytes!!"}, "invalid_credentials"),
        ({"aud": "someone-else"}, "invalid_credentials"),
        ({"iss": "https://evil.example"}, "invalid_credentials"),
        ({"exp": -3600}, "invalid_credentials"),
        ({"sub": "has space"}, "invalid_credentials"),
    ],
)
async def test_in_authenticated_mode_missing_or_bad_credentials_are_401(
    make_client: MakeClient, headers: dict[str, Any], code: str
) -> None:
    if headers and not any(h in headers for h in ("X-API-Key", "Authorization")):
        claims = dict(headers)
        if "exp" in claims:
            claims["exp"] += int(time.time())
        headers = bearer(**claims)
    client = await make_client(AUTH)
    response = await client.post("/token", json=GOOD, headers=headers)
    assert await error_of(response) == (401, code)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    text = await response.text()
    assert JWT_KEY not in text
    assert ACME_KEY not in text


@pytest.mark.parametrize("credential", ["api_key", "bearer"])
async def test_good_credentials_pass_on_to_the_livekit_step(
    make_client: MakeClient, credential: str
) -> None:
    # The JWT is minted here, not at collection: a slow suite must not find it expired.
    headers = {"X-API-Key": ACME_KEY} if credential == "api_key" else bearer()
    client = await make_client(AUTH)
    response = await client.post("/token", json=GOOD, headers=headers)
    assert await error_of(response) == (500, "livekit_not_configured")


def test_authenticated_mode_without_any_credential_configured_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="CONTEXT_BOT_AUTH_REQUIRED"):
        create_app(TokenService(Settings(auth_required=True), admin=None, rooms=None))
    with pytest.raises(ConfigError, match="CONTEXT_BOT_JWT_ISSUER"):
        create_app(
            TokenService(Settings(auth_required=True, jwt_key=JWT_KEY), admin=None, rooms=None)
        )


# -- rate limit and CORS -----------------------------------------------------------------


async def test_a_client_over_its_rate_gets_429_with_retry_after(make_client: MakeClient) -> None:
    client = await make_client(Settings(rate_limit_per_min=6, rate_limit_burst=2))
    statuses = [(await client.post("/token", json={})).status for _ in range(2)]
    assert statuses == [400, 400]
    response = await client.post("/token", json=GOOD)
    assert await error_of(response) == (429, "rate_limited")
    assert response.headers["Retry-After"] == "10"  # one request every 10 s at 6 a minute
    assert (await client.get("/healthz")).status == 200  # probes are never limited


async def test_a_rate_limit_of_zero_turns_it_off(make_client: MakeClient) -> None:
    client = await make_client(Settings(rate_limit_per_min=0, rate_limit_burst=1))
    statuses = {(await client.post("/token", json={})).status for _ in range(30)}
    assert statuses == {400}


async def test_cors_answers_preflights_of_allowed_origins_only(make_client: MakeClient) -> None:
    client = await make_client(Settings(cors_origins=("https://app.example",)))
    preflight = {"Access-Control-Request-Method": "POST"}
    response = await client.options(
        "/token", headers={"Origin": "https://app.example", **preflight}
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]
    response = await client.options(
        "/token", headers={"Origin": "https://evil.example", **preflight}
    )
    assert await error_of(response) == (403, "cors_origin_denied")
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cors_headers_ride_on_errors_so_a_browser_can_read_them(
    make_client: MakeClient,
) -> None:
    client = await make_client(Settings(cors_origins=("*",)))
    response = await client.post("/token", json={}, headers={"Origin": "https://any.example"})
    assert response.status == 400
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = await client.post("/token", json={})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_an_options_request_that_is_not_a_preflight_is_405(client: Client) -> None:
    response = await client.options("/token")
    assert await error_of(response) == (405, "method_not_allowed")


# -- webhook signatures ------------------------------------------------------------------


def webhook_event(event_id: str = "EV_1", age_s: int = 0) -> str:
    """A `room_started` event created `age_s` ago, at the time the test runs (an event made
    at collection would be stale by the time a long suite reaches this file)."""
    created = str(int(time.time()) - age_s)
    room = {"name": "walk-in-1"}
    return json.dumps({"event": "room_started", "room": room, "id": event_id, "createdAt": created})


EVENT = webhook_event()  # for the signature checks, which refuse before the age is read


def livekit_signature(
    body: str, key: str = UNREACHABLE.api_key, secret: str = UNREACHABLE.api_secret
) -> str:
    digest = b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).to_jwt()


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", "webhook_unsigned"),
        ("not-a-jwt", "webhook_invalid"),
        (livekit_signature(EVENT, secret="forged-secret-of-the-attacker"), "webhook_invalid"),
        (livekit_signature(EVENT, key="other-key"), "webhook_invalid"),
        (livekit_signature(EVENT.replace("walk-in-1", "walk-in-2")), "webhook_invalid"),
    ],
    ids=["unsigned", "garbage", "forged", "other-key", "body-swapped"],
)
async def test_unsigned_or_forged_webhooks_are_401(
    make_client: MakeClient, authorization: str, code: str
) -> None:
    client = await make_client(Settings(livekit=UNREACHABLE), admin=True)
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/webhook", data=EVENT, headers=headers)
    assert await error_of(response) == (401, code)


async def test_a_webhook_signed_with_our_key_is_received(make_client: MakeClient) -> None:
    client = await make_client(Settings(livekit=UNREACHABLE), admin=True)
    event = webhook_event()
    headers = {"Authorization": livekit_signature(event)}
    response = await client.post("/webhook", data=event, headers=headers)
    assert response.status == 200
    assert await response.json() == {"received": "room_started"}


async def test_a_signed_webhook_sent_again_is_409_and_an_old_one_400(
    make_client: MakeClient,
) -> None:
    client = await make_client(Settings(livekit=UNREACHABLE), admin=True)
    event = webhook_event()
    headers = {"Authorization": livekit_signature(event)}
    assert (await client.post("/webhook", data=event, headers=headers)).status == 200
    again = await client.post("/webhook", data=event, headers=headers)
    assert await error_of(again) == (409, "webhook_replayed")
    hour_old = webhook_event("EV_2", age_s=3600)
    old = await client.post(
        "/webhook", data=hour_old, headers={"Authorization": livekit_signature(hour_old)}
    )
    assert await error_of(old) == (400, "webhook_stale")


# -- clients that go away -----------------------------------------------------------------


async def send_half_a_body(port: int, path: str) -> None:
    """Headers announcing 1000 bytes, 400 of them, then the connection closes."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    writer.write(head.encode() + b'{"room_name": "' + b"r" * 385)
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("cancel", [False, True], ids=["as-served", "handler-cancellation"])
@pytest.mark.parametrize("path", ["/token", "/webhook"])
async def test_a_client_gone_mid_upload_is_one_info_line_without_a_traceback(
    path: str, cancel: bool
) -> None:
    """A peer that closes while we read its body is ordinary traffic, not a crash (issue 14,
    item 11: 100 slow clients made 59 error entries with full tracebacks).

    Served the way `ContextBotApp` serves it (the read raises a reset), and with aiohttp's
    handler cancellation on (the handler is cancelled instead), as its test server does."""
    settings = Settings(livekit=UNREACHABLE)
    admin = Admin(settings.livekit)
    runner = web.AppRunner(
        create_app(TokenService(settings, admin=admin, rooms=None)),
        access_log=None,
        handle_signals=False,
        handler_cancellation=cancel,
    )
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        await send_half_a_body(runner.addresses[0][1], path)
        for _ in range(200):  # up to 10 s for the line to appear
            if '"path"' in stream.getvalue():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # anything logged after it would show up now
    finally:
        await runner.cleanup()
        await admin.aclose()
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    ours = [line for line in lines if line["level"] in ("info", "warning", "error", "critical")]
    assert [(line["event"], line["level"]) for line in ours] == [("client_gone", "info")], lines
    assert ours[0]["path"] == path
    assert not any("exception" in line or "Traceback" in str(line) for line in lines), lines

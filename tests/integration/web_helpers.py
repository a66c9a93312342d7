"""Helpers for the HTTP endpoint's integration tests: requests, credentials, a webhook server.

pytest loads fixtures only from conftest.py, so these are plain functions the tests import.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt

from context_bot.devserver import DevServer, start_dev_server

JWT_KEY = "an-hmac-key-of-at-least-thirty-two-bytes!"
JWT_ISSUER = "https://auth.example"
JWT_AUDIENCE = "context-bot"
API_KEYS = (("acme", "acme-key-0123456789abcdef"), ("globex", "globex-key-0123456789abcdef"))
AUTH_SETTINGS: dict[str, Any] = {
    "auth_required": True,
    "jwt_key": JWT_KEY,
    "jwt_issuer": JWT_ISSUER,
    "jwt_audience": JWT_AUDIENCE,
    "api_keys": API_KEYS,
    "rate_limit_per_min": 0,  # the race sends more at once than a browser ever would
}


def api_key_of(tenant: str) -> dict[str, str]:
    return {"X-API-Key": dict(API_KEYS)[tenant]}


def bearer_of(tenant: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": tenant, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + 300}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_KEY, algorithm='HS256')}"}


async def post(
    port: int | None,
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    http: aiohttp.ClientSession | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST JSON to the app on `port`; the status and the JSON answer."""
    url = f"http://127.0.0.1:{port}{path}"
    if http is None:
        async with aiohttp.ClientSession() as own:
            return await post(port, path, body, headers, own)
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


def who(identity: str, **more: Any) -> dict[str, Any]:
    return {"participant_identity": identity, "participant_name": identity.title(), **more}


def start_webhook_server(workdir: Path, app_port: int) -> DevServer:
    """A livekit-server of its own that calls the app's `/webhook` (docs/design.md, fact 8)."""
    return start_dev_server(
        workdir,
        extra_config=(
            f"webhook:\n  api_key: devkey\n  urls:\n    - http://127.0.0.1:{app_port}/webhook\n"
        ),
    )

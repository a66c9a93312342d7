"""The HTTP endpoint: join tokens that also send the bot in, and a health check.

The only module that imports `aiohttp.web`. `create_app(...)` builds the application from
its collaborators (no module globals), so tests hand it fakes of our own seams or real ones.

Every error is a JSON body `{"error": {"code": "...", "message": "..."}}` with a stable
code; messages name what to fix and never carry a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web

from context_bot.admin import Admin, participant_token, room_metadata
from context_bot.config import Settings
from context_bot.errors import ConfigError, LiveKitFailure, LiveKitUnavailable
from context_bot.rooms import RoomManager

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 16 * 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.:@=+\-]{1,128}$")
"""Room names and identities: what LiveKit accepts and what survives a URL unescaped."""
MAX_DISPLAY_NAME = 128


@dataclass(frozen=True)
class TokenService:
    """What `/token` needs: settings, the room service, and the bot's rooms."""

    settings: Settings
    admin: Admin | None
    rooms: RoomManager | None


SERVICE = web.AppKey("service", TokenService)


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpError as exc:
        log.info("http_refused", path=request.path, status=exc.status, code=exc.code)
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "body_too_large", f"body over {MAX_BODY_BYTES} bytes")
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, "http_error", exc.reason)
        raise
    except Exception:
        log.exception("http_crashed", path=request.path)
        return error_response(500, "internal_error", "the server failed; it has been logged")


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise HttpError(413, "body_too_large", f"body over {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HttpError(400, "bad_json", "body must be a JSON object") from None
    if not isinstance(data, dict):
        raise HttpError(400, "bad_json", "body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, pattern: re.Pattern[str] | None) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise HttpError(400, "missing_field", f"`{name}` is required and must not be empty")
    if not isinstance(value, str):
        raise HttpError(400, "invalid_field", f"`{name}` must be a string")
    if pattern is not None and not pattern.fullmatch(value):
        raise HttpError(
            400, "invalid_field", f"`{name}` must be 1-128 of A-Z a-z 0-9 _ . : @ = + -"
        )
    if pattern is None and (len(value) > MAX_DISPLAY_NAME or not value.isprintable()):
        raise HttpError(
            400, "invalid_field", f"`{name}` must be printable and at most {MAX_DISPLAY_NAME}"
        )
    return value


async def post_token(request: web.Request) -> web.Response:
    """Create the room if missing, send the bot in, and hand out a join token."""
    service = request.app[SERVICE]
    data = await _json_body(request)
    room_name = _field(data, "room_name", NAME_PATTERN)
    identity = _field(data, "participant_identity", NAME_PATTERN)
    display_name = _field(data, "participant_name", None)
    if service.admin is None or service.rooms is None:
        raise HttpError(500, "livekit_not_configured", _not_configured(service.settings))
    settings = service.settings
    try:
        metadata = room_metadata(settings.bot_identity, settings.repo.resolve().name)
        await service.admin.ensure_room(
            room_name,
            metadata,
            departure_timeout_s=settings.departure_timeout_s,
            empty_timeout_s=settings.empty_timeout_s,
        )
        await service.rooms.join(room_name)
    except LiveKitUnavailable as exc:
        raise HttpError(503, "livekit_unavailable", str(exc)) from None
    except LiveKitFailure as exc:
        raise HttpError(500, "livekit_error", str(exc)) from None
    livekit = settings.livekit
    token = participant_token(
        livekit, room_name, identity, display_name, timedelta(seconds=settings.token_ttl_s)
    )
    log.info("token_issued", room=room_name, participant=identity)
    return web.json_response(
        {
            "token": token,
            "room_name": room_name,
            "participant_identity": identity,
            "livekit_url": livekit.url,
            "bot_identity": settings.bot_identity,
        }
    )


def _not_configured(settings: Settings) -> str:
    try:
        settings.require_livekit()
    except ConfigError as exc:
        return str(exc)
    return "LiveKit is not configured"


async def get_healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    rooms = service.rooms.active_rooms if service.rooms else []
    return web.json_response({"status": "ok", "active_rooms": len(rooms)})


def create_app(service: TokenService) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY_BYTES)
    app[SERVICE] = service
    app.router.add_post("/token", post_token)
    app.router.add_get("/healthz", get_healthz)
    return app

"""The HTTP endpoint: join tokens that send the bot in, LiveKit's webhooks, health, spec.

The endpoint's adapter to `aiohttp.web` (with `page.py`, which serves the page's files;
the import contracts in `pyproject.toml` list who may import it). `create_app(TokenService)`
builds the application from its collaborators (no module globals). The rules live in pure
modules: `token_request` (what a request may say, room naming), `tenants` (who is asking),
`ownership` (which tenant owns a room), `webhooks` (which events to act on), `ratelimit`,
`openapi`; LiveKit calls go through `admin`.

Routes: `POST /token`, `POST /webhook`, `GET /healthz`, `GET /readyz`, `GET /openapi.json`,
and `/mcp` (the MCP server, `mcp.py`, served through `asgi.py`).
Every error is `{"error": {"code": "...", "message": "..."}}` with a stable code (the list
is in `openapi.py` and the README); messages name what to fix and never carry a secret.
Middlewares, outermost first: CORS (so browsers can read errors too), then errors.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from context_bot.admin import (
    Admin,
    RoomInfo,
    WebhookNotice,
    created_by_us,
    join_token,
    room_configuration,
    room_metadata,
    verify_participant_token,
    verify_webhook,
)
from context_bot.bot.rooms import RoomManager
from context_bot.config import Settings
from context_bot.endpoint.asgi import asgi_handler
from context_bot.endpoint.mcp import LOOPBACK_NAMES, MCP_PATH, McpGuard, McpService
from context_bot.endpoint.openapi import build_spec
from context_bot.endpoint.ownership import InMemoryOwnershipStore, OwnershipStore, RoomOwnership
from context_bot.endpoint.page import add_page_routes
from context_bot.endpoint.readiness import Readiness
from context_bot.endpoint.tenants import Authenticator, Tenant
from context_bot.endpoint.token_request import (
    TokenRequest,
    parse_token_request,
    reserved_identities,
)
from context_bot.endpoint.webhooks import ReplayGuard, Verdict
from context_bot.errors import (
    ApiError,
    ConfigError,
    LiveKitFailure,
    LiveKitUnavailable,
    StoreUnavailable,
)
from context_bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from context_bot.metrics import Metrics
from context_bot.ratelimit import RateLimiter
from context_bot.tasks import spawn

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 16 * 1024
"""`POST /token` bodies; a request is a handful of short fields."""
MAX_WEBHOOK_BYTES = 128 * 1024
"""`POST /webhook` bodies: an event carries the room's metadata, up to LiveKit's 64 KB."""
CORS_MAX_AGE_S = 600
CORS_ALLOW_HEADERS = "Content-Type, Authorization, X-API-Key"


def _knowledge_unknown() -> bool:
    return False


@dataclass(frozen=True)
class TokenService:
    """What the endpoint needs from the process: settings, LiveKit, the bot's rooms."""

    settings: Settings
    admin: Admin | None
    rooms: RoomManager | None
    knowledge_loaded: Callable[[], bool] | None = _knowledge_unknown
    """For `/readyz`; the default says "not loaded" until the app says otherwise; None:
    this process serves no knowledge (the web role)."""
    ownership: OwnershipStore = field(default_factory=InMemoryOwnershipStore)
    """Room owners in authenticated mode; share one store between instances (issue 8)."""
    metrics: Metrics = field(default_factory=Metrics)
    """The process's metrics, served at `/metrics`."""
    send_bot: Callable[[str], Awaitable[object]] | None = None
    """How a room gets its bot: LiveKit's agent dispatch in worker mode; by default the
    bot in this process joins (`rooms.join`)."""
    mcp: McpService | None = None
    """The MCP server served at `/mcp`; None in a process that serves no knowledge."""

    async def bot_into(self, room: str) -> None:
        if self.send_bot is not None:
            await self.send_bot(room)
        elif self.rooms is not None:
            await self.rooms.join(room)
        else:
            raise RuntimeError("this process can neither dispatch nor join rooms")

    @property
    def can_send_bot(self) -> bool:
        return self.send_bot is not None or self.rooms is not None


@dataclass
class WebState:
    """Per-app state built from the settings once, at `create_app`."""

    auth: Authenticator
    ownership: RoomOwnership
    limiter: RateLimiter | None
    repos: tuple[str, ...]
    onboarding: re.Pattern[str] | None
    readiness: Readiness
    spec: dict[str, Any]
    reserved: frozenset[str] = frozenset()
    """Identities `/token` never hands out: the bot's (`tokens.reserved_identities`)."""
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    webhooks: ReplayGuard = field(default_factory=ReplayGuard)


SERVICE = web.AppKey("service", TokenService)
STATE = web.AppKey("state", WebState)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        log.info("http_refused", path=request.path, status=exc.status, code=exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "body_too_large", f"body over {_limit_of(request)} bytes")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, exc.reason, allow)
    except asyncio.CancelledError:
        if _peer_gone(request):
            log.info("client_gone", path=request.path, error="CancelledError")
        raise
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _peer_gone(request):
            # Also aiohttp's ClientConnectionResetError, a subclass: what reading the body
            # of a client that hung up raises. Ordinary traffic, nothing to fix.
            log.info("client_gone", path=request.path, error=exc.__class__.__name__)
            return error_response(400, "client_gone", "the client closed the connection")
        log.exception("http_crashed", path=request.path)
        return error_response(500, "internal_error", "the server failed; it has been logged")


def _peer_gone(request: web.Request) -> bool:
    """Whether the client closed its connection: then a reset or a cancellation is its
    doing, and one info line (no traceback) says so. A reset from a call of ours to
    another service, with the client still there, stays a crash."""
    transport = request.transport
    return transport is None or transport.is_closing()


def _limit_of(request: web.Request) -> int:
    return MAX_BODY_BYTES if request.path == "/token" else MAX_WEBHOOK_BYTES


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    """Browsers from `origins` may call us: preflights answered, errors readable."""

    def allowed(origin: str | None) -> bool:
        return origin is not None and ("*" in origins or origin in origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        if preflight and origin is not None:
            if not allowed(origin):
                return error_response(403, "cors_origin_denied", "this origin may not call here")
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = CORS_ALLOW_HEADERS
            response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        else:
            response = await handler(request)
        if allowed(origin):
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else str(origin)
            response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        if origins and "*" not in origins:
            response.headers.add("Vary", "Origin")  # caches must not hand one origin's answer on
        return response

    return middleware


async def _json_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"body over {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "bad_json", "body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "body must be a JSON object")
    return data


def _rate_limit(request: web.Request, state: WebState) -> None:
    if state.limiter is None:
        return
    decision = state.limiter.check(request.remote or "unknown")
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after_s))
        raise ApiError(
            429, "rate_limited", f"too many requests; retry in {wait}s", {"Retry-After": str(wait)}
        )


async def post_token(request: web.Request) -> web.Response:
    """Create the room if missing (owned by the caller), send the bot in, hand out a token."""
    service, state = request.app[SERVICE], request.app[STATE]
    _rate_limit(request, state)
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"body over {MAX_BODY_BYTES} bytes")
    tenant = state.auth.authenticate(
        request.headers.get("Authorization"), request.headers.get("X-API-Key")
    )
    asked = parse_token_request(await _json_body(request), state.repos, state.reserved)
    if service.admin is None or not service.can_send_bot:
        raise ApiError(500, "livekit_not_configured", _not_configured(service.settings))
    settings = service.settings
    with structlog.contextvars.bound_contextvars(room=asked.room_name):
        metadata = _metadata(settings, asked, tenant)
        await _ensure_room(service.admin, state, settings, asked, tenant, metadata)
        try:
            await service.bot_into(asked.room_name)
        except LiveKitUnavailable as exc:  # the dispatch call in worker mode
            raise ApiError(503, "livekit_unavailable", str(exc)) from None
        except Exception as exc:
            log.warning("bot_join_failed", error=exc.__class__.__name__)
            raise ApiError(
                503, "bot_join_failed", "the bot could not join the room; retry shortly"
            ) from None
        livekit = settings.livekit
        try:
            token = join_token(
                livekit,
                asked.room_name,
                asked.participant_identity,
                asked.participant_name,
                timedelta(seconds=settings.token_ttl_s),
                asked.participant_metadata,
                room_configuration(
                    metadata,
                    departure_timeout_s=settings.departure_timeout_s,
                    empty_timeout_s=settings.empty_timeout_s,
                    agent_name=settings.agent_name,
                ),
            )
        except Exception as exc:
            log.error("token_failed", error=exc.__class__.__name__)
            raise ApiError(500, "token_error", "the join token could not be made") from None
        service.metrics.tokens_issued.inc()
        log.info(
            "token_issued",
            participant=asked.participant_identity,
            tenant=tenant.id if tenant else None,
            named_by=asked.room_named_by,
        )
    return web.json_response(
        {
            "token": token,
            "room_name": asked.room_name,
            "participant_identity": asked.participant_identity,
            "livekit_url": livekit.url,
            "server_url": livekit.url,
            "participant_token": token,
            "bot_identity": settings.bot_identity,
        }
    )


def _metadata(settings: Settings, asked: TokenRequest, tenant: Tenant | None) -> dict[str, Any]:
    """What the room records: our key, the session, and in authenticated mode its owner."""
    metadata = room_metadata(settings.bot_identity, asked.repo)
    if asked.session_id is not None:
        metadata["context_bot"]["session_id"] = asked.session_id
    if tenant is not None:
        metadata["auth_id"] = tenant.id
    return metadata


async def _ensure_room(
    admin: Admin,
    state: WebState,
    settings: Settings,
    asked: TokenRequest,
    tenant: Tenant | None,
    metadata: dict[str, Any],
) -> None:
    """The room exists afterwards and, in authenticated mode, belongs to `tenant`."""

    async def create() -> str | None:
        info: RoomInfo = await admin.ensure_room(
            asked.room_name,
            metadata,
            departure_timeout_s=settings.departure_timeout_s,
            empty_timeout_s=settings.empty_timeout_s,
        )
        owner = info.metadata.get("auth_id")
        return owner if isinstance(owner, str) else None

    try:
        if tenant is None:
            await create()
            return
        verdict = await state.ownership.settle(asked.room_name, tenant.id, create)
    except LiveKitUnavailable as exc:
        raise ApiError(503, "livekit_unavailable", str(exc)) from None
    except StoreUnavailable as exc:
        raise ApiError(503, "ownership_store_unavailable", str(exc)) from None
    except LiveKitFailure as exc:
        raise ApiError(500, "livekit_error", str(exc)) from None
    if verdict.granted:
        return
    if verdict.owner is None:
        raise ApiError(
            403, "room_unowned", "this room has no owner on record; choose another room name"
        )
    raise ApiError(403, "room_owned_by_other_tenant", "this room belongs to another tenant")


def _not_configured(settings: Settings) -> str:
    try:
        settings.require_livekit()
    except ConfigError as exc:
        return str(exc)
    return "LiveKit is not configured"


async def post_webhook(request: web.Request) -> web.Response:
    """LiveKit's events: onboarding rooms get the bot on `room_started`; finished ones are
    forgotten. Each signed event is taken once and only while fresh (`webhooks.py`).
    Answers fast; joins and leaves run as owned background tasks."""
    service, state = request.app[SERVICE], request.app[STATE]
    authorization = request.headers.get("Authorization", "")
    raw = await request.read()
    if service.admin is None:
        raise ApiError(500, "livekit_not_configured", _not_configured(service.settings))
    if not authorization.strip():
        raise ApiError(401, "webhook_unsigned", "webhooks must carry LiveKit's Authorization")
    notice = verify_webhook(service.settings.livekit, raw, authorization)
    if notice is None:
        log.warning("webhook_rejected", remote=request.remote)
        raise ApiError(401, "webhook_invalid", "the webhook's signature does not verify")
    verdict = state.webhooks.admit(notice.event_id, notice.created_at)
    if verdict is Verdict.REPLAYED:
        log.warning("webhook_replayed", webhook_event=notice.event, room=notice.room)
        raise ApiError(409, "webhook_replayed", "this event was received before")
    if verdict is Verdict.STALE:
        log.warning("webhook_stale", webhook_event=notice.event, room=notice.room)
        raise ApiError(400, "webhook_stale", "the event is too old, or has no id or time")
    log.info("webhook_received", webhook_event=notice.event, room=notice.room)
    try:
        await _act_on(service, state, notice)
    except BaseException:
        state.webhooks.forget(notice.event_id)  # LiveKit retries what we fail to take
        raise
    return web.json_response({"received": notice.event})


async def _act_on(service: TokenService, state: WebState, notice: WebhookNotice) -> None:
    """What an admitted event changes; joins and leaves are spawned, LiveKit waits for us."""
    rooms, bot = service.rooms, service.settings.bot_identity
    if notice.event == "room_started" and service.can_send_bot and _is_onboarding(notice, state):
        spawn(_join_from_webhook(service, notice.room), f"webhook_join:{notice.room}", state.tasks)
    elif notice.event == "room_finished":
        owner = notice.room_metadata.get("auth_id")
        if isinstance(owner, str):
            try:
                await state.ownership.forget(notice.room, owner)
            except StoreUnavailable:
                # The record outlives the room until the next finished event or a restart;
                # LiveKit's metadata still decides for rooms older than the record.
                log.warning("ownership_release_failed", room=notice.room)
        if rooms is not None and rooms.session(notice.room) is not None:
            # Only if it is the instance the bot is in: the name may be in use again.
            leaving = rooms.finished(notice.room, notice.room_sid)
            spawn(leaving, f"webhook_leave:{notice.room}", state.tasks)
        log.info("room_forgotten", room=notice.room, owner=owner)
    elif notice.event == "participant_joined" and notice.participant_identity == bot:
        log.debug("webhook_ignored", room=notice.room, reason="bot_itself")


def _is_onboarding(notice: WebhookNotice, state: WebState) -> bool:
    """Rooms this service created (our metadata key), or matching the operator's pattern."""
    if created_by_us(notice.room_metadata):
        return True
    return state.onboarding is not None and state.onboarding.fullmatch(notice.room) is not None


async def _join_from_webhook(service: TokenService, room: str) -> None:
    try:
        await service.bot_into(room)
    except Exception as exc:
        log.warning("webhook_join_failed", room=room, error=exc.__class__.__name__)
        return
    log.info("bot_sent_by_webhook", room=room)


async def get_healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    rooms = service.rooms.active_rooms if service.rooms else []
    return web.json_response({"status": "ok", "active_rooms": len(rooms)})


async def get_readyz(request: web.Request) -> web.Response:
    answer = await request.app[STATE].readiness.check()
    return web.json_response(answer, status=200 if answer["status"] == "ready" else 503)


async def get_metrics(request: web.Request) -> web.Response:
    body = request.app[SERVICE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].spec)


async def _background_tasks(app: web.Application) -> AsyncIterator[None]:
    yield
    tasks = app[STATE].tasks
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def create_app(service: TokenService) -> web.Application:
    """The aiohttp app; raises `ConfigError` for settings that cannot work together."""
    settings, admin = service.settings, service.admin
    repos = (settings.repo.resolve().name,)
    per_s = settings.rate_limit_per_min / 60
    state = WebState(
        auth=Authenticator.from_settings(settings),
        ownership=RoomOwnership(service.ownership),
        limiter=RateLimiter(per_s, settings.rate_limit_burst) if per_s > 0 else None,
        repos=repos,
        onboarding=re.compile(settings.onboarding_pattern) if settings.onboarding_pattern else None,
        readiness=Readiness(
            (lambda: admin.list_rooms(["readyz-probe"])) if admin is not None else None,
            service.knowledge_loaded,
        ),
        spec=build_spec(list(repos), auth_required=settings.auth_required),
        reserved=reserved_identities(settings.bot_identity),
    )
    app = web.Application(
        middlewares=[cors_middleware(settings.cors_origins), errors_middleware],
        client_max_size=MAX_WEBHOOK_BYTES,
    )
    app[SERVICE] = service
    app[STATE] = state
    app.cleanup_ctx.append(_background_tasks)
    app.router.add_post("/token", post_token)
    app.router.add_post("/webhook", post_webhook)
    app.router.add_get("/healthz", get_healthz)
    app.router.add_get("/readyz", get_readyz)
    app.router.add_get("/openapi.json", get_openapi)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_route("*", MCP_PATH, _mcp_route(service, state))
    add_page_routes(app)
    return app


def _mcp_route(
    service: TokenService, state: WebState
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`/mcp`: the MCP server behind its guard; in a process that serves no knowledge (the
    web role), 503 `mcp_not_served` naming where it is served instead."""
    if service.mcp is None:

        async def not_served(request: web.Request) -> web.StreamResponse:
            raise ApiError(
                503,
                "mcp_not_served",
                "this process serves no knowledge (web role); use /mcp on a process with "
                "bot.role all",
            )

        return not_served
    settings = service.settings
    per_s = settings.rate_limit_per_min / 60

    def participant(token: str) -> Tenant | None:
        found = verify_participant_token(settings.livekit, token)
        return Tenant(found.identity, "participant_token") if found is not None else None

    guard = McpGuard(
        service.mcp.app,
        state.auth,
        participant,
        settings.cors_origins,
        # Its own buckets at the same rate: MCP traffic never uses up a client's `/token`s.
        RateLimiter(per_s, settings.rate_limit_burst) if per_s > 0 else None,
        loopback=settings.host in LOOPBACK_NAMES,
    )
    return asgi_handler(guard)

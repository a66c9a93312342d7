"""The HTTP endpoint described in OpenAPI 3.1, served at `GET /openapi.json`.

A plain dict built from the same constants `tokens.py` validates with, so the limits a
client reads are the limits the server applies; `tests/unit/test_openapi.py` compares its
paths and methods with the app's router, and a schemathesis run against the live app
checks the rest. `build_spec` takes what differs per deployment: the repositories served
(`repo` is an enum of them) and whether authentication is required.
"""

from __future__ import annotations

from typing import Any

from context_bot import __version__
from context_bot.endpoint.token_request import (
    MAX_DISPLAY_NAME,
    MAX_NAME,
    MAX_PARTICIPANT_METADATA,
    MAX_SESSION_ID,
    NAME_CHARS,
)

JSON = "application/json"
WEBHOOK_MEDIA_TYPE = "application/webhook+json"
"""The content type LiveKit's webhook notifier sends."""
NO_CONTROL_CHARS = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
MCP_NOTE = (
    "Join tokens for onboarding rooms, LiveKit webhooks, health. The same port serves the "
    "Model Context Protocol at `/mcp` (Streamable HTTP: POST, GET, DELETE; protocol versions "
    "2025-11-25 and 2026-07-28), which MCP itself describes and is not listed under `paths`: "
    "its tools and resources are in `tools/list` and `resources/templates/list`."
)
"""`/mcp` is a protocol of its own, as the room protocol is (PROTOCOL.md): its bodies are
JSON-RPC messages whose shapes the MCP schema defines, not operations of this document."""


def _name(description: str, limit: int = MAX_NAME) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": f"^[{NAME_CHARS}]{{1,{limit}}}$",
        "minLength": 1,
        "maxLength": limit,
        "description": description,
    }


def _error(description: str, codes: list[str], headers: dict[str, Any] | None = None) -> Any:
    response: dict[str, Any] = {
        "description": f"{description} Codes: {', '.join(codes)}.",
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


TOKEN_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["participant_identity", "participant_name"],
    "properties": {
        "room_name": _name(
            "The room to join. Omitted: `session-<session_id>` with a session id, "
            "else a new `onboarding-<yyyymmdd>-<12 hex>`."
        ),
        "participant_identity": _name(
            "The participant's unique identity in the room; never the bot's (403 "
            "`reserved_identity`)."
        ),
        "participant_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_DISPLAY_NAME,
            "pattern": NO_CONTROL_CHARS,
            "description": "Display name; any characters but control characters.",
        },
        "participant_metadata": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PARTICIPANT_METADATA,
            "pattern": NO_CONTROL_CHARS,
            "description": "Put in the token; other participants see it.",
        },
        "session_id": _name("Names the room when `room_name` is omitted.", MAX_SESSION_ID),
    },
}

TOKEN_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": [
        "token",
        "room_name",
        "participant_identity",
        "livekit_url",
        "server_url",
        "participant_token",
        "bot_identity",
    ],
    "properties": {
        "token": {"type": "string", "description": "LiveKit join token (JWT)."},
        "room_name": {"type": "string"},
        "participant_identity": {"type": "string"},
        "livekit_url": {"type": "string"},
        "server_url": {"type": "string", "description": "LiveKit's name for `livekit_url`."},
        "participant_token": {"type": "string", "description": "LiveKit's name for `token`."},
        "bot_identity": {"type": "string", "description": "Address requests to the bot here."},
    },
}

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

READINESS: dict[str, Any] = {
    "type": "object",
    "required": ["status", "livekit", "knowledge"],
    "properties": {
        "status": {"enum": ["ready", "not_ready"]},
        "livekit": {"enum": ["ok", "unreachable", "not_configured"]},
        "knowledge": {"enum": ["loaded", "not_loaded", "not_served"]},
    },
}

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the client's next request is accepted.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}


PAGE_ASSETS = ("app.css", "app.js", "licenses.txt")
"""The developer page's files at `GET /page/{asset}`, built from `web/` (`page.py`)."""

PAGE_PATHS: dict[str, Any] = {
    "/": {
        "get": {
            "operationId": "page",
            "summary": "The developer page: join a room and browse the bot's knowledge.",
            "responses": {
                "200": {"description": "HTML.", "content": {"text/html": {"schema": {}}}},
                "304": {"description": "Not modified: `If-None-Match` named the ETag."},
            },
        }
    },
    "/page/{asset}": {
        "get": {
            "operationId": "pageAsset",
            "summary": "The page's script, style sheet and bundled licenses.",
            "parameters": [
                {
                    "name": "asset",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": list(PAGE_ASSETS)},
                }
            ],
            "responses": {
                "200": {
                    "description": "The file; cached for a year under `?v=<its hash>`.",
                    "content": {
                        media: {"schema": {}}
                        for media in ("text/javascript", "text/css", "text/plain")
                    },
                },
                "304": {"description": "Not modified: `If-None-Match` named the ETag."},
                "404": _error("No such asset.", ["not_found"]),
            },
        }
    },
}


def _token_operation(repos: list[str], auth_required: bool) -> dict[str, Any]:
    request = {**TOKEN_REQUEST, "properties": dict(TOKEN_REQUEST["properties"])}
    request["properties"]["repo"] = {
        "enum": repos,
        "description": "Which repository's knowledge the room serves; default the first.",
    }
    operation: dict[str, Any] = {
        "operationId": "createToken",
        "summary": "A join token for one room; creates the room and sends the bot in.",
        "requestBody": {"required": True, "content": {JSON: {"schema": request}}},
        "responses": {
            "200": {
                "description": "The token and where to use it.",
                "content": {JSON: {"schema": {"$ref": "#/components/schemas/TokenResponse"}}},
            },
            "400": _error(
                "Malformed JSON, a missing, empty, unknown or invalid field.",
                ["bad_json", "missing_field", "invalid_field", "unknown_field", "unknown_repo"],
            ),
            "401": _error("Missing or bad credentials.", ["auth_required", "invalid_credentials"]),
            "403": _error(
                "The room belongs to another tenant, or to none; or the identity is the bot's.",
                ["room_owned_by_other_tenant", "room_unowned", "reserved_identity"],
            ),
            "413": _error("The body is larger than 16 KiB.", ["body_too_large"]),
            "429": _error("Too many requests from this client.", ["rate_limited"], RETRY_AFTER),
            "500": _error(
                "LiveKit is not configured, refused the call, or the token failed.",
                ["livekit_not_configured", "livekit_error", "token_error", "internal_error"],
            ),
            "503": _error(
                "LiveKit cannot be reached, or the bot could not join.",
                ["livekit_unavailable", "bot_join_failed", "ownership_store_unavailable"],
            ),
        },
    }
    if auth_required:
        operation["security"] = [{"bearer": []}, {"apiKey": []}]
    return operation


WEBHOOK_OPERATION: dict[str, Any] = {
    "operationId": "receiveWebhook",
    "summary": "LiveKit's webhook events, signed with the API key this service uses.",
    "parameters": [
        {
            "name": "Authorization",
            "in": "header",
            "required": True,
            "description": "LiveKit's JWT over the body's SHA-256.",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            WEBHOOK_MEDIA_TYPE: {"schema": {"type": "object"}},
            JSON: {"schema": {"type": "object"}},
        },
    },
    "responses": {
        "200": {
            "description": "Received and acted on.",
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["received"],
                        "properties": {"received": {"type": "string"}},
                    }
                }
            },
        },
        "400": _error(
            "Signed, but older than 10 minutes or without LiveKit's event id or time.",
            ["webhook_stale"],
        ),
        "401": _error(
            "Unsigned, or not signed by our key.", ["webhook_unsigned", "webhook_invalid"]
        ),
        "409": _error("This signed event was received before.", ["webhook_replayed"]),
        "413": _error("The body is larger than 128 KiB.", ["body_too_large"]),
        "500": _error("LiveKit is not configured here.", ["livekit_not_configured"]),
    },
}


def build_spec(repos: list[str], *, auth_required: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this deployment."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "context-bot",
            "version": __version__,
            "description": MCP_NOTE,
        },
        "paths": {
            "/token": {"post": _token_operation(repos, auth_required)},
            **PAGE_PATHS,
            "/webhook": {"post": WEBHOOK_OPERATION},
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is up.",
                    "responses": {
                        "200": {
                            "description": "Up.",
                            "content": {
                                JSON: {
                                    "schema": {
                                        "type": "object",
                                        "required": ["status", "active_rooms"],
                                        "properties": {
                                            "status": {"const": "ok"},
                                            "active_rooms": {"type": "integer", "minimum": 0},
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Counters, gauges and histograms in Prometheus's text format.",
                    "responses": {
                        "200": {
                            "description": "The metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "ready",
                    "summary": "LiveKit is reachable and the knowledge is loaded.",
                    "responses": {
                        "200": {"description": "Ready.", "content": _readiness()},
                        "503": {"description": "Not ready.", "content": _readiness()},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1.",
                            "content": {JSON: {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {"TokenResponse": TOKEN_RESPONSE, "Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _readiness() -> dict[str, Any]:
    return {JSON: {"schema": READINESS}}

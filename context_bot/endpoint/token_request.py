"""What `POST /token` accepts, and how rooms are named when the caller names none.

Pure: neither `aiohttp` nor `livekit` is imported, so the rules are tested directly and
`openapi.py` can state the same limits. The limits are those LiveKit accepts (its server
allows 256-character room names and identities and 64 KB of metadata; we ask for less, so
a name also survives a URL and a log line unescaped) and those a 16 KiB body can carry.

Room naming, when `room_name` is absent (documented in the README):

- with `session_id`: ``session-<session_id>`` (so every call for one session lands in one
  room; pick session ids that are unique, a UUID for instance);
- with neither: ``onboarding-<yyyymmdd>-<12 hex digits>`` from 48 random bits (UTC date).
  The prefix lets an operator's `rooms.onboarding_pattern` match these rooms too.

Reserved identities: nobody gets a token under an identity the bot uses (the bot's own,
which is also the only one a dispatch worker answers its job offers with). LiveKit lets one
connection per identity into a room, so such a token would put the bot out of the room
(DUPLICATE_IDENTITY). The comparison is exact, as LiveKit's is: `Context-Bot` or
`context-bot-2` is another participant, which cannot displace the bot, and clients never
trust a sender by its name (they trust only the hidden bot's blank sender; PROTOCOL.md),
so reserving look-alikes would refuse people without protecting anything.

Every refusal is an `ApiError` with an HTTP status and a stable snake_case code; `web.py`
turns it into `{"error": {"code", "message"}}`. Messages name the field and the rule, never
a secret.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from context_bot.errors import ApiError

NAME_CHARS = "A-Za-z0-9_.:@=+\\-"
MAX_NAME = 128
NAME_PATTERN = re.compile(f"[{NAME_CHARS}]{{1,{MAX_NAME}}}")
"""Room names, identities, session ids: what LiveKit accepts and a URL carries unescaped."""
NAME_RULE = f"1-{MAX_NAME} of A-Z a-z 0-9 _ . : @ = + -"
MAX_DISPLAY_NAME = 128
"""Characters in `participant_name`: any but control characters (C0, DEL, C1)."""
CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f]")
MAX_PARTICIPANT_METADATA = 1024
"""Characters in `participant_metadata`; a body within 16 KiB can always carry this many,
even when every character is escaped in the JSON."""
SESSION_PREFIX = "session-"
GENERATED_PREFIX = "onboarding-"
MAX_SESSION_ID = MAX_NAME - len(SESSION_PREFIX)
SESSION_PATTERN = re.compile(f"[{NAME_CHARS}]{{1,{MAX_SESSION_ID}}}")
RANDOM_BYTES = 6

FIELDS = (
    "room_name",
    "participant_name",
    "participant_identity",
    "participant_metadata",
    "session_id",
    "repo",
)
"""Every field a request may carry; any other is refused, not silently dropped."""


@dataclass(frozen=True)
class TokenRequest:
    """A valid request, with the room name settled (asked, from the session, or generated)."""

    room_name: str
    participant_identity: str
    participant_name: str
    participant_metadata: str
    repo: str
    session_id: str | None
    room_named_by: str
    """`request`, `session` or `generated`: logged, and useful to tests."""


def parse_token_request(
    data: dict[str, Any], repos: tuple[str, ...], reserved: frozenset[str] = frozenset()
) -> TokenRequest:
    """Validate the JSON object of a request; `repos` are the repositories served,
    `reserved` the identities nobody may ask for (`reserved_identities`)."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiError(
            400, "unknown_field", f"unknown field `{unknown[0]}`; accepted: {', '.join(FIELDS)}"
        )
    identity = _name(data, "participant_identity", required=True)
    assert identity is not None
    if identity in reserved:
        raise ApiError(
            403,
            "reserved_identity",
            "`participant_identity` is reserved for the bot; choose another",
        )
    display = _display_name(data)
    metadata = _optional_text(data, "participant_metadata", MAX_PARTICIPANT_METADATA) or ""
    session_id = _optional_session(data)
    repo = _repo(data, repos)
    room = _name(data, "room_name", required=False)
    if room is not None:
        named_by = "request"
    elif session_id is not None:
        room, named_by = room_for_session(session_id), "session"
    else:
        room, named_by = generated_room_name(), "generated"
    return TokenRequest(room, identity, display, metadata, repo, session_id, named_by)


def reserved_identities(bot_identity: str) -> frozenset[str]:
    """The identities the bot connects under, in every mode: its own (a worker accepts job
    offers with it too; `worker.py`). One place, so `/token` refuses them all."""
    return frozenset({bot_identity})


def room_for_session(session_id: str) -> str:
    """The room of a session: every caller with the same `session_id` gets the same room."""
    return f"{SESSION_PREFIX}{session_id}"


def generated_room_name(now: datetime | None = None) -> str:
    """A fresh, unique room name: ``onboarding-<yyyymmdd>-<12 hex>``."""
    day = (now or datetime.now(UTC)).strftime("%Y%m%d")
    return f"{GENERATED_PREFIX}{day}-{secrets.token_hex(RANDOM_BYTES)}"


def _present(data: dict[str, Any], name: str) -> Any:
    """The field's string, or None when absent; `null` is not a way to omit it."""
    if name not in data:
        return None
    value = data[name]
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"`{name}` must be a string")
    if value == "":
        raise ApiError(400, "missing_field", f"`{name}` must not be empty (omit it instead)")
    return value


def _name(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    if required and data.get(name) in (None, ""):
        raise ApiError(400, "missing_field", f"`{name}` is required and must not be empty")
    value = _present(data, name)
    if value is not None and not NAME_PATTERN.fullmatch(value):
        raise ApiError(400, "invalid_field", f"`{name}` must be {NAME_RULE}")
    return value  # type: ignore[no-any-return]


def _display_name(data: dict[str, Any]) -> str:
    name = "participant_name"
    if data.get(name) in (None, ""):
        raise ApiError(400, "missing_field", f"`{name}` is required and must not be empty")
    value: str = _present(data, name)
    _check_text(name, value, MAX_DISPLAY_NAME)
    return value


def _optional_text(data: dict[str, Any], name: str, limit: int) -> str | None:
    value: str | None = _present(data, name)
    if value is not None:
        _check_text(name, value, limit)
    return value


def _check_text(name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ApiError(400, "invalid_field", f"`{name}` must be at most {limit} characters")
    if CONTROL_CHARS.search(value):
        raise ApiError(400, "invalid_field", f"`{name}` must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_field", f"`{name}` must be valid Unicode text") from None


def _optional_session(data: dict[str, Any]) -> str | None:
    value: str | None = _present(data, "session_id")
    if value is not None and not SESSION_PATTERN.fullmatch(value):
        raise ApiError(
            400,
            "invalid_field",
            f"`session_id` must be 1-{MAX_SESSION_ID} of A-Z a-z 0-9 _ . : @ = + -",
        )
    return value


def _repo(data: dict[str, Any], repos: tuple[str, ...]) -> str:
    value: str | None = _present(data, "repo")
    if value is None:
        return repos[0]
    if value not in repos:
        raise ApiError(
            400,
            "unknown_repo",
            f"`repo` must be one of the repositories served: {', '.join(repos)}",
        )
    return value

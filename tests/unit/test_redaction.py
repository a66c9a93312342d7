"""What looks like a secret: one rule for log records and for drafted outlines."""

from __future__ import annotations

import pytest

from context_bot.knowledge.redaction import (
    REDACTED,
    SECRET_NAME,
    redact_assignment,
    redact_tokens,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("name", "kind", "signature", "shown"),
    [
        ("API_KEY", "constant", 'API_KEY = "sk-live-123"', "API_KEY = …"),
        ("apiKey", "variable", 'const apiKey = "abc"', "const apiKey = …"),
        ("db_password", "field", 'db_password: str = "hunter2"', "db_password: str = …"),
        ("LIVEKIT_API_SECRET", "constant", 'LIVEKIT_API_SECRET = "s"', "LIVEKIT_API_SECRET = …"),
        ("MAX_TOKENS", "constant", "MAX_TOKENS = 512", "MAX_TOKENS = …"),  # by name: cautious
        ("TIMEOUT_S", "constant", "TIMEOUT_S = 5.0", "TIMEOUT_S = 5.0"),
        ("get_token", "function", "def get_token(timeout=5)", "def get_token(timeout=5)"),
        ("HEADER", "constant", f'HEADER = "Bearer {TOKEN}"', f'HEADER = "Bearer {REDACTED}"'),
        ("SECRET_NAME", "type", "type SECRET_NAME", "type SECRET_NAME"),  # no value to hide
    ],
)
def test_a_secret_looking_value_never_reaches_an_outline(
    name: str, kind: str, signature: str, shown: str
) -> None:
    assert redact_assignment(name, kind, signature) == shown


def test_token_shaped_runs_are_redacted_anywhere_in_text() -> None:
    assert redact_tokens(f"sent {TOKEN} to ada") == f"sent {REDACTED} to ada"
    assert redact_tokens("eyJ.not.a-token") == "eyJ.not.a-token"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("JWT_KEY", True),
        ("signing_key", True),
        ("apiKey", True),
        ("privateKeyPem", True),
        ("LIVEKIT_API_SECRET", True),
        ("db_password", True),
        ("Authorization", True),
        ("keyboard", False),
        ("monkey", False),
        ("hotkeys", False),
        ("KeyError", False),
        ("TIMEOUT_S", False),
    ],
)
def test_names_that_say_they_hold_a_secret(name: str, secret: bool) -> None:
    assert bool(SECRET_NAME.search(name)) is secret

"""How `Admin` sorts LiveKit's refusals: what a caller may retry and what it may not."""

from __future__ import annotations

import pytest
from livekit import api

from context_bot.admin import NO_AVAILABLE_NODES, Admin
from context_bot.config import LiveKitSettings
from context_bot.errors import LiveKitFailure, LiveKitUnavailable

LIVEKIT = LiveKitSettings("ws://fake", "devkey", "a-secret-long-enough-for-hs256-signing")


async def refused(message: str, code: str = "unknown") -> None:
    raise api.TwirpError(code, message, status=500)


async def test_no_available_nodes_is_unavailable_not_a_refusal() -> None:
    with pytest.raises(LiveKitUnavailable) as caught:
        await Admin(LIVEKIT)._call(refused(NO_AVAILABLE_NODES))
    assert "retry shortly" in str(caught.value)


@pytest.mark.parametrize(
    ("message", "code"),
    [("room name too long", "invalid_argument"), ("could not find any nodes", "unknown")],
)
async def test_other_refusals_stay_failures_with_livekits_words(message: str, code: str) -> None:
    with pytest.raises(LiveKitFailure) as caught:
        await Admin(LIVEKIT)._call(refused(message, code))
    assert str(caught.value) == f"LiveKit refused the call: {code}: {message}"
    assert LIVEKIT.api_secret not in str(caught.value)

"""What `ContextBotApp.serve` sets for the process it runs (the parts that are not rooms)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from context_bot.app import SWITCH_INTERVAL_S, ContextBotApp
from context_bot.config import LiveKitSettings, Settings


def test_serving_lowers_the_gil_switch_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests in worker threads beside background work (a reload, a snapshot kept)
    wait for the GIL after each SQLite or RE2 call: the server shortens that wait."""
    app = ContextBotApp(
        Settings(
            livekit=LiveKitSettings("ws://127.0.0.1:1", "key", "secret"), port=0, repo=tmp_path
        ),
        handle_signals=False,
    )
    seen: list[float] = []

    async def nothing() -> None:
        seen.append(sys.getswitchinterval())

    for step in ("startup", "wait", "shutdown"):
        monkeypatch.setattr(app, step, nothing)
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        asyncio.run(app.serve())
    finally:
        sys.setswitchinterval(before)
    assert seen == [SWITCH_INTERVAL_S] * 3

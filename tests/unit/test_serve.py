"""What `ContextBotApp.serve` sets for the process it runs (the parts that are not rooms)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import structlog.testing

from context_bot.app import SWITCH_INTERVAL_S, ContextBotApp
from context_bot.config import LiveKitSettings, Settings
from context_bot.knowledge.pagecache import SKIPPED_HELD, SKIPPED_MEMORY, WarmPass


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


def test_the_page_cache_keeper_is_counted_each_pass_and_logged_when_its_result_changes(
    tmp_path: Path,
) -> None:
    """Every 30 s a pass: the metrics count each, the log says only what changed (the
    first pass, a skip and its reason, a pass again after skips)."""
    app = ContextBotApp(
        Settings(
            livekit=LiveKitSettings("ws://127.0.0.1:1", "key", "secret"), port=0, repo=tmp_path
        ),
        handle_signals=False,
    )
    done = WarmPass(3, 5000, 0.5, 0.01)
    held = WarmPass(3, 0, 0.0, 0.0, SKIPPED_HELD, "another process keeps them warm")
    memory = WarmPass(3, 0, 0.0, 0.0, SKIPPED_MEMORY, "index 9 MB, more than 50% of 8 MB")
    with structlog.testing.capture_logs() as logs:
        for one in (done, done, held, held, memory, memory, done):
            app._index_warmed(one)
    said = [(entry["event"], entry.get("reason")) for entry in logs]
    assert said == [
        ("index_warm", None),
        ("index_warm_skipped", "held"),
        ("index_warm_skipped", "memory"),
        ("index_warm", None),
    ]
    assert logs[0]["mb"] == 0 and logs[0]["files"] == 3
    text = app.metrics.render().decode()
    assert 'context_bot_index_warm_passes_total{result="done"} 3.0' in text
    assert 'context_bot_index_warm_passes_total{result="skipped"} 4.0' in text
    assert "context_bot_index_warm_bytes_total 15000.0" in text

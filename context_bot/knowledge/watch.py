"""Live reload: watch the knowledge folder and the repository, reload on a change.

The watching is `watchfiles` (kernel notifications through Rust's `notify`, with its own
debounce): a burst of changes, such as a `git checkout`, becomes one reload. The reload
runs `load_knowledge` in a thread; if it fails, the last good snapshot keeps serving and
the reason is logged. Only a new knowledge *version* is announced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
import watchfiles

from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.loading import Knowledge

log = structlog.get_logger(__name__)

DEBOUNCE_MS = 300
"""Changes closer together than this become one reload."""
IGNORED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "build",
        "dist",
    }
)

Loader = Callable[[], Knowledge]
OnChange = Callable[[Knowledge, dict[str, object]], Awaitable[None]]


def _relevant(change: watchfiles.Change, path: str) -> bool:
    del change
    return not any(part in IGNORED_DIRS or part.startswith(".venv") for part in Path(path).parts)


async def reload_once(
    current: Knowledge, load: Loader
) -> tuple[Knowledge, dict[str, object] | None]:
    """Load again; return the snapshot to serve and the change, if the version moved."""
    try:
        fresh = await asyncio.to_thread(load)
    except Exception as exc:
        log.error("knowledge_reload_failed", error=exc.__class__.__name__, reason=str(exc))
        return current, None
    if fresh.version == current.version:
        return current, None
    return fresh, knowledge_change(current, fresh)


async def watch_knowledge(
    paths: list[Path],
    current: Callable[[], Knowledge],
    load: Loader,
    on_change: OnChange,
    *,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until cancelled (or `stop` is set): reload after every burst of changes."""
    watched = [p for p in paths if p.exists()]
    async for changes in watchfiles.awatch(
        *watched,
        watch_filter=_relevant,
        debounce=DEBOUNCE_MS,
        stop_event=stop,
        recursive=True,
    ):
        fresh, change = await reload_once(current(), load)
        log.info("knowledge_files_changed", files=len(changes), new_version=change is not None)
        if change is not None:
            await on_change(fresh, change)

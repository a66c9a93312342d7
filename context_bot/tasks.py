"""Background tasks with an owner: every task named, kept, and its failure logged.

asyncio keeps only weak references to tasks, and an exception in a task nobody awaits
is reported late or never. `spawn` keeps the task in its owner's set until it ends and
logs any exception with the task's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


def log_failure(task: asyncio.Task[Any]) -> None:
    """A done-callback: log the task's exception, if it ended with one."""
    if not task.cancelled() and task.exception() is not None:
        log.error("task_failed", task=task.get_name(), exc_info=task.exception())


def spawn(
    coro: Coroutine[Any, Any, T], name: str, keep: set[asyncio.Task[Any]] | None = None
) -> asyncio.Task[T]:
    task = asyncio.create_task(coro, name=name)
    if keep is not None:
        keep.add(task)
        task.add_done_callback(keep.discard)
    task.add_done_callback(log_failure)
    return task

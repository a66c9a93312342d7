"""Where one request's time goes, phase by phase, for the log line that reports it.

A request's latency is a sum of steps on different threads: read from the room, admitted,
waiting for its sender's turn, handed to a worker thread, computed, handed back, encoded,
sent. A total says a request was slow; only the steps say why (issue 19: a retrieval's
tail that the in-process figure did not show). So the bot opens a `Phases` per request
and each step marks its end; the marks are summed per name and logged with the request
(`request_served`, in milliseconds).

The current request's `Phases` lives in a context variable, so code far below (the
knowledge core, in a worker thread: `asyncio.to_thread` copies the context) marks its
steps without any parameter passed down; with no request under way, `mark` does nothing.
Standard library only, and a mark costs a `perf_counter` call and a dict update.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_current: contextvars.ContextVar[Phases | None] = contextvars.ContextVar(
    "context_bot_phases", default=None
)


class Phases:
    """Time spent per named step since the last mark; steps run one after another (a
    request's steps never overlap: the event loop waits while its thread works)."""

    def __init__(self, since: float | None = None) -> None:
        """`since`: when the first step began (`perf_counter`), if before now."""
        self._last = time.perf_counter() if since is None else since
        self.spans: dict[str, float] = {}
        """Seconds per step, summed when a name is marked more than once."""

    def mark(self, name: str) -> None:
        """The step `name` ended now: it took the time since the previous mark."""
        now = time.perf_counter()
        self.spans[name] = self.spans.get(name, 0.0) + now - self._last
        self._last = now

    def skip(self) -> None:
        """Time since the previous mark belongs to no step (it is not counted)."""
        self._last = time.perf_counter()

    def milliseconds(self) -> dict[str, float]:
        """The steps in milliseconds, rounded to 0.01 ms, in the order first marked."""
        return {name: round(s * 1000, 2) for name, s in self.spans.items()}


@contextmanager
def measuring(since: float | None = None) -> Iterator[Phases]:
    """A `Phases` (its first step from `since`, else now) that `mark` reaches from here
    on, in this context and the threads and tasks it starts; restored on exit."""
    phases = Phases(since)
    token = _current.set(phases)
    try:
        yield phases
    finally:
        _current.reset(token)


def mark(name: str) -> None:
    """Mark the end of step `name` of the request under way, if one is being measured."""
    phases = _current.get()
    if phases is not None:
        phases.mark(name)


def skip() -> None:
    """Leave the time since the last mark out of the request under way's steps."""
    phases = _current.get()
    if phases is not None:
        phases.skip()

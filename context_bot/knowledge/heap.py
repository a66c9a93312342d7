"""Giving the C heap's free memory back to the system after a load.

A load makes and drops far more than it keeps: at 100k files a first index passes
gigabytes of text and millions of small objects through the process. Python returns its
own empty arenas, but glibc's `malloc` keeps the freed small blocks of its heaps for
later, so the serving process stayed tens of MB above what its snapshot holds. Measured
at 100k files (2026-11-27, benchmarks/RESULTS-index.md): a restart's VmRSS 404 MB, 369 MB
after `malloc_trim(0)`, which took 5 ms.

`malloc_trim` takes each arena's lock while it walks it, so a thread allocating meanwhile
(the event loop) can wait that long: a few milliseconds, once per load. On a C library
without it (musl, macOS) this does nothing.

A server process also keeps one heap for all its threads (`one_heap`): glibc gives each
thread that allocates at once with another a heap of its own (up to eight per core), and
what a worker thread frees in its heap stays there, out of `malloc_trim`'s reach. At
100k files (2026-11-28, benchmarks/RESULTS-index.md) the watcher's check of what changed
since the snapshot, run in its thread, left the process 27-38 MB larger for good; with
one heap a restart served from 308-310 MB where 357-367, and the scale bench's serving
memory was 395-396 MB where 450-493, its queries as fast.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable

M_ARENA_MAX = -8
"""glibc's `mallopt` parameter: how many heaps ("arenas") threads may spread over."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = _libc().malloc_trim  # type: ignore[union-attr]
    except AttributeError:  # no C library found, or one without it
        return None
    return trim


def one_heap() -> bool:
    """Keep every thread's allocations in one heap (`mallopt(M_ARENA_MAX, 1)`), so that
    `give_back_free_heap` reaches all that is freed; whether the C library could. Call it
    first thing in a long-running process: glibc fixes its limit when a second thread
    first allocates (numpy's import starts its BLAS's threads), and later calls change
    nothing (measured: a restart at 357 MB with it called after the imports, 308 MB
    before them). Threads then share one lock for the allocations Python's own allocator and
    glibc's per-thread cache do not serve, which the GIL mostly serializes anyway."""
    try:
        mallopt: Callable[[int, int], int] = _libc().mallopt  # type: ignore[union-attr]
    except AttributeError:
        return False
    return bool(mallopt(M_ARENA_MAX, 1))


def give_back_free_heap() -> bool:
    """Return the C heap's free pages to the system; whether the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

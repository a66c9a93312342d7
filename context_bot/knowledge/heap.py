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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def give_back_free_heap() -> bool:
    """Return the C heap's free pages to the system; whether the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

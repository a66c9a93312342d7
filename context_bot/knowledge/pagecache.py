"""Keeping the index's pages in the page cache, so the first search after idle minutes
costs what the next one does.

Why: `grep` and `search` read an index of gigabytes at 100k files (`store.py`) through
the kernel's page cache, a few MB per search from wherever its terms' spans and its
candidates' texts lie. Linux keeps cached pages until memory runs short, but more and
more hosts reclaim pages left idle for a minute or two whatever the free memory (DAMON's
`pageout` schemes and `DAMON_RECLAIM`, `memory.reclaim` driven from user space). The
machine the benchmarks ran on pages out unmapped file pages idle for 60 s: a search asked
after idle minutes read its pages from the disk, literal p95 31-45 ms and regex p95
74 ms where 13-16 and 47-51 warm (benchmarks/RESULTS-index.md).

How: a daemon thread reads every database of the repository's index folder
(`index.sqlite3`, its WAL, the symbol table) from start to end every `period` seconds,
so no page of it is ever idle that long. Read by `sendfile` to `/dev/null`: the kernel
takes each page of the file (from the disk if it must) and marks it used, but copies
nothing (the 5.9 GB of the 100k index in 0.17-0.25 s of one core when cached; `preadv`
into a buffer took 0.9 s, and its copies slowed the searches beside it by 5%). Where
`sendfile` will not write to `/dev/null` (not Linux), `preadv` into one buffer. A pass
is spread over most of the period, not a burst. Skipped while the files outgrow
MEMORY_SHARE of the memory the process may use (MemAvailable, and the cgroup's limit),
where keeping them would only push other pages out. A read, not
`posix_fadvise(WILLNEED)` (read-ahead passes over pages already cached without marking
them used) nor a mapping (mapped pages would count in the serving process's resident
memory). The restart snapshot is left out: it is read once, at a restart. Several
processes serving one repository on one machine (workers) share the page cache: one of
them reads (an advisory lock on `keep-warm.lock` in the folder), the others skip until
it stops.

The cost is the page cache the index holds (its size on disk) and the thread's CPU; an
operator short of memory turns it off (`knowledge.keep_warm` / `CONTEXT_BOT_KEEP_WARM`
0, README "Operating it").
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

READ_BYTES = 16 << 20
"""One read's size: large enough that the system call is nothing beside the work, small
enough that pacing between reads is fine-grained (16 MiB: 0.3 ms cached, 10 ms from the
disk)."""
COPY_BYTES = 1 << 20
"""One read's size where the pages are copied (`preadv`, no `sendfile`)."""
SPREAD = 0.8
"""A pass is spread over this share of the period (at 100k files 5.9 GB in 24 s), a
trickle beside the searches rather than a burst. Measured alternately with no keeper,
`read\\w*rom`'s median moved 0.0-0.7 ms of 50 (noise); copying bursts at a fifth of a
core (`preadv`) had slowed it 2.6 ms."""
DUTY = 0.2
"""The most of its running time the thread spends reading (a pass of an index larger
than the period can spread); it sleeps the rest."""
PAUSE_S = 0.01
"""The pacing sleeps at least this long at once (many tiny sleeps cost more than reads)."""
MEMORY_SHARE = 0.5
"""A pass runs only while the files are at most this share of the memory available."""
KEPT_SUFFIXES = (".sqlite3", ".sqlite3-wal")
"""What a search reads: the text index and its WAL, the symbol tables."""
LOCK_NAME = "keep-warm.lock"
"""Held by the one process of a machine that reads the folder's files."""


@dataclass(frozen=True)
class WarmPass:
    """What one pass did: `files` and `bytes` read in `seconds` (of which `cpu_seconds`
    the thread's own), or `skipped` (then nothing was read): SKIPPED_MEMORY or
    SKIPPED_HELD, said in words in `why`."""

    files: int
    bytes: int
    seconds: float
    cpu_seconds: float
    skipped: str | None = None
    why: str = ""


SKIPPED_MEMORY = "memory"
"""The files are more than MEMORY_SHARE of the memory available."""
SKIPPED_HELD = "held"
"""Another process of the machine holds the lock and reads them."""


def memory_room(meminfo: str, cgroup_max: str | None) -> int | None:
    """The bytes the process may fill: /proc/meminfo's MemAvailable, lowered to the
    cgroup's `memory.max` when that is a number. None when neither says."""
    room: int | None = None
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            with contextlib.suppress(IndexError, ValueError):
                room = int(line.split()[1]) * 1024
            break
    if cgroup_max is not None and cgroup_max.strip().isdigit():
        limit = int(cgroup_max.strip())
        room = limit if room is None else min(room, limit)
    return room


def system_memory_room() -> int | None:
    """`memory_room` of this process: the kernel's files read as they are now."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        meminfo = ""
    cgroup_max = None
    with contextlib.suppress(OSError, IndexError):
        # cgroup v2: one line "0::/path"; v1 hierarchies have no memory.max to read
        group = Path("/proc/self/cgroup").read_text().splitlines()[0].split(":", 2)[2]
        cgroup_max = Path(f"/sys/fs/cgroup{group}/memory.max").read_text()
    return memory_room(meminfo, cgroup_max)


def kept_files(folder: Path) -> list[tuple[Path, int]]:
    """The files of `folder` a pass reads, with their sizes, in name order."""
    found = []
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.name.endswith(KEPT_SUFFIXES):
                with contextlib.suppress(OSError):
                    if entry.is_file(follow_symlinks=False):
                        found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_size))
    return found


class PageCacheKeeper:
    """Reads the index folder's databases every `period_s` seconds in a daemon thread
    (module docstring). `on_pass` hears each pass's `WarmPass` (from that thread)."""

    def __init__(
        self,
        folder: Path,
        period_s: float,
        *,
        on_pass: Callable[[WarmPass], None] | None = None,
        room: Callable[[], int | None] = system_memory_room,
        duty: float = DUTY,
    ) -> None:
        if period_s <= 0 or not 0 < duty <= 1:
            raise ValueError("period_s must be positive and duty in (0, 1]")
        self.folder = folder
        self.period_s = period_s
        self._on_pass = on_pass
        self._room = room
        self._rest = 1 / duty - 1  # seconds slept per second read
        self._stop = threading.Event()
        self._buffer: bytearray | None = None  # made when `sendfile` cannot be used
        self._null: int | None = None
        self._thread: threading.Thread | None = None
        self._lock_fd: int | None = None

    def start(self) -> None:
        """Start the thread; its first pass begins at once (after a restart the index
        is often cold)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="index-page-cache", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, between two reads; waits for it up to `timeout_s`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._thread is None or not self._thread.is_alive():
            self._release()

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                report = self.one_pass()
                if self._on_pass is not None:
                    self._on_pass(report)
            except Exception as exc:  # the thread must outlive one bad pass; said, not raised
                log.warning("index_warm_failed", error=exc.__class__.__name__)
            self._stop.wait(max(0.0, self.period_s - (time.monotonic() - began)))
        self._release()

    def _release(self) -> None:
        """Close the lock, so another process takes the reads over, and `/dev/null`."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._null is not None:
            os.close(self._null)
            self._null = None

    def _claim(self) -> bool:
        """Whether this process reads the folder: it holds the lock, or no lock can be
        made there (a read-only folder: reading twice beats not reading)."""
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def one_pass(self) -> WarmPass:
        """Read every kept file once (or skip, saying why). Blocking: the thread's work."""
        files = kept_files(self.folder)
        total = sum(size for _, size in files)
        room = self._room()
        if room is not None and total > MEMORY_SHARE * room:
            why = f"index {total >> 20} MB, more than {MEMORY_SHARE:.0%} of {room >> 20} MB"
            return WarmPass(len(files), 0, 0.0, 0.0, SKIPPED_MEMORY, why)
        if files and not self._claim():
            why = f"another process keeps them warm (it holds {LOCK_NAME})"
            return WarmPass(len(files), 0, 0.0, 0.0, SKIPPED_HELD, why)
        began, cpu = time.perf_counter(), time.thread_time()
        pace = _Pace(total, self.period_s, self._rest)
        read = sum(self._read(path, pace) for path, _ in files)
        return WarmPass(len(files), read, time.perf_counter() - began, time.thread_time() - cpu)

    def _read(self, path: Path, pace: _Pace) -> int:
        """Read `path` through the page cache at `pace`; the bytes read (0 if it went
        away: a rebuild replaces the symbol table)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return 0
        done = 0
        try:
            while not self._stop.is_set():
                began = time.perf_counter()
                got = self._touch(fd, done)
                if got <= 0:
                    break
                done += got
                wait = pace.after(time.perf_counter() - began, got)
                if wait:
                    self._stop.wait(wait)
        except OSError:
            pass
        finally:
            os.close(fd)
        return done

    def _touch(self, fd: int, offset: int) -> int:
        """Read up to READ_BYTES of `fd` at `offset` through the page cache; the bytes
        read (0 at its end). Raises OSError."""
        if self._buffer is None:
            if self._null is None:
                self._null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            try:
                return os.sendfile(self._null, fd, offset, READ_BYTES)
            except OSError as exc:
                if exc.errno not in _NO_SENDFILE:
                    raise
                self._buffer = bytearray(COPY_BYTES)  # and from now on, copies
        return os.preadv(fd, [self._buffer], offset)


_NO_SENDFILE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP, errno.EBADF}
"""What `sendfile` says where it cannot write to `/dev/null` (macOS wants a socket)."""


class _Pace:
    """When a pass's next read may start: spread over SPREAD of the period (a steady
    trickle, not a burst beside the searches), and at most DUTY of the time reading."""

    def __init__(self, total: int, period_s: float, rest: float) -> None:
        self.began = time.perf_counter()
        self.seconds_per_byte = SPREAD * period_s / total if total else 0.0
        self.rest = rest
        self.done = 0
        self.owed = 0.0

    def after(self, read_s: float, got: int) -> float:
        """Seconds to wait after a read of `got` bytes that took `read_s` (0: go on)."""
        self.done += got
        self.owed += read_s * self.rest
        ahead = self.done * self.seconds_per_byte - (time.perf_counter() - self.began)
        wait = max(self.owed, ahead)
        if wait < PAUSE_S:
            return 0.0
        self.owed = 0.0
        return wait

"""Live reload: watch the knowledge folder and the repository, reload on a change.

The watching is `watchfiles` (kernel notifications through Rust's `notify`, with its own
debounce): a burst of changes, such as a `git checkout`, becomes one reload. It runs in a
child process (`watch_child.py`): building its watcher holds the GIL while it registers
every folder (1.13 s at 100,000 files, where every request would have waited). The reload
runs `load_knowledge` in a thread; if it fails, the last good snapshot keeps serving and
the reason is logged. Only a new knowledge *version* is announced.

Only the tree itself is watched, never through a symlink. `notify`'s recursive mode
follows symlinked folders (its `follow_symlinks` defaults to on and `watchfiles` does not
expose it), so a repository holding `dir_up -> ../..` had the whole ancestor watched and
every line of a log written there reloaded the knowledge. Instead this module lists the
real folders itself (`os.scandir` without following links, ignored folders pruned, in a
thread) and watches each one non-recursively; the filter then keeps only entries of those
folders. A folder created or removed changes the list, so after such a batch the list is
taken again and, if it moved, the watcher is rebuilt. A change that lands while the new
watcher is being set up is caught by one more reload on its first quiet tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import stat
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import structlog
import watchfiles

from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.loading import Knowledge
from context_bot.knowledge.paths import is_writer_temp

log = structlog.get_logger(__name__)

DEBOUNCE_MS = 300
"""Changes closer together than this become one reload."""
QUIET_TICK_MS = 1_000
"""How long the watcher waits without changes before yielding a quiet tick (the point
where a rebuilt watcher is known to be registered, so the catch-up reload runs)."""
WATCHER_RETRY_S = 5.0
"""How long after its process ended on its own a watcher is started again; doubled after
each process that ended before answering once, up to WATCHER_RETRY_MAX_S (a limit of
inotify watches reached fails every time, and each try walks the tree)."""
WATCHER_RETRY_MAX_S = 300.0
HALT_POLL_S = 0.05
"""How often a watcher waiting for its process's next step looks whether to stop."""
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
Patcher = Callable[[Knowledge, frozenset[str] | None], Knowledge]
"""A reload told what changed: the snapshot and the host paths (None: unknown), giving
the next snapshot (`patching.reload_knowledge`, which loads in full when it must)."""
OnChange = Callable[[Knowledge, dict[str, object]], Awaitable[None]]
Missed = Callable[[Knowledge], frozenset[str] | None]
"""What changed since a snapshot was read: host paths, None when that cannot be told
(`patching.changed_since`)."""
T = TypeVar("T")
_PACKAGE_HOME = Path(__file__).resolve().parents[2]
"""The folder holding the `context_bot` package (where the watcher's process starts)."""


def _ignored(name: str) -> bool:
    return name in IGNORED_DIRS or name.startswith(".venv") or is_writer_temp(name)


def watched_dirs(roots: Sequence[Path]) -> list[str]:
    """The roots and every real folder under them, without following a symlink.

    Ignored folders are pruned by their name inside a root (a root's own ancestors may
    be named anything). Blocking: run it in a thread."""
    found: dict[str, None] = {}
    for root in roots:
        stack = [str(root)]
        while stack:
            folder = stack.pop()
            if folder in found:
                continue
            try:
                with os.scandir(folder) as entries:
                    subfolders = [
                        entry.path
                        for entry in entries
                        if entry.is_dir(follow_symlinks=False) and not _ignored(entry.name)
                    ]
            except OSError:  # vanished or unreadable since it was listed: not watchable
                continue
            found[folder] = None
            stack.extend(subfolders)
    return list(found)


def _roots(paths: Sequence[Path]) -> list[Path]:
    """The configured folders that exist, resolved: the operator chose them, links and all."""
    return [p.resolve() for p in paths if p.is_dir()]


def _entries_of(folders: frozenset[str]) -> Callable[[watchfiles.Change, str], bool]:
    """A filter keeping a change only when it names a watched folder or an entry of one.

    The watches are non-recursive, so this is what they report anyway; the filter makes
    it a rule rather than a consequence of how `notify` registers watches."""

    def relevant(change: watchfiles.Change, path: str) -> bool:
        del change
        parent, name = os.path.split(path)
        return not _ignored(name) and (parent in folders or path in folders)

    return relevant


def _may_move_folders(changes: set[tuple[watchfiles.Change, str]], folders: frozenset[str]) -> bool:
    """Whether the burst may have added or removed a watched folder: a path that is a
    real folder now, or was one, in a change other than a write. Then the folders are
    listed again, a walk of the whole tree (a second at 100,000 files): a new file alone
    does not pay it. Blocking (a stat per change): call it in a thread."""
    for change, path in changes:
        if change is watchfiles.Change.modified:
            continue
        if path in folders:
            return True
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                return True
        except OSError:
            continue  # gone: a folder gone was watched, so it is in `folders`
    return False


async def reload_once(
    current: Knowledge, load: Loader
) -> tuple[Knowledge, dict[str, object] | None]:
    """Load again; return the snapshot to serve and the change, if the version moved.
    Both in a thread: the change report compares every file unless the snapshot was
    patched (`changes.py`), a pass that would hold the event loop at 100k files."""

    def reload() -> tuple[Knowledge, dict[str, object] | None]:
        fresh = load()
        if fresh.version == current.version:
            return current, None
        return fresh, knowledge_change(current, fresh)

    try:
        return await asyncio.to_thread(reload)
    except Exception as exc:
        log.error("knowledge_reload_failed", error=exc.__class__.__name__, reason=str(exc))
        return current, None


class _Halt:
    """What the watching thread polls (every HALT_POLL_S) to know it should return: the
    caller's `stop`, or this watcher being rebuilt or cancelled."""

    def __init__(self, stop: asyncio.Event | None) -> None:
        self.stop = stop
        self.halted = threading.Event()

    def is_set(self) -> bool:
        return self.halted.is_set() or (self.stop is not None and self.stop.is_set())


class WatcherEnded(Exception):
    """The watcher's process failed or ended on its own (killed, or it could not run);
    its exit status, if known, is the argument."""


class _ChildWatch:
    """`watchfiles.watch` over `folders`, run in a process of its own (`watch_child`: the
    watcher's set-up holds its process's GIL, a second at 100,000 files), as an iterator
    of its batches filtered by `_entries_of` (an empty set: a quiet tick), ending when
    `halt` is set (looked at every HALT_POLL_S). Blocking (POSIX: `poll` on a pipe):
    iterate it in a thread. Raises FileNotFoundError as `watchfiles` does when a folder
    went away before it was watched, WatcherEnded when the process failed or ended on
    its own; either way the process is closed first."""

    def __init__(self, folders: frozenset[str], halt: _Halt) -> None:
        self._folders = folders
        self._relevant = _entries_of(folders)
        self._halt = halt
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = bytearray()  # read from the pipe, not yet a whole line
        self.ticked = False
        """Whether the process has answered once (its watches were registered)."""

    def __iter__(self) -> _ChildWatch:
        return self

    def __next__(self) -> set[tuple[watchfiles.Change, str]]:
        try:
            line = self._next_line()
            if line is None:
                self.close()
                raise StopIteration
            step = json.loads(line)
        except (OSError, EOFError, ValueError) as exc:  # ended, a pipe broken, a line cut short
            returncode = self.close()
            raise WatcherEnded(returncode) from exc
        if isinstance(step, dict):
            self.close()
            raise FileNotFoundError(step.get("error"))
        self.ticked = True
        changes = {(watchfiles.Change(change), path) for change, path in step}
        return {(change, path) for change, path in changes if self._relevant(change, path)}

    def _next_line(self) -> bytes | None:
        """The process's next line, None once `halt` is set. Read with `os.read` into a
        buffer of its own: a buffered reader would hold lines `poll` cannot see.

        `poll`, not `select`: `select` refuses a descriptor numbered 1024 or more (ValueError),
        and a process holding that many files (a test worker whose past snapshots' sqlite
        connections await the cycle collector) had every watcher end at once, retried
        in vain."""
        process = self._process or self._start()
        assert process.stdout is not None
        fd = process.stdout.fileno()
        readable = select.poll()
        readable.register(fd, select.POLLIN)
        while not self._halt.is_set():
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[: end + 1]
                return line
            if readable.poll(HALT_POLL_S * 1000):  # readable, or the writer gone (then EOF)
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError("the watcher's process closed its output")
                self._pending += chunk
        return None

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "context_bot.knowledge.watch_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # `-m` puts the working folder first on the path: the package's own, never the
            # served repository's (its `json.py` would run in the watcher).
            cwd=_PACKAGE_HOME,
        )
        self._process = process
        config = {"folders": sorted(self._folders), "debounce_ms": DEBOUNCE_MS}
        assert process.stdin is not None
        process.stdin.write(json.dumps(config | {"tick_ms": QUIET_TICK_MS}).encode() + b"\n")
        process.stdin.close()
        return process

    def close(self) -> int | None:
        """Stop the process (if running) and release its pipe; its exit status."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.stdin is not None and not process.stdin.closed:
            with contextlib.suppress(OSError):
                process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode


async def watch_knowledge(
    paths: list[Path],
    current: Callable[[], Knowledge],
    load: Loader,
    on_change: OnChange,
    *,
    stop: asyncio.Event | None = None,
    patch: Patcher | None = None,
    settled: Callable[[Knowledge], object] | None = None,
    missed: Missed | None = None,
) -> None:
    """Run until cancelled (or `stop` is set): reload after every burst of changes.

    `settled` runs in a thread after a new snapshot is served and before the next reload
    starts (the app keeps it as the next restart's snapshot, `loading.keep_restart_snapshot`:
    nothing writes the cache meanwhile, and the change was searchable before).

    With `patch`, a reload is told the paths of the burst (or None after changes it may
    have missed, while a watcher was rebuilt), so a few changed files can be patched into
    the snapshot rather than loaded with all the others; without it, `load` runs.

    With `missed`, once the first watcher is registered (its first answer), the changes
    made since the served snapshot was read, which no watcher saw, are asked for and
    reloaded: an edit during a long first index is not left waiting for its file's next
    change. Nothing changed, nothing is reloaded.

    The watcher's process is waited on from a thread of its own: waiting would otherwise
    hold a thread of the default pool, which the file reads share."""
    loop = asyncio.get_running_loop()
    thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knowledge-watch")

    async def in_thread(call: Callable[[], T]) -> T:
        return await loop.run_in_executor(thread, call)

    async def reload(paths: frozenset[str] | None, files: int) -> None:
        previous = current()
        loader = load if patch is None else partial(patch, previous, paths)
        fresh, change = await reload_once(previous, loader)
        log.info("knowledge_files_changed", files=files, new_version=change is not None)
        if change is not None:
            await on_change(fresh, change)
            if settled is not None:
                try:
                    await asyncio.to_thread(settled, fresh)
                except Exception as exc:  # only a slower restart is lost
                    log.warning("knowledge_settle_failed", error=exc.__class__.__name__)

    try:
        roots = await in_thread(lambda: _roots(paths))
        catch_up = False
        first_answer = missed is not None  # the changes no watcher saw yet are asked once
        retry = WATCHER_RETRY_S / 2  # doubled at a failure before the first answer
        while stop is None or not stop.is_set():
            folders = frozenset(await in_thread(lambda: watched_dirs(roots)))
            halt = _Halt(stop)
            batches = _ChildWatch(folders, halt)
            waiting = False
            try:
                while True:
                    waiting = True
                    changes = await in_thread(partial(next, batches, None))
                    waiting = False
                    if changes is None:  # stopped
                        break
                    if first_answer and missed is not None:
                        first_answer = False
                        try:
                            before = await in_thread(partial(missed, current()))
                        except Exception as exc:  # unknown: the catch-up reload decides
                            log.warning("knowledge_missed_check_failed", error=str(exc)[:200])
                            before = None
                        if before is None:
                            catch_up = True
                        elif before:
                            log.info("knowledge_changed_before_watching", files=len(before))
                            changes = changes | {(watchfiles.Change.modified, p) for p in before}
                    if changes or catch_up:
                        seen = None if catch_up else frozenset(p for _, p in changes)
                        catch_up = False
                        await reload(seen, len(changes))
                    if not await in_thread(partial(_may_move_folders, changes, folders)):
                        continue
                    listed = await in_thread(lambda: watched_dirs(roots))
                    if frozenset(listed) != folders:
                        catch_up = True  # changes while the next watcher registers
                        break
            except WatcherEnded as ended:  # live reload is no reason to stop serving
                retry = WATCHER_RETRY_S if batches.ticked else min(2 * retry, WATCHER_RETRY_MAX_S)
                log.error("knowledge_watcher_ended", returncode=ended.args[0], retry_s=retry)
                catch_up = True
                await asyncio.sleep(retry)
            except FileNotFoundError:  # a folder went away between listing and watching
                catch_up = True
                await asyncio.sleep(DEBOUNCE_MS / 1000)
            finally:
                halt.halted.set()
                if not waiting:  # else the thread returns within HALT_POLL_S and closes it
                    await in_thread(batches.close)  # a wait of up to 2 s: not on the loop
    finally:
        thread.shutdown(wait=False)

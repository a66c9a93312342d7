"""The page-cache keeper (`knowledge/pagecache.py`): what a pass reads, when it skips,
that it stops at once and that one process of several reads."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from context_bot.knowledge import pagecache
from context_bot.knowledge.pagecache import (
    LOCK_NAME,
    PageCacheKeeper,
    WarmPass,
    kept_files,
    memory_room,
)

MIB = 1 << 20


def _folder(tmp_path: Path) -> Path:
    """An index folder as a load leaves it: what a search reads and what it does not."""
    folder = tmp_path / "repo-0123456789abcdef"
    folder.mkdir()
    (folder / "index.sqlite3").write_bytes(os.urandom(3 * MIB + 17))
    (folder / "index.sqlite3-wal").write_bytes(b"w" * 1000)
    (folder / "index.sqlite3-shm").write_bytes(b"s" * 32768)
    (folder / "symbols-0123.sqlite3").write_bytes(b"y" * 5000)
    (folder / "symbols-9999.sqlite3.12-34.part").write_bytes(b"p" * 7000)
    (folder / "restart-snapshot.bin").write_bytes(b"r" * 9000)
    return folder


def test_a_pass_reads_every_database_a_search_reads_and_nothing_else(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    names = [path.name for path, _ in kept_files(folder)]
    assert names == ["index.sqlite3", "index.sqlite3-wal", "symbols-0123.sqlite3"]
    done = PageCacheKeeper(folder, 0.01, room=lambda: None, duty=1.0).one_pass()
    assert done.skipped is None
    assert done.files == 3
    assert done.bytes == 3 * MIB + 17 + 1000 + 5000
    assert done.cpu_seconds >= 0 and done.seconds > 0


def test_without_sendfile_a_pass_copies_the_pages_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where `sendfile` will not write to /dev/null (macOS wants a socket)."""
    folder = _folder(tmp_path)

    def refuse(*args: object) -> int:
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")

    monkeypatch.setattr(pagecache.os, "sendfile", refuse)
    keeper = PageCacheKeeper(folder, 0.01, room=lambda: None, duty=1.0)
    assert keeper.one_pass().bytes == 3 * MIB + 17 + 1000 + 5000
    assert keeper._buffer is not None  # copied from the first refusal on


def test_a_pass_skips_an_index_larger_than_its_share_of_memory(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    keeper = PageCacheKeeper(folder, 0.01, room=lambda: 4 * MIB, duty=1.0)
    done = keeper.one_pass()
    assert done.bytes == 0
    assert done.skipped == pagecache.SKIPPED_MEMORY
    assert "index 3 MB, more than 50% of 4 MB" in done.why
    roomy = PageCacheKeeper(folder, 0.01, room=lambda: 64 * MIB, duty=1.0)
    assert roomy.one_pass().bytes > 3 * MIB


def test_memory_room_is_the_available_memory_lowered_to_the_cgroup_limit() -> None:
    meminfo = "MemTotal:       24684000 kB\nMemAvailable:    1000 kB\nBuffers: 1 kB\n"
    assert memory_room(meminfo, None) == 1000 * 1024
    assert memory_room(meminfo, "max\n") == 1000 * 1024
    assert memory_room(meminfo, "524288\n") == 524288
    assert memory_room("", "524288") == 524288
    assert memory_room("garbage", None) is None
    assert memory_room("MemAvailable: lots kB", None) is None


def test_a_file_gone_before_it_is_read_is_skipped(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    keeper = PageCacheKeeper(folder, 0.01, room=lambda: None, duty=1.0)
    listed = kept_files(folder)
    (folder / "symbols-0123.sqlite3").unlink()  # a rebuild replaced the symbol table
    pace = pagecache._Pace(sum(size for _, size in listed), 0.01, 0.0)
    assert sum(keeper._read(path, pace) for path, _ in listed) == 3 * MIB + 17 + 1000


def test_stop_cuts_a_paced_pass_short(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At a duty of 1e-4 each read is followed by a long sleep: stop must end it."""
    folder = _folder(tmp_path)
    monkeypatch.setattr(pagecache, "READ_BYTES", 4096)
    passes: list[WarmPass] = []
    keeper = PageCacheKeeper(folder, 30, on_pass=passes.append, room=lambda: None, duty=1e-4)
    keeper.start()
    time.sleep(0.3)
    began = time.monotonic()
    keeper.stop()
    assert time.monotonic() - began < 1.0
    assert keeper._thread is not None and not keeper._thread.is_alive()
    assert passes and passes[0].bytes < 3 * MIB  # cut short, well before its end


def test_passes_repeat_every_period_until_stopped(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    passes: list[WarmPass] = []
    keeper = PageCacheKeeper(folder, 0.05, on_pass=passes.append, room=lambda: None, duty=1.0)
    keeper.start()
    deadline = time.monotonic() + 5
    while len(passes) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    keeper.stop()
    count = len(passes)
    assert count >= 3
    # The passes before the stop read everything (one the stop cut short may follow).
    assert all(p.bytes == 3 * MIB + 17 + 1000 + 5000 for p in passes[:3])
    time.sleep(0.2)
    assert len(passes) == count  # nothing after the stop


def test_one_keeper_of_a_folder_reads_the_others_skip_until_it_stops(tmp_path: Path) -> None:
    """Workers on one machine share its page cache: reading it once is enough."""
    folder = _folder(tmp_path)
    first = PageCacheKeeper(folder, 0.01, room=lambda: None, duty=1.0)
    second = PageCacheKeeper(folder, 0.01, room=lambda: None, duty=1.0)
    assert first.one_pass().bytes > 0
    held = second.one_pass()
    assert held.bytes == 0 and held.skipped == pagecache.SKIPPED_HELD
    assert "another process keeps them warm" in held.why
    assert (folder / LOCK_NAME).exists()
    assert LOCK_NAME not in [path.name for path, _ in kept_files(folder)]
    first.stop()  # no thread: stop releases the lock all the same
    assert second.one_pass().bytes > 0
    second.stop()


def test_a_failing_pass_is_logged_and_the_next_one_runs(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    passes: list[WarmPass] = []
    calls = []

    def room() -> int | None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("meminfo went away")
        return None

    keeper = PageCacheKeeper(folder, 0.05, on_pass=passes.append, room=room, duty=1.0)
    keeper.start()
    deadline = time.monotonic() + 5
    while not passes and time.monotonic() < deadline:
        time.sleep(0.02)
    keeper.stop()
    assert passes and passes[0].bytes > 0


def test_a_pass_is_spread_over_most_of_the_period(tmp_path: Path) -> None:
    """A steady trickle, not a burst beside the searches: 3 MiB over 0.8 of 1 s."""
    folder = _folder(tmp_path)
    done = PageCacheKeeper(folder, 1.0, room=lambda: None, duty=1.0).one_pass()
    assert done.bytes > 3 * MIB
    assert 0.6 < done.seconds < 1.0
    assert done.cpu_seconds < 0.3  # it slept


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        PageCacheKeeper(tmp_path, 0)
    with pytest.raises(ValueError):
        PageCacheKeeper(tmp_path, 30, duty=0)


def test_a_missing_folder_reads_nothing(tmp_path: Path) -> None:
    """The index in memory (an unwritable cache): no folder, nothing to keep."""
    done = PageCacheKeeper(tmp_path / "absent", 30, room=lambda: None).one_pass()
    assert done == WarmPass(0, 0, done.seconds, done.cpu_seconds)
    assert done.bytes == 0 and done.skipped is None

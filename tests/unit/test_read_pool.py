"""The index database's read connections are the process's, not each snapshot's
(`store.ReadPool`): a daemon that reloads on every edit keeps its file descriptors and
page caches bounded however long it runs."""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from context_bot.knowledge import store
from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.patching import reload_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import READS_KEPT, read_pool


def _descriptors_under(folder: Path) -> int:
    """This process's open file descriptors on files in `folder` (Linux /proc)."""
    count = 0
    for link in Path("/proc/self/fd").iterdir():
        try:
            target = link.readlink()
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
        count += target.is_relative_to(folder)
    return count


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The cycle collector held off, as in a process whose heap is large enough that a
    full collection is rare: a connection nobody closed then stays open (Python's sqlite3
    connection holds a cycle through its statement cache)."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_reloads_keep_no_connection_per_snapshot(tmp_path: Path, collector_off: None) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    repo.mkdir()
    for n in range(12):
        (repo / f"m{n}.py").write_text(f"def f{n}():\n    return {n}\n")
    knowledge = load_knowledge(repo / "knowledge", repo, cache_dir=cache)
    engine = Grep(RepoFiles(repo))
    counts = []
    for n in range(60):
        edited = repo / f"m{n % 12}.py"
        edited.write_text(edited.read_text() + f"# edit {n}\n")
        knowledge = reload_knowledge(
            knowledge, [str(edited)], repo / "knowledge", repo, cache_dir=cache
        )
        # Each snapshot reads its index: a grep (lookup and texts) and a ranked search.
        found = engine.search(knowledge.inventory, GrepQuery("return", False, None, (), 0, 50))
        assert len(found.matches) == 12
        assert knowledge.search("return", limit=5)
        counts.append(_descriptors_under(cache))
    assert knowledge.index_stats.get("files_read") == 1  # patched, not loaded again
    # A connection holds the database, its log and its shared memory: three descriptors.
    # With connections of its own, each snapshot kept two more descriptors open (60
    # reloads: over 120); shared, they stay as many as requests read at once.
    assert max(counts) <= 3 * READS_KEPT + 3
    assert counts[-1] <= counts[9]


def test_a_connection_comes_back_with_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.execute("INSERT INTO t VALUES (1)")
    pool = read_pool(path)
    with pool.connection() as first:
        first.execute("BEGIN")
        assert first.execute("SELECT x FROM t").fetchone() == (1,)
    with pool.connection() as again:
        assert again is first  # given back, then taken again
        assert not again.in_transaction
    with pool.connection() as a, pool.connection() as b:
        assert a is not b  # a caller has its connection to itself while it reads


def test_idle_connections_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    sqlite3.connect(path).close()
    pool = store.ReadPool(path, None)
    held = [pool.connection() for _ in range(READS_KEPT + 3)]
    taken = [block.__enter__() for block in held]
    for block in held:
        block.__exit__(None, None, None)
    assert len(pool._idle) == READS_KEPT
    closed = [db for db in taken if db not in pool._idle]
    assert len(closed) == 3
    for db in closed:
        with pytest.raises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")  # closed, not left open


def test_a_database_made_again_gets_a_pool_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    pool = read_pool(path)
    assert read_pool(path) is pool
    with pool.connection() as db:
        db.execute("SELECT 1")
    idle = pool._idle[0]
    path.unlink()  # a corrupt cache deleted and built again (`IndexStore.open`)
    with sqlite3.connect(path) as fresh:
        fresh.execute("CREATE TABLE u (y)")
    again = read_pool(path)
    assert again is not pool
    with pytest.raises(sqlite3.ProgrammingError):
        idle.execute("SELECT 1")  # the old file's idle connection was closed
    with again.connection() as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("u",)]


def test_a_pool_goes_with_the_last_snapshot_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite3"
    sqlite3.connect(path).close()
    pool = read_pool(path)
    with pool.connection() as db:
        db.execute("SELECT 1")
    idle = pool._idle[0]
    del pool, db
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError):
        idle.execute("SELECT 1")  # closed with its pool: nothing kept for a repository gone
    assert read_pool(path)._idle == []


def test_replaced_snapshots_close_their_symbol_tables(tmp_path: Path, collector_off: None) -> None:
    """A knowledge document's edit reloads in full, which opens the symbol table again;
    the replaced snapshot's connection to it closes with its table, not when the cycle
    collector reaches it (a connection's statement cache is a cycle)."""
    repo, cache = tmp_path / "repo", tmp_path / "cache"
    (repo / "knowledge").mkdir(parents=True)
    for n in range(6):
        (repo / f"m{n}.py").write_text(f"def f{n}():\n    return {n}\n")
    doc = repo / "knowledge" / "m0.py.md"
    doc.write_text("---\nfilePath: m0.py\n---\n# m0\n\nAbout m0.\n")
    knowledge = load_knowledge(repo / "knowledge", repo, cache_dir=cache)
    for n in range(20):
        edited = doc if n % 2 else repo / f"m{n % 6}.py"
        edited.write_text(edited.read_text() + f"\nedit {n}\n")
        knowledge = reload_knowledge(
            knowledge, [str(edited)], repo / "knowledge", repo, cache_dir=cache
        )
        assert knowledge.symbols.find("f1", limit=3)
        assert knowledge.search("about", limit=5)
    tables = list(cache.rglob("symbols-*.sqlite3"))
    assert tables
    held = sum(_descriptors_under(table) for table in tables)
    assert held <= 2  # the served snapshot's; before, one more per full reload (15)

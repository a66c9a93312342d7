"""What a symbol index keeps on disk rather than in memory: each definition's details and
every name's uses.

At 100k files the index holds about a million definitions and twenty million uses of
names (issue 17); as Python objects that is over a gigabyte, and the whole process must
serve in 500 MB (issue 16). Most of it is read rarely and a few rows at a time: the
signature and doc of the twenty definitions `symbols` answers, the uses of the one name
`references` asks for. So they live in SQLite, read by primary key, and memory keeps
only what ranking and filtering need (`symbols.SymbolIndex`: names, kinds, files, lines
as arrays).

One database file per index, never changed once written: a live reload writes the next
index's file beside it while the current one is served, and files of earlier indexes
are deleted (an index still open keeps reading its own: a deleted file lives on until
its last connection closes). Without a cache folder the database is in memory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

Batch = tuple[str, list[tuple[Any, ...]]]
"""("defs", rows) or ("uses", rows): see `SymbolTable.build`."""

DETAILS = "name, kind, container, path, line, end_line, signature, doc, language"
"""The columns of a definition, in `model.Symbol`'s order."""
_SCHEMA = (
    f"CREATE TABLE defs (id INTEGER PRIMARY KEY, {DETAILS})",
    # A name's uses come in a row per batch of files (`assemble_symbols` writes a batch
    # at a time rather than holding twenty million uses), read back in rowid order.
    "CREATE TABLE uses (name TEXT NOT NULL, data BLOB NOT NULL)",
)
_INDEXES = ("CREATE INDEX uses_name ON uses(name)",)  # after the rows: a faster bulk load


class SymbolTable:
    """One symbol index's definitions (by id, in the index's order) and uses (by name).

    Read-only once built; shared by the requests of one snapshot, a lock serialises its
    connection (each read is one or two primary-key lookups). The connection is closed
    when the table goes: Python's sqlite3 connection sits in a reference cycle (its
    statement cache), so left to itself it stays open until the cycle collector runs,
    holding a descriptor, and the disk space of a file an earlier index deleted, for
    each snapshot a live reload replaced (tests/unit/test_read_pool.py)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._lock = threading.Lock()
        weakref.finalize(self, db.close)

    @classmethod
    def build(cls, path: Path | None, batches: Iterable[Batch]) -> SymbolTable:
        """Write a new table (in memory when `path` is None) from batches of rows, in
        order: ("defs", rows of `DETAILS`, numbered from 0 across batches) and ("uses",
        (name, packed uses) rows; a name may come in several batches, its uses in the
        order written). Written under a temporary name and renamed, so a reader never
        opens a half-written file."""
        if path is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            _fill(db, batches)
            return cls(db)
        # Its own temporary name: two loads of one repository may write the same table.
        part = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
        part.unlink(missing_ok=True)
        db = sqlite3.connect(part, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=OFF")  # a file written once, then renamed
            db.execute("PRAGMA synchronous=OFF")
            _fill(db, batches)
        finally:
            db.close()
        part.replace(path)
        table = cls.open(path)
        if table is None:
            raise sqlite3.DatabaseError(f"symbol table {path} unreadable after writing it")
        return table

    @classmethod
    def open(cls, path: Path) -> SymbolTable | None:
        """The table written at `path`, or None when it is missing or unreadable."""
        if not path.exists():
            return None
        try:
            db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
            # Readable, and of this shape (a count would read every row: a second at 100k).
            db.execute("SELECT max(rowid) FROM defs").fetchone()
            db.execute("SELECT name FROM uses LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            log.warning("symbol_table_unreadable", path=str(path), error=str(exc)[:200])
            return None
        return cls(db)

    def details(self, ids: list[int]) -> dict[int, tuple[object, ...]]:
        """The `DETAILS` of the definitions `ids`, by id."""
        out: dict[int, tuple[object, ...]] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, {DETAILS} FROM defs WHERE id IN ({marks})",  # noqa: S608 - marks
                    chunk,
                )
                out.update((row[0], row[1:]) for row in rows)
        return out

    def span(self, first: int, last: int) -> list[tuple[object, ...]]:
        """The `DETAILS` of the definitions `first` to `last` (excluded), in order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {DETAILS} FROM defs WHERE id >= ? AND id < ? ORDER BY id",  # noqa: S608
                (first, last),
            ).fetchall()
        return [tuple(r) for r in rows]

    def uses(self, name: str) -> bytes:
        """The packed uses of `name` (empty when it has none)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM uses WHERE name = ? ORDER BY rowid", (name,)
            ).fetchall()
        return b"".join(bytes(row[0]) for row in rows)

    def use_counts(self, names: Iterable[str]) -> dict[str, int]:
        """How many uses each of `names` has, without reading them."""
        out: dict[str, int] = {}
        with self._lock:
            for name in names:
                row = self._db.execute(
                    "SELECT sum(length(data)) FROM uses WHERE name = ?", (name,)
                ).fetchone()
                out[name] = int(row[0] or 0) // 8
        return out

    def close(self) -> None:
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()


def _fill(db: sqlite3.Connection, batches: Iterable[Batch]) -> None:
    marks = ",".join("?" * (DETAILS.count(",") + 2))
    numbered = 0
    with db:
        for statement in _SCHEMA:
            db.execute(statement)
        for what, rows in batches:
            if what == "defs":
                db.executemany(
                    f"INSERT INTO defs VALUES ({marks})",  # noqa: S608 - placeholders only
                    ((numbered + n, *row) for n, row in enumerate(rows)),
                )
                numbered += len(rows)
            else:
                db.executemany("INSERT INTO uses VALUES (?, ?)", rows)
        for statement in _INDEXES:
            db.execute(statement)


def remove_others(folder: Path, keep: Path) -> None:
    """Delete the symbol tables of earlier indexes in `folder` (`symbols-*.sqlite3`; not
    a table another load is writing, `*.part`)."""
    for old in folder.glob("symbols-*.sqlite3"):
        if old != keep:
            with contextlib.suppress(OSError):
                old.unlink()

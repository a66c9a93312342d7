"""The code index on disk: what a load learnt of each file, kept between runs.

A load of a large repository spends its time reading every file, splitting identifiers,
filling the search index and parsing symbols. None of that changes for a file that did
not change, so it is kept in a cache folder outside the repository (never written into
the tree served), one SQLite database per repository: per file its stat (size,
`mtime_ns`), a SHA-1 of its bytes, its inventory facts (language, binary), why its
contents are not indexed (if so), the lines the code map reads (`codemap.excerpt`), its
symbols, and its row of the `code` FTS5 table that `search` ranks. The next load stats
every file and reads again only those whose stat moved; their rows are replaced in one
transaction, so a restart, and a live reload after one edit, cost a stat per file.

Why SQLite: it ships with Python, FTS5 rows can be replaced one file at a time, WAL lets
a serving snapshot read while the next load writes, and one file is one cache to delete.
Never fatal: a cache that cannot be opened or written is logged once and the load indexes
in memory; a corrupt database, or one of another schema, is deleted and built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 1
"""Bumped whenever what is stored (or how it is computed) changes: a cache of another
version is rebuilt, and the key of the folder includes it."""
DB_NAME = "index.sqlite3"
BUSY_TIMEOUT_MS = 10_000
"""How long a load waits for another process's load of the same repository to commit."""
_SYMBOLS_FORMAT = 4  # marshal's format: plain tuples, lists, dicts, str and int only

_warned: set[str] = set()  # cache folders already reported unusable (log once each)
_warned_lock = threading.Lock()


def default_cache_base(env: Mapping[str, str] | None = None) -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/context-bot/index`: where indexes live unless
    `knowledge.cache_dir` (CONTEXT_BOT_CACHE_DIR) says otherwise."""
    env = os.environ if env is None else env
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "context-bot" / "index"


def cache_folder(base: Path, repo_root: Path) -> Path:
    """This repository's folder under `base`: its name (to tell folders apart by eye) and
    a hash of its real path and the schema version (two checkouts never share one)."""
    real = os.path.realpath(repo_root)
    key = hashlib.sha256(f"{SCHEMA_VERSION}\0{real}".encode()).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(real).name)[:40]
    return base / f"{name or 'root'}-{key}"


def content_digest(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One file as the last load saw it."""

    rowid: int
    size: int
    mtime_ns: int
    language: str | None
    binary: bool
    skipped: str | None
    """Why its contents are not indexed (`binary`, `too_large`, `unreadable`, ...)."""
    digest: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class FileRow:
    """What a load writes for one file it read."""

    path: str
    size: int
    mtime_ns: int
    language: str | None
    binary: bool
    skipped: str | None
    digest: str
    excerpt: str
    idents: str
    text: str
    symbols: bytes | None


def pack_symbols(value: object) -> bytes:
    return marshal.dumps(value, _SYMBOLS_FORMAT)  # type: ignore[arg-type] # plain data


def unpack_symbols(blob: bytes) -> object:
    return marshal.loads(blob)  # noqa: S302 - our own cache file, plain data only


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, "
    "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, language TEXT, binary INTEGER NOT NULL, "
    "skipped TEXT, digest TEXT NOT NULL, excerpt TEXT NOT NULL, symbols BLOB)",
    # The same table `search.SearchIndex` builds in memory; rowid = files.id.
    "CREATE VIRTUAL TABLE IF NOT EXISTS code USING fts5(path, idents, body, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
)


class IndexStore:
    """One repository's index database. Writes come from the loading thread (one load at
    a time); `search` reads through its own connection (`reader`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = _connect(path)
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, folder: Path) -> IndexStore | None:
        """The store in `folder` (created when missing), rebuilt when corrupt or of another
        schema; None, logged once, when the folder cannot hold one (then index in memory)."""
        path = folder / DB_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                return cls(path)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and not path.exists():
                    raise
                log.warning("index_cache_rebuilt", folder=str(folder), reason=str(exc)[:200])
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                return cls(path)
        except (OSError, sqlite3.Error) as exc:
            with _warned_lock:
                first = str(folder) not in _warned
                _warned.add(str(folder))
            if first:
                log.warning(
                    "index_cache_unusable",
                    folder=str(folder),
                    reason=str(exc)[:200],
                    hint="set knowledge.cache_dir (CONTEXT_BOT_CACHE_DIR) to a writable folder",
                )
            return None

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost tail after a crash is re-indexed
        found = db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if found is not None:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"index cache schema {row and row[0]}")
            db.execute("SELECT count(*) FROM files").fetchone()  # corrupt pages fail here
            return
        with db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def known(self) -> dict[str, StoredFile]:
        """Every file of the last load, by path."""
        rows = self._db.execute(
            "SELECT path, id, size, mtime_ns, language, binary, skipped, digest, excerpt FROM files"
        )
        return {
            r[0]: StoredFile(r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8]) for r in rows
        }

    def symbols(self) -> Iterable[tuple[str, bytes]]:
        """(path, packed symbols) of every file that has them, by path."""
        return self._db.execute(
            "SELECT path, symbols FROM files WHERE symbols IS NOT NULL ORDER BY path"
        )

    def update(self, written: Iterable[FileRow], removed: Iterable[str]) -> dict[str, int]:
        """Replace the rows of the files read and drop those gone, in one transaction;
        path → rowid of every file written."""
        db = self._db
        ids: dict[str, int] = {}
        with db:
            for path in removed:
                row = db.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
                if row is not None:
                    db.execute("DELETE FROM code WHERE rowid=?", (row[0],))
                    db.execute("DELETE FROM files WHERE id=?", (row[0],))
            for f in written:
                facts = (f.size, f.mtime_ns, f.language, int(f.binary), f.skipped, f.digest)
                row = db.execute("SELECT id FROM files WHERE path=?", (f.path,)).fetchone()
                if row is None:
                    cur = db.execute(
                        "INSERT INTO files(path, size, mtime_ns, language, binary, skipped, "
                        "digest, excerpt, symbols) VALUES (?,?,?,?,?,?,?,?,?)",
                        (f.path, *facts, f.excerpt, f.symbols),
                    )
                    rowid = int(cur.lastrowid or 0)
                else:
                    rowid = int(row[0])
                    db.execute("DELETE FROM code WHERE rowid=?", (rowid,))
                    db.execute(
                        "UPDATE files SET size=?, mtime_ns=?, language=?, binary=?, skipped=?, "
                        "digest=?, excerpt=?, symbols=? WHERE id=?",
                        (*facts, f.excerpt, f.symbols, rowid),
                    )
                db.execute(
                    "INSERT INTO code(rowid, path, idents, body) VALUES (?,?,?,?)",
                    (rowid, f.path, f.idents, f.text),
                )
                ids[f.path] = rowid
        return ids

    def reader(self) -> sqlite3.Connection:
        """A connection of its own for `search` (shared between threads under its lock)."""
        return _connect(self.path, readonly=True)

    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total

    def close(self) -> None:
        self._db.close()


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:
        db = sqlite3.connect(path, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db

"""The code index on disk: what a load learnt of each file, kept between runs.

A load of a large repository spends its time reading every file, splitting identifiers,
filling the search index and parsing symbols. None of that changes for a file that did
not change, so it is kept in a cache folder outside the repository (never written into
the tree served), one SQLite database per repository: per file its stat (size,
`mtime_ns`), a SHA-1 of its bytes, its inventory facts (language, binary), why its
contents are not indexed (if so), the lines the code map reads (`codemap.excerpt`), its
symbols, its row of the `code` FTS5 table that `search` ranks, and its whole text with
a positioned trigram index for `grep` and a case-keeping one per span (`textindex.py`). Rows
are numbered in path order (`textindex.plan_rows`), so `grep` reads candidates in the
order it answers. The next load stats every file and reads again only those whose stat
moved; their rows are replaced in one transaction, so a restart, and a live reload after
one edit, cost a stat per file.

Why SQLite: it ships with Python, FTS5 rows can be replaced one file at a time, WAL lets
a serving snapshot read while the next load writes, and one file is one cache to delete.
Never fatal: a cache that cannot be opened or written is logged once and the load indexes
in memory; a corrupt database, or one of another schema, is deleted and built again.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import itertools
import marshal
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, cast

import lz4.block
import re2
import structlog

from context_bot.knowledge.literals import (
    WORD_CLASS,
    solid_bytes,
    strip_space,
    strip_space_bytes,
)

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 14
# 2: a name's uses deduplicated per line, whatever the capture order.
# 3: rows numbered in path order (ROW_GAP apart); `texts` kept as `grep` searches them.
# 4: symbols of files past the search total too (both of 3's changes, merged).
# 5: `grep`'s case-keeping trigrams (`cgrams`, `cgramdf`).
# 6: the code map's excerpts: Java's package and imports, Rust's use lines; `Cargo.toml` and
#    `setup.py` whole.
# 7: the case-keeping trigrams per span of each text (`cspans`, `cspandf`), not per file.
#    A Go file's excerpt keeps its package clause.
# 8: those spans' text with whitespace runs as one space, each reaching SPAN_OVERLAP
#    collapsed bytes into the next (`spans`, `span_end`).
# 9: those spans' text without whitespace (`literals.strip_space`), not collapsed; each
#    text kept in rows of CHUNK_BYTES (`chunks`), `grams` contentless.
# 10: each chunk kept compressed (LZ4 HC, `pack_chunk`).
# 11: positions on the case-keeping spans (`cspans`, detail=full); the folded trigrams per
#    span without positions (`fspans`, `fspandf`) where they were per file with positions.
# 12: which spans of a text hold a run of word characters longer than WORD_RUN (`texts.runs`),
#    and those texts' trigrams as written (`runs`).
# 13: `runs` folded: it answers patterns blind to case too.
# 14: how many lines end before each span of a text (`texts.lines`).
"""Bumped whenever what is stored (or how it is computed) changes: a cache of another
version is rebuilt, and the key of the folder includes it."""
DB_NAME = "index.sqlite3"
PAGE_BYTES = 16384
"""SQLite's page size for a new cache (an existing one keeps its own: the answers are the
same, only the reads slower). When a text was one row, `grep` read each candidate's
text whole, an overflow chain of pages: 16 KiB pages read the candidates at 100k files
in about half the time of 4 KiB ones (generated API clients of 2 MB each: 730 ms where
1,090 ms at 4 KiB, benchmarks/RESULTS-index.md, branch grep3); 64 KiB pages read faster
still but make each of a trigram lookup's seeks read a larger page. A text's rows
(CHUNK_BYTES) were sized to one such page before they were compressed (schema 10)."""
BUSY_TIMEOUT_MS = 10_000
COMMIT_ROWS = 2_000
"""Files written per transaction by a load (a first load of 100k files commits as it goes)."""
OPTIMIZE_ROWS = 5_000
"""A load that writes more files than this merges the trigram index's segments after."""
BULK_MERGING = (("automerge", 0), ("crisismerge", 64))
"""FTS5's merging while a load writes more than OPTIMIZE_ROWS files: none as it goes,
and a forced one only past 64 segments of a level, since the load merges all of them
at its end (`texts_ready`). With FTS5's own settings each commit's segments were merged
again and again: the positioned spans of 12,000 texts of the 100k corpus took 97 s to
write and merge, 60 s so (benchmarks/RESULTS-index.md, schema 11)."""
STEADY_MERGING = (("automerge", 4), ("crisismerge", 16))
"""FTS5's own settings, for the few rows of a live reload: merged as they come."""
"""How long a load waits for another process's load of the same repository to commit."""
_SYMBOLS_FORMAT = 4  # marshal's format: plain tuples, lists, dicts, str and int only

_warned: set[str] = set()  # cache folders already reported unusable (log once each)
_warned_lock = threading.Lock()


def default_cache_base(env: Mapping[str, str] | None = None) -> Path:
    """`${XDG_CACHE_HOME:-~/.cache}/context-bot/index`: where indexes live unless
    `knowledge.cache_dir` (CONTEXT_BOT_CACHE_DIR) says otherwise. The variable is read here
    too, for settings built in code rather than loaded (an embedding program, the tests),
    so that it means the same wherever the settings came from."""
    env = os.environ if env is None else env
    explicit = env.get("CONTEXT_BOT_CACHE_DIR", "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "context-bot" / "index"


def cache_folder(base: Path, repo_root: Path, *, schema: int = SCHEMA_VERSION) -> Path:
    """This repository's folder under `base`: its name (to tell folders apart by eye) and
    a hash of its real path and the schema version (two checkouts never share one)."""
    real = os.path.realpath(repo_root)
    key = hashlib.sha256(f"{schema}\0{real}".encode()).hexdigest()[:16]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(real).name)[:40]
    return base / f"{name or 'root'}-{key}"


def report_superseded(base: Path, repo_root: Path) -> list[Path]:
    """This repository's cache folders of older schema versions, each logged with its
    size (`index_cache_superseded`) and returned. Not deleted: during a rolling upgrade a
    process of the older version may still be reading one, and an index of a large
    repository takes minutes to rebuild should a downgrade follow. The operator deletes
    them (README, "Your own repository")."""
    found = []
    for schema in range(1, SCHEMA_VERSION):
        folder = cache_folder(base, repo_root, schema=schema)
        with contextlib.suppress(OSError):
            size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
            log.info("index_cache_superseded", folder=str(folder), schema=schema, mb=size >> 20)
            found.append(folder)
    return found


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
    """What `search` indexes: the contents under the search caps, else ""."""
    symbols: bytes | None
    grep_text: str | None = None
    """The whole text, for `grep`'s trigram index (files up to the served size cap), or
    None for a file `grep` skips (binary, too large, unreadable)."""


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
    # Every text file `grep` searches (each up to the served size cap, with no total
    # cap), as grep searches it (a CRLF line end as "\n"). `folds`: the text has a
    # character RE2 folds to ASCII (KELVIN SIGN, LONG S), which the trigram tokenizer may
    # not, so a case-blind search always looks at that file. The text itself is in
    # `chunks`, CHUNK_BYTES a row (`chunk_row`); `size` is its bytes. `runs`: the spans
    # (`span_row` numbers, comma-separated) meeting a run of word characters longer than
    # WORD_RUN, NULL when there is none (`word_run_spans`). `lines`: how many line ends lie
    # before each LINES_EVERY bytes but the first (`pack_lines`), NULL for a shorter text.
    "CREATE TABLE IF NOT EXISTS texts (id INTEGER PRIMARY KEY, size INTEGER NOT NULL, "
    "folds INTEGER NOT NULL, runs TEXT, lines BLOB)",
    "CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, body BLOB NOT NULL)",
    # Which spans of which texts may hold a pattern's text (`textindex.matching`): two
    # trigram indexes over the same spans of SPAN_BYTES (`spans`, kept without their
    # whitespace), a row per span (`span_row`), contentless (the text is `texts`'s, told
    # again to take a file's trigrams out, `_drop_text`). With its case kept and its
    # trigrams' positions (`cspans`), a text written with case is asked for as its rarest
    # trigrams in their places, which few spans hold without holding it: `UnmarshalMeta`
    # in 415 files where 525 held its trigrams in one span, `class Options` in 128 where
    # 1,052 did, at 100k files (benchmarks/RESULTS-index.md, schema 11). Folded, without
    # positions (`fspans`, a third of the size), a case-blind text as its rarest trigrams
    # in one span. Positions on both would take the index past four times the text.
    # In how many spans each ASCII trigram is (`fspandf`, `cspandf`), counted after a
    # large load and not kept exact between: which of a literal's trigrams are rarest (a
    # guide to what to ask for: the answers never depend on it).
    "CREATE VIRTUAL TABLE IF NOT EXISTS cspans USING fts5(body, content='', "
    "tokenize='trigram case_sensitive 1', detail=full)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS fspans USING fts5(body, content='', "
    "tokenize='trigram', detail=none)",
    "CREATE TABLE IF NOT EXISTS fspandf (gram TEXT PRIMARY KEY, docs INTEGER NOT NULL) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS cspandf (gram TEXT PRIMARY KEY, docs INTEGER NOT NULL) "
    "WITHOUT ROWID",
    # The texts with a run of word characters longer than WORD_RUN, a row each (rowid =
    # the text's), their trigrams folded without positions: which of them may hold the
    # two sides of a gap (`literals.Gap`) that the spans cannot place, the distance
    # between them being unknown (`textindex.matching`; folded, it answers a pattern
    # matched with case too, with a few texts more). 581 texts, 49 MB, at 100k files.
    "CREATE VIRTUAL TABLE IF NOT EXISTS runs USING fts5(body, content='', "
    "tokenize='trigram', detail=none)",
)
# What a load assembles from every file (the symbol index), kept whole with a fingerprint
# of the files it came from: a restart with no file changed loads it in one piece.
_BLOBS = (
    "CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
    "data BLOB NOT NULL)"
)
_TEXTS_BLOB = "texts-rows"
"""The blob of which rows `texts` holds, which of them `folds`, and their `runs`
(`IndexStore.texts`)."""
# What `known` reads of every file at every load, as a covering index: a scan of `files`
# itself reads every row's symbols too (pages of them), a scan of this index only these.
_FACTS = (
    "CREATE INDEX IF NOT EXISTS files_facts ON files"
    "(path, size, mtime_ns, language, binary, skipped, digest, excerpt)"
)
#: Characters outside ASCII that RE2's case folding maps onto ASCII letters (k and s).
FOLDS_TO_ASCII = ("\u212a", "\u017f")

CHUNK_BYTES = 16_000
"""A text is kept in rows of this many bytes (`chunks`), each compressed alone
(`pack_chunk`, three or four to a page of PAGE_BYTES): a read anywhere in a text costs
the pages of the rows it reads, and unpacking them. Kept in one row, a
text was a chain of overflow pages, which SQLite walks from the first to reach an
offset: an excerpt near the end of a 1.5 MB text cost a read of all of it, and blob
reads were a third of `(class|…|function)\\s+Options\\b`'s time at 100k files
(benchmarks/RESULTS-index.md)."""
CHUNK_BITS = 16
"""A chunk's row is its text's row shifted by this many bits, plus its number
(`chunk_row`): texts up to 2**CHUNK_BITS chunks (1 GB), far over any size cap."""


CHUNK_LEVEL = 9
"""LZ4 HC's level for a chunk (`pack_chunk`). Measured on the 100k corpus's chunks
(benchmarks/RESULTS-index.md, "First askings from a cold page cache"): level 9 keeps
them in 0.28x their size (fast LZ4: 0.33x) and reads them back as fast (2.5 GB/s, 3.5 us
a chunk); it writes at 74 MB/s, about 20 s of a 100k-file first index of 700 s."""


def pack_chunk(piece: bytes) -> bytes:
    """A chunk as `chunks` keeps it: compressed alone, so a read anywhere in a text
    unpacks only the rows it meets.

    Why compressed: most of what `grep` reads from the disk on a first asking is the
    candidates' texts (94 % of the regex benchmark's bytes at 100k files, with the page
    cache dropped), and the texts were a quarter of the index. Why LZ4 (`lz4`, the
    reference library's binding): it unpacks at memory speed, where zstd (4.5x, smaller)
    unpacks at a third of it and zlib slower still, on the path of every search."""
    packed = lz4.block.compress(
        piece, mode="high_compression", compression=CHUNK_LEVEL, store_size=False
    )
    return cast("bytes", packed)


def unpack_chunk(packed: bytes) -> bytes:
    """What `pack_chunk` packed, into at most CHUNK_BYTES (no size is stored, so a
    damaged row cannot ask for more memory). Raises sqlite3.DatabaseError for a row that
    does not unpack (a cache written by something else), as the other damaged rows do."""
    try:
        return cast("bytes", lz4.block.decompress(packed, uncompressed_size=CHUNK_BYTES))
    except (lz4.block.LZ4BlockError, ValueError) as exc:
        raise sqlite3.DatabaseError(f"a text's chunk does not unpack: {exc}") from None


def read_chunks(db: sqlite3.Connection, first: int, last: int) -> list[bytes]:
    """The chunks of rows `first` to `last` (`chunk_row`), unpacked, in order: how a text
    is read back, whole (`IndexStore`) or by range (`textindex`). Raises
    sqlite3.DatabaseError for a row that does not unpack (`unpack_chunk`)."""
    found = db.execute(
        "SELECT body FROM chunks WHERE id BETWEEN ? AND ? ORDER BY id", (first, last)
    )
    return [unpack_chunk(packed) for (packed,) in found]


def chunk_row(row: int, number: int) -> int:
    return (row << CHUNK_BITS) | number


def chunk_rows(row: int) -> tuple[int, int]:
    """The first and last chunk rows a text's row may have."""
    return row << CHUNK_BITS, ((row + 1) << CHUNK_BITS) - 1


SPAN_BYTES = 4096
"""The trigram indexes (`cspans`, `fspans`) are kept per span of a text: span k starts at
byte k * SPAN_BYTES and reaches into the next (`span_end`). A span of 4 KiB holds a
name's trigrams as written together where the name is, and rarely elsewhere; the index
costs 0.66x the text where one row per file cost 0.33x, and 16 KiB spans 0.59x (a sample
of 3,000 files of the 100k corpus, benchmarks/RESULTS-index.md)."""
SPAN_OVERLAP = 256
"""A span reaches into the next past more than this many bytes that are not whitespace
(`span_end`: at least that, often more), so trigrams that lie within this many bytes
of each other in the text without its whitespace are in one span together wherever
they are (`textindex` asks for no farther ones)."""
SPAN_BITS = 14
"""A span's row is its text's row shifted by this many bits, plus its number (`span_row`):
a text's spans are the rows [row << SPAN_BITS, (row + 1) << SPAN_BITS). A text longer than
2**SPAN_BITS spans (64 MiB) has its last span run to its end. A text's spans are deleted
by making them again from its text (a contentless table): changing any of these three
numbers is a change of SCHEMA_VERSION."""


def span_row(row: int, span: int) -> int:
    return (row << SPAN_BITS) | span


SPAN_OF_SQL = f"rowid >> {SPAN_BITS}, rowid & {(1 << SPAN_BITS) - 1}"
"""(text row, span number) of a span table's row (`span_row`), as SQLite selects it: a
lookup's rows are split there, not one at a time in Python (`textindex`)."""


LAST_SPAN = (1 << SPAN_BITS) - 1
"""The number of a text's last possible span, which runs to the text's end."""
SPAN_REACH = 2 * (SPAN_OVERLAP + 1)
"""Bytes past its next span's start that a span is first tried at (`span_end`): enough
when no more than half of them are whitespace."""


def span_start(number: int, size: int) -> int:
    """Where span `number` of a text of `size` bytes starts."""
    return min(number * SPAN_BYTES, size)


def span_end(read: Callable[[int, int], bytes], number: int, size: int) -> int:
    """Where span `number` of a text of `size` bytes (read through `read(lower, upper)`)
    ends: past the next span's start by bytes holding more than SPAN_OVERLAP that are not
    whitespace (tried at SPAN_REACH bytes, then fourfold further), or at the text's end.
    Those bytes without their whitespace are what the span keeps of them, so whatever is
    SPAN_OVERLAP bytes or less so stripped and starts in the span ends in it; counting
    them (`literals.solid_bytes`) keeps an excerpt's cost in its reads. The index cuts
    its spans here and an excerpt reads to here: the rule lives in this one place."""
    if number == LAST_SPAN:
        return size
    boundary = (number + 1) * SPAN_BYTES
    reach = SPAN_REACH
    while True:
        end = min(size, boundary + reach)
        if end >= size:
            return size
        if solid_bytes(read(boundary, end)) > SPAN_OVERLAP:
            return end
        reach *= 4


def spans(row: int, body: str) -> Iterator[tuple[int, str]]:
    """(span row, span text) of a text: its UTF-8 bytes cut every SPAN_BYTES, each piece
    reaching into the next until SPAN_OVERLAP bytes of it that are not whitespace are
    held (`span_end`), and kept without its whitespace (`literals.strip_space`); a
    character cut at either end of a piece is left out of it (it is whole in the
    neighbouring piece that overlaps it). Any text that is SPAN_OVERLAP bytes or less
    without its whitespace lies whole in one span, however much whitespace it holds."""
    data = body.encode("utf-8")
    number = 0

    def read(lower: int, upper: int) -> bytes:
        return data[lower:upper]

    while True:
        start, end = span_start(number, len(data)), span_end(read, number, len(data))
        piece = strip_space_bytes(data[start:end])
        yield span_row(row, number), piece.decode("utf-8", "ignore")
        number += 1
        if end >= len(data):
            return


WORD_RUN = 100
"""Longest run of word characters (RE2's `\\w`, ASCII) a text may hold and still be
placed by the distance between two texts of a pattern (`literals.Gap`): a longer run
puts its spans in `texts.runs` and the text in `runs`, and `grep` reads those spans
whatever the distance says. Identifiers and words are far shorter; hashes, base64 and
generated names are what is longer: 581 texts of the 100k corpus hold a run over 100
characters (2,059 over 64, 447 over 128). Two runs and the texts on either side fit in
SPAN_OVERLAP, so `public\\s+\\w+\\s+get` is still asked in one span."""
_LONG_RUN = re2.compile(f"{WORD_CLASS}{{{WORD_RUN + 1},}}".encode())


def word_run_spans(data: bytes) -> tuple[int, ...]:
    """The numbers of the spans (`spans`) meeting a run of word characters longer than
    WORD_RUN in a text's bytes, in order; () when it holds none. RE2, whose time is
    linear in the text: `re`'s bounded repetition tries again at each byte of a run."""
    last = (1 << SPAN_BITS) - 1
    found: set[int] = set()
    for match in _LONG_RUN.finditer(data):
        start, end = match.start(), match.end()
        found.update(range(min(start // SPAN_BYTES, last), min((end - 1) // SPAN_BYTES, last) + 1))
    return tuple(sorted(found))


class HeldTexts(NamedTuple):
    """What `IndexStore.texts` says of the texts `grep`'s trigram index holds: their rows,
    those that `folds`, and the spans of each text with a run longer than WORD_RUN."""

    held: set[int]
    folds: set[int]
    runs: dict[int, tuple[int, ...]]


def pack_runs(spans: tuple[int, ...]) -> str | None:
    """`texts.runs` of a text's `word_run_spans`."""
    return ",".join(map(str, spans)) if spans else None


def unpack_runs(column: str | None) -> tuple[int, ...]:
    """What `pack_runs` packed (() for NULL). Raises sqlite3.DatabaseError for a value
    that is not one (a cache written by something else), as the other damaged rows do."""
    if not column:
        return ()
    try:
        return tuple(int(n) for n in column.split(","))
    except ValueError:
        raise sqlite3.DatabaseError("a text's runs do not read") from None


LINES_EVERY = SPAN_BYTES
"""`texts.lines` counts the line ends before every this many bytes of a text: a line
start in an excerpt lies just before a span's start (`textindex._line_ranges`), so it
is numbered by counting the few bytes between."""


def pack_lines(data: bytes) -> bytes | None:
    """`texts.lines` of a text: the line ends ("\\n") before each LINES_EVERY bytes but
    the first, as unsigned 32-bit little-endian numbers; None for a text that short. A
    line anywhere in a text is numbered from the nearest such place (`textindex`), so a
    match in an excerpt of a large text is answered without reading the text up to it."""
    if len(data) <= LINES_EVERY:
        return None
    counts = array.array("I")
    ends = 0
    for at in range(LINES_EVERY, len(data), LINES_EVERY):
        ends += data.count(b"\n", at - LINES_EVERY, at)
        counts.append(ends)
    if sys.byteorder == "big":
        counts.byteswap()
    return counts.tobytes()


def unpack_lines(column: bytes | None, size: int) -> tuple[int, ...]:
    """The line ends before each LINES_EVERY bytes of a text of `size` bytes (before the
    first: 0) from what `pack_lines` packed. Raises sqlite3.DatabaseError for a value
    that does not fit the text (a cache written by something else), as the other damaged
    rows do."""
    places = max(1, -(-size // LINES_EVERY))
    counts = array.array("I")
    if column is not None:
        if len(column) % counts.itemsize:
            raise sqlite3.DatabaseError("a text's line counts do not read")
        counts.frombytes(column)
        if sys.byteorder == "big":
            counts.byteswap()
    if len(counts) != places - 1:
        raise sqlite3.DatabaseError("a text's line counts do not fit it")
    return (0, *counts)


class IndexStore:
    """One repository's index database. Writes come from the loading thread (one load at
    a time); `search` reads through its own connection (`reader`)."""

    def __init__(self, path: Path, *, scanned: bool = True) -> None:
        self.path = path
        self._held: HeldTexts | None = None  # `texts`'s rows, in `update`
        self._db = connect(path)
        try:
            self._prepare(scanned)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def open(cls, folder: Path, *, scanned: bool = True) -> IndexStore | None:
        """The store in `folder` (created when missing), rebuilt when corrupt or of another
        schema; None, logged once, when the folder cannot hold one (then index in memory).
        `scanned=False` skips walking the files' rows for corrupt pages (57 ms at 100k
        files): for a live reload's patch, whose failure ends in a full load that walks
        them."""
        path = folder / DB_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                return cls(path, scanned=scanned)
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

    def _prepare(self, scanned: bool) -> None:
        db = self._db
        db.execute(f"PRAGMA page_size={PAGE_BYTES}")  # takes only on a file not yet written
        # So too: the pages a large load's merge frees are given back (`texts_ready`).
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # a lost tail after a crash is re-indexed
        found = db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if found is not None:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"index cache schema {row and row[0]}")
            if scanned:
                db.execute("SELECT count(*) FROM files").fetchone()  # corrupt pages fail here
            added = (("table", "blobs", _BLOBS), ("index", "files_facts", _FACTS))
            for kind, name, statement in added:  # to a cache of this schema made before them
                there = "SELECT 1 FROM sqlite_master WHERE type=? AND name=?"
                if db.execute(there, (kind, name)).fetchone() is None:  # no write, no lock
                    with db:
                        db.execute(statement)
            return
        with db:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(_BLOBS)
            db.execute(_FACTS)
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def known(self) -> dict[str, StoredFile]:
        """Every file of the last load, by path."""
        rows = self._db.execute(
            "SELECT path, id, size, mtime_ns, language, binary, skipped, digest, excerpt FROM files"
        )
        return {
            r[0]: StoredFile(r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8]) for r in rows
        }

    def generation(self) -> int:
        """How many times `update` wrote to the files' rows (0: never counted): what a
        snapshot of them is kept with, so that any later write tells it is stale."""
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row is not None else 0

    def deny_key(self) -> str | None:
        """The deny-list (`RepoFiles.deny_key`) every path of `known` passed, if kept: then
        a load need not ask it again of those paths."""
        row = self._db.execute("SELECT value FROM meta WHERE key='deny'").fetchone()
        return str(row[0]) if row is not None else None

    def keep_deny_key(self, key: str) -> None:
        """After a load that dropped the rows of every file the deny-list `key` refuses."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('deny', ?)", (key,))

    def rows_of(self, paths: Iterable[str]) -> dict[str, tuple[StoredFile, bytes | None]]:
        """What the last load kept of these files (those it knows), with their packed
        symbols: a live reload of a few files asks for those alone."""
        found: dict[str, tuple[StoredFile, bytes | None]] = {}
        for path in paths:
            r = self._db.execute(
                "SELECT id, size, mtime_ns, language, binary, skipped, digest, excerpt, symbols "
                "FROM files WHERE path=?",
                (path,),
            ).fetchone()
            if r is not None:
                stored = StoredFile(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7])
                found[path] = (stored, None if r[8] is None else bytes(r[8]))
        return found

    def excerpts(self) -> list[tuple[str, str | None, str]]:
        """(path, language, code-map excerpt) of every file whose contents are indexed."""
        rows = self._db.execute("SELECT path, language, excerpt FROM files WHERE skipped IS NULL")
        return [(str(r[0]), r[1], str(r[2])) for r in rows]

    def symbols(self) -> Iterable[tuple[str, bytes]]:
        """(path, packed symbols) of every file that has them, by path."""
        return self._db.execute(
            "SELECT path, symbols FROM files WHERE symbols IS NOT NULL ORDER BY path"
        )

    def update(
        self,
        written: Iterable[FileRow],
        removed: Iterable[str],
        places: Mapping[str, int] | None = None,
        *,
        expected: int = 0,
    ) -> dict[str, int]:
        """Replace the rows of the files read and drop those gone; path → rowid of every
        file written. A new file takes its row number from `places` (`textindex.plan_rows`) when
        that number is free. `written` may be a generator: rows are committed every
        COMMIT_ROWS, so a first load never holds the repository's text in memory.
        `expected`: how many rows `written` holds, when known (past OPTIMIZE_ROWS, the
        trigram indexes are merged once at the end, `BULK_MERGING`)."""
        places = places or {}
        db = self._db
        ids: dict[str, int] = {}
        removed = list(removed)
        rows = iter(written)
        first = next(rows, None)
        if first is None and not removed:
            return ids  # a restart with nothing changed writes nothing
        written = itertools.chain([first], rows) if first is not None else ()
        # Which rows `texts` holds is kept beside it (`texts`), brought up to date here;
        # dropped first, so that a write stopped half-way leaves none to trust.
        self._held = self._kept_texts()
        with db:
            db.execute("DELETE FROM blobs WHERE key=?", (_TEXTS_BLOB,))
            # Set on every write: a bulk load stopped half-way leaves them to the next.
            self._merging(BULK_MERGING if expected > OPTIMIZE_ROWS else STEADY_MERGING)
            # Any write moves the generation first: what was kept of the files before it
            # (a restart's snapshot, `loading.py`) is known stale even if the write stops.
            db.execute(
                "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE "
                "SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
            )
            for path in removed:
                row = db.execute("SELECT id FROM files WHERE path=?", (path,)).fetchone()
                if row is not None:
                    db.execute("DELETE FROM code WHERE rowid=?", (row[0],))
                    self._drop_text(row[0])
                    db.execute("DELETE FROM files WHERE id=?", (row[0],))
        pending = 0
        try:
            for f in written:
                ids[f.path] = self._write(f, places.get(f.path))
                pending += 1
                if pending >= COMMIT_ROWS:
                    db.commit()
                    pending = 0
            if self._held is not None:
                self._keep_texts(self._held)
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            self._held = None
        return ids

    def _write(self, f: FileRow, place: int | None) -> int:
        db = self._db
        facts = (f.size, f.mtime_ns, f.language, int(f.binary), f.skipped, f.digest)
        row = db.execute("SELECT id FROM files WHERE path=?", (f.path,)).fetchone()
        if row is None:
            if (
                place is not None
                and db.execute("SELECT 1 FROM files WHERE id=?", (place,)).fetchone()
            ):
                place = None  # taken (rows out of path order already): SQLite picks
            cur = db.execute(
                "INSERT INTO files(id, path, size, mtime_ns, language, binary, skipped, "
                "digest, excerpt, symbols) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (place, f.path, *facts, f.excerpt, f.symbols),
            )
            rowid = int(cur.lastrowid or 0)
        else:
            rowid = int(row[0])
            db.execute("DELETE FROM code WHERE rowid=?", (rowid,))
            self._drop_text(rowid)
            db.execute(
                "UPDATE files SET size=?, mtime_ns=?, language=?, binary=?, skipped=?, "
                "digest=?, excerpt=?, symbols=? WHERE id=?",
                (*facts, f.excerpt, f.symbols, rowid),
            )
        db.execute(
            "INSERT INTO code(rowid, path, idents, body) VALUES (?,?,?,?)",
            (rowid, f.path, f.idents, f.text),
        )
        if f.grep_text is not None:
            # As `grep` searches it: a CRLF line end is a line end ("\r" before "\n" is
            # dropped), so the text is read back as bytes with nothing left to do.
            body = f.grep_text.replace("\r\n", "\n")
            folds = int(any(c in body for c in FOLDS_TO_ASCII))
            data = body.encode("utf-8")
            runs = word_run_spans(data)
            db.execute(
                "INSERT INTO texts VALUES (?,?,?,?,?)",
                (rowid, len(data), folds, pack_runs(runs), pack_lines(data)),
            )
            if runs:
                db.execute("INSERT INTO runs(rowid, body) VALUES (?,?)", (rowid, strip_space(body)))
            db.executemany(
                "INSERT INTO chunks VALUES (?,?)",
                (
                    (chunk_row(rowid, n), pack_chunk(data[at : at + CHUNK_BYTES]))
                    for n, at in enumerate(range(0, len(data), CHUNK_BYTES))
                ),
            )
            pieces = list(spans(rowid, body))
            db.executemany("INSERT INTO cspans(rowid, body) VALUES (?,?)", pieces)
            db.executemany("INSERT INTO fspans(rowid, body) VALUES (?,?)", pieces)
            if self._held is not None:
                self._held.held.add(rowid)
                if folds:
                    self._held.folds.add(rowid)
                if runs:
                    self._held.runs[rowid] = runs
        return rowid

    def _drop_text(self, rowid: int) -> None:
        """Take a file's text out of the trigram indexes (contentless tables are told the
        values they indexed) and out of `texts` and `chunks`."""
        db = self._db
        found = db.execute("SELECT runs FROM texts WHERE id=?", (rowid,)).fetchone()
        if found is not None:
            first, last = chunk_rows(rowid)
            old = b"".join(read_chunks(db, first, last)).decode("utf-8")
            pieces = list(spans(rowid, old))
            for table in ("cspans", "fspans"):
                db.executemany(
                    f"INSERT INTO {table}({table}, rowid, body) VALUES ('delete', ?, ?)",  # noqa: S608
                    pieces,
                )
            if found[0] is not None:
                db.execute(
                    "INSERT INTO runs(runs, rowid, body) VALUES ('delete', ?, ?)",
                    (rowid, strip_space(old)),
                )
            db.execute("DELETE FROM chunks WHERE id BETWEEN ? AND ?", (first, last))
            db.execute("DELETE FROM texts WHERE id=?", (rowid,))
        if self._held is not None:
            self._held.held.discard(rowid)
            self._held.folds.discard(rowid)
            self._held.runs.pop(rowid, None)

    def blob(self, key: str, fingerprint: str) -> bytes | None:
        """The blob kept under `key`, if it was made from the files `fingerprint` names."""
        # Read only when it matches: a symbol index's arrays are tens of MB at 100k files.
        row = self._db.execute(
            "SELECT data FROM blobs WHERE key=? AND fingerprint=?", (key, fingerprint)
        ).fetchone()
        return bytes(row[0]) if row is not None else None

    def has_blob(self, key: str, fingerprint: str) -> bool:
        """Whether `blob` would return one (without reading it)."""
        there = "SELECT 1 FROM blobs WHERE key=? AND fingerprint=?"
        return self._db.execute(there, (key, fingerprint)).fetchone() is not None

    def blob_apart(self, key: str, fingerprint: str) -> bytes | None:
        """`blob`, read through a connection of its own: for a thread beside the one that
        uses this store (a restart reads the symbol index while it stats the files)."""
        with self.reads().connection() as db:
            row = db.execute(
                "SELECT data FROM blobs WHERE key=? AND fingerprint=?", (key, fingerprint)
            ).fetchone()
        return bytes(row[0]) if row is not None else None

    def last_blob(self, key: str) -> tuple[str, bytes] | None:
        """The blob kept under `key` and the fingerprint it was kept with, whatever that is
        (a load that starts from the last one and applies what changed since)."""
        row = self._db.execute("SELECT fingerprint, data FROM blobs WHERE key=?", (key,)).fetchone()
        return (str(row[0]), bytes(row[1])) if row is not None else None

    def last_fingerprint(self, key: str) -> str | None:
        """The fingerprint the blob under `key` was kept with (its data not read)."""
        row = self._db.execute("SELECT fingerprint FROM blobs WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row is not None else None

    def keep_blob(self, key: str, fingerprint: str, data: bytes) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO blobs VALUES (?,?,?)", (key, fingerprint, data)
            )

    def keep_blob_at(self, key: str, generation: int, data: bytes) -> bool:
        """`keep_blob` under `generation`, only if the files' rows are still at it (no
        `update` since): for what was made of them then, kept later from another thread
        (a restart's snapshot, `loading._keep_snapshot`). Whether it was kept."""
        db = self._db
        with db:
            # A write first: the transaction holds the write lock, so no `update` can move
            # the generation between the test and the insert.
            db.execute("UPDATE meta SET value=value WHERE key='generation'")
            if self.generation() != generation:
                return False
            db.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?)", (key, str(generation), data))
        return True

    def texts(self) -> HeldTexts:
        """Which rows' texts `grep`'s trigram index holds, those among them that `folds`,
        and the spans of those with runs longer than WORD_RUN (`HeldTexts`).

        Kept as a blob beside the table, which `update` brings up to date as it writes:
        one read, where a scan of `texts` reads a row per file (when it also held the
        text, a second at 100k files); the scan is done only when the blob is not there."""
        kept = self._kept_texts()
        if kept is not None:
            return kept
        found = HeldTexts(set(), set(), {})
        for rowid, fold, runs in self._db.execute("SELECT id, folds, runs FROM texts"):
            found.held.add(rowid)
            if fold:
                found.folds.add(rowid)
            if runs is not None:
                found.runs[rowid] = unpack_runs(runs)
        with self._db:
            self._keep_texts(found)
        return found

    def _kept_texts(self) -> HeldTexts | None:
        kept = self.last_blob(_TEXTS_BLOB)
        if kept is None:
            return None
        try:
            held, folds, runs = cast(
                tuple[list[int], list[int], dict[int, tuple[int, ...]]], unpack_symbols(kept[1])
            )
            return HeldTexts(set(held), set(folds), dict(runs))
        except (ValueError, TypeError, EOFError):
            return None

    def _keep_texts(self, texts: HeldTexts) -> None:
        """Inside the caller's transaction."""
        data = pack_symbols((sorted(texts.held), sorted(texts.folds), texts.runs))
        self._db.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?)", (_TEXTS_BLOB, "", data))

    def texts_ready(self, written: int) -> None:
        """After a load that wrote many rows: merge the trigram indexes' segments (a query
        then reads one b-tree per trigram instead of one per batch) and count again in
        how many spans each trigram is (`fspandf`, `cspandf`). A few rows (a live reload)
        are left to FTS5's own merging, and the counts as they were (both cost a pass over
        the whole index), unless there are none yet."""
        if written == 0:
            return
        large = written > OPTIMIZE_ROWS
        db = self._db
        for table, counts in (("fspans", "fspandf"), ("cspans", "cspandf")):
            if large:
                with db:
                    db.execute(f"INSERT INTO {table}({table}) VALUES ('optimize')")  # noqa: S608
            if large or db.execute(f"SELECT 1 FROM {counts} LIMIT 1").fetchone() is None:  # noqa: S608
                db.execute(
                    f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table}vocab "
                    f"USING fts5vocab(main, {table}, row)"
                )
                with db:
                    db.execute(f"DELETE FROM {counts}")  # noqa: S608
                    db.execute(
                        f"INSERT INTO {counts} SELECT term, doc FROM temp.{table}vocab "  # noqa: S608
                        "WHERE length(CAST(term AS BLOB)) = 3"  # ASCII: what a grep asks for
                    )
        if large:
            with db:
                self._merging(STEADY_MERGING)
            # The merge of a load's segments (BULK_MERGING) leaves the pages they took
            # free: at 100k files 527 MB, a tenth of the file, which only later writes
            # would take again. Given back (a new cache is made with `auto_vacuum`).
            # A script: the module steps a statement without columns once, a page.
            db.executescript("PRAGMA incremental_vacuum;")
            # The log of a first load is as large as the index: folded in, emptied.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def _merging(self, settings: tuple[tuple[str, int], ...]) -> None:
        """Set how FTS5 merges the span indexes' segments (kept in each table's config);
        inside the caller's transaction."""
        for table in ("cspans", "fspans"):
            for key, value in settings:
                self._db.execute(
                    f"INSERT INTO {table}({table}, rank) VALUES (?, ?)",  # noqa: S608
                    (key, value),
                )

    def reads(self) -> ReadPool:
        """The process's read connections to this store (`ReadPool`)."""
        return read_pool(self.path)

    def disk_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total

    def close(self) -> None:
        self._db.close()


READS_KEPT = 8
"""Idle read connections a `ReadPool` keeps: as many as requests read at once (a `grep`
holds two, its lookup's and its reads'); past that a connection is closed when given back."""


class ReadPool:
    """Read-only connections to one index database, shared by every snapshot this process
    serves (`read_pool`).

    A live reload replaces the snapshot, and a connection nobody closes stays open until
    the cycle collector runs (Python's sqlite3 connection holds a cycle through its
    statement cache). With connections of its own, each replaced snapshot left them open
    until then: measured, two file descriptors and up to two page caches more per reload,
    422 descriptors after 250 reloads of a small repository, where a daemon's usual limit
    is 1,024 (tests/unit/test_read_pool.py). Shared, they are bounded by the requests
    reading at once, and a reload finds their pages cached.

    A connection reads the database as it is when its read transaction starts, whichever
    snapshot asks: a reader checks a row is still its file's (`textindex._OWNER`, the
    stored `code` table's path), as it did with a connection of its own."""

    def __init__(self, path: Path, identity: tuple[int, int] | None) -> None:
        self.path = path
        self.identity = identity  # (st_dev, st_ino) of the file when the pool was made
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # Closed when the pool goes, not whenever each connection object does.
        weakref.finalize(self, _close_all, self._idle)

    @contextlib.contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for the caller alone until the block ends (raises sqlite3.Error
        when the database cannot be opened); given back with no transaction open."""
        with self._lock:
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = connect(self.path, readonly=True)
        try:
            yield db
        finally:
            kept = False
            with contextlib.suppress(sqlite3.Error):
                if db.in_transaction:
                    db.rollback()  # read only: nothing to keep
                with self._lock:
                    if len(self._idle) < READS_KEPT:
                        self._idle.append(db)
                        kept = True
            if not kept:
                db.close()

    def close(self) -> None:
        """Close the idle connections (one given back later is kept, and closed with the
        pool when the last snapshot holding it goes)."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _close_all(idle)


def _close_all(connections: list[sqlite3.Connection]) -> None:
    for db in connections:
        db.close()
    connections.clear()


_pools: weakref.WeakValueDictionary[Path, ReadPool] = weakref.WeakValueDictionary()
"""Held weakly: a repository's pool goes (its connections closed) with its last snapshot,
so a process that served many (tenants, tests) keeps connections for the live ones only."""
_pools_lock = threading.Lock()


def read_pool(path: Path) -> ReadPool:
    """The process's `ReadPool` of the database at `path`. A file deleted and made again
    there (a corrupt cache rebuilt, `IndexStore.open`) gets a new pool; the old one's
    idle connections are closed, and the snapshots still holding it read through it
    until they go (a connection it opens now reads the new file: readers check a row is
    still their file's, as any reader does)."""
    try:
        st = path.stat()
        identity: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except OSError:
        identity = None
    with _pools_lock:
        pool = _pools.get(path)
        if pool is not None and pool.identity == identity:
            return pool
        fresh = ReadPool(path, identity)
        _pools[path] = fresh
    if pool is not None:
        pool.close()
    return fresh


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    else:
        db = sqlite3.connect(path, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return db

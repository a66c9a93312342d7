"""Index the repository's files through the index cache: read only what changed.

`search.code_rows` reads every text file at every load; with a cache (`store.py`) a load
instead compares each file's size and `mtime_ns` with the last load's, reuses the rows of
the files that match (their search row, symbols and code-map lines stay in the cache and
are not read), reads the others through the same gate, and replaces their rows; files
gone leave the cache. The result is what `code_rows` + `build_symbols` + the code map's
texts give, so a load with a cache serves what a load without one serves.

Skipped, counted, never fatal (the same reasons and caps as `search.code_rows`): binary
files, files over `search.MAX_INDEXED_FILE_BYTES` (found by path and by `grep`), files that
cannot be read, and files past `search.MAX_INDEXED_CODE_BYTES` in all.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import structlog

from context_bot.knowledge import codemap
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.search import (
    MAX_INDEXED_CODE_BYTES,
    MAX_INDEXED_FILE_BYTES,
    CodeEntry,
    expand_identifiers,
    read_indexable,
)
from context_bot.knowledge.store import (
    FileRow,
    IndexStore,
    StoredFile,
    content_digest,
    pack_symbols,
    unpack_symbols,
)
from context_bot.knowledge.symbol_store import SymbolTable, remove_others
from context_bot.knowledge.symbols import (
    FileSymbols,
    SymbolIndex,
    assemble_symbols,
    index_from_plain,
    index_to_plain,
    parse_file,
    symbols_from_plain,
    symbols_to_plain,
)

log = structlog.get_logger(__name__)


@dataclass
class Indexed:
    """What the index cache gives a load."""

    entries: dict[int, CodeEntry]
    """Row of the cache's `code` table → the file it is."""
    symbols: SymbolIndex
    excerpts: list[tuple[str, str | None, str]]
    """(path, language, what the code map reads) of every indexed text file."""
    digests: dict[str, str]
    """Path → SHA-1 of the file's bytes, for the files whose contents were read."""
    skipped: dict[str, int] = field(default_factory=dict)
    indexed_bytes: int = 0
    read: int = 0
    """Files read by this load (changed, new, or not indexable last time)."""
    reused: int = 0
    """Files whose rows were reused without reading them."""
    removed: int = 0


def index_files(
    repo_files: Iterable[RepoFile],
    files: RepoFiles,
    store: IndexStore,
    known: dict[str, StoredFile],
    *,
    max_file: int = MAX_INDEXED_FILE_BYTES,
    max_total: int = MAX_INDEXED_CODE_BYTES,
) -> Indexed:
    """Bring the cache up to date with `repo_files` (the inventory without the knowledge
    folder) and return what the load needs. Blocking (stats, reads, parses): at load."""
    out = Indexed({}, SymbolIndex(), [], {})
    skipped: Counter[str] = Counter()
    written: list[tuple[str, RepoFile, str | None]] = []  # (path, file, why not indexed)
    seen: set[str] = set()
    to_read: list[RepoFile] = []
    over_total: set[str] = set()  # files read now that fall past the total
    planned = 0  # bytes of contents indexed so far, in path order (reused and to read)
    states: dict[str, str | None] = {}  # path → why its contents are not indexed
    for f in repo_files:
        seen.add(f.path)
        old = known.get(f.path)
        if (
            old is not None  # (an mtime of 0 is a real one: unpacked archives have it)
            and old.size == f.size
            and old.mtime_ns == f.mtime_ns
            and old.skipped != "unreadable"  # tried again: it may be readable now
            and _same_fit(old.skipped, planned + f.size <= max_total)
        ):
            out.reused += 1
            states[f.path] = old.skipped
            out.entries[old.rowid] = CodeEntry(f.path, f.size, f.language, old.skipped)
            if old.skipped is None:
                out.indexed_bytes += f.size
                planned += f.size
                out.excerpts.append((f.path, f.language, old.excerpt))
            else:
                skipped[old.skipped] += 1
            if old.digest:
                out.digests[f.path] = old.digest
            continue
        # The total is decided here, in path order, for the files read later too: decided
        # as they are read, it would move under the files reused after them.
        over = planned + f.size > max_total
        if not over and not f.binary and f.size <= max_file:
            planned += f.size
        to_read.append(f)
        if over:
            over_total.add(f.path)

    def rows() -> Iterator[FileRow]:
        for f in to_read:
            row = _read(f, files, out, max_file, f.path in over_total)
            if row.skipped is not None:
                skipped[row.skipped] += 1
            written.append((row.path, f, row.skipped))
            states[f.path] = row.skipped
            yield row

    removed = [path for path in known if path not in seen]
    ids = store.update(rows(), removed)
    store.texts_ready(len(written))
    for path, f, reason in written:
        out.entries[ids[path]] = CodeEntry(f.path, f.size, f.language, reason)
    out.read, out.removed = len(written), len(removed)
    out.skipped = dict(skipped)
    # What the symbols come from: every file's path, stat and indexing outcome.
    fingerprint = hashlib.sha1(b"symbols-2\n", usedforsecurity=False)
    by_path = {f.path: f for f in to_read}
    for path in sorted(states):
        new = by_path.get(path)
        size, mtime = (new.size, new.mtime_ns) if new is not None else _stat_of(known[path])
        fingerprint.update(f"{path}\0{size}\0{mtime}\0{states[path]}\n".encode())
    out.symbols = _symbols(store, seen, fingerprint.hexdigest())
    return out


def _same_fit(skipped: str | None, fits: bool) -> bool:
    """Whether a file's last outcome holds under the total cap: indexed, it must still fit;
    over the total, it must still not fit (else it is read and indexed now). A file left
    out for what it is (binary, too large) stays out whatever the total."""
    if skipped is None:
        return fits
    return not fits if skipped == "over_total" else True


def _stat_of(stored: StoredFile) -> tuple[int, int]:
    return stored.size, stored.mtime_ns


def _symbols(store: IndexStore, current: set[str], fingerprint: str) -> SymbolIndex:
    """The symbol index: kept whole when made from the same files (`fingerprint`: its
    arrays in the cache, its `SymbolTable` in a file of its own beside it), else
    assembled from every file's symbols and kept for the next load."""
    folder = store.path.parent
    table_path = folder / f"symbols-{fingerprint[:24]}.sqlite3"
    blob = store.blob("symbols", fingerprint)
    table = SymbolTable.open(table_path) if blob is not None else None
    if blob is not None and table is not None:
        try:
            return index_from_plain(unpack_symbols(blob), table)
        except (ValueError, TypeError, EOFError):
            log.warning("symbol_index_cache_unreadable")
    index = assemble_symbols(_stored_symbols(store, current), table_path)
    store.keep_blob("symbols", fingerprint, pack_symbols(index_to_plain(index)))
    remove_others(folder, table_path)
    return index


def _read(f: RepoFile, files: RepoFiles, out: Indexed, max_file: int, over: bool) -> FileRow:
    """Read one file through the gate (up to the served size cap, for `grep`) and lay out
    its row: the text `search` indexes (under its own caps), symbols, code-map lines."""
    whole: str | None = None
    why: str | None = "binary" if f.binary else None
    if why is None and f.size > files.max_bytes:
        why = "too_large"
    if why is None:
        text, why = read_indexable(files, f.path, files.max_bytes)
        whole = text if why is None else None
    reason: str | None = why
    if reason is None:
        if f.size > max_file or len(whole or "") > max_file:
            reason = "too_large"
        elif over:
            reason = "over_total"
    text = (whole or "") if reason is None else ""
    digest = content_digest(whole.encode("utf-8")) if whole is not None else ""
    if digest:
        out.digests[f.path] = digest
    excerpt = ""
    if reason is None:
        out.indexed_bytes += f.size
        excerpt = codemap.excerpt(f.path, text)
        out.excerpts.append((f.path, f.language, excerpt))
    # Symbols cover every file of a parsed language up to their own size cap, also those
    # past the search index's total (`over_total`): the text read for `grep` is parsed.
    found = parse_file(f.path, f.language, whole or "", why) if why != "binary" else None
    return FileRow(
        path=f.path,
        size=f.size,
        mtime_ns=f.mtime_ns,
        language=f.language,
        binary=f.binary,
        skipped=reason,
        digest=digest,
        excerpt=excerpt,
        idents=expand_identifiers(f.path, text),
        text=text,
        symbols=pack_symbols(symbols_to_plain(found)) if found is not None else None,
        grep_text=whole,
    )


def _stored_symbols(
    store: IndexStore, current: set[str]
) -> Iterable[tuple[str, FileSymbols | str]]:
    """Every current file's symbols from the cache, by path; a row that does not unpack
    (written by a bug, or damaged) counts as `not_read` rather than failing the load."""
    for path, blob in store.symbols():
        if path not in current:
            continue
        try:
            yield path, symbols_from_plain(path, unpack_symbols(blob))
        except (ValueError, TypeError, EOFError):
            yield path, "not_read"

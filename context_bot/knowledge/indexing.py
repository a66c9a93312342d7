"""Index the repository's files through the index cache: read only what changed.

`search.code_rows` reads every text file at every load; with a cache (`store.py`) a load
instead compares each file's size and `mtime_ns` with the last load's, reuses the rows of
the files that match (their search row, symbols and code-map lines stay in the cache and
are not read), reads the others through the same gate, and replaces their rows; files
gone leave the cache. The result is what `code_rows` + `build_symbols` + the code map's
texts give, so a load with a cache serves what a load without one serves.

Skipped, counted, never fatal (the same reasons and caps as `search.code_rows`): binary
files, files over `search.MAX_INDEXED_FILE_BYTES` (found by path and by `grep`), files that
cannot be read, and files past `search.MAX_INDEXED_CODE_BYTES` in all. That total bounds
`search`'s contents only: every text file under the served size cap goes into `grep`'s
trigram index. New files get row numbers in path order (`textindex.plan_rows`).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import cast

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
    MAX_OVERLAY_FILES,
    FileSymbols,
    Outcome,
    SymbolIndex,
    UsesUnknown,
    assemble_symbols,
    index_from_plain,
    index_to_plain,
    parse_file,
    symbols_from_plain,
    symbols_to_plain,
)
from context_bot.knowledge.textindex import plan_rows

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
    symbols_from: MadeOf | None = None
    """What `symbols` is made of (`MadeOf`)."""


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
    order: list[str] = []  # every file, in path order: where a new file's row goes
    for f in repo_files:
        seen.add(f.path)
        order.append(f.path)
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
    kept = {path: known[path].rowid for path in order if path in known}
    ids = store.update(rows(), removed, plan_rows(order, kept), expected=len(to_read))
    store.texts_ready(len(written))
    for path, f, reason in written:
        out.entries[ids[path]] = CodeEntry(f.path, f.size, f.language, reason)
    out.read, out.removed = len(written), len(removed)
    out.skipped = dict(skipped)
    out.symbols, out.symbols_from = _symbols(store, seen, _marks(states, to_read, known))
    return out


def keep_rows(
    repo_files: Iterable[RepoFile], entries: Mapping[int, CodeEntry]
) -> tuple[list[int], list[str | None]] | None:
    """The code index's row and outcome (why its contents are not indexed, or None) of
    each of `repo_files` (the inventory without the knowledge folder), as a restart's
    snapshot keeps them; None when a file has no row (then nothing is kept)."""
    # Path -> row, no tuple per file: 100k tuples alive through the loop would reach the
    # collector's oldest generation and set off a full collection, 0.1 s in which no
    # thread runs at 100k files (this runs beside the rooms, after each live reload).
    by_path = {e.path: row for row, e in entries.items()}
    rows: list[int] = []
    for f in repo_files:
        row = by_path.get(f.path)
        if row is None:
            return None
        rows.append(row)
    return rows, [entries[row].skipped for row in rows]


def restore_rows(
    repo_files: Iterable[RepoFile],
    rows: list[int],
    states: list[str | None],
    store: IndexStore,
    ahead: SymbolsAhead | None = None,
) -> tuple[dict[int, CodeEntry], dict[str, int], int, SymbolIndex, MadeOf | None]:
    """What `index_files` gives when no file changed since a snapshot kept `rows` and
    `states` (`keep_rows`) of the same `repo_files`, and the cache was not written since:
    the entries, the counts of files not indexed, the bytes indexed, the symbol index
    (`_symbols`: kept whole, or the last one kept with the files changed since overlaid),
    unless `ahead` is given (`symbols_ahead`: the whole one those files' symbols overlay,
    read already). Nothing is read but the symbol index's blob. Blocking. Last, what the
    symbol index is made of (`MadeOf`; None: what `ahead` was read for)."""
    files = list(repo_files)
    entries: dict[int, CodeEntry] = {}
    skipped: Counter[str] = Counter()
    indexed = 0
    for f, row, state in zip(files, rows, states, strict=True):
        entries[row] = CodeEntry(f.path, f.size, f.language, state)
        if state is None:
            indexed += f.size
        else:
            skipped[state] += 1
    symbols = _overlaid(store, "", ahead[1], ahead[0]) if ahead is not None else None
    made_of = None
    if symbols is None:
        marks = {
            f.path: f"{f.size}\0{f.mtime_ns}\0{state}"
            for f, state in zip(files, states, strict=True)
        }
        symbols, made_of = _symbols(store, set(marks), marks)
    return entries, dict(skipped), indexed, symbols, made_of


def _marks(
    states: Mapping[str, str | None], read: list[RepoFile], known: Mapping[str, StoredFile]
) -> dict[str, str]:
    """What the symbols come from: every file's path → its stat and indexing outcome."""
    by_path = {f.path: f for f in read}
    marks: dict[str, str] = {}
    for path, state in states.items():
        new = by_path.get(path)
        size, mtime = (new.size, new.mtime_ns) if new is not None else _stat_of(known[path])
        marks[path] = f"{size}\0{mtime}\0{state}"
    return marks


def _same_fit(skipped: str | None, fits: bool) -> bool:
    """Whether a file's last outcome holds under the total cap: indexed, it must still fit;
    over the total, it must still not fit (else it is read and indexed now). A file left
    out for what it is (binary, too large) stays out whatever the total."""
    if skipped is None:
        return fits
    return not fits if skipped == "over_total" else True


def _stat_of(stored: StoredFile) -> tuple[int, int]:
    return stored.size, stored.mtime_ns


def kept_symbols(store: IndexStore, fingerprint: str, *, apart: bool = False) -> SymbolIndex | None:
    """The symbol index kept whole for the files `fingerprint` names (`_fingerprint`),
    None when it is not kept (or does not unpack). `apart`: read through a connection
    of its own (in a thread beside the store's user)."""
    read = store.blob_apart if apart else store.blob
    try:
        blob = read(SYMBOLS_BLOB, fingerprint)
    except sqlite3.Error as exc:
        log.warning("symbol_index_cache_unreadable", reason=str(exc)[:200])
        return None
    if blob is None:
        return None
    table = SymbolTable.open(store.path.parent / f"symbols-{fingerprint[:24]}.sqlite3")
    if table is None:
        return None
    try:
        plain, blob = unpack_symbols(blob), None  # the bytes freed before the index is made
        return index_from_plain(plain, table)
    except (ValueError, TypeError, EOFError):
        log.warning("symbol_index_cache_unreadable")
        return None


SymbolsAhead = tuple[SymbolIndex, dict[str, Outcome]]
"""A whole symbol index, and what it holds of the files to overlay on it (`_overlaid`)."""


def symbols_ahead(
    store: IndexStore,
    fingerprint: str,
    overlaid: Iterable[str],
    was: Mapping[str, str | bool | None] | None = None,
) -> SymbolsAhead | None:
    """The symbol index kept whole under `fingerprint`, and what it holds of each of the
    `overlaid` paths (changed since it was made), read through connections of their own
    (in a thread beside the store's user); None when not kept, or unreadable. `was`:
    what `overlay_was` found of those paths already (a restart's snapshot keeps it), which
    spares reading the record of every file's outcome (0.1 s at 100k files)."""
    base = kept_symbols(store, fingerprint, apart=True)
    if base is None:
        return None
    before: dict[str, Outcome] = {}
    paths = list(overlaid)
    if not paths:
        return base, before
    if was is None or not was.keys() >= set(paths):
        was = overlay_was(store, fingerprint, paths, apart=True)
        if was is None:
            return None
    for path in paths:
        outcome = was.get(path)
        before[path] = UsesUnknown([], {}, outcome) if isinstance(outcome, bool) else outcome
    return base, before


def overlay_was(
    store: IndexStore, fingerprint: str, paths: Iterable[str], *, apart: bool = False
) -> dict[str, str | bool | None] | None:
    """What the whole symbol index kept under `fingerprint` recorded of each of `paths`
    (`SYMBOL_FILES_BLOB`: its outcome, or whether it parsed in part), as plain data;
    None when not kept, or unreadable. `apart`: as in `kept_symbols`."""
    try:
        made_from = (store.blob_apart if apart else store.blob)(SYMBOL_FILES_BLOB, fingerprint)
        if made_from is None:
            return None
        _, outcomes = cast(tuple[dict[str, str], dict[str, str | bool]], unpack_symbols(made_from))
    except (sqlite3.Error, ValueError, TypeError, EOFError):
        log.warning("symbol_index_overlay_failed")
        return None
    return {path: outcomes.get(path) for path in paths}


MadeOf = tuple[str, tuple[str, ...]]
"""What a symbol index is made of: the fingerprint of the whole index kept in the cache
(`_fingerprint` of its files' marks), and the paths changed since overlaid on it (none:
it is that one)."""


def _symbols(
    store: IndexStore, current: set[str], marks: dict[str, str]
) -> tuple[SymbolIndex, MadeOf]:
    """The symbol index of the files `marks` describes (path → its stat and indexing
    outcome): kept whole when made from the same files (its arrays in the cache, its
    `SymbolTable` in a file of its own beside it); else the last one kept with the files
    changed since overlaid on it (`_overlaid`: a restart after a few edits); else
    assembled from every file's symbols and kept for the next load. With what it is made
    of (`MadeOf`), for a restart's snapshot."""
    fingerprint = _fingerprint(marks)
    folder = store.path.parent
    table_path = folder / f"symbols-{fingerprint[:24]}.sqlite3"
    whole = kept_symbols(store, fingerprint)
    if whole is not None:
        return whole, (fingerprint, ())
    since = _changed_since(store, marks)
    if since is not None:
        # 100k small strings held while the base index is unpacked would stay in the
        # process's memory after they are freed (their pages shared with the index's):
        # kept packed, for the assembly should the overlay fail.
        packed = pack_symbols(marks)
        del marks
        overlaid = _overlaid(store, *since)
        if overlaid is not None:
            return overlaid, (since[0], tuple(sorted(since[1])))
        marks = cast(dict[str, str], unpack_symbols(packed))
    outcomes: dict[str, str | bool] = {}

    def recorded() -> Iterator[tuple[str, FileSymbols | str]]:
        for path, found in _stored_symbols(store, current):
            outcomes[path] = found if isinstance(found, str) else found.partial
            yield path, found

    index = assemble_symbols(recorded(), table_path)
    store.keep_blob(SYMBOLS_BLOB, fingerprint, pack_symbols(index_to_plain(index)))
    store.keep_blob(SYMBOL_FILES_BLOB, fingerprint, pack_symbols((marks, outcomes)))
    remove_others(folder, table_path)
    return index, (fingerprint, ())


SYMBOLS_BLOB = "symbols"
"""The cache's blob of the last assembled symbol index's arrays (`index_to_plain`)."""
SYMBOL_FILES_BLOB = "symbol-files"
"""The cache's blob of what that index was made from: each file's mark (stat and
indexing outcome) and what it gave (why it has no symbols, or whether its parse was
partial), so that a later load knows which files changed since and what they were."""
MAX_RESTART_OVERLAY = MAX_OVERLAY_FILES // 2
"""Files changed since the last assembled symbol index that a load overlays on it
rather than assemble a new one (which costs seconds at 100k files); half of what an
overlay holds, so that the live reloads after it still have room (`patching.py`)."""


def _fingerprint(marks: Mapping[str, str]) -> str:
    """The files' fingerprint: a SHA-1 over every file's path and mark, in path order."""
    digest = hashlib.sha1(b"symbols-2\n", usedforsecurity=False)
    digest.update("".join(f"{path}\0{marks[path]}\n" for path in sorted(marks)).encode())
    return digest.hexdigest()


def _changed_since(
    store: IndexStore, marks: Mapping[str, str]
) -> tuple[str, dict[str, Outcome]] | None:
    """The last assembled symbol index's fingerprint, and the files changed since it was
    made (by their marks: added, removed, stat or outcome moved) with what it holds of
    each; None when there is none to start from, or more than MAX_RESTART_OVERLAY files
    changed."""
    base_print = store.last_fingerprint(SYMBOLS_BLOB)
    made_from = store.last_blob(SYMBOL_FILES_BLOB)
    if base_print is None or made_from is None or made_from[0] != base_print:
        return None  # none kept, or a load stopped between writing the two
    try:
        plain = unpack_symbols(made_from[1])
        then, outcomes = cast(tuple[dict[str, str], dict[str, str | bool]], plain)
        changed = [path for path, mark in marks.items() if then.get(path) != mark]
        changed.extend(path for path in then if path not in marks)
    except (ValueError, TypeError, EOFError, AttributeError):
        log.warning("symbol_index_overlay_failed")
        return None
    if len(changed) > MAX_RESTART_OVERLAY:
        return None
    before: dict[str, Outcome] = {}
    for path in changed:
        was = outcomes.get(path)
        # What the base holds of a file counts only for the totals (`_Overlay`): its
        # reason, or its partial parse (its symbols are hidden by the overlay); its uses
        # are not kept, so the overlay counts the base's own (`UsesUnknown`).
        before[path] = UsesUnknown([], {}, was) if isinstance(was, bool) else was
    return base_print, before


def _overlaid(
    store: IndexStore,
    base_print: str,
    before: dict[str, Outcome],
    base: SymbolIndex | None = None,
) -> SymbolIndex | None:
    """The last assembled symbol index (`base_print`, or `base` read already) with the
    files changed since (`before`: what it holds of each) overlaid on it
    (`SymbolIndex.patched`), their symbols read from their rows; None when it cannot be
    read. Answers as an index assembled from every file's symbols would (the overlay
    merges in the full index's order)."""
    if not before and base is not None:
        return base
    try:
        if base is None:
            table = SymbolTable.open(store.path.parent / f"symbols-{base_print[:24]}.sqlite3")
            arrays = store.blob(SYMBOLS_BLOB, base_print)
            if table is None or arrays is None:
                return None
            plain, arrays = unpack_symbols(arrays), None  # the bytes freed before the index
            base = index_from_plain(plain, table)
            del plain
        rows = store.rows_of(sorted(before))
        changes = {
            path: (was, _outcome(path, rows.get(path, (None, None))[1]))
            for path, was in before.items()
        }
        return base.patched(changes)
    except (ValueError, TypeError, EOFError, AttributeError):  # TooManyOverlaid too
        log.warning("symbol_index_overlay_failed")
        return None


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


@dataclass
class Reindexed:
    """What a live reload of a few files changed in the index cache (`patching.py`)."""

    entries: dict[int, CodeEntry]
    """The snapshot's rows → files, with those files' rows replaced."""
    row_of: dict[str, int]
    """Path → row of every file in `entries`."""
    skipped: dict[str, int]
    symbols: dict[str, tuple[Outcome, Outcome]]
    """Path → (its symbols before, now), for `SymbolIndex.patched`."""
    digests: dict[str, tuple[str, str]]
    """Path → (content hash before, now); "" when none."""
    excerpts_moved: bool
    """Whether what the code map reads moved: a file indexed or not any more, or its
    excerpt changed."""
    read: int


MAX_REFIT_FILES = 256
"""Unchanged files a change may move across the total cap (each read again); past this,
the reload is a full load."""


def reindex_files(
    repo_files: Iterable[RepoFile],
    changed: set[str],
    previous: Mapping[int, CodeEntry],
    row_of: Mapping[str, int],
    skipped: Mapping[str, int],
    files: RepoFiles,
    store: IndexStore,
    *,
    max_file: int = MAX_INDEXED_FILE_BYTES,
    max_total: int = MAX_INDEXED_CODE_BYTES,
) -> Reindexed:
    """Read again the `changed` paths among `repo_files` (the inventory without the
    knowledge folder, as it is now) and replace their rows, as `index_files` would at a
    full load; `previous`, `row_of` and `skipped` are the last snapshot's rows and counts.

    The total cap is decided in path order over every file (`index_files`): a changed
    size can move which of the later files fit; those are read again too, as a full load
    would, up to MAX_REFIT_FILES (past it this raises ValueError and the caller loads in
    full, as it does when a row's symbols do not unpack). Blocking."""
    to_read: list[tuple[RepoFile, bool]] = []
    planned = 0
    order: list[str] = []  # every file's path, in path order (`plan_rows`)
    listed = order.append
    # One pass over every file (100k: the loop is kept to plain comparisons, `_same_fit`
    # inlined): the total cap is decided in path order, as a full load decides it.
    for f in repo_files:
        path, size = f.path, f.size
        listed(path)
        if path not in changed:
            at = row_of.get(path)
            if at is None:
                raise ValueError(f"a file the snapshot does not know: {path}")
            state = previous[at].skipped
            if state is None:  # indexed: it must still fit
                if planned + size <= max_total:
                    planned += size
                    continue
            elif state == "over_total":  # over the total: it must still not fit
                if planned + size > max_total:
                    continue
            elif state == "unreadable":  # a full load tries it again, and plans it as read
                if planned + size <= max_total and not f.binary and size <= max_file:
                    planned += size
                continue
            else:  # left out for what it is (binary, too large): whatever the total
                continue
            if len(to_read) >= MAX_REFIT_FILES:
                raise ValueError("the total cap moves under many files")
        over = planned + f.size > max_total
        if not over and not f.binary and f.size <= max_file:
            planned += f.size
        to_read.append((f, over))
    touched = changed | {f.path for f, _ in to_read}
    before = store.rows_of(sorted(touched))
    out = Indexed({}, SymbolIndex(), [], {})
    read = [_read(f, files, out, max_file, over) for f, over in to_read]
    present = {f.path for f, _ in to_read}
    removed = sorted(p for p in changed if p not in present and p in row_of)
    # A new file takes a row number between its neighbours', as at a full load: the text
    # index's candidates come in row order, and search breaks its ties by row. (`row_of`
    # without the removed paths would answer the same: none of them is in `order`.)
    ids = store.update(read, removed, plan_rows(order, row_of, changed))
    entries = dict(previous)
    rows = dict(row_of)
    counts: Counter[str] = Counter(skipped)
    moved = False
    for path in touched:
        if path in rows:
            old_entry = entries.pop(rows.pop(path))
            if old_entry.skipped is not None:
                counts[old_entry.skipped] -= 1
    symbols: dict[str, tuple[Outcome, Outcome]] = {}
    digests: dict[str, tuple[str, str]] = {}
    for path in touched:
        stored, blob = before.get(path, (None, None))
        symbols[path] = (_outcome(path, blob), None)
        digests[path] = (stored.digest if stored is not None else "", "")
        if stored is not None and stored.skipped is None and path not in present:
            moved = True
    for written, (f, _) in zip(read, to_read, strict=True):
        path = written.path
        rows[path] = ids[path]
        entries[ids[path]] = CodeEntry(f.path, f.size, f.language, written.skipped)
        if written.skipped is not None:
            counts[written.skipped] += 1
        symbols[path] = (symbols[path][0], _outcome(path, written.symbols))
        digests[path] = (digests[path][0], written.digest)
        stored, _blob = before.get(path, (None, None))
        was = stored.excerpt if stored is not None and stored.skipped is None else None
        now = written.excerpt if written.skipped is None else None
        moved = moved or was != now
    counted = {k: n for k, n in counts.items() if n}
    return Reindexed(entries, rows, counted, symbols, digests, moved, len(read))


def _outcome(path: str, blob: bytes | None) -> Outcome:
    if blob is None:
        return None
    return symbols_from_plain(path, unpack_symbols(blob))

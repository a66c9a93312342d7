"""`grep`'s trigram index, as one load left it in the index cache: which files may match.

The index cache (`store.py`) keeps every text file under the served size cap, as `grep`
searches it, in `texts`, and an FTS5 `trigram` index over it with positions (`grams`),
plus how many files hold each ASCII trigram (`gramdf`). A pattern's required text
(`literals.literal_query`) is asked for as each literal's three rarest trigrams within
their distance in it (`match_expression`): as zoekt checks two trigrams' distance, a
few short posting lists, and few files hold them so placed without holding the literal.
RE2 confirms on the candidates alone (`grep.py`).

That index folds case, so a case-sensitive pattern's text would be found in every file
holding it in any case (`initInputToken` among the bundles that hold `INITINPUTTOKEN`).
A second trigram index keeps case but no positions, one row per span of 4 KiB of each
text, kept without its whitespace (`cspans`, `store.spans`): a pattern matched with case
asks it for one term's rarest trigrams as written, all in one span (`case_expression`),
and the positioned one too only when those are in many spans (`CASE_ALONE_SHARE`). A
chain of texts joined by whitespace (`(class|fn)\\s+Options`: `class Options` or `fn
Options`, `literals.collapsed_query`) is asked first, and alone, as `classOptions` or
`fnOptions`: a trigram across the gap (`ssO`) is then one letter longer than it was in
text kept with its whitespace runs as one space (`s O`), and rarer: at 100k files
`e O` is in 19,851 spans, `peO` in 5,984.
One term, because two required pieces of a match may lie in two spans (a long line
between them). Its answer is the spans, not only the files: every line holding a match
meets one of them, so `grep` searches those lines of a large candidate first (`excerpt`)
and reads the file whole only when they hold a match. At 100k files,
`(class|…|function)\\s+Options\\b` (1,052 candidate files, most holding `Options` in
thousands of lines that define nothing) reads a few MB of them, and took 64-83 ms warm
where main took 118-189 in the same hour (benchmarks/RESULTS-index.md, schema 9).

Rows are numbered in path order (`plan_rows`), so the index returns candidates in the
order a full scan reads files, and a search that reaches its limit stops reading.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import heapq
import itertools
import sqlite3
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

import structlog

from context_bot.knowledge.literals import Either, Term, strip_space
from context_bot.knowledge.store import (
    CHUNK_BYTES,
    FOLDS_TO_ASCII,
    SPAN_OVERLAP,
    SPAN_REACH,
    ReadPool,
    chunk_row,
    read_chunks,
    read_pool,
    span_end,
    span_of,
    span_start,
)

log = structlog.get_logger(__name__)

NEAR_GRAMS = 3
"""Trigrams of one literal a `grep` asks the index for (its rarest, at their distances):
three positioned trigrams leave few files that do not hold the literal, and each more
costs a posting list."""
NEAR_SPREAD = 3
"""How many times as many files as the rarest a trigram apart from the others may be in.
A NEAR query seeks, for each file holding the rarest trigram, into the position lists
of the others: a common one (`ype` of `EmptyType`, in 44,759 of 100k files) costs a
page per file, 14-35 ms at 100k files, where an overlapping rare one (`yty`, `pty`)
narrows nearly as well for a fraction (benchmarks/RESULTS-index.md, branch grep3)."""
CASE_GRAMS = 4
"""Trigrams as written of one literal a case-sensitive `grep` asks the case-keeping index
for (its rarest, in one span: within SPAN_OVERLAP bytes of each other in the literal);
after the folded index's positioned trigrams, these sort out the files holding the
literal in another case, and each more costs a posting list."""
CASE_SPREAD = 8
"""How many times as many spans as the rarest a further trigram as written may be in."""
CHAIN_GRAMS, CHAIN_SPREAD = 4, 64
"""CASE_GRAMS and CASE_SPREAD for the options of a chain (`class Options`, ...): each is
asked alone, so a common trigram is worth its posting list. In text kept collapsed,
`def Options` asked as its rarest, `f O`, alone met every `of Options`, and eight
trigrams an option were worth it; kept without whitespace, an option's rarest are the
ones across the gap (`efO`, `fOp`), and each trigram past four costs more than it
sorts out: at 100k files the lookup of `(class|…|function)\\s+Options\\b` took 35 ms
for 999 files with eight, 12.6 ms for 1,052 with four, 6.7 ms for 1,406 with three
(benchmarks/RESULTS-index.md)."""
CASE_ALONE_SHARE = 25
"""A case-sensitive lookup whose rarest trigram as written is in at most one span per this
many texts is asked alone: its candidates are few, and the positioned lookup would only
add its cost (`RowS\\w*ble` at 100k files: `owS` in 2,998 spans; 10 ms alone, 21 with
the positioned `NEAR("row" "ows", 1) AND "ble"`, a common trigram's positions read
whole). With more spans the positioned lookup is asked too, and a file must answer
both: it tells apart the files where a name's trigrams as written lie apart in one span
(`DateFormatter`, `teF` in 8,647 spans: 58 ms alone, 8.5 with it; `IDis`, 4,171: 49 and
25 ms; benchmarks/RESULTS-index.md)."""
MAX_LOOKUP = 64
"""Trigrams whose file counts one `grep` looks up at most."""
ROW_GAP = 1 << 20
"""Distance between the row numbers of neighbouring files in path order at a first load.
A file added later takes a number between its neighbours', so row order stays path order
(what lets `grep` stop at its limit after reading the first candidates) for 20 files
added in a row at one place; past that a file goes last and `TextIndex` sorts."""
LINE_READ = 1024
"""Bytes read at a time, first, to find where a line around a span starts or ends (most
lines of code are shorter; a longer one is read further, four times as far each time)."""
_T = TypeVar("_T")
Candidate = tuple[str, tuple[int, ...] | None]
"""A file that may hold a match, and the spans of its text where (None: anywhere)."""
FETCH_ROWS = 256
"""Candidate rows read from the trigram index at a time (a search that reaches its limit
stops asking)."""


class TextIndex:
    """`grep`'s trigram index as one load left it: which files may hold a match.

    Read-only and shared by the requests of one snapshot; each request reads through a
    connection of its own while it reads, taken from the process's pool for the database
    (`store.ReadPool`: a replaced snapshot holds none open), so a lookup that streams its
    rows holds no lock while the search reads the candidates. A file the index does not hold as text
    (binary, over the size cap, not readable at load) is always a candidate, as is one
    whose text RE2's case folding could match differently (`folds`): the search then reads
    it and decides, as a full scan would. Between a file's change and the live reload that
    follows it, the index lags.

    Rows are numbered in path order (`plan_rows`), so the rows a lookup returns, in row
    order, are the candidates in path order: `matching` yields them as it reads them and
    a search that reaches its limit stops reading. When a snapshot's rows are not in path
    order (more than ROW_GAP allows were added at one place) it reads them all and sorts."""

    def __init__(
        self,
        path: Path,
        paths: Mapping[int, str],
        always: frozenset[str],
        *,
        laid_out: tuple[dict[str, int], list[int], bool] | None = None,
        reads: ReadPool | None = None,
    ) -> None:
        """`laid_out`: the path → row map, the rows sorted and whether they are in path
        order, when the caller has them (`patched`); else worked out here. `reads`: the
        connections to read through (default: the process's pool for `path`)."""
        self._path = path
        self._reads = reads if reads is not None else read_pool(path)
        self._paths = paths
        if laid_out is None:
            rows = {path: row for row, path in paths.items()}
            by_row = sorted(paths)
            in_order = all(paths[a] < paths[b] for a, b in itertools.pairwise(by_row))
            laid_out = (rows, by_row, in_order)
        self._rows, self._by_row, self.ordered = laid_out
        self.always = always
        self._always_sorted = sorted(always)

    def patched(self, touched: Mapping[str, tuple[int | None, bool]]) -> TextIndex:
        """A live reload's index (`patching.py`): this one with the `touched` paths as the
        cache holds them now, each path → (its row now, None when it has none; whether it
        is a text file `grep` reads). Asks the cache about those rows alone, where a load
        lists every row (`loading.text_index_of`); answers as that would."""
        rows = {row: path for path, (row, _) in touched.items() if row is not None}
        held: dict[int, bool] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            with self._connection() as db:
                held = dict(
                    db.execute(
                        f"SELECT id, folds FROM texts WHERE id IN ({marks})",  # noqa: S608
                        list(rows),
                    ).fetchall()
                )
        paths, by_path, by_row = dict(self._paths), dict(self._rows), list(self._by_row)
        for path in touched:
            old = by_path.pop(path, None)
            if old is not None:
                del paths[old]
                del by_row[bisect.bisect_left(by_row, old)]
        always = set(self.always) - touched.keys()
        folds = folds_as_re2()
        added: list[int] = []
        for path, (row, text) in touched.items():
            if row is not None and row in held:
                paths[row] = path
                by_path[path] = row
                bisect.insort(by_row, row)
                added.append(row)
                if held[row] and not folds:
                    always.add(path)
            elif text:
                always.add(path)
        if self.ordered:  # still in path order when each new row sits between its neighbours
            ordered = all(_fits(paths, by_row, row) for row in added)
        else:
            ordered = all(paths[a] < paths[b] for a, b in itertools.pairwise(by_row))
        return TextIndex(
            self._path,
            paths,
            frozenset(always),
            laid_out=(by_path, by_row, ordered),
            reads=self._reads,
        )

    def _connection(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return self._reads.connection()

    def data(self, path: str) -> bytes | None:
        """The file's text as the load read it (through the gate), as `grep` searches it
        (UTF-8, CRLF line ends as "\n"), or None. A row read by primary key: tens of
        microseconds, where the gate's open and checks cost a few hundred."""
        return self._read_text(path, _whole)

    @contextlib.contextmanager
    def reading(self) -> Iterator[TextIndex | _Held]:
        """The texts of one search, read in one read transaction on one connection: what
        `data` and `excerpt` read, without a connection taken from the pool, a `BEGIN`
        and a rollback for each file. Measured at 100k files, warm: 10-20 % of the
        heaviest askings (`UnmarshalMeta\\s*\\(` 24.5 -> 19 ms, `read\\w*rom` 63 -> 57,
        benchmarks/RESULTS-index.md). The search sees the cache as it was when it began
        (a live reload's writes meanwhile are the next search's); each read still checks
        the row is its file's. Held for at most a search's deadline, which is what a
        checkpoint of the write-ahead log may wait for."""
        with self._connection() as db:  # given back with its transaction rolled back
            try:
                db.execute("BEGIN")
            except sqlite3.Error:
                yield self  # each read on its own, as without
                return
            yield _Held(self, db)

    def _read_text(
        self,
        path: str,
        reader: Callable[[_Chunks], _T],
        held: sqlite3.Connection | None = None,
    ) -> _T | None:
        """What `reader` reads of the path's text, or None. Only while the row is still
        this path's: a later load may have given it to a file that came in where this one
        left (`plan_rows`), and this snapshot may still be serving. The check and the
        reads are one read transaction (WAL): they see one snapshot (`held`'s, a search's
        from `reading`, else one of their own)."""
        row = self._rows.get(path)
        if row is None:
            return None
        try:
            if held is not None:
                return _owned(held, row, path, reader)
            with self._connection() as db:  # given back with its transaction rolled back
                db.execute("BEGIN")
                return _owned(db, row, path, reader)
        except sqlite3.Error:
            return None

    def text(self, path: str) -> str | None:
        data = self.data(path)
        return data.decode("utf-8") if data is not None else None

    def matching(
        self,
        terms: Sequence[Term],
        *,
        case_sensitive: bool = False,
        collapsed: Sequence[Term] | None = None,
    ) -> Iterator[Candidate] | None:
        """The files that may hold every term (plus `always`), in path order and as they
        are read, each with the spans of its text where a match may be (`store.spans`
        numbers, when the case-keeping index answered), else None (anywhere): a caller
        that stops early reads no further. None when no term narrows the search (then
        every file is searched). `case_sensitive`: every match holds the terms as
        written (the whole pattern is matched with case), so the case-keeping index
        answers, with the spans holding one term's trigrams as written
        (`case_expression`; `collapsed`: the terms with their whitespace runs as one
        space, `literals.collapsed_query`, a chain among them asked first and alone;
        that index keeps text without whitespace, `_stripped`), and the positioned one
        too when those spans are many (CASE_ALONE_SHARE); else the folded, positioned
        one answers."""
        docs = self._frequencies(terms, "gramdf")
        if case_sensitive:
            # A chain (`class Options` or ...) is asked first: its spans' count, read
            # from each option's rarest trigram, says little of how few hold them all.
            spaced = collapsed if collapsed is not None else terms
            chains = _stripped([t for t in spaced if isinstance(t, Either) and _chained(t)])
            # The case-keeping index keeps text without its whitespace.
            kept = _stripped(spaced)
            spans_docs = self._frequencies(kept, "cspandf")
            chained = _case_lookup(chains, spans_docs, grams=CHAIN_GRAMS, spread=CHAIN_SPREAD)
            exact = chained or _case_lookup(kept, spans_docs)
            if exact is not None:
                # Few spans: few candidates, and the positioned lookup would add its
                # cost only. Many: it tells apart files they cannot (CASE_ALONE_SHARE).
                alone = chained is not None or exact[0] * CASE_ALONE_SHARE <= len(self._paths)
                also = None if alone else match_expression(terms, docs)
                return self._merged("cspans", exact[1], also)
        expression = match_expression(terms, docs)
        if expression is None:
            return None
        return self._merged("grams", expression)

    def excerpt(
        self, path: str, spans: Sequence[int], held: sqlite3.Connection | None = None
    ) -> Excerpt | None:
        """The lines of the file's text (as `data` gives it) that meet the given spans,
        each once, in order, "\n"-joined, whether that is the whole text (then it is:
        when those lines are half of it or more, reading the rest costs less than a
        second pass), and where in the text each run of them lies; None as `data`. Every
        line holding a match that `matching` gave these spans for meets one of them (the
        trigrams it asked for lie in one span wherever the term is), so these lines hold
        every match the text holds (`grep` matches within a line). `held`: the read
        transaction of a search (`reading`)."""

        def lines(text: _Chunks) -> Excerpt:
            size = len(text)
            pieces = _line_ranges(text, spans, size)
            if pieces is None:
                return Excerpt(text.read(0, size), True, ((0, size),))
            places = tuple((start, start + len(piece)) for start, piece in pieces)
            return Excerpt(b"\n".join(piece for _, piece in pieces), False, places)

        return self._read_text(path, lines, held)

    def _frequencies(self, terms: Sequence[Term], table: str) -> dict[str, int]:
        """In how many files each trigram of `terms` is, as last counted: folded
        (`gramdf`), or as written in how many spans (`cspandf`)."""
        literals = [t for t in terms if isinstance(t, str)]
        literals += [o[0] for t in terms if isinstance(t, Either) for o in t.options]
        fold = table == "gramdf"
        grams = list({g for literal in literals for g in _grams(literal, fold=fold)})
        grams = grams[:MAX_LOOKUP]
        if not grams:
            return {}
        marks = ",".join("?" * len(grams))
        try:
            with self._connection() as db:
                rows = db.execute(
                    f"SELECT gram, docs FROM {table} WHERE gram IN ({marks})",  # noqa: S608
                    grams,
                ).fetchall()
        except sqlite3.Error:
            return {}
        return dict(rows)

    def _merged(self, table: str, expression: str, also: str | None = None) -> Iterator[Candidate]:
        """The lookup's files merged with `always`, in path order (`also`: a positioned
        lookup the files must answer too, see `matching`)."""
        if self.ordered:
            rows = self._stream(table, expression, also)
        else:
            rows = self._sorted(table, expression, also)
        always = ((path, None) for path in self._always_sorted)
        last = None
        for path, spans in heapq.merge(rows, always, key=_first):
            if path == last:  # a file that `folds` is both held and always read
                continue
            last = path
            yield path, spans

    def _rowids(self, table: str, expression: str) -> Generator[int, None, None]:
        """The rows `expression` finds in `table`, in row order, FETCH_ROWS at a time (the
        statement is closed when the caller stops: an open one keeps its read
        transaction). Raises sqlite3.Error."""
        with self._connection() as db:
            cursor = db.execute(
                f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid",  # noqa: S608
                (expression,),
            )
            try:
                while chunk := cursor.fetchmany(FETCH_ROWS):
                    for (row,) in chunk:
                        yield row
            finally:
                cursor.close()

    def _found(
        self, table: str, expression: str, also: str | None = None
    ) -> Generator[tuple[int, tuple[int, ...] | None], None, None]:
        """(text row, its spans or None) of the rows the lookup finds, in row order."""
        if table != "cspans":
            return ((row, None) for row in self._rowids(table, expression))
        found = _by_text(self._rowids(table, expression))
        return found if also is None else _both(found, self._rowids("grams", also))

    def _stream(self, table: str, expression: str, also: str | None = None) -> Iterator[Candidate]:
        """The held files the lookup returns, in row (= path) order, FETCH_ROWS at a time;
        their texts are read one by one as the search takes them (`data`): a search that
        stops at its limit reads no text past it, and a candidate may be a megabyte. If
        the index fails midway: every held file after the last one given."""
        paths = self._paths
        last = ""
        rows = self._found(table, expression, also)
        try:
            for row, spans in rows:
                path = paths.get(row)
                if path is not None:
                    last = path
                    yield path, spans
            return
        except sqlite3.Error as exc:
            log.warning("grep_index_failed", reason=str(exc)[:200])
        finally:
            rows.close()
        everything = sorted(paths.values())
        start = bisect.bisect_right(everything, last) if last else 0
        yield from ((path, None) for path in everything[start:])

    def _sorted(self, table: str, expression: str, also: str | None = None) -> Iterator[Candidate]:
        try:
            found = dict(self._found(table, expression, also))
        except sqlite3.Error as exc:
            log.warning("grep_index_failed", reason=str(exc)[:200])
            return ((path, None) for path in sorted(self._paths.values()))
        paths = self._paths
        return iter(sorted((paths[r], spans) for r, spans in found.items() if r in paths))

    def candidates(
        self, literals: Iterable[str], *, case_sensitive: bool = False
    ) -> set[str] | None:
        """Paths of the files holding every literal (plus `always`); None when no literal
        narrows the search."""
        found = self.matching(tuple(literals), case_sensitive=case_sensitive)
        return None if found is None else {path for path, _ in found}


class Excerpt(NamedTuple):
    """What `TextIndex.excerpt` read of a text: lines of it, "\n"-joined (`data`), whether
    that is all of it, and where each run of lines joined lies in the text ([start, end)
    byte offsets, in order)."""

    data: bytes
    whole: bool
    places: tuple[tuple[int, int], ...]


class _Held:
    """A search's texts, read in the one read transaction `TextIndex.reading` holds
    (`inventory.Texts`)."""

    __slots__ = ("_db", "_index")

    def __init__(self, index: TextIndex, db: sqlite3.Connection) -> None:
        self._index, self._db = index, db

    def data(self, path: str) -> bytes | None:
        return self._index._read_text(path, _whole, self._db)

    def excerpt(self, path: str, spans: Sequence[int]) -> Excerpt | None:
        return self._index.excerpt(path, spans, self._db)


def _whole(text: _Chunks) -> bytes:
    return text.read(0, len(text))


def _owned(
    db: sqlite3.Connection, row: int, path: str, reader: Callable[[_Chunks], _T]
) -> _T | None:
    """`reader` over the row's text while the row is `path`'s, else None."""
    owned = db.execute(_OWNER, (row, path)).fetchone()
    if owned is None:
        return None
    return reader(_Chunks(db, row, owned[0]))


_OWNER = "SELECT t.size FROM texts t JOIN files f ON f.id = t.id WHERE t.id=? AND f.path=?"


class _Chunks:
    """A text as `store` keeps it, CHUNK_BYTES a row (`chunks`), each row compressed alone
    (`store.pack_chunk`), read by byte range inside the caller's read transaction: a read
    costs the rows it meets, wherever in the text it is."""

    def __init__(self, db: sqlite3.Connection, row: int, size: int) -> None:
        self._db, self._row, self._size = db, row, size

    def __len__(self) -> int:
        return self._size

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the text (cut at its end). Raises sqlite3.Error, also
        when a chunk is missing or does not unpack (a cache written by something else)."""
        end = min(end, self._size)
        if start >= end:
            return b""
        first, last = start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES
        at = first * CHUNK_BYTES
        pieces = read_chunks(self._db, chunk_row(self._row, first), chunk_row(self._row, last))
        got = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if start != at or len(got) != end - at:
            got = got[start - at : end - at]
        if len(got) != end - start:
            raise sqlite3.DatabaseError("a text's chunk is missing")
        return got


def _fits(paths: Mapping[int, str], by_row: list[int], row: int) -> bool:
    """Whether `row`'s path sorts between those of the rows before and after it."""
    at = bisect.bisect_left(by_row, row)
    before = paths[by_row[at - 1]] if at > 0 else None
    after = paths[by_row[at + 1]] if at + 1 < len(by_row) else None
    path = paths[row]
    return (before is None or before < path) and (after is None or path < after)


def _first(item: Candidate) -> str:
    return item[0]


def _by_text(
    spans: Generator[int, None, None],
) -> Generator[tuple[int, tuple[int, ...]], None, None]:
    """(text row, its span numbers) of increasing span rows (`store.span_row`)."""
    row, numbers = -1, list[int]()
    try:
        for span in spans:
            text, number = span_of(span)
            if text != row:
                if numbers:
                    yield row, tuple(numbers)
                row, numbers = text, []
            numbers.append(number)
        if numbers:
            yield row, tuple(numbers)
    finally:
        spans.close()


def _both(
    found: Generator[tuple[int, tuple[int, ...]], None, None], rows: Generator[int, None, None]
) -> Generator[tuple[int, tuple[int, ...]], None, None]:
    """The texts (and spans) of `found` whose rows `rows` holds too, both increasing, as
    they come (each read as far as needed)."""
    try:
        (a, spans), b = next(found), next(rows)
        while True:
            if a == b:
                yield a, spans
                (a, spans), b = next(found), next(rows)
            elif a < b:
                a, spans = next(found)
            else:
                b = next(rows)
    except StopIteration:
        return
    finally:
        found.close()
        rows.close()


def _line_ranges(text: _Chunks, spans: Sequence[int], size: int) -> list[tuple[int, bytes]] | None:
    """The lines of a text (`text`, `size` bytes) that meet the given spans, each run of
    them once and in order, without the line end after the last: a read per run of
    spans, reaching LINE_READ bytes further each side (more reads for a longer line, or
    for a run whose end lies past whitespace runs). None as soon as they are half of
    the text or more (reading it whole costs less). Each with where it starts."""
    pieces: list[tuple[int, bytes]] = []  # (where in the text they start, the lines)
    reach = -1  # where the lines held so far end (their last "\n")
    total = 0
    for first, last in _runs(spans):
        a = max(span_start(first, size), reach + 1)  # after the lines held already
        lo = max(0, a - LINE_READ)
        hi = min(size, max(a, span_start(last + 1, size) + SPAN_REACH) + LINE_READ)
        read = text.read(lo, hi)
        bytes_of = _reader(text, read, lo)  # where the run ends: its spans' furthest end
        b = max(span_end(bytes_of, number, size) for number in range(first, last + 1))
        if b - 1 <= reach:  # its last byte is in the lines held (or their "\n")
            continue  # a long line held already: not read again
        if hi < size and b + LINE_READ > hi:  # the span reaches past what was read
            hi = min(size, b + LINE_READ)
            read = text.read(lo, hi)
        cut = read.rfind(b"\n", 0, a - lo)
        start = lo + cut + 1 if cut >= 0 else 0 if lo == 0 else _line_start(text, lo)
        cut = read.find(b"\n", max(b - 1, a) - lo)
        end = lo + cut if cut >= 0 else size if hi == size else _line_end(text, hi, size)
        inside = lo <= start and end <= hi
        piece = read[start - lo : end - lo] if inside else text.read(start, end)
        pieces.append((start, piece))
        reach = end
        total += len(piece) + 1
        if 2 * total >= size:
            return None
    return pieces


def _runs(spans: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(first, last) of each run of consecutive span numbers: a span always reaches into
    the next (`store.span_end`), so a run's bytes are one piece of the text. (Its end is
    its spans' furthest: the span before may end past the last one's end when whitespace
    runs follow the last's start.)"""
    run: list[int] | None = None
    for number in spans:
        if run is not None and number == run[1] + 1:
            run[1] = number
            continue
        if run is not None:
            yield run[0], run[1]
        run = [number, number]
    if run is not None:
        yield run[0], run[1]


def _reader(text: _Chunks, read: bytes, lo: int) -> Callable[[int, int], bytes]:
    """Reads of the text from `read` (its bytes from `lo` on) where it holds them, else
    from the rows."""

    def bytes_of(lower: int, upper: int) -> bytes:
        if lo <= lower and upper <= lo + len(read):
            return read[lower - lo : upper - lo]
        return text.read(lower, upper)

    return bytes_of


def _line_start(text: _Chunks, at: int) -> int:
    """Where the line holding byte `at` starts (read back LINE_READ bytes, then more)."""
    reach = LINE_READ
    while at > 0:
        lower = max(0, at - reach)
        found = text.read(lower, at).rfind(b"\n")
        if found >= 0:
            return lower + found + 1
        at, reach = lower, reach * 4
    return 0


def _line_end(text: _Chunks, at: int, size: int) -> int:
    """Where the first "\n" at or after byte `at` is, or the end of the text."""
    reach = LINE_READ
    while at < size:
        upper = min(size, at + reach)
        found = text.read(at, upper).find(b"\n")
        if found >= 0:
            return at + found
        at, reach = upper, reach * 4
    return size


def plan_rows(order: Sequence[str], known: Mapping[str, int]) -> dict[str, int]:
    """Row numbers for the files of `order` (every file, in path order) that `known` (path
    → row of the files kept) lacks: ROW_GAP apart at a first load, else half-way between
    the rows of their neighbours; none for a file with no free number there (it goes last:
    the snapshot then sorts its candidates, see `TextIndex`)."""
    planned: dict[str, int] = {}
    previous = 0
    pending: list[str] = []  # new files since the last kept one
    for path in [*order, None]:
        row = known.get(path) if path is not None else None
        if path is not None and row is None:
            pending.append(path)
            continue
        if pending:
            upper = row if row is not None else previous + (len(pending) + 1) * ROW_GAP
            step = (upper - previous) // (len(pending) + 1)
            if step >= 1:
                for n, new in enumerate(pending, 1):
                    planned[new] = previous + n * step
            pending = []
        if row is not None:
            previous = max(previous, row)
    return planned


def match_expression(terms: Sequence[Term], docs: Mapping[str, int]) -> str | None:
    """The FTS5 query of the trigram index for `terms`: each literal as its NEAR_GRAMS
    rarest trigrams (`docs`: in how many files each is) within the distance they have
    in it, an alternation's options OR-ed; None when no term has a trigram. Asking for
    fewer trigrams than a literal has asks for more files, never fewer: the answer stays
    a superset of the files that hold the literal, whatever `docs` says."""
    return _joined(terms, docs, _near)


def _joined(
    terms: Sequence[Term],
    docs: Mapping[str, int],
    asked: Callable[[str, Mapping[str, int]], str | None],
) -> str | None:
    """`terms` AND-ed, each literal as `asked` puts it and an alternation's options OR-ed
    (all of them, or the alternation asks for nothing); None when no term asks anything."""
    parts: list[str] = []
    for term in terms:
        if isinstance(term, str):
            one = asked(term, docs)
            if one is not None:
                parts.append(one)
            continue
        options = [asked(option[0], docs) for option in term.options]
        if options and all(options):
            parts.append("(" + " OR ".join(f"({o})" for o in options) + ")")
    return " AND ".join(parts) if parts else None


def _near(literal: str, docs: Mapping[str, int]) -> str | None:
    """The literal's rarest trigrams, apart where it can (`_near_grams`), none further from
    the others than in the literal: `NEAR("t_d" "eco" "ruc", 9)`."""
    chosen = _near_grams(literal, docs)
    if not chosen:
        return None
    if len(chosen) == 1:
        return _quote(chosen[0][0])
    span = chosen[-1][1] - chosen[0][1]
    return f"NEAR({' '.join(_quote(g) for g, _ in chosen)}, {span})"


def _near_grams(literal: str, docs: Mapping[str, int]) -> list[tuple[str, int]]:
    """(trigram, where in the literal) of its NEAR_GRAMS rarest, apart where it can
    (non-overlapping ones first, if in at most NEAR_SPREAD times as many files as the
    rarest), in literal order."""
    at: dict[str, int] = {}
    for n, gram in enumerate(_grams_at(literal)):
        at.setdefault(gram, n)
    if not at:
        return []
    ranked = sorted(at, key=lambda g: (docs.get(g, 0), at[g]))
    most = max(docs.get(ranked[0], 0), 1) * NEAR_SPREAD
    chosen: list[str] = []
    for apart in (3, 1):
        for gram in ranked:
            if apart == 3 and chosen and docs.get(gram, 0) > most:
                continue  # a common one seeks in a long list: an overlapping rare one
            fits = all(abs(at[gram] - at[c]) >= apart for c in chosen)
            if fits and len(chosen) < NEAR_GRAMS and gram not in chosen:
                chosen.append(gram)
    return sorted(((g, at[g]) for g in chosen), key=lambda item: item[1])


def _chained(term: Either) -> bool:
    """Whether each option is texts joined by whitespace (`literals.collapsed_query`)."""
    return all(" " in option[0].strip(" ") for option in term.options)


def _stripped(terms: Sequence[Term]) -> list[Term]:
    """`terms` without their whitespace (`literals.strip_space`), as the case-keeping
    index keeps text."""
    out: list[Term] = []
    for term in terms:
        if isinstance(term, str):
            out.append(strip_space(term))
        else:
            out.append(Either(tuple(tuple(map(strip_space, o)) for o in term.options)))
    return out


def case_expression(terms: Sequence[Term], docs: Mapping[str, int]) -> str | None:
    """The FTS5 query of the case-keeping trigram index (`cspans`, one row per span) for
    one of `terms` held as written: the one whose rarest trigram as written is in fewest
    spans (`docs`), as its CASE_GRAMS rarest trigrams AND-ed (that table keeps no
    positions, but they lie within a span of each other), an alternation's options
    OR-ed; None when no term has a trigram. One term only: two terms of one match may
    be in two spans. As `match_expression`, fewer trigrams ask for more files, never
    fewer."""
    found = _case_lookup(terms, docs)
    return found[1] if found is not None else None


def _case_lookup(
    terms: Sequence[Term],
    docs: Mapping[str, int],
    *,
    grams: int = CASE_GRAMS,
    spread: int = CASE_SPREAD,
) -> tuple[int, str] | None:
    """(in how many spans its rarest trigram is, the query) of `case_expression`, each
    literal asked as up to `grams` trigrams within `spread` (`_all_of`)."""
    best: tuple[int, str] | None = None
    for term in terms:
        if isinstance(term, str):
            one = _all_of(term, docs, grams, spread)
            if one is None:
                continue
        else:
            options = [
                o for option in term.options if (o := _all_of(option[0], docs, grams, spread))
            ]
            if not options or len(options) < len(term.options):
                continue  # an option without a trigram: the alternation asks nothing
            query = "(" + " OR ".join(f"({q})" for _, q in options) + ")"
            one = (sum(n for n, _ in options), query)
        if best is None or one[0] < best[0]:
            best = one
    return best


def _all_of(
    literal: str, docs: Mapping[str, int], most_grams: int, spread: int
) -> tuple[int, str] | None:
    """(in how many spans its rarest is, the FTS5 query) of the literal's rarest trigrams
    as written, AND-ed: up to `most_grams`, each further one only if it is in at most
    `spread` times as many spans as the rarest (a common one costs a long posting list
    and narrows little) and all of them within SPAN_OVERLAP bytes (one span holds them
    together wherever the literal is). None for a literal without cased letters: its
    trigrams as written are the folded index's, which asked for them."""
    if literal.lower() == literal.upper():
        return None
    at: dict[str, int] = {}
    for n, gram in enumerate(_grams_at(literal, fold=False)):
        at.setdefault(gram, n)  # literals are ASCII: a character is a byte
    if not at:
        return None
    grams = sorted(at, key=lambda g: (docs.get(g, 0), at[g]))
    most = max(docs.get(grams[0], 0), 1) * spread
    chosen = [grams[0]]
    for gram in grams[1:]:
        if len(chosen) == most_grams or docs.get(gram, 0) > most:
            break
        reach = [at[g] for g in (*chosen, gram)]
        if max(reach) + 3 - min(reach) <= SPAN_OVERLAP:
            chosen.append(gram)
    return docs.get(grams[0], 0), " AND ".join(_quote(g) for g in chosen)


def _grams_at(literal: str, *, fold: bool = True) -> list[str]:
    low = literal.lower() if fold else literal
    return [low[n : n + 3] for n in range(len(low) - 2)]


def _grams(literal: str, *, fold: bool = True) -> list[str]:
    return list(dict.fromkeys(_grams_at(literal, fold=fold)))


def _quote(gram: str) -> str:
    return '"' + gram.replace('"', '""') + '"'


@functools.cache
def folds_as_re2() -> bool:
    """Whether this SQLite's trigram tokenizer folds KELVIN SIGN and LONG S onto k and s,
    as RE2's case folding does (SQLite's folding tables say so; asked once, of the library
    in use). Then a text holding them needs no reading whatever the trigrams say."""
    try:
        db = sqlite3.connect(":memory:")
        try:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(b, tokenize='trigram')")
            db.execute("INSERT INTO t VALUES (?)", ("a" + "".join(FOLDS_TO_ASCII) + "b",))
            found = db.execute('SELECT count(*) FROM t WHERE t MATCH \'"aks" AND "ksb"\'')
            return bool(found.fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return False

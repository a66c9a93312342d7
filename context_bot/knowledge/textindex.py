"""`grep`'s trigram indexes, as one load left them in the index cache: which files may match.

The index cache (`store.py`) keeps every text file under the served size cap, as `grep`
searches it, in `texts`, cut in spans of 4 KiB that reach into the next
(`store.spans`), each kept without its whitespace, and two FTS5 `trigram` indexes over
those spans: `cspans` keeps case and each trigram's positions, `fspans` folds case and
keeps no positions; `cspandf` and `fspandf` count the spans holding each trigram. A
pattern's required text (`literals.literal_query`, and its chains of texts joined by
whitespace, `literals.collapsed_query`: `(class|fn)\\s+Options` holds `classOptions` or
`fnOptions` once its whitespace is gone) is asked for term by term (`span_queries`):
matched with case, each literal as its rarest trigrams as written, with its first and
last, in their places (`_placed`, a NEAR of phrases); blind to case, as its rarest
folded trigrams in one span (`_together`). RE2 confirms on the candidates alone
(`grep.py`).

The rarest term's answer is spans, not only files: every line holding a match meets one
of them, so `grep` searches those lines of a large candidate first (`excerpt`) and reads
the file whole only when they hold a match. The other terms, when nearly as rare, narrow
the files (a match may hold them in another span: a long line between).

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
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar, cast

import structlog

from context_bot.knowledge.literals import Either, Gap, Term, strip_space
from context_bot.knowledge.store import (
    CHUNK_BYTES,
    FOLDS_TO_ASCII,
    LINES_EVERY,
    SPAN_BYTES,
    SPAN_OF_SQL,
    SPAN_OVERLAP,
    SPAN_REACH,
    WORD_RUN,
    ReadPool,
    chunk_row,
    chunk_rows,
    read_chunks,
    read_pool,
    span_end,
    span_start,
    unpack_chunk,
    unpack_lines,
    unpack_runs,
)

log = structlog.get_logger(__name__)

PLACED_GRAMS = 3
"""Trigrams as written of one literal a case-sensitive `grep` asks for in their places
(its rarest, apart where they can be, `_placed`), besides its ends (PLACED_ENDS_SPREAD):
three rare ones leave few spans that do not hold the literal."""
PLACED_ENDS_SPREAD = 32
"""A literal's first and last trigrams are asked for too when in at most this many times
as many spans as its rarest: they tell apart a longer name holding the rare part
(`DateFormatter`'s search: 562 files with its three rarest alone, 56 with `ter` too, 53
hold it), and a common one costs its positions, a long list to read (`ons` of `class
Options`: the chain's lookup 9 -> 33 ms warm, 85 -> 360 ms with the page cache
dropped, at 100k files; benchmarks/RESULTS-index.md, schema 11)."""
LONE_ENDS_SPREAD = 256
"""PLACED_ENDS_SPREAD for a literal asked alone (not one option of an alternation, which
reads the ends of every option): two position lists at most. `differenceInHours`, whose
three rarest sit side by side (`InHou`), is asked with `dif` and `urs` too (59x and
212x as many spans as `InH`): 119 candidate files -> 33, the grep 7.5-11 -> 3.4-4.1 ms
warm at 100k files; the `Options` chain with its options' ends this far (`ons`) took
184 ms where 48 on its first asking."""
PLACED_SPREAD = 3
"""How many times as many spans as the rarest a trigram apart from the others may be in
(else an overlapping rarer one is taken): a common one's positions cost a page a span."""
TOGETHER_GRAMS = 6
"""Folded trigrams of one literal a case-blind `grep` asks for in one span (its rarest;
`fspans` keeps no positions, `_together`); each more costs a posting list."""
TOGETHER_SPREAD = 256
"""How many times as many spans as the rarest a further folded trigram may be in. A list
without positions is short to read, and without positions only more trigrams tell a
literal apart: at 100k files `syn_expr` asked as `yn_` alone (the others in over 8x its
spans) returned 145 texts, with six trigrams within 256x, 2, each lookup under 2 ms
(benchmarks/RESULTS-index.md, schema 11)."""
FILTER_SPREAD = 8
"""A term besides the rarest narrows the files too when its rarest trigram is in at most
this many times as many spans as the rarest term's (`read\\w*rom`: the files holding
`rom` that hold `read` as well); a commoner one would cost its posting list for little."""
FILTERS = 2
"""Terms besides the rarest asked for at most."""
MAX_LOOKUP = 64
"""Trigrams whose file counts one `grep` looks up at most."""
ROW_GAP = 1 << 20
"""Distance between the row numbers of neighbouring files in path order at a first load.
A file added later takes a number between its neighbours', so row order stays path order
(what lets `grep` stop at its limit after reading the first candidates) for 20 files
added in a row at one place; past that a file goes last and `TextIndex` sorts."""
LINE_READ = 256
"""Bytes read at a time, first, to find where a line around a span starts or ends (most
lines of code are shorter; a longer one is read further, four times as far each time).
Set with EXCERPT_SHARE and `grep.EXCERPT_BYTES`; at 100k files, warm, the three as they
were (1,024 bytes, a half, 16 KiB) made `read\\w*rom` 45.4 ms where 40.4 and
`^\\s*\\w+\\s+IDis\\w*` 42.0 where 39.8, no other of 22 patterns faster
(benchmarks/RESULTS-index.md)."""
EXCERPT_SHARE = 3
"""An excerpt is read while the lines meeting its spans are under this share of the text
(a third), else the whole text: a run of lines costs a read of its chunks, the search
of fewer bytes pays for it only while they are few."""
GAP_FROM = 2_000
"""Spans (of its rarest trigram as written) a case-sensitive pattern's rarest term must be
in for its gaps to be asked (`TextIndex._gap_lookup`): a rarer term's spans are few to
read as they are, where a gap reads the position lists of both its sides (`Error`'s
trigrams are in 100k spans at 100k files)."""
GAP_SIDE = 16
"""Characters of each side of a gap asked, those next to it: a longer text's other
trigrams cost their positions and place nothing the next ones do not."""
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
        runs: Mapping[int, tuple[int, ...]] | None = None,
    ) -> None:
        """`laid_out`: the path → row map, the rows sorted and whether they are in path
        order, when the caller has them (`patched`); else worked out here. `reads`: the
        connections to read through (default: the process's pool for `path`). `runs`:
        the spans of each text (by row) with a run of word characters longer than
        `store.WORD_RUN` (`store.word_run_spans`)."""
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
        self._runs = dict(runs) if runs is not None else {}

    def patched(self, touched: Mapping[str, tuple[int | None, bool]]) -> TextIndex:
        """A live reload's index (`patching.py`): this one with the `touched` paths as the
        cache holds them now, each path → (its row now, None when it has none; whether it
        is a text file `grep` reads). Asks the cache about those rows alone, where a load
        lists every row (`loading.text_index_of`); answers as that would."""
        rows = {row: path for path, (row, _) in touched.items() if row is not None}
        held: dict[int, tuple[bool, str | None]] = {}
        if rows:
            marks = ",".join("?" * len(rows))
            with self._connection() as db:
                found = db.execute(
                    f"SELECT id, folds, runs FROM texts WHERE id IN ({marks})",  # noqa: S608
                    list(rows),
                )
                held = {row: (bool(fold), runs) for row, fold, runs in found}
        paths, by_path, by_row = dict(self._paths), dict(self._rows), list(self._by_row)
        runs = dict(self._runs)
        for path in touched:
            old = by_path.pop(path, None)
            if old is not None:
                del paths[old]
                del by_row[bisect.bisect_left(by_row, old)]
                runs.pop(old, None)
        always = set(self.always) - touched.keys()
        folds = folds_as_re2()
        added: list[int] = []
        for path, (row, text) in touched.items():
            if row is not None and row in held:
                paths[row] = path
                by_path[path] = row
                bisect.insort(by_row, row)
                added.append(row)
                if held[row][0] and not folds:
                    always.add(path)
                if held[row][1] is not None:
                    runs[row] = unpack_runs(held[row][1])
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
            runs=runs,
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
        gaps: Sequence[Gap] = (),
    ) -> Iterator[Candidate] | None:
        """The files that may hold every term (plus `always`), in path order and as they
        are read, each with the spans of its text where a match may be (`store.spans`
        numbers; None: anywhere): a caller that stops early reads no further. None when
        no term narrows the search (then every file is searched). `collapsed`: the terms
        with their whitespace runs as one space and the pattern's chains among them
        (`literals.collapsed_query`), asked instead of `terms` when given (the indexes
        keep text without whitespace, `_stripped`). `case_sensitive`: every match holds
        the terms as written (the whole pattern is matched with case), so the
        case-keeping, positioned index answers (`cspans`); else the folded one
        (`fspans`). `gaps`: the pattern's texts apart by word characters only
        (`literals.word_gaps`), asked together where its terms are common
        (`_gap_lookup`)."""
        kept = _stripped(collapsed if collapsed is not None else terms)
        table, counts = ("cspans", "cspandf") if case_sensitive else ("fspans", "fspandf")
        sides = [_side_term(options) for gap in gaps for options in _gap_sides(gap)]
        docs = self._frequencies([*kept, *sides], counts)
        if sides:
            lookup = self._gap_lookup(kept, gaps, docs, positioned=case_sensitive)
            if lookup is not None:
                return self._merged(table, lookup)
        asked = span_queries(kept, docs, positioned=case_sensitive)
        if not asked:
            return None
        return self._merged(table, _Lookup(asked[0], asked[1:]))

    def _gap_lookup(
        self,
        kept: Sequence[Term],
        gaps: Sequence[Gap],
        docs: Mapping[str, int],
        *,
        positioned: bool = True,
    ) -> _Lookup | None:
        """The lookup of a pattern by its gaps: the spans holding both sides of its first
        gap (chain, `_chains`) as the index can tell (`_gap_query`), the files holding
        the others' too, plus the texts with long runs (`store.WORD_RUN`, where no
        distance holds) that hold every side's trigrams anywhere, at the spans of those
        runs, then the terms that the sides asked do not hold as filters. None when the
        terms are rare enough to be read as they are (GAP_FROM), another term is rarer
        than every side (its spans are the better places: `const\\s+\\w+Context\\s*=` 40 ->
        79 ms asked by its gap where `Context=` is rarer), or no gap can be asked in one
        span. At 100k files, warm: `class\\s+\\w+Error\\b` 280 -> 47 ms (`class` and `Error`
        are near in 5,334 spans where 17,797 hold both and 101,353 `Error`);
        `read\\w*rom`, blind to case, 51 -> 42 ms (`read` and `rom` in one span)."""
        fold = not positioned
        chains = _chains(gaps, docs, positioned=positioned)
        if not chains or _rarest(kept, docs, fold=fold) < GAP_FROM:
            return None
        asked = [options for gap in gaps if _gap_fits(gap) for options in _gap_sides(gap)]
        sides = [_side_term(options) for options in asked]
        rest = [term for term in kept if not _held_by(term, sides)]
        if _rarest(rest, docs, fold=fold) < _rarest(sides, docs, fold=fold):
            return None  # a term rarer than any side (`Context\\s*=`'s `Context=`) places better
        filters = span_queries(rest, docs, positioned=positioned) if rest else []
        extra: list[tuple[int, tuple[int, ...]]] = []
        if self._runs:
            found = self._run_rows(asked)
            extra = [(row, self._runs[row]) for row in found if row in self._runs]
        return _Lookup(chains[0], chains[1:], extra, filters)

    def _run_rows(self, sides: Sequence[tuple[str, ...]]) -> list[int]:
        """The rows of the texts with long runs (`runs`) holding one option of each side
        (its folded trigrams), in order; every such text when the table cannot answer
        (it then holds them all)."""
        each = []
        for options in sides:
            grams = [" AND ".join(_quote(g) for g in _grams(o)) for o in options]
            each.append("(" + " OR ".join(f"({g})" for g in grams) + ")")
        try:
            with self._connection() as db:
                found = db.execute(
                    "SELECT rowid FROM runs WHERE runs MATCH ? ORDER BY rowid",
                    (" AND ".join(each),),
                )
                return [row for (row,) in found]
        except sqlite3.Error as exc:
            log.warning("grep_index_failed", reason=str(exc)[:200])
            return sorted(self._runs)

    def excerpt(
        self, path: str, spans: Sequence[int], held: sqlite3.Connection | None = None
    ) -> Excerpt | None:
        """The lines of the file's text (as `data` gives it) that meet the given spans,
        each once, in order, "\n"-joined, whether that is the whole text (then it is
        when those lines are a third of it or more, EXCERPT_SHARE: reading the rest
        costs less than searching it), where in the text each run of them lies and its
        first line's number; None as `data`. Every line holding a match that `matching`
        gave these spans for meets one of them (the trigrams it asked for lie in one
        span wherever the term is), so these lines hold every match the text holds
        (`grep` matches within a line). `held`: the read transaction of a search
        (`reading`)."""

        def lines(text: _Chunks) -> Excerpt:
            size = len(text)
            # Each span but a text's last is SPAN_BYTES of the lines meeting it at least.
            many = EXCERPT_SHARE * (len(spans) - 1) * SPAN_BYTES >= size
            pieces = None if many else _line_ranges(text, spans, size)
            if pieces is None:
                return Excerpt(text.read(0, size), True, ((0, size),), (1,))
            places = tuple((start, start + len(piece)) for start, _, piece in pieces)
            lines = tuple(line for _, line, _ in pieces)
            return Excerpt(b"\n".join(piece for _, _, piece in pieces), False, places, lines)

        return self._read_text(path, lines, held)

    def _frequencies(self, terms: Sequence[Term], table: str) -> dict[str, int]:
        """In how many spans each trigram of `terms` is, as last counted: as written
        (`cspandf`) or folded (`fspandf`)."""
        literals = [t for t in terms if isinstance(t, str)]
        literals += [o[0] for t in terms if isinstance(t, Either) for o in t.options]
        fold = table == "fspandf"
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

    def _merged(self, table: str, lookup: _Lookup) -> Iterator[Candidate]:
        """The lookup's files merged with `always`, in path order."""
        rows = self._stream(table, lookup) if self.ordered else self._sorted(table, lookup)
        always = ((path, None) for path in self._always_sorted)
        last = None
        for path, spans in heapq.merge(rows, always, key=_first):
            if path == last:  # a file that `folds` is both held and always read
                continue
            last = path
            yield path, spans

    def _rowids(self, table: str, expression: str) -> Generator[list[tuple[int, int]], None, None]:
        """The rows `expression` finds in `table`, in row order, as (text row, span
        number) (`store.SPAN_OF_SQL`), FETCH_ROWS at a time: a lookup such as
        `read\\w*rom`'s yields 14,600 spans at 100k files, and a row a time through a
        generator, split in Python, made its lookup 7.8 ms where 6.5. The statement is
        closed when the caller stops (an open one keeps its read transaction). Raises
        sqlite3.Error."""
        with self._connection() as db:
            cursor = db.execute(
                f"SELECT {SPAN_OF_SQL} FROM {table} WHERE {table} MATCH ? ORDER BY rowid",  # noqa: S608
                (expression,),
            )
            try:
                while chunk := cursor.fetchmany(FETCH_ROWS):
                    yield chunk
            finally:
                cursor.close()

    def _found(
        self, table: str, lookup: _Lookup
    ) -> Generator[tuple[int, tuple[int, ...]], None, None]:
        """(text row, its spans) of the texts whose spans answer the lookup's first query
        and, for each narrowing one, some span of the same text does, then its extra
        texts, then for each filter some span of the text answers it, in row order."""
        found = _by_text(self._rowids(table, lookup.first))
        for query in lookup.narrowing:
            found = _both(found, _texts(self._rowids(table, query)))
        if lookup.extra:
            found = _union(found, iter(lookup.extra))
        for query in lookup.filters:
            found = _both(found, _texts(self._rowids(table, query)))
        return found

    def _stream(self, table: str, lookup: _Lookup) -> Iterator[Candidate]:
        """The held files the lookup returns, in row (= path) order, FETCH_ROWS at a time;
        their texts are read one by one as the search takes them (`data`): a search that
        stops at its limit reads no text past it, and a candidate may be a megabyte. If
        the index fails midway: every held file after the last one given."""
        paths = self._paths
        last = ""
        rows = self._found(table, lookup)
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

    def _sorted(self, table: str, lookup: _Lookup) -> Iterator[Candidate]:
        try:
            found = dict(self._found(table, lookup))
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


class _Lookup(NamedTuple):
    """What a lookup asks (`TextIndex._found`): the query whose spans are where a match
    may be; queries some span of the same text must answer too; texts added after those
    (row, spans: `TextIndex._gap_lookup`'s long runs); then queries every text must answer
    in some span."""

    first: str
    narrowing: Sequence[str]
    extra: Sequence[tuple[int, tuple[int, ...]]] = ()
    filters: Sequence[str] = ()


class Excerpt(NamedTuple):
    """What `TextIndex.excerpt` read of a text: lines of it, "\n"-joined (`data`), whether
    that is all of it, where each run of lines joined lies in the text ([start, end)
    byte offsets, in order) and the number of each run's first line in the text
    (1-based: `grep` answers a match in it without reading the text before it)."""

    data: bytes
    whole: bool
    places: tuple[tuple[int, int], ...]
    lines: tuple[int, ...]


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
    """`reader` over the row's text while the row is `path`'s, else None (the whole text,
    `_whole`, in one statement: `_whole_owned`)."""
    if reader is _whole:
        return cast("_T | None", _whole_owned(db, row, path))
    return _reader_owned(db, row, path, reader)


def _reader_owned(
    db: sqlite3.Connection, row: int, path: str, reader: Callable[[_Chunks], _T]
) -> _T | None:
    owned = db.execute(_OWNER, (row, path)).fetchone()
    if owned is None:
        return None
    return reader(_Chunks(db, row, owned[0], owned[1]))


_OWNER = "SELECT t.size, t.lines FROM texts t JOIN files f ON f.id = t.id WHERE t.id=? AND f.path=?"
_OWNED_CHUNKS = (
    "SELECT t.size, c.body FROM texts t JOIN files f ON f.id = t.id"
    " JOIN chunks c ON c.id BETWEEN ? AND ? WHERE t.id = ? AND f.path = ? ORDER BY c.id"
)


def _whole_owned(db: sqlite3.Connection, row: int, path: str) -> bytes | None:
    """The row's whole text while the row is `path`'s, else None: `_owned` and `_whole` in
    one statement, where a search reads hundreds of small texts (a statement less each:
    about 1.5 ms of `read\\w*rom`'s 49 at 100k files). Raises sqlite3.Error."""
    found = db.execute(_OWNED_CHUNKS, (*chunk_rows(row), row, path)).fetchall()
    if not found:  # an empty text (no chunk), or the row is another path's now
        return _reader_owned(db, row, path, _whole)
    size = found[0][0]
    data = b"".join([unpack_chunk(body) for _, body in found])
    if len(data) != size:
        raise sqlite3.DatabaseError("a text's chunk is missing")
    return data


class _Chunks:
    """A text as `store` keeps it, CHUNK_BYTES a row (`chunks`), each row compressed alone
    (`store.pack_chunk`), read by byte range inside the caller's read transaction: a read
    costs the rows it meets, wherever in the text it is."""

    def __init__(
        self, db: sqlite3.Connection, row: int, size: int, lines: bytes | None = None
    ) -> None:
        """`lines`: the text's `texts.lines` (`store.pack_lines`), read when a line is
        numbered (`line_at`)."""
        self._db, self._row, self._size = db, row, size
        self._kept: tuple[int, int, bytes] = (0, -1, b"")
        """The chunks read last (first, last, their bytes): the lines around neighbouring
        spans are read one run at a time, often from the same chunk."""
        self._packed_lines = lines
        self._lines: tuple[int, ...] | None = None

    def __len__(self) -> int:
        return self._size

    def line_at(self, start: int) -> int:
        """The number (1-based) of the line starting at byte `start`: the line ends before
        the nearest place `texts.lines` counts them at (`store.LINES_EVERY`), less or
        more those between it and `start`, which the reads of the lines around have kept
        (a line of an excerpt starts just before a span's start). Raises sqlite3.Error
        as `read`."""
        if self._lines is None:
            self._lines = unpack_lines(self._packed_lines, self._size)
        number = min((start + LINES_EVERY // 2) // LINES_EVERY, len(self._lines) - 1)
        at = number * LINES_EVERY
        if at <= start:
            return self._lines[number] + self._line_ends(at, start) + 1
        return self._lines[number] - self._line_ends(start, at) + 1

    def _line_ends(self, start: int, end: int) -> int:
        """How many line ends bytes [start, end) hold: counted in the chunks read last
        when they hold them, not copied out."""
        held = self._held(start, end)
        if held is not None:
            kept, base = held
            return kept.count(b"\n", start - base, end - base)
        return self.read(start, end).count(b"\n")

    def _held(self, start: int, end: int) -> tuple[bytes, int] | None:
        """The chunks read last and where in the text they start, when they hold bytes
        [start, end)."""
        first, last, kept = self._kept
        base = first * CHUNK_BYTES
        return (kept, base) if base <= start and end <= (last + 1) * CHUNK_BYTES else None

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the text (cut at its end). Raises sqlite3.Error, also
        when a chunk is missing or does not unpack (a cache written by something else)."""
        end = min(end, self._size)
        if start >= end:
            return b""
        held = self._held(start, end)
        if held is not None:
            got, at = held
        else:
            first, last = start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES
            at = first * CHUNK_BYTES
            rows = chunk_row(self._row, first), chunk_row(self._row, last)
            pieces = read_chunks(self._db, *rows)
            got = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            self._kept = (first, last, got)
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
    spans: Generator[list[tuple[int, int]], None, None],
) -> Generator[tuple[int, tuple[int, ...]], None, None]:
    """(text row, its span numbers) of spans in increasing rows (`TextIndex._rowids`)."""
    row, numbers = -1, list[int]()
    try:
        for chunk in spans:
            for text, number in chunk:
                if text != row:
                    if numbers:
                        yield row, tuple(numbers)
                    row, numbers = text, []
                numbers.append(number)
        if numbers:
            yield row, tuple(numbers)
    finally:
        spans.close()


def _texts(
    spans: Generator[list[tuple[int, int]], None, None],
) -> Generator[int, None, None]:
    """The text rows of spans in increasing rows, each once (not through `_by_text`: its
    span tuples, unused here, made `read\\w*rom`'s lookup 0.5-0.8 ms slower)."""
    last = -1
    try:
        for chunk in spans:
            for text, _ in chunk:
                if text != last:
                    yield text
                    last = text
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


def _union(
    found: Iterator[tuple[int, tuple[int, ...]]], more: Iterator[tuple[int, tuple[int, ...]]]
) -> Generator[tuple[int, tuple[int, ...]], None, None]:
    """The texts of both (each increasing by row), each once with the spans of either."""
    try:
        for row, group in itertools.groupby(heapq.merge(found, more, key=_row), key=_row):
            yield row, tuple(sorted({n for _, spans in group for n in spans}))
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()


def _row(item: tuple[int, tuple[int, ...]]) -> int:
    return item[0]


MAX_GAP_PAIRS = 16
"""Pairs of a gap's options (one of its left side with one of its right) asked at most:
each is a NEAR of two phrases, or its trigrams, in the lookup."""


def _gap_sides(gap: Gap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The texts of a gap asked for: GAP_SIDE characters of each option next to it."""
    left = tuple(dict.fromkeys(o[-GAP_SIDE:] for o in gap.left))
    right = tuple(dict.fromkeys(o[:GAP_SIDE] for o in gap.right))
    return left, right


def _side_term(options: tuple[str, ...]) -> Term:
    """A side as a term: its text, or the choice of its options."""
    return options[0] if len(options) == 1 else Either(tuple((o,) for o in options))


def _gap_fits(gap: Gap) -> bool:
    """Whether both sides of the gap asked (their longest options) and the most between
    fit in SPAN_OVERLAP, so that one span holds them wherever a match is (in a text
    without long runs), and its pairs of options are few enough to ask."""
    left, right = _gap_sides(gap)
    if len(left) * len(right) > MAX_GAP_PAIRS:
        return False
    longest = max(map(len, left)) + max(map(len, right))
    return longest + gap.runs * WORD_RUN + gap.fixed <= SPAN_OVERLAP


def _gap_query(gap: Gap, docs: Mapping[str, int], *, positioned: bool) -> str | None:
    """A span query for a gap that fits (`_gap_fits`, else None). Case kept, with positions
    (`cspans`): its sides as phrases NEAR as far apart as the gap may be in a text whose
    runs of word characters are WORD_RUN long at most (each pair of options, OR-ed); FTS5
    counts the trigrams between the first phrase's last and the second's first, the
    characters between plus two. Folded, without positions (`fspans`): one option of
    each side in one span, each option as its rarest trigrams (`_together`)."""
    if not _gap_fits(gap):
        return None
    left, right = _gap_sides(gap)
    if positioned:
        most = gap.runs * WORD_RUN + gap.fixed + 2
        pairs = [f"NEAR({_quote(a)} {_quote(b)}, {most})" for a in left for b in right]
        return pairs[0] if len(pairs) == 1 else "(" + " OR ".join(pairs) + ")"
    sides = []
    for options in (left, right):
        each = [one[1] for o in options if (one := _together(o, docs)) is not None]
        if len(each) < len(options):
            return None  # an option asks nothing: the side narrows nothing
        sides.append(each[0] if len(each) == 1 else " OR ".join(f"({q})" for q in each))
    return " AND ".join(f"({side})" for side in sides)


def _chains(gaps: Sequence[Gap], docs: Mapping[str, int], *, positioned: bool) -> list[str]:
    """The queries of the gaps that can be asked (`_gap_query`), those of a chain (each
    gap's left side the right one of the gap just before it) AND-ed while the whole chain
    fits in SPAN_OVERLAP, so that one span holds it all:
    `impl\\s+\\w+\\s+for\\s+\\w+Error` asked `impl` near `for` in 23,603 spans of 5,901
    texts at 100k files, most with no `Error` near."""
    out: list[str] = []
    stretch = 0  # of the chain so far: from its first side asked to its last text's end
    joined = False  # the last gap was asked: a chained one may join its query
    for gap in gaps:
        query = _gap_query(gap, docs, positioned=positioned)
        if query is None:
            joined = False
            continue
        between = gap.runs * WORD_RUN + gap.fixed
        left, right = _gap_sides(gap)
        whole_right = max(map(len, gap.right))
        if joined and gap.chained and stretch + between + max(map(len, right)) <= SPAN_OVERLAP:
            out[-1] += f" AND {query}"
            stretch += between + whole_right
        else:
            out.append(query)
            stretch = max(map(len, left)) + between + whole_right
        joined = True
    return out


def _rarest(terms: Sequence[Term], docs: Mapping[str, int], *, fold: bool = False) -> int:
    """In how many spans the rarest term's rarest trigram is, as written or `fold`ed (an
    alternation: the sum over its options); a large number when no term has a trigram."""
    rarities = []
    for term in terms:
        options = [term] if isinstance(term, str) else [option[0] for option in term.options]
        each = [min((docs.get(g, 0) for g in _grams(o, fold=fold)), default=-1) for o in options]
        if each and min(each) >= 0:
            rarities.append(sum(each))
    return min(rarities, default=1 << 62)


def _held_by(term: Term, sides: Sequence[Term]) -> bool:
    """Whether a text holding every side (one option of each) holds the term."""
    return any(_implies(side, term) for side in sides)


def _implies(side: Term, term: Term) -> bool:
    """Whether any text holding `side` (one of its options) holds `term`: a piece of it,
    or, for a choice, one of its options whole."""
    if not isinstance(side, str):
        return all(_implies(option[0], term) for option in side.options)
    if isinstance(term, str):
        return term in side
    return any(all(p in side for p in option) for option in term.options)


def _line_ranges(
    text: _Chunks, spans: Sequence[int], size: int
) -> list[tuple[int, int, bytes]] | None:
    """The lines of a text (`text`, `size` bytes) that meet the given spans, each run of
    them once and in order, without the line end after the last: a read per run of
    spans, reaching LINE_READ bytes further each side (more reads for a longer line, or
    for a run whose end lies past whitespace runs). None as soon as they are a third of
    the text or more (EXCERPT_SHARE: reading it whole costs less). Each with where it
    starts and the number of its first line."""
    pieces: list[tuple[int, int, bytes]] = []  # (where they start, first line's number, lines)
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
        pieces.append((start, text.line_at(start), piece))
        reach = end
        total += len(piece) + 1
        if EXCERPT_SHARE * total >= size:
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


def plan_rows(
    order: Sequence[str], known: Mapping[str, int], fresh: Collection[str] | None = None
) -> dict[str, int]:
    """Row numbers for the files of `order` (every file, in path order) that `known` (path
    → row of the files kept) lacks: ROW_GAP apart at a first load, else half-way between
    the rows of their neighbours; none for a file with no free number there (it goes last:
    the snapshot then sorts its candidates, see `TextIndex`). `fresh`, when given, holds
    every path of `order` that `known` may lack (a live reload's changed paths): with at
    most FRESH_PLACED of them, each is placed from the rows around it (`_plan_fresh`)."""
    if fresh is not None and len(fresh) <= FRESH_PLACED:
        return _plan_fresh(order, known, fresh)
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


FRESH_PLACED = 8
"""New paths `plan_rows` places one by one: each costs two scans of the paths in C (its
place, the highest row before it), where the loop of `plan_rows` costs 57 ms of Python at
100k files, for every live reload that brings a new file."""


def _plan_fresh(
    order: Sequence[str], known: Mapping[str, int], fresh: Collection[str]
) -> dict[str, int]:
    """`plan_rows` for the few `fresh` paths: the same numbers, each run of new paths
    placed between the highest row before it and the row after it."""
    places = []
    for path in fresh:
        if path not in known:
            try:
                places.append(order.index(path))
            except ValueError:  # not a file now (removed)
                continue
    places.sort()
    planned: dict[str, int] = {}
    start = 0
    while start < len(places):
        end = start  # the run: places[start..end], neighbours in `order`
        while end + 1 < len(places) and places[end + 1] == places[end] + 1:
            end += 1
        first, last = places[start], places[end]
        previous = max(map(known.get, order[:first], itertools.repeat(0)), default=0)
        count = end - start + 1
        after = last + 1
        upper = known[order[after]] if after < len(order) else previous + (count + 1) * ROW_GAP
        step = (upper - previous) // (count + 1)
        if step >= 1:
            for n in range(count):
                planned[order[first + n]] = previous + (n + 1) * step
        start = end + 1
    return planned


def span_queries(terms: Sequence[Term], docs: Mapping[str, int], *, positioned: bool) -> list[str]:
    """The FTS5 queries of a span index for `terms` (kept without whitespace, `_stripped`),
    rarest first: the rarest term's, whose spans are where a match may be, then up to
    FILTERS terms nearly as rare (FILTER_SPREAD), which a text must hold too, anywhere.
    A literal is asked as `_placed` puts it (`positioned`: the case-keeping index) or
    as `_together` does; an alternation as its options OR-ed (each must ask something,
    or it asks nothing). [] when no term asks anything. Every query asks for fewer
    trigrams than its text has, or as many: whatever `docs` says, the spans answering
    are a superset of those holding the text, and every stretch of SPAN_OVERLAP bytes
    (without whitespace) lies whole in one span."""

    def asked(option: str, alone: bool) -> tuple[int, str] | None:
        if not positioned:
            return _together(option, docs)
        return _placed(option, docs, LONE_ENDS_SPREAD if alone else PLACED_ENDS_SPREAD)

    ranked: list[tuple[int, int, str]] = []
    wholes: list[list[str]] = []  # each term's options, by `n`
    for n, term in enumerate(terms):
        options = [term] if isinstance(term, str) else [option[0] for option in term.options]
        wholes.append(options)
        alone = len(options) == 1
        found = [one for option in options if (one := asked(option, alone)) is not None]
        if not found or len(found) < len(options):
            continue
        rarity = sum(spans for spans, _ in found)
        if len(found) == 1:
            ranked.append((rarity, n, found[0][1]))
        else:
            ranked.append((rarity, n, "(" + " OR ".join(f"({q})" for _, q in found) + ")"))
    ranked = _unimplied(ranked, wholes)
    if not ranked:
        return []
    ranked.sort()
    first = ranked[0]
    most = max(first[0], 1) * FILTER_SPREAD
    filters: list[str] = []
    for rarity, _, query in ranked[1:]:
        if len(filters) == FILTERS or rarity > most:
            break
        if query != first[2] and query not in filters:  # terms implied: `_unimplied`
            filters.append(query)
    return [first[2], *filters]


def _unimplied(
    ranked: list[tuple[int, int, str]], wholes: Sequence[Sequence[str]]
) -> list[tuple[int, int, str]]:
    """The asked terms that no other asked term implies (`_implied`; of two that imply
    each other, the first). A term inside another holds where that one does: asking it
    narrows nothing, and its trigrams are no rarer. `import\\s+numpy` asks its chain
    `importnumpy` alone, where it asked `import` and `numpy` too, and `import`'s
    trigrams, in 100k-200k spans each, made most of its lookup (35.6 ms at 100k files)."""
    asked = [n for _, n, _ in ranked]
    kept = []
    for entry in ranked:
        n = entry[1]
        if not any(
            m != n
            and _implied(wholes[n], wholes[m])
            and not (m > n and _implied(wholes[m], wholes[n]))
            for m in asked
        ):
            kept.append(entry)
    return kept


def _implied(options: Sequence[str], by: Sequence[str]) -> bool:
    """Whether text holding any of `by` holds one of `options` (a term inside each option of
    the rarest one, as `Options` is in `classOptions`, narrows nothing more)."""
    return all(any(option in text for option in options) for text in by)


def _placed(
    literal: str, docs: Mapping[str, int], ends_spread: int = PLACED_ENDS_SPREAD
) -> tuple[int, str] | None:
    """(In how many spans its rarest trigram is, the query:) the literal's rarest trigrams
    as written (PLACED_GRAMS, apart where they can be) and its first and last (unless in
    more than `ends_spread` times as many spans as the rarest), in their places: runs of
    neighbouring ones as one phrase, the phrases NEAR as far apart as in the literal
    (`NEAR("Dat" "teFo" "ter", 10)`); None for a literal of fewer than three characters.
    A literal longer than SPAN_OVERLAP is asked within the stretch of that length around
    its rarest."""
    at: dict[str, int] = {}
    for n, gram in enumerate(_grams_at(literal, fold=False)):
        at.setdefault(gram, n)  # literals are ASCII: a character is a byte
    if not at:
        return None
    ranked = sorted(at, key=lambda g: (docs.get(g, 0), at[g]))
    widest = SPAN_OVERLAP - 3  # the farthest two trigrams of one span may be apart
    lower = min(max(0, at[ranked[0]] - widest // 2), max(0, len(literal) - 3 - widest))
    upper = lower + widest
    inside = [g for g in ranked if lower <= at[g] <= upper]
    most = max(docs.get(inside[0], 0), 1) * PLACED_SPREAD
    chosen: list[int] = []
    for apart in (3, 1):
        for gram in inside:
            if apart == 3 and chosen and docs.get(gram, 0) > most:
                continue  # a common one reads its positions: an overlapping rare one
            if len(chosen) < PLACED_GRAMS and all(abs(at[gram] - c) >= apart for c in chosen):
                chosen.append(at[gram])
    ends = {lower, min(upper, len(literal) - 3)}
    rare = max(docs.get(inside[0], 0), 1) * ends_spread
    places = sorted({*chosen, *(e for e in ends if docs.get(literal[e : e + 3], 0) <= rare)})
    runs: list[list[int]] = []
    for place in places:
        if runs and place - runs[-1][-1] <= 1:
            runs[-1].append(place)
        else:
            runs.append([place])
    phrases = [_quote(literal[run[0] : run[-1] + 3]) for run in runs]
    rarest = docs.get(ranked[0], 0)  # the stretch asked is around it
    if len(phrases) == 1:
        return rarest, phrases[0]
    return rarest, f"NEAR({' '.join(phrases)}, {places[-1] - places[0]})"


def _together(literal: str, docs: Mapping[str, int]) -> tuple[int, str] | None:
    """(In how many spans its rarest trigram is, the query:) the literal's rarest folded
    trigrams AND-ed: up to TOGETHER_GRAMS, each further
    one only if it is in at most TOGETHER_SPREAD times as many spans as the rarest (a
    common one costs a long posting list and narrows little) and all of them within
    SPAN_OVERLAP bytes (one span holds them together wherever the literal is); None for
    a literal of fewer than three characters."""
    at: dict[str, int] = {}
    for n, gram in enumerate(_grams_at(literal)):
        at.setdefault(gram, n)
    if not at:
        return None
    grams = sorted(at, key=lambda g: (docs.get(g, 0), at[g]))
    most = max(docs.get(grams[0], 0), 1) * TOGETHER_SPREAD
    chosen = [grams[0]]
    for gram in grams[1:]:
        if len(chosen) == TOGETHER_GRAMS or docs.get(gram, 0) > most:
            break
        reach = [at[g] for g in (*chosen, gram)]
        if max(reach) + 3 - min(reach) <= SPAN_OVERLAP:
            chosen.append(gram)
    return docs.get(grams[0], 0), " AND ".join(_quote(g) for g in chosen)


def _stripped(terms: Sequence[Term]) -> list[Term]:
    """`terms` without their whitespace (`literals.strip_space`), as the span indexes
    keep text."""
    out: list[Term] = []
    for term in terms:
        if isinstance(term, str):
            out.append(strip_space(term))
        else:
            out.append(Either(tuple(tuple(map(strip_space, o)) for o in term.options)))
    return out


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

"""Full-text search over the served knowledge: SQLite FTS5 (standard library), BM25 ranking.

Why FTS5: it ships with Python, needs no process, and measured about 1 ms a query at 10k
documents. Code identifiers are the hard part: `setupLiveKitRoutes` is one token to FTS5.
Each document therefore gets an extra `idents` column holding the pieces of every
camelCase/PascalCase/digit-joined identifier and each adjacent pair of pieces, so the query
`live kit routes` and the query `livekit` both find it. User text never reaches FTS5 syntax:
queries are cut into word tokens and every token is sent as a quoted string.

The whole repository, documented or not: beside the documents, a second FTS5 table holds
every file of the inventory (its path always; the contents of a text file up to
MAX_INDEXED_FILE_BYTES, MAX_INDEXED_CODE_BYTES in all). Two tables, not one, because BM25
normalises by each column's average length over *all* rows: ten documents among 10,000
source files would be judged against the files' lengths and lose to any long file. That
table is contentless (`content=''`): it keeps only the index, and a hit's line and snippet
are read from the file when it is found, through the same gate as a `file` request.

Scores are ours, not BM25's: BM25's IDF is floored at ~0 for a word in more than half the
rows, so on a small corpus every hit scored 0.000. A hit's score (0 to 1) says where each
query word was found (see PLACE_WEIGHTS) and how many of them, scaled by how it ranked in
its table; so a document always outranks a file that merely mentions the words.
"""

from __future__ import annotations

import bisect
import errno
import functools
import itertools
import os
import re
import sqlite3
import stat
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import structlog

from context_bot import phases
from context_bot.errors import BadRequest, FileError
from context_bot.knowledge.model import RepoFile, ServedDocument
from context_bot.knowledge.openings import opening_comment
from context_bot.knowledge.sandbox import RepoFiles, safe_opener
from context_bot.knowledge.store import ReadPool
from context_bot.knowledge.testfiles import about_tests, weight_for
from context_bot.protocol import MAX_QUERY_CHARS, MAX_QUERY_WORDS, MAX_SEARCH_LIMIT

log = structlog.get_logger(__name__)

#: BM25 weight per column: path, feature, tags, front-matter text, section text, idents.
COLUMN_WEIGHTS = (10.0, 5.0, 4.0, 2.0, 1.0, 2.0)
TEST_WEIGHED_KINDS = frozenset({"code", "path"})
"""The hit kinds whose score `search` already multiplies by `testfiles.weight_for`."""

#: BM25 weight per column of the files table: path, idents, contents.
CODE_COLUMN_WEIGHTS = (8.0, 1.0, 1.0)
MAX_INDEXED_FILE_BYTES = 256 * 1024
"""Largest file whose contents `search` indexes: bigger files are data, generated or
vendored far more often than code someone reads; they are still found by path (and `grep`)."""
MAX_INDEXED_CODE_BYTES = 64 * 1024 * 1024
"""Most bytes of file contents `search` indexes in all, in path order: past it, files are
found by path only (and by `grep`, whose index holds every text file: this total is not
its), and the load log says how many. In memory the index costs about as much again; on
disk the table keeps its text beside its word positions (about twice the contents), next
to grep's trigrams (about twice the text): all the contents of a 100k-file
repository would pass the 4× disk budget (docs/design.md, "search's contents at scale")."""
#: What a query word found in each place is worth; a hit's score is their mean over the
#: query's words (0 for a word not found), times 0.75-1 by its rank in its table. A
#: document's text (0.9 × 0.75 ≥ 0.675) thus always beats a file's contents (≤ 0.5).
#: "head" is a document's path, feature or tags; a word in a file's path that its contents
#: also hold is worth PATH_AND_CODE: `client.py` using `Client` beats `client_logo.png`.
PLACE_WEIGHTS = {"head": 1.0, "document": 0.9, "path": 0.8, "code": 0.5}
PATH_AND_CODE = 0.85

_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
#: Words dropped from a query when it has other words: they match nearly every document,
#: add nothing to the ranking and make FTS5 score thousands of rows.
# fmt: off
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "did", "do", "does", "for", "from",
    "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "of", "on", "or", "should",
    "so", "that", "the", "their", "then", "there", "these", "this", "to", "was", "we", "what",
    "when", "where", "which", "who", "why", "will", "with", "you", "your",
})
# fmt: on
_HASH_BYTES = 64 * 1024 * 1024
#: Results remembered per index (the index never changes, so entries never go stale).
CACHE_QUERIES = 512


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result: the repo path (or free document name), its feature, score and snippet."""

    path: str
    kind: str  # "file" (a file's document), "doc" (a free one), "path", "code" (a file),
    # "symbol" (a definition of the name the query is)
    feature: str | None
    score: float  # 0 to 1, higher is better (PLACE_WEIGHTS)
    snippet: str
    line: int | None = None  # for "code" and "symbol": the 1-based line of the snippet

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "kind": self.kind,
            "feature": self.feature,
            "score": round(self.score, 4),
            "snippet": self.snippet,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the index needs of one document. The Markdown body is kept as the document's
    text plus an offset, so the index holds no second copy of every document."""

    path: str
    kind: str
    feature: str
    tags: str
    meta: str
    text: str
    body_start: int = 0

    @property
    def body(self) -> str:
        return self.text[self.body_start :]


def identifier_parts(word: str) -> list[str]:
    """`setupLiveKitRoutes` → [setup, live, kit, routes]; [] when the word does not split."""
    parts = _CAMEL.findall(word)
    return [p.lower() for p in parts] if len(parts) > 1 else []


def expand_identifiers(*texts: str) -> str:
    """The pieces and adjacent pairs of every splittable identifier in `texts`.

    Runs over every indexed byte, so it avoids a per-character regex: the text is mapped to
    character classes with `bytes.translate` and case changes are found with `bytes.find`."""
    seen: set[bytes] = set()
    out: list[str] = []
    for text in texts:
        data = text.encode()
        shape = data.translate(_SHAPE)
        for pattern in (b"aA", b"AAa"):
            at = shape.find(pattern)
            while at != -1:
                start = shape.rfind(b" ", 0, at) + 1
                end = shape.find(b" ", at)
                end = len(shape) if end == -1 else end
                word = data[start:end]
                at = shape.find(pattern, end)
                if word in seen:
                    continue
                seen.add(word)
                expanded = _EXPANDED.get(word)
                if expanded is None:
                    expanded = _EXPANDED[word] = _expand(word.decode("utf-8", "ignore"))
                    if len(_EXPANDED) > _EXPANDED_CACHE:
                        _EXPANDED.clear()
                if expanded:
                    out.append(expanded)
    return "\n".join(out)


# The same identifiers recur across many documents (a function and everything calling it).
_EXPANDED: dict[bytes, str] = {}
_EXPANDED_CACHE = 100_000


def _expand(word: str) -> str:
    parts = identifier_parts(word)
    if not parts:
        return ""
    return " ".join(parts) + "\n" + " ".join(a + b for a, b in itertools.pairwise(parts))


def _shape_table() -> bytes:
    """Byte → class: `a` lower-case letter or digit, `A` capital, `_` itself, space other."""
    table = bytearray(b" " * 256)
    for c in b"abcdefghijklmnopqrstuvwxyz0123456789":
        table[c] = ord("a")
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = ord("A")
    table[ord("_")] = ord("_")
    return bytes(table)


_SHAPE = _shape_table()


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def build_match(query: str) -> tuple[str, str] | None:
    """(AND expression, OR expression) for FTS5 MATCH, or None when the query has no words.

    Every word becomes a quoted string (so no user text is ever FTS5 syntax); a camelCase
    word also matches its pieces as a phrase; stopwords are dropped unless nothing else is
    left; a lone word of three letters or more also matches as a prefix."""
    words = _WORD.findall(query)[:MAX_QUERY_WORDS]
    kept = [w for w in words if w.lower() not in STOPWORDS] or words
    groups: list[str] = []
    for word in dict.fromkeys(kept):
        lowered = word.lower()
        variants = [_quote(lowered)]
        parts = identifier_parts(word) or [p for p in lowered.split("_") if p]
        if len(parts) > 1:
            variants.append(_quote(" ".join(parts)))
        if len(kept) == 1 and len(parts) <= 1 and len(lowered) >= 3:
            variants.append(_quote(lowered) + "*")
        groups.append(variants[0] if len(variants) == 1 else "(" + " OR ".join(variants) + ")")
    if not groups:
        return None
    return " AND ".join(groups), " OR ".join(groups)


def index_entries(
    served: dict[str, ServedDocument], free: dict[str, ServedDocument]
) -> Iterable[IndexEntry]:
    for doc in (*served.values(), *free.values()):
        d = doc.document
        yield IndexEntry(
            path=doc.path,
            kind=doc.kind,
            feature=d.feature or "",
            tags=" ".join(d.tags),
            meta=" ".join((*d.user_flows, d.feature_role or "")),
            text=d.text,
            body_start=d.body_start,
        )


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """What the index keeps of one repository file: its path, whether its contents were
    indexed (else why not: `binary`, `too_large`, `unreadable`, `over_total`)."""

    path: str
    size: int
    language: str | None
    skipped: str | None = None


@dataclass(frozen=True)
class CodeRows:
    """The repository's files for the index: entries, and one row of text per entry."""

    entries: list[CodeEntry]
    texts: list[str]  # "" for a file whose contents are not indexed
    skipped: dict[str, int] = field(default_factory=dict)
    indexed_bytes: int = 0


def code_rows(
    inventory: Iterable[RepoFile],
    files: RepoFiles,
    *,
    max_file: int = MAX_INDEXED_FILE_BYTES,
    max_total: int = MAX_INDEXED_CODE_BYTES,
) -> CodeRows:
    """Read every text file of the inventory under `max_file` bytes for the index, in path
    order, up to `max_total` bytes in all. Binary, oversized and unreadable files are kept
    (found by path) and counted, never fatal. Blocking: call it at load."""
    entries: list[CodeEntry] = []
    texts: list[str] = []
    skipped: Counter[str] = Counter()
    total = 0
    for f in inventory:
        reason: str | None
        text = ""
        if f.binary:
            reason = "binary"
        elif f.size > max_file:
            reason = "too_large"
        elif total + f.size > max_total:
            reason = "over_total"
        else:
            text, reason = read_indexable(files, f.path, max_file)
            total += f.size if reason is None else 0
        if reason:
            skipped[reason] += 1
        entries.append(CodeEntry(f.path, f.size, f.language, reason))
        texts.append(text)
    return CodeRows(entries, texts, dict(skipped), total)


def read_indexable(files: RepoFiles, path: str, max_bytes: int) -> tuple[str, str | None]:
    """(the file's text, None), or ("", why it is not indexed: `binary`, `too_large`,
    `unreadable`).

    `path` comes from the inventory, which the sandbox's deny-list and ignore rules already
    passed: the file is opened under the root without following a symlink (and never
    blocking on a FIFO). A symlink, rare, goes through the sandbox's whole gate (`locate`),
    as a `file` request; its cache is not used, which a load would flush. The full gate for
    every file cost 0.5 ms each, 90% of reading Django's 5,400 text files."""
    host = os.path.join(files.root, path)  # noqa: PTH118 - hot path: every file at load
    try:
        try:
            fh = open(host, "rb", opener=safe_opener)  # noqa: SIM115 - closed below
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fh = open(files.locate(path)[1], "rb", opener=safe_opener)  # noqa: SIM115
        with fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return "", "unreadable"
            if st.st_size > max_bytes:
                return "", "too_large"
            data = fh.read(max_bytes + 1)
    except (FileError, OSError):
        return "", "unreadable"
    if len(data) > max_bytes:
        return "", "too_large"
    if b"\0" in data:
        return "", "binary"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return "", "binary"


#: Reads a file's text at query time (for a code hit's line and snippet); None when it
#: cannot be read any more (deleted, denied, grown past the cap).
Reader = Callable[[str], str | None]


def sandbox_reader(files: RepoFiles) -> Reader:
    def read(path: str) -> str | None:
        try:
            return files.read_sync(path).text
        except (FileError, OSError):
            return None

    return read


class SearchIndex:
    """In-memory FTS5 indexes of the documents and of the repository's files; build once,
    query from any thread (a lock serialises use). Querying may read files (a code hit's
    line): call `search` off the event loop."""

    def __init__(
        self,
        entries: Iterable[IndexEntry],
        code: CodeRows | None = None,
        reader: Reader | None = None,
        *,
        stored: StoredCode | None = None,
    ) -> None:
        """`code`: the files' rows, indexed here in memory; or `stored`: the files' table
        kept by the index cache (`store.py`), read through the process's connections to it."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        # Freed with the index, not when the cycle collector reaches the connection (its
        # statement cache is a cycle): a replaced snapshot's tables can be large.
        weakref.finalize(self, self._db.close)
        self._db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(path, feature, tags, meta, body, idents, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self._db.execute(
            "CREATE VIRTUAL TABLE code USING fts5(path, idents, body, content='', "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        # Merge segments once at the end ('optimize') instead of while inserting, and keep
        # more pending terms in memory: inserting 100k documents took half the time.
        for table in ("docs", "code"):
            automerge = f"INSERT INTO {table}({table}, rank) VALUES ('automerge', 0)"  # noqa: S608
            self._db.execute(automerge)
            self._db.execute(
                f"INSERT INTO {table}({table}, rank) VALUES ('hashsize', ?)",  # noqa: S608
                (_HASH_BYTES,),
            )
        self._entries: list[IndexEntry] = list(entries)
        self._code: Mapping[int, CodeEntry] | list[CodeEntry] = code.entries if code else []
        self._code_reads: ReadPool | None = None  # None: the `code` table in memory
        if stored is not None:
            self._code, self._code_reads = stored.entries, stored.reads
        self._reader = reader
        self.code_skipped: dict[str, int] = dict(code.skipped) if code else {}
        if stored is not None:
            self.code_skipped = dict(stored.skipped)
        rows = _rows(self._entries)
        with self._db:
            self._db.executemany(
                "INSERT INTO docs(rowid, path, feature, tags, meta, body, idents) "
                "VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
            if code:
                self._db.executemany(
                    "INSERT INTO code(rowid, path, idents, body) VALUES (?,?,?,?)",
                    _code_rows(code),
                )
                self._db.execute("INSERT INTO code(code) VALUES ('optimize')")
        self._cache: OrderedDict[tuple[str, int], tuple[SearchHit, ...]] = OrderedDict()

    @property
    def size(self) -> int:
        return len(self._entries)

    @property
    def code_size(self) -> int:
        """Repository files in the index (by path at least)."""
        return len(self._code)

    def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Best hits first; raises BadRequest for an empty or oversized query or bad limit."""
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("search query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"search query is longer than {MAX_QUERY_CHARS} characters")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_SEARCH_LIMIT
        ):
            raise BadRequest(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}")
        key = (" ".join(query.split()), limit)
        phases.mark("search_start")
        with self._lock:
            phases.mark("search_lock")
            cached = self._cache.get(key)
            if cached is None:
                cached = self._cache[key] = self._search(query, limit)
                if len(self._cache) > CACHE_QUERIES:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        phases.mark("search_code")
        return list(cached)

    def _ranked(
        self, sql: str, match: tuple[str, str], limit: int, reads: ReadPool | None = None
    ) -> list[tuple[int, float, str | None]]:
        """(rowid, bm25, the row's path when the table keeps it), best first: the rows
        with every word, then (while fewer than `limit`) those with any word, read in
        memory or, with `reads`, from the stored table. A question's words rarely all
        occur in one file, and its best answer may lack one of them."""
        if reads is None:
            return self._ranked_in(self._db, sql, match, limit)
        try:
            with reads.connection() as db:
                return self._ranked_in(db, sql, match, limit)
        except sqlite3.Error as exc:  # a cache that cannot be read now: documents still answer
            log.warning("search_code_unreadable", reason=str(exc)[:200])
            return []

    @staticmethod
    def _ranked_in(
        db: sqlite3.Connection, sql: str, match: tuple[str, str], limit: int
    ) -> list[tuple[int, float, str | None]]:
        try:
            ranked = db.execute(sql, (match[0], limit)).fetchall()
            if len(ranked) < limit and match[1] != match[0]:
                seen = {r[0] for r in ranked}
                more = db.execute(sql, (match[1], limit)).fetchall()
                ranked += [r for r in more if r[0] not in seen][: limit - len(ranked)]
        except sqlite3.OperationalError:
            return []  # cannot happen with quoted tokens; never let a query crash a caller
        return [(int(r[0]), float(r[1]), r[2] if len(r) > 2 else None) for r in ranked]

    def _search(self, query: str, limit: int) -> tuple[SearchHit, ...]:
        match = build_match(query)
        if match is None:
            return ()
        words = snippet_words(query)
        terms = query_terms(query)
        found: list[tuple[float, int, int, SearchHit]] = []  # (-score, table, order, hit)
        ranked = self._ranked(_RANK_SQL, match, limit)
        for order, (row, rank, _) in enumerate(ranked):
            e = self._entries[row]
            head = " ".join((e.path, e.feature, e.tags)).lower()
            body = e.body
            text = f"{e.meta}\n{body}".lower()
            quality = _quality(terms, [(head, "head"), (text, "document")])
            if quality <= 0:
                quality = PLACE_WEIGHTS["document"] / max(1, len(terms))  # FTS5 alone
            score = quality * _rank_factor(rank, ranked[0][1])
            snippet = make_snippet(_plain_body(body), words)
            hit = SearchHit(e.path, e.kind, e.feature or None, score, snippet)
            found.append((-score, 0, order, hit))
        documented = {h.path for *_, h in found if h.kind == "file"}
        phases.mark("search_documents")
        # A few more rows than asked for: a stored table may hold a row a newer load wrote
        # for a file this snapshot does not know (skipped below).
        want = limit + 8 if self._code_reads is not None else limit
        # Below the code a test exercises, unless the query speaks of tests (testfiles.py);
        # documents are not weighed so: every one ranks above code that mentions a word.
        asked_about_tests = about_tests(words)
        ranked = self._ranked(_CODE_RANK_SQL, match, want, self._code_reads) if self._code else []
        for order, (row, rank, path) in enumerate(ranked):
            c = _code_entry(self._code, row)
            if c is None or (path is not None and c.path != path):
                # A row this snapshot does not know, or one a newer load gave to a file
                # that came in where this one left (`textindex.plan_rows`); the table in
                # memory keeps no content (None), and is this snapshot's alone.
                continue
            if c.path in documented:
                continue  # its document answered already, and ranks above its code
            factor = _rank_factor(rank, ranked[0][1]) * weight_for(c.path, asked_about_tests)
            code_hit = self._code_hit(c, terms, words, factor)
            if code_hit is not None:
                found.append((-code_hit.score, 1, order, code_hit))
        found.sort(key=lambda f: f[:3])
        return tuple(hit for *_, hit in found[:limit])

    def _code_hit(
        self,
        c: CodeEntry,
        terms: list[tuple[str, list[str]]],
        words: tuple[str, ...],
        factor: float,
    ) -> SearchHit | None:
        """A file's hit: `code` with the line that matched best when its contents hold a
        query word, else `path`. None when the file cannot be read any more."""
        text = None
        if c.skipped is None and self._reader is not None:
            phases.mark("search_code")
            text = self._reader(c.path)
            phases.mark("search_code_read")
            if text is None:
                return None  # gone or refused since the load: `file` would not serve it
        places = [(c.path.lower(), "path")]
        if text is not None:
            places.append((lowered(text).text, "code"))
        quality = _quality(terms, places)
        if quality <= 0:
            quality = PLACE_WEIGHTS["code"] / max(1, len(terms))  # matched by FTS5 alone
        found = best_line(text, words) if text is not None else None
        if found is not None:
            line, source = found
            if (c.language or "") == "markdown":
                source = plain_markdown(source)
            snippet = make_snippet(source.strip(), words)
            return SearchHit(c.path, "code", None, quality * factor, snippet, line)
        return SearchHit(c.path, "path", None, quality * factor, _about(c, text))

    def close(self) -> None:
        with self._lock:
            self._db.close()  # the stored table's connections are the process's (`ReadPool`)


@dataclass(frozen=True)
class StoredCode:
    """The files' FTS5 table kept on disk by the index cache: the connections reading it
    (`store.ReadPool`, shared by the process's snapshots), and what each of its rows is."""

    reads: ReadPool
    entries: Mapping[int, CodeEntry]
    skipped: dict[str, int] = field(default_factory=dict)


def _code_entry(code: Mapping[int, CodeEntry] | list[CodeEntry], row: int) -> CodeEntry | None:
    if isinstance(code, list):
        return code[row] if 0 <= row < len(code) else None
    return code.get(row)


IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*\Z")
"""A query that is one identifier: `search` puts definitions of that name first."""
MAX_DEFINITION_HITS = 3
"""At most this many definitions of the query's name lead the hits (a common method name
has dozens; the ranked hits follow them)."""


def definitions_first(
    hits: list[SearchHit], definitions: list[SearchHit], limit: int
) -> list[SearchHit]:
    """The definitions of the name the query is (kind `symbol`, score 1 for the exact
    spelling) ahead of the ranked hits, without the code hits on the same lines."""
    if not definitions:
        return hits
    lines = {(d.path, d.line) for d in definitions}
    rest = [h for h in hits if not (h.kind == "code" and (h.path, h.line) in lines)]
    return (definitions + rest)[:limit]


def _rank_factor(rank: float, best: float) -> float:
    """0.75-1: how a hit's BM25 compares with its table's best hit for the query."""
    return 0.75 + 0.25 * (min(1.0, rank / best) if best < 0 else 1.0)


def query_terms(query: str) -> list[tuple[str, list[str]]]:
    """The query's words as matched (stopwords dropped unless nothing else is left), each
    as (its crude stem, its identifier pieces): it counts as found where the stem occurs
    (FTS5 matches by Porter stem: `handled` finds `handler`), or all of its pieces do."""
    words = _WORD.findall(query)[:MAX_QUERY_WORDS]
    kept = [w for w in words if w.lower() not in STOPWORDS] or words
    out: list[tuple[str, list[str]]] = []
    for word in dict.fromkeys(kept):
        parts = identifier_parts(word) or [p for p in word.lower().split("_") if p]
        out.append((text_stem(word.lower()), parts if len(parts) > 1 else []))
    return out


_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def text_stem(word: str) -> str:
    """A query word's stem, looked for as a substring of lower-cased texts (`pooled` is
    found in `pool`, `reused` in `reuse`): at least four letters stay, so a short stem
    does not match inside unrelated words. Not `retrieval.stem`, which matches words to
    file names (`logger` → `log`) and may cut to three letters: the same cut here would
    match everywhere."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _quality(terms: list[tuple[str, list[str]]], places: list[tuple[str, str]]) -> float:
    """Mean over the query's words of the best place each is found in (lower-cased texts,
    best place first); 0 for a word found nowhere."""
    if not terms:
        return 0.0
    total = 0.0
    for stem, pieces in terms:
        found = [p for t, p in places if stem in t or (pieces and all(x in t for x in pieces))]
        if found:
            total += PATH_AND_CODE if found == ["path", "code"] else PLACE_WEIGHTS[found[0]]
    return total / len(terms)


@dataclass(frozen=True, slots=True)
class Lowered:
    """A file's text lower-cased offset for offset, and where its newlines are."""

    text: str
    """Each character lower-cased, except one whose lower case is longer (`İ`): kept, so
    an offset here is the same offset in the original."""
    breaks: tuple[int, ...]
    """The offsets of its `\n`s, in order: line n (1-based) ends at `breaks[n - 1]`."""


LOWERED_TEXTS = 64
"""Texts whose `Lowered` form is kept: the files a search reads for its code hits, and a
retrieve for its lines, are mostly the same files turn after turn. Lower-casing a whole
file and finding its newlines, twice per hit and once more for the block, was a fifth of
a retrieve's CPU, and a file holding one `İ` was lower-cased a character at a time (about
10 ms; now around it). Keyed by the text itself: the sandbox's cache hands back the
same string object while the file is unchanged, whose hash Python keeps, so a lookup
costs no scan."""


@functools.lru_cache(maxsize=LOWERED_TEXTS)
def lowered(text: str) -> Lowered:
    """`text` lower-cased offset for offset, and its newlines (see `Lowered`)."""
    low = text.lower()
    if len(low) != len(text):
        # `İ` is the one character whose lower case is longer: lower what lies around it.
        low = "İ".join(part.lower() for part in text.split("İ"))
        if len(low) != len(text):  # another such character after all: one at a time
            low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return Lowered(low, tuple(m.start() for m in _NEWLINE.finditer(text)))


def best_line(text: str, words: tuple[str, ...]) -> tuple[int, str] | None:
    """(1-based number, text) of the first line holding the most distinct query words."""
    found = lowered(text)
    low, breaks = found.text, found.breaks
    starts: dict[int, set[str]] = {}
    for word in words:
        at, seen = low.find(word), 0
        while at != -1 and seen < 200:
            starts.setdefault(bisect.bisect_left(breaks, at), set()).add(word)
            at, seen = low.find(word, at + len(word)), seen + 1
    if not starts:
        return None
    best = min(starts, key=lambda n: (-len(starts[n]), n))
    begin = breaks[best - 1] + 1 if best else 0
    end = breaks[best] if best < len(breaks) else len(text)
    return best + 1, text[begin:end]


_NEWLINE = re.compile("\n")


def _about(c: CodeEntry, text: str | None) -> str:
    """A path hit's snippet: what the file's opening comment says it is (`openings.py`),
    else its opening lines, or what kind of file it is."""
    if text is not None:
        said = opening_comment(text)
        if said is not None:
            return escape_stars(said)
        opening = " ".join(text[:SNIPPET_CHARS].split())
        return escape_stars(opening) + ("…" if len(text) > SNIPPET_CHARS else "")
    what = {"binary": "binary file", "too_large": "not indexed: over the size cap"}
    return f"({what.get(c.skipped or '', 'contents not indexed')}, {_bytes(c.size)})"


def _bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"  # pragma: no cover


def _rows(entries: list[IndexEntry]) -> Iterator[tuple[object, ...]]:
    for n, e in enumerate(entries):
        body = e.body
        yield (n, e.path, e.feature, e.tags, e.meta, body, expand_identifiers(e.path, e.meta, body))


def _code_rows(code: CodeRows) -> Iterator[tuple[object, ...]]:
    for n, (e, text) in enumerate(zip(code.entries, code.texts, strict=True)):
        yield (n, e.path, expand_identifiers(e.path, text), text)


_WEIGHTS = ", ".join(str(w) for w in COLUMN_WEIGHTS)
_RANK_SQL = (
    f"SELECT rowid, bm25(docs, {_WEIGHTS}) AS r FROM docs "  # noqa: S608 - constants only
    "WHERE docs MATCH ? ORDER BY r LIMIT ?"
)
_CODE_WEIGHTS = ", ".join(str(w) for w in CODE_COLUMN_WEIGHTS)
_CODE_RANK_SQL = (
    f"SELECT rowid, bm25(code, {_CODE_WEIGHTS}) AS r, path FROM code "  # noqa: S608 - constants
    "WHERE code MATCH ? ORDER BY r LIMIT ?"
)


#: Characters of context a snippet shows around its best match.
SNIPPET_CHARS = 160


def snippet_words(query: str) -> tuple[str, ...]:
    """The query's words and their identifier pieces, lower-cased, longest first."""
    raw = _WORD.findall(query)[:MAX_QUERY_WORDS]
    words = {w.lower() for w in raw} - STOPWORDS
    for word in raw:
        words.update(identifier_parts(word))
    return tuple(sorted((w for w in words if len(w) > 1), key=lambda w: (-len(w), w)))


def make_snippet(body: str, words: tuple[str, ...]) -> str:
    """About SNIPPET_CHARS of `body` around the window with the most distinct query words,
    matches in **bold**, a literal `*` written `\\*` (so `**kwargs` cannot turn into
    `****kwargs**`). Done here with `str.find` on the lower-cased text: FTS5's
    snippet() needs a second query per search, and a case-blind regex over every hit's
    text cost more than the ranking itself."""
    low = body.lower()
    if len(low) != len(body):  # a few characters change length when lower-cased
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in body)
    found: list[tuple[int, str]] = []
    for word in words:
        at = low.find(word)
        while at != -1 and len(found) < 400:
            found.append((at, word))
            at = low.find(word, at + len(word))
    if not found:
        opening = escape_stars(_squash(body[:SNIPPET_CHARS]))
        return opening + ("…" if len(body) > SNIPPET_CHARS else "")
    found.sort(key=lambda f: (f[0], -len(f[1])))  # at one place, the longest word first
    best, best_count, ahead = found[0][0], 0, 0
    seen: dict[str, int] = {}  # words in the window starting at match i, with their counts
    for at, word in found:
        while ahead < len(found) and found[ahead][0] < at + SNIPPET_CHARS:
            seen[found[ahead][1]] = seen.get(found[ahead][1], 0) + 1
            ahead += 1
        if len(seen) > best_count:
            best, best_count = at, len(seen)
        seen[word] -= 1
        if not seen[word]:
            del seen[word]
    start = max(0, best - SNIPPET_CHARS // 4)
    start = body.rfind(" ", 0, start) + 1 if start else 0
    end = min(len(body), start + SNIPPET_CHARS)
    out: list[str] = []
    pos = start
    for at, word in found:  # bold each run of matches; runs that touch are merged
        stop = at + len(word)
        if at < pos or at >= end:
            continue
        if out and at == pos and out[-1] == "**":
            out.pop()
        else:
            out.append(escape_stars(body[pos:at]))
            out.append("**")
        out.extend((escape_stars(body[at : min(stop, end)]), "**"))
        pos = min(stop, end)
    out.append(escape_stars(body[pos:end]))
    text = _squash("".join(out))
    return ("…" if start else "") + text + ("…" if end < len(body) else "")


def _squash(text: str) -> str:
    return " ".join(text.split())


def escape_stars(text: str) -> str:
    return text.replace("*", "\\*")


_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\n]*\)")
_MD_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])")
_MD_CODE = re.compile(r"`+([^`\n]*)`+")
_MD_LINE = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+(?=\S))")


def plain_markdown(text: str) -> str:
    """Markdown as the text it shows: a snippet bolds the query's words itself, so a
    document's own `**Rate**` must not come out as `****Rate****`. Links and images become
    their text; emphasis, code ticks, heading, quote and bullet marks go."""
    if not any(c in text for c in "*_`[#>-+"):
        return text
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_STRONG.sub(r"\2", text)
    text = _MD_EM.sub(r"\1", text)
    text = _MD_CODE.sub(r"\1", text)
    return _MD_LINE.sub("", text)


#: A document's body as plain text, for its snippets: six regular expressions over a whole
#: document cost a third of a search's time, and the same documents answer query after
#: query (retrieval asks on every turn of a conversation). Bodies are immutable; 256 of
#: them are a few MiB at most.
_plain_body = functools.lru_cache(maxsize=256)(plain_markdown)

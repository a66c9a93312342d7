"""Full-text search over the served knowledge: SQLite FTS5 (standard library), BM25 ranking.

Why FTS5: it ships with Python, needs no process, and measured about 1 ms a query at 10k
documents. Code identifiers are the hard part: `setupLiveKitRoutes` is one token to FTS5.
Each document therefore gets an extra `idents` column holding the pieces of every
camelCase/PascalCase/digit-joined identifier and each adjacent pair of pieces, so the query
`live kit routes` and the query `livekit` both find it. User text never reaches FTS5 syntax:
queries are cut into word tokens and every token is sent as a quoted string.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from context_bot.errors import BadRequest
from context_bot.knowledge.model import ServedDocument
from context_bot.protocol import MAX_QUERY_CHARS, MAX_QUERY_WORDS, MAX_SEARCH_LIMIT

#: BM25 weight per column: path, feature, tags, front-matter text, section text, idents.
COLUMN_WEIGHTS = (10.0, 5.0, 4.0, 2.0, 1.0, 2.0)

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
    kind: str  # "file" for a file's document, "doc" for a free document
    feature: str | None
    score: float  # higher is better
    snippet: str

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "kind": self.kind,
            "feature": self.feature,
            "score": round(self.score, 4),
            "snippet": self.snippet,
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


class SearchIndex:
    """An in-memory FTS5 index; build once, query from any thread (a lock serialises use)."""

    def __init__(self, entries: Iterable[IndexEntry]) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(path, feature, tags, meta, body, idents, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
        # Merge segments once at the end ('optimize') instead of while inserting, and keep
        # more pending terms in memory: inserting 100k documents took half the time.
        self._db.execute("INSERT INTO docs(docs, rank) VALUES ('automerge', 0)")
        self._db.execute("INSERT INTO docs(docs, rank) VALUES ('hashsize', ?)", (_HASH_BYTES,))
        self._entries: list[IndexEntry] = list(entries)
        rows = _rows(self._entries)
        with self._db:
            self._db.executemany(
                "INSERT INTO docs(rowid, path, feature, tags, meta, body, idents) "
                "VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        self._cache: OrderedDict[tuple[str, int], tuple[SearchHit, ...]] = OrderedDict()

    @property
    def size(self) -> int:
        return len(self._entries)

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
        with self._lock:
            cached = self._cache.get(key)
            if cached is None:
                cached = self._cache[key] = self._search(query, limit)
                if len(self._cache) > CACHE_QUERIES:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        return list(cached)

    def _search(self, query: str, limit: int) -> tuple[SearchHit, ...]:
        match = build_match(query)
        if match is None:
            return ()
        try:
            ranked = self._db.execute(_RANK_SQL, (match[0], limit)).fetchall()
            if not ranked and match[1] != match[0]:
                match = (match[1], match[1])
                ranked = self._db.execute(_RANK_SQL, (match[0], limit)).fetchall()
        except sqlite3.OperationalError:
            return ()  # cannot happen with quoted tokens; never let a query crash a caller
        words = snippet_words(query)
        hits = []
        for row, rank in ranked:
            e = self._entries[row]
            snippet = make_snippet(e.body, words)
            hits.append(SearchHit(e.path, e.kind, e.feature or None, -float(rank), snippet))
        return tuple(hits)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _rows(entries: list[IndexEntry]) -> Iterator[tuple[object, ...]]:
    for n, e in enumerate(entries):
        body = e.body
        yield (n, e.path, e.feature, e.tags, e.meta, body, expand_identifiers(e.path, e.meta, body))


_WEIGHTS = ", ".join(str(w) for w in COLUMN_WEIGHTS)
_RANK_SQL = (
    f"SELECT rowid, bm25(docs, {_WEIGHTS}) AS r FROM docs "  # noqa: S608 - constants only
    "WHERE docs MATCH ? ORDER BY r LIMIT ?"
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
    matches in **bold**. Done here with `str.find` on the lower-cased text: FTS5's
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
        return _squash(body[:SNIPPET_CHARS]) + ("…" if len(body) > SNIPPET_CHARS else "")
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
            out.append(body[pos:at])
            out.append("**")
        out.extend((body[at : min(stop, end)], "**"))
        pos = min(stop, end)
    out.append(body[pos:end])
    text = _squash("".join(out))
    return ("…" if start else "") + text + ("…" if end < len(body) else "")


def _squash(text: str) -> str:
    return " ".join(text.split())

"""Full-text search over the served knowledge: SQLite FTS5 (standard library), BM25 ranking.

Why FTS5: it ships with Python, needs no process, and measured about 1 ms a query at 10k
documents. Code identifiers are the hard part: `setupLiveKitRoutes` is one token to FTS5.
Each document therefore gets an extra `idents` column holding the pieces of every
camelCase/PascalCase/digit-joined identifier and each adjacent pair of pieces, so the query
`live kit routes` and the query `livekit` both find it. User text never reaches FTS5 syntax:
queries are cut into word tokens and every token is sent as a quoted string.
"""

from __future__ import annotations

import bisect
import itertools
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from context_bot.documents import ServedDocument, normalise_repo_path
from context_bot.errors import BadRequest, InvalidPath

#: BM25 weight per column: path, feature, tags, front-matter text, section text, idents.
COLUMN_WEIGHTS = (10.0, 5.0, 4.0, 2.0, 1.0, 2.0)
#: Longest query accepted, in characters, and most tokens used from it.
MAX_QUERY_CHARS = 1_000
MAX_QUERY_TOKENS = 16
#: Largest `limit` a caller may ask for.
MAX_LIMIT = 100

_WORD = re.compile(r"\w+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


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
    """What the index needs of one document."""

    path: str
    kind: str
    feature: str
    tags: str
    meta: str
    body: str


def identifier_parts(word: str) -> list[str]:
    """`setupLiveKitRoutes` → [setup, live, kit, routes]; [] when the word does not split."""
    parts = _CAMEL.findall(word)
    return [p.lower() for p in parts] if len(parts) > 1 else []


def expand_identifiers(*texts: str) -> str:
    """The pieces and adjacent pairs of every splittable identifier in `texts`."""
    seen: set[str] = set()
    out: list[str] = []
    for text in texts:
        for word in _WORD.findall(text):
            if word in seen or word.islower() or word.isupper() or word.isdigit():
                continue
            seen.add(word)
            parts = identifier_parts(word)
            if parts:
                out.append(" ".join(parts))
                out.append(" ".join(a + b for a, b in itertools.pairwise(parts)))
    return "\n".join(out)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def build_match(query: str) -> tuple[str, str] | None:
    """(AND expression, OR expression) for FTS5 MATCH, or None when the query has no words."""
    groups: list[str] = []
    for word in _WORD.findall(query)[:MAX_QUERY_TOKENS]:
        lowered = word.lower()
        variants = [_quote(lowered)]
        parts = identifier_parts(word) or [p for p in lowered.split("_") if p]
        if len(parts) > 1:
            variants.append(_quote(" ".join(parts)))
        groups.append(variants[0] if len(variants) == 1 else "(" + " OR ".join(variants) + ")")
    if not groups:
        return None
    # A prefix on the last word helps people who are still typing (`livek`).
    last = _WORD.findall(query)[:MAX_QUERY_TOKENS][-1].lower()
    if len(groups) == 1 and len(last) >= 3 and groups[0] == _quote(last):
        groups[0] = f"({_quote(last)} OR {_quote(last)}*)"
    return " AND ".join(groups), " OR ".join(groups)


class SearchIndex:
    """An in-memory FTS5 index; build once, query from any thread (a lock serialises use)."""

    def __init__(self, entries: Iterable[IndexEntry]) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5("
            "path, feature, tags, meta, body, idents, kind UNINDEXED, "
            "tokenize = 'unicode61 remove_diacritics 2')"
        )
        self._feature: dict[int, str | None] = {}
        rows = []
        for rowid, entry in enumerate(entries, 1):
            self._feature[rowid] = entry.feature or None
            idents = expand_identifiers(entry.path, entry.meta, entry.body)
            rows.append(
                (
                    rowid,
                    entry.path,
                    entry.feature,
                    entry.tags,
                    entry.meta,
                    entry.body,
                    idents,
                    entry.kind,
                )
            )
        with self._db:
            self._db.executemany(
                "INSERT INTO docs(rowid, path, feature, tags, meta, body, idents, kind) "
                "VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
            self._db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        self.size = len(rows)

    def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("search query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"search query is longer than {MAX_QUERY_CHARS} characters")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
        match = build_match(query)
        if match is None:
            return []
        hits = self._run(match[0], limit)
        if not hits and match[1] != match[0]:
            hits = self._run(match[1], limit)
        return hits

    def _run(self, expression: str, limit: int) -> list[SearchHit]:
        weights = ", ".join(str(w) for w in COLUMN_WEIGHTS)
        sql = (
            f"SELECT rowid, path, kind, bm25(docs, {weights}) AS r, "  # noqa: S608 - constants
            "snippet(docs, 4, '**', '**', '…', 16) FROM docs WHERE docs MATCH ? "
            "ORDER BY r LIMIT ?"
        )
        with self._lock:
            try:
                rows = self._db.execute(sql, (expression, limit)).fetchall()
            except sqlite3.OperationalError:
                return []  # cannot happen with quoted tokens; never let a query crash a caller
        return [
            SearchHit(path, kind, self._feature.get(rowid), -float(rank), _clean(snippet))
            for rowid, path, kind, rank, snippet in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _clean(snippet: str) -> str:
    return " ".join(snippet.split())


# --- listing: what knowledge exists under a folder ------------------------------------------

#: Caps on what one listing may ask for.
MAX_LIST_DEPTH = 16
MAX_LIST_LIMIT = 5_000


@dataclass(frozen=True, slots=True)
class ListingEntry:
    path: str
    kind: str  # "dir", "file" (a file's document) or "doc" (a free document)
    documents: int  # for a folder: documents beneath it; 1 otherwise
    stale: bool | None = None
    feature: str | None = None

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = {"path": self.path, "kind": self.kind}
        if self.kind == "dir":
            wire["documents"] = self.documents
        else:
            wire["stale"] = self.stale
            wire["feature"] = self.feature
        return wire


@dataclass(frozen=True, slots=True)
class Listing:
    prefix: str
    depth: int
    entries: tuple[ListingEntry, ...]
    truncated: bool
    total: int  # entries there would be without the limit

    def to_wire(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "depth": self.depth,
            "entries": [e.to_wire() for e in self.entries],
            "truncated": self.truncated,
            "total": self.total,
        }


def build_listing(
    paths: list[tuple[str, str]],
    served: Mapping[str, ServedDocument],
    prefix: str,
    *,
    depth: int,
    limit: int,
) -> Listing:
    """Entries under `prefix` from the sorted (path, kind) list, folders first at each level."""
    for name, value, top in (("depth", depth, MAX_LIST_DEPTH), ("limit", limit, MAX_LIST_LIMIT)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise BadRequest(f"{name} must be an integer from 1 to {top}")
    if not isinstance(prefix, str):
        raise BadRequest("prefix must be a string")
    norm = "" if prefix.strip() in ("", ".", "./", "/") else normalise_repo_path(prefix)
    if norm is None:
        raise InvalidPath(f"not a repository-relative path: {prefix[:200]!r}")
    base = f"{norm}/" if norm else ""
    dirs: dict[str, int] = {}
    leaves: dict[str, str] = {}
    start = bisect.bisect_left(paths, (base, ""))
    for path, kind in paths[start:]:
        if not path.startswith(base):
            break
        parts = path[len(base) :].split("/")
        for level in range(1, min(depth, len(parts) - 1) + 1):
            key = base + "/".join(parts[:level])
            dirs[key] = dirs.get(key, 0) + 1
        if len(parts) <= depth:
            leaves.setdefault(path, kind)
    exact = paths[bisect.bisect_left(paths, (norm, "")) :][:1]
    if norm and not dirs and not leaves and exact and exact[0][0] == norm:
        leaves[norm] = exact[0][1]  # the prefix names a file: list just that file
    entries = [ListingEntry(p, "dir", n) for p, n in dirs.items()]
    for path, kind in leaves.items():
        doc = served.get(path) if kind == "file" else None
        entries.append(
            ListingEntry(path, kind, 1, doc.stale if doc else None, doc.feature if doc else None)
        )
    entries.sort(key=lambda e: (e.path, e.kind != "dir"))
    return Listing(norm, depth, tuple(entries[:limit]), len(entries) > limit, len(entries))

"""Listings: which files and folders have knowledge under a folder, folders first.

Answers the protocol's `list` method from the sorted path list that loading precomputes;
bounded in depth and count so one request can never walk the whole tree unasked.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

from context_bot.errors import BadRequest
from context_bot.knowledge.model import ServedDocument
from context_bot.knowledge.paths import check_relative
from context_bot.protocol import MAX_LIST_DEPTH, MAX_LIST_LIMIT


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
    # The root, or a path bounded and checked as any path a request names.
    norm = "" if prefix.strip() in ("", ".", "./", "/") else check_relative(prefix)
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

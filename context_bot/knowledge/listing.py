"""Listings: every file and folder of the repository under a folder, folders first.

Answers the protocol's `list` method over the whole inventory (documented or not) plus
the free documents. The tree is laid out once per snapshot, at load, in the order
listings are answered in (depth first, each folder's subfolders before its files), with
each folder's counts and the end of its subtree: a folder's entries are then one
contiguous run, a folder below the requested depth is skipped in one step, and `total`
is a lookup. So a `list` costs what it returns (at most `limit` entries), not the size
of the repository: it runs on the event loop and must stay there for microseconds, not
the tens of milliseconds a scan of 100,000 paths takes. Bounded in depth and count so
one request can never return the whole tree unasked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast, overload

from context_bot.errors import BadRequest
from context_bot.knowledge.inventory import Inventory
from context_bot.knowledge.model import RepoFile, ServedDocument
from context_bot.knowledge.paths import check_relative
from context_bot.protocol import MAX_LIST_DEPTH, MAX_LIST_LIMIT, MAX_PATH_CHARS, MAX_PATH_DEPTH


@dataclass(frozen=True, slots=True)
class ListingEntry:
    """One row of a listing: a folder, a repository file (documented or not), or a free
    document. Which fields are sent depends on the kind (`to_wire`)."""

    path: str
    kind: str  # "dir", "file" (a repository file, or a document's missing file), "doc"
    documents: int  # a folder: documents beneath it (files' and free); 1 for a document
    stale: bool | None = None  # a document's; None for an undocumented file
    feature: str | None = None
    files: int = 0  # a folder: repository files beneath it
    documented: int = 0  # a folder: of those files, how many have a document; a file: 0/1
    size: int | None = None  # a file in the repository: bytes; None when it is not there
    language: str | None = None
    binary: bool | None = None

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = {"path": self.path, "kind": self.kind}
        if self.kind == "dir":
            wire["documents"] = self.documents
            wire["files"] = self.files
            wire["documented"] = self.documented
        elif self.kind == "doc":
            wire["stale"] = self.stale
            wire["feature"] = self.feature
        else:
            wire["stale"] = self.stale
            wire["feature"] = self.feature
            wire["documented"] = bool(self.documented)
            wire["size"] = self.size
            wire["language"] = self.language
            wire["binary"] = self.binary
        return wire


Row = tuple[str, str, int, bool | None, str | None, int, int, int | None, str | None, bool | None]
"""A `ListingEntry`'s fields, in order: how a laid-out tree holds its rows (`Rows`)."""


Stored = Row | str
"""A row as a tree holds it: a `Row`, or for a file no document describes, its path
alone (its facts are the inventory's: `Rows` asks it for them when the row is read)."""

Facts = Callable[[str], RepoFile | None]
"""The inventory's file of a path (`Inventory.get`)."""


def _row(e: ListingEntry) -> Row:
    return (
        e.path, e.kind, e.documents, e.stale, e.feature, e.files, e.documented, e.size,
        e.language, e.binary,
    )  # fmt: skip


class Rows(Sequence[ListingEntry]):
    """A laid-out tree's rows as plain tuples (`Row`), or as the path alone for a file no
    document describes (its size, language and binary flag are the inventory's, `facts`),
    each made a `ListingEntry` when a listing returns it. A tuple costs a tenth of a
    frozen dataclass to make and to unpickle, a path (shared with the inventory's) less
    still: at 100,000 files that was most of a layout's time, and a tenth of a restart's
    (`keep_layout`). A `list` reads at most `limit` rows, so making them on use keeps it
    O(limit). Never changed: a patch makes new rows (`_Moves`)."""

    __slots__ = ("_facts", "_rows")

    def __init__(self, rows: list[Stored], facts: Facts) -> None:
        self._rows = rows
        self._facts = facts

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, i: int) -> ListingEntry: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[ListingEntry, ...]: ...
    def __getitem__(self, i: int | slice) -> ListingEntry | tuple[ListingEntry, ...]:
        if isinstance(i, slice):
            return tuple(self._entry(r) for r in self._rows[i])
        return self._entry(self._rows[i])

    def __iter__(self) -> Iterator[ListingEntry]:
        return (self._entry(r) for r in self._rows)

    def _entry(self, row: Stored) -> ListingEntry:
        if not isinstance(row, str):
            return ListingEntry(*row)
        f = self._facts(row)
        if f is None:  # not the inventory it was laid out from: a bug, not a request's
            raise LookupError(f"the tree lists a file its inventory does not: {row}")
        return ListingEntry(row, "file", 0, size=f.size, language=f.language, binary=f.binary)

    def path(self, i: int) -> str:
        """Row `i`'s path, without making its entry."""
        return _path_of(self._rows[i])

    def stored(self, i: int) -> Stored:
        """Row `i` as the tree holds it."""
        return self._rows[i]

    def held(self) -> list[Stored]:
        """The rows as the tree holds them (not a copy: read them, never change them)."""
        return self._rows

    def copy(self) -> list[Stored]:
        return list(self._rows)


def _path_of(row: Stored) -> str:
    return row if isinstance(row, str) else row[0]


def _documents_of(row: Stored) -> int:
    return 0 if isinstance(row, str) else row[2]


@dataclass(frozen=True, slots=True)
class Listing:
    prefix: str
    depth: int
    entries: tuple[ListingEntry, ...]
    truncated: bool
    total: int  # entries there would be without the limit
    files: int = 0  # repository files under the prefix, at any depth
    documented: int = 0  # of those, how many a knowledge document describes

    def to_wire(self) -> dict[str, object]:
        return {
            "prefix": self.prefix,
            "depth": self.depth,
            "entries": [e.to_wire() for e in self.entries],
            "truncated": self.truncated,
            "total": self.total,
            "files": self.files,
            "documented": self.documented,
        }


@dataclass(slots=True)
class _Folder:
    """A folder while the tree is being laid out."""

    path: str
    folders: dict[str, _Folder] = field(default_factory=dict)
    leaves: list[tuple[str, int, Stored]] = field(default_factory=list)  # (name, rank, row)


@dataclass(frozen=True, slots=True, eq=False)
class ListingIndex:
    """The tree of one snapshot in listing order, with what answers a `list` in O(limit).

    `entries[i]` is the i-th row in depth-first, folders-first order; `levels[i]` its
    number of path components; for a folder, `ends[i]` is the index just past its
    subtree and `totals[i][d]` the rows within `d` levels below it. Folder `""` (the
    root) is not a row: its subtree is the whole list."""

    entries: Rows
    levels: tuple[int, ...]
    ends: dict[int, int]
    totals: dict[int, tuple[int, ...]]
    root_totals: tuple[int, ...]
    folder_at: dict[str, int]
    leaf_at: dict[str, int]
    root: ListingEntry
    """The root as a folder row (path ""): the repository's files, documented, documents."""

    def listing(self, prefix: str, *, depth: int, limit: int) -> Listing:
        """Entries under `prefix`, `depth` levels down, at most `limit` (then `truncated`).
        A prefix naming a file lists that file; one naming nothing lists nothing."""
        for name, value, top in (
            ("depth", depth, MAX_LIST_DEPTH),
            ("limit", limit, MAX_LIST_LIMIT),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise BadRequest(f"{name} must be an integer from 1 to {top}")
        if not isinstance(prefix, str):
            raise BadRequest("prefix must be a string")
        # The root, or a path bounded and checked as any path a request names.
        norm = "" if prefix.strip() in ("", ".", "./", "/") else check_relative(prefix)
        if norm == "":
            start, end, level, totals = 0, len(self.entries), 0, self.root_totals
            folder = self.root
        elif norm in self.folder_at:
            at = self.folder_at[norm]
            start, end, level, totals = at + 1, self.ends[at], self.levels[at], self.totals[at]
            folder = self.entries[at]
        else:
            # The prefix names a file (or a free document): list just that.
            at = self.leaf_at.get(norm, len(self.entries))
            end = next(
                (i for i in range(at, len(self.entries)) if self.entries.path(i) != norm),
                len(self.entries),
            )
            found = self.entries[at:end]  # a file and its namesake free document are adjacent
            files = [e for e in found if e.kind == "file" and e.size is not None]
            documented = sum(e.documented for e in files)
            return Listing(
                norm, depth, found[:limit], len(found) > limit, len(found), len(files), documented
            )
        deepest = level + depth
        rows: list[ListingEntry] = []
        i = start
        while i < end and len(rows) < limit:
            rows.append(self.entries[i])
            # A folder at the deepest level is listed, its contents skipped in one step.
            i = self.ends[i] if self.levels[i] >= deepest and i in self.ends else i + 1
        total = totals[depth]
        return Listing(
            norm, depth, tuple(rows), total > len(rows), total, folder.files, folder.documented
        )


#: Rank of a leaf's kind among leaves of the same name: the file before its namesake guide.
_RANK = {"file": 0, "doc": 1}


def build_listing_index(
    inventory: Iterable[RepoFile],
    served: Mapping[str, ServedDocument],
    free: Mapping[str, ServedDocument],
    facts: Facts | None = None,
) -> ListingIndex:
    """Lay out the tree once: every inventory file, every documented path (a document
    whose file is gone is still listed, as `stale`), every free document by its name.

    A path no request could name (over MAX_PATH_CHARS or MAX_PATH_DEPTH) is left out.
    `facts`: the inventory's lookup of a path (`Inventory.get`; None: made here).
    Blocking and linear in the number of paths: call it at load."""
    if facts is None:
        inventory = list(inventory)
        facts = {f.path: f for f in inventory}.get
    root = _Folder("")
    folders: dict[str, _Folder] = {"": root}  # sorted input: the last folder is usually hit

    def folder_of(path: str) -> tuple[_Folder, str] | None:
        if len(path) > MAX_PATH_CHARS or path.count("/") >= MAX_PATH_DEPTH:
            return None
        parent, _, name = path.rpartition("/")
        node = folders.get(parent)
        if node is None:
            node = root
            for part in parent.split("/"):
                child = node.folders.get(part)
                if child is None:
                    child = _Folder(f"{node.path}/{part}" if node.path else part)
                    node.folders[part] = child
                node = child
            folders[parent] = node
        return node, name

    listed: set[str] = set()
    for repo_file in inventory:
        listed.add(repo_file.path)
        place = folder_of(repo_file.path)
        if place is None:
            continue
        node, name = place
        doc = served.get(repo_file.path)
        row: Stored = repo_file.path  # its facts are the inventory's
        if doc is not None:
            row = (
                repo_file.path, "file", 1, doc.stale, doc.feature, 0, 1, repo_file.size,
                repo_file.language, repo_file.binary,
            )  # fmt: skip
        node.leaves.append((name, 0, row))
    for path, doc in served.items():
        place = None if path in listed else folder_of(path)
        if place is not None:  # documented, but not in the repository (gone, or ignored)
            entry = ListingEntry(path, "file", 1, doc.stale, doc.feature, documented=1)
            place[0].leaves.append((place[1], _RANK["file"], _row(entry)))
    for name_in_folder, doc in free.items():
        place = folder_of(name_in_folder)
        if place is not None:
            entry = ListingEntry(name_in_folder, "doc", 1, doc.stale, doc.feature)
            place[0].leaves.append((place[1], _RANK["doc"], _row(entry)))

    entries: list[Stored] = []
    levels: list[int] = []
    ends: dict[int, int] = {}
    totals: dict[int, tuple[int, ...]] = {}
    folder_at: dict[str, int] = {}
    leaf_at: dict[str, int] = {}

    def lay_out(node: _Folder, level: int) -> tuple[int, int, int, list[int]]:
        """Append the rows under `node` (at `level` components); return its counts:
        files, documented files, documents, and rows per level below it (index 1..)."""
        files = documented = documents = 0
        per_level = [0] * (MAX_LIST_DEPTH + 1)
        for name in sorted(node.folders):
            child = node.folders[name]
            at = len(entries)
            entries.append(_row(ListingEntry(child.path, "dir", 0)))  # counts filled in below
            levels.append(level + 1)
            folder_at[child.path] = at
            c_files, c_documented, c_documents, c_levels = lay_out(child, level + 1)
            entries[at] = _row(
                ListingEntry(child.path, "dir", c_documents, files=c_files, documented=c_documented)
            )
            ends[at] = len(entries)
            totals[at] = _cumulative(c_levels)
            files, documented, documents = (
                files + c_files,
                documented + c_documented,
                documents + c_documents,
            )
            per_level[1] += 1
            for d in range(1, MAX_LIST_DEPTH):
                per_level[d + 1] += c_levels[d]
        node.leaves.sort(key=lambda leaf: (leaf[0], leaf[1]))
        for _name, _rank, row in node.leaves:
            leaf_at.setdefault(_path_of(row), len(entries))
            entries.append(row)
            levels.append(level + 1)
            per_level[1] += 1
            if isinstance(row, str):  # an inventory file no document describes
                files += 1
                continue
            documents += row[2]
            if row[1] == "file" and row[7] is not None:
                files += 1
                documented += row[6]
        return files, documented, documents, per_level

    r_files, r_documented, r_documents, r_levels = lay_out(root, 0)
    return ListingIndex(
        Rows(entries, facts),
        tuple(levels),
        ends,
        totals,
        _cumulative(r_levels),
        folder_at,
        leaf_at,
        ListingEntry("", "dir", r_documents, files=r_files, documented=r_documented),
    )


def _cumulative(per_level: list[int]) -> tuple[int, ...]:
    """Rows within d levels, for d = 0..MAX_LIST_DEPTH."""
    out = [0]
    for count in per_level[1:]:
        out.append(out[-1] + count)
    return tuple(out)


MAX_PATCHED_ROWS = 16
"""Files added or removed in one patch of the tree; past this, it is laid out again."""


def patch_listing_index(
    tree: ListingIndex,
    before: Inventory,
    after: Inventory,
    paths: Iterable[str],
    served: Mapping[str, ServedDocument],
    free: Mapping[str, ServedDocument],
) -> ListingIndex:
    """`tree` (laid out from `before`) with the rows of `paths` as `after` has them,
    equal to `build_listing_index(after.files, served, free)`; for a live reload of a few
    undocumented files (`patching.py`). A file changed in place swaps its row; the files
    added and removed are placed, then the rows and lookups are made again in one pass,
    shifted by what moved before them (one pass for all: each of 100k lookups moved once,
    not once per file). When a folder would appear or vanish, or many files come and go,
    the tree is laid out again. `tree` is left as it is."""
    swaps: dict[int, Stored] = {}
    removed: list[str] = []
    added: list[tuple[str, RepoFile]] = []
    for path in sorted(set(paths)):
        old, new = before.get(path), after.get(path)
        if _unlisted(path):
            continue
        if old is not None and new is not None:
            at = tree.leaf_at[path]
            kept = tree.entries.stored(at)
            if not isinstance(kept, str):  # else its facts are the new inventory's
                swaps[at] = _swapped(kept, new)
        elif old is not None:
            removed.append(path)
        elif new is not None:
            added.append((path, new))
    if len(removed) + len(added) > MAX_PATCHED_ROWS:
        return build_listing_index(after.files, served, free, after.get)
    moved = _Moves.of(tree, removed, added)
    if moved is None:
        return build_listing_index(after.files, served, free, after.get)
    return moved.apply(tree, swaps, after.get)


def _unlisted(path: str) -> bool:
    """A path no request could name is not laid out (`build_listing_index`)."""
    return len(path) > MAX_PATH_CHARS or path.count("/") >= MAX_PATH_DEPTH


def _swapped(kept: Row, repo_file: RepoFile) -> Row:
    """A documented file's row with its new facts."""
    old = ListingEntry(*kept)
    return _row(ListingEntry(
        old.path, "file", old.documents, old.stale, old.feature, documented=old.documented,
        size=repo_file.size, language=repo_file.language, binary=repo_file.binary,
    ))  # fmt: skip


@dataclass(slots=True)
class _Moves:
    """Rows added and removed in one patch of a tree (`patch_listing_index`), each placed
    by its index in the tree as it was: an added row goes before the row at its index."""

    events: list[tuple[int, int, str]]
    """(index, 0 for an added row / 1 for a removed one, path), in tree order."""
    holders: dict[str, list[int]]
    """Each moved path's folders' rows (outermost first)."""

    @classmethod
    def of(
        cls, tree: ListingIndex, removed: list[str], added: list[tuple[str, RepoFile]]
    ) -> _Moves | None:
        """The moves, or None when a folder would appear or vanish (or a removed row is
        a document's): then the tree is laid out again."""
        events: list[tuple[int, int, str]] = []
        holders: dict[str, list[int]] = {}
        lost: dict[int, int] = {}  # folder row → rows removed beneath it
        for path in removed:
            folders = _folders(tree, path)
            at = tree.leaf_at.get(path)
            if folders is None or at is None or _documents_of(tree.entries.stored(at)):
                return None
            for row in folders:
                lost[row] = lost.get(row, 0) + 1
            events.append((at, 1, path))
            holders[path] = folders
        if any(tree.ends[row] - row - 1 <= n for row, n in lost.items()):
            return None  # a folder's every row gone: the folder goes too
        for path, _ in added:
            folders = _folders(tree, path)
            if folders is None or path in tree.leaf_at:
                return None
            events.append((_place(tree, path, folders), 0, path))
            holders[path] = folders
        # Added rows at one index: those of a folder's end before its parent's (a file
        # added last in `a/d` before one added to `a` after its subfolders), a folder's
        # own by name.
        events.sort(key=lambda e: (e[0], e[1], -len(holders[e[2]]), e[2]))
        return cls(events, holders)

    def apply(self, tree: ListingIndex, swaps: Mapping[int, Stored], facts: Facts) -> ListingIndex:
        """The tree with these moves (and `swaps`: index → new row) made."""
        rows, levels = tree.entries.held(), tree.levels
        new_rows: list[Stored] = []
        new_levels: list[int] = []
        points: list[int] = []  # from each of these indexes on, the shift is ...
        shifts: list[int] = [0]  # ... this (`shifts[0]`: before the first)
        placed: dict[str, int] = {}
        cursor = 0
        for at, kind, path in self.events:
            new_rows += rows[cursor:at]
            new_levels += levels[cursor:at]
            if kind == 0:
                placed[path] = len(new_rows)
                new_rows.append(path)  # undocumented: its facts are the inventory's
                new_levels.append(len(self.holders[path]) + 1)
                cursor = at
                points.append(at)
                shifts.append(shifts[-1] + 1)
            else:
                cursor = at + 1
                points.append(at + 1)
                shifts.append(shifts[-1] - 1)
        new_rows += rows[cursor:]
        new_levels += levels[cursor:]

        def moved(i: int) -> int:
            return i + shifts[bisect_right(points, i)]

        for at, swapped in swaps.items():
            new_rows[moved(at)] = swapped
        leaf_at = {p: i + shifts[bisect_right(points, i)] for p, i in tree.leaf_at.items()}
        for at, kind, path in self.events:
            if kind == 1:  # its namesake free document, if any, is next
                del leaf_at[path]
                if at + 1 < len(rows) and _path_of(rows[at + 1]) == path:
                    leaf_at[path] = moved(at + 1)
        leaf_at.update(placed)
        folder_at = {p: moved(i) for p, i in tree.folder_at.items()}
        # A folder's end: the first row after its subtree. Rows added at that very index
        # are in the subtree only if the folder holds them (`_place` puts a folder's last
        # file there, and the next folder's first file too).
        ins = [at for at, kind, _ in self.events if kind == 0]
        rem = [at for at, kind, _ in self.events if kind == 1]
        ends = {
            moved(row): end + bisect_left(ins, end) - bisect_left(rem, end)
            for row, end in tree.ends.items()
        }
        totals = {moved(row): counts for row, counts in tree.totals.items()}
        root_totals = list(tree.root_totals)
        root_files = tree.root.files
        for at, kind, path in self.events:
            by = 1 if kind == 0 else -1
            folders = self.holders[path]
            depth = len(folders) + 1
            for folder in folders:
                if kind == 0 and tree.ends[folder] == at:
                    ends[moved(folder)] += 1
                below = depth - tree.levels[folder]
                new_row = moved(folder)
                totals[new_row] = tuple(
                    n + by if d >= below else n for d, n in enumerate(totals[new_row])
                )
                e = ListingEntry(*cast(Row, new_rows[new_row]))  # a folder's row: a `Row`
                new_rows[new_row] = _row(
                    ListingEntry(
                        e.path, "dir", e.documents, files=e.files + by, documented=e.documented
                    )
                )
            for d in range(depth, len(root_totals)):
                root_totals[d] += by
            root_files += by
        r = tree.root
        return ListingIndex(
            Rows(new_rows, facts), tuple(new_levels), ends, totals, tuple(root_totals),
            folder_at, leaf_at,
            ListingEntry("", "dir", r.documents, files=root_files, documented=r.documented),
        )  # fmt: skip


def _folders(tree: ListingIndex, path: str) -> list[int] | None:
    """The rows of the folders holding `path`, outermost first; None if one is missing."""
    parts = path.split("/")[:-1]
    rows = []
    for n in range(1, len(parts) + 1):
        row = tree.folder_at.get("/".join(parts[:n]))
        if row is None:
            return None
        rows.append(row)
    return rows


def _place(tree: ListingIndex, path: str, folders: list[int]) -> int:
    """The index (in `tree`) of the row a new file `path` goes before: in its folder,
    after the subfolders, among the files by name."""
    name = path.rpartition("/")[2]
    start, end = (folders[-1] + 1, tree.ends[folders[-1]]) if folders else (0, len(tree.entries))
    at = start
    while at < end and at in tree.ends:  # the subfolders come first
        at = tree.ends[at]
    while at < end and tree.entries.path(at).rpartition("/")[2] < name:
        at += 1
    return at


KeptLayout = tuple[
    list[Stored],
    tuple[int, ...],
    dict[int, int],
    dict[int, tuple[int, ...]],
    tuple[int, ...],
    dict[str, int],
    dict[str, int],
    Row,
]
"""A laid-out tree as a restart's snapshot keeps it (`keep_layout`): plain tuples,
lists and dicts, which unpickle in C (a tenth of laying the tree out again)."""


def keep_layout(tree: ListingIndex) -> KeptLayout:
    """`tree` as plain data for a restart's snapshot (`kept_layout` makes it again)."""
    return (
        tree.entries.copy(), tree.levels, tree.ends, tree.totals, tree.root_totals,
        tree.folder_at, tree.leaf_at, _row(tree.root),
    )  # fmt: skip


def kept_layout(kept: KeptLayout, facts: Facts) -> ListingIndex:
    """The tree a snapshot kept (`keep_layout`), as it was then: `facts`, the lookup of
    the inventory it kept with it (`Inventory.get`)."""
    rows, levels, ends, totals, root_totals, folder_at, leaf_at, root = kept
    return ListingIndex(
        Rows(rows, facts), levels, ends, totals, root_totals, folder_at, leaf_at,
        ListingEntry(*root),
    )  # fmt: skip


def layout_key(
    served: Mapping[str, ServedDocument], free: Mapping[str, ServedDocument]
) -> tuple[tuple[str, bool, str | None], ...]:
    """What of the documents a layout depends on besides the files: which paths and
    names they serve, stale or not, under which feature. A kept layout (`keep_layout`)
    is the tree of the same files only while this is the same."""
    return (
        *sorted((p, d.stale, d.feature) for p, d in served.items()),
        ("\0free", False, None),
        *sorted((n, d.stale, d.feature) for n, d in free.items()),
    )

"""Live reload of a few changed files: patch the last snapshot instead of loading it all.

A full load lists the repository with git, stats every file, lays out the listing, reads
the whole code index's state back and builds the code map: seconds at 100,000 files,
whatever changed. When the watcher names the few paths that changed, `reload_knowledge`
instead looks at those alone: the inventory's entries of those paths (listed by the same
git or walk rules), their rows in the index cache, their symbols, their listing rows, the
version's terms. What the change leaves alone is shared with the last snapshot, which is
never modified: the patched snapshot is a new object, swapped in whole by the caller.

It answers as a full load of the same files would (tests compare the two for an add, a
change, a delete and a rename), and falls back to a full load, saying why in the log
(`knowledge_patch_declined`), when it cannot be sure of that:

- more than `MAX_PATCH_PATHS` paths (a branch switch), or none named (a watcher rebuilt);
- a path in the knowledge folder (documents: versions, staleness, links, features);
- an ignore file (`.gitignore`), which can list or hide any file;
- a path that is or was a folder (a folder moved: every path under it);
- a documented path, or one a document's `relatedFiles` may resolve to (staleness and
  links are part of the version);
- the snapshot was indexed without the cache, or its inventory was cut at its limit;
- the total cap on indexed bytes moves which other files fit (`indexing.reindex_files`);
- more files changed in parsed languages since the last full load than the symbol
  index overlays (`symbols.MAX_OVERLAY_FILES`): the full index's arrays and its table file
  are written whole, so a patch overlays a small index of the changed files on them
  (`SymbolIndex.patched`), and past that many files a full load lays them out again;
- anything failing on the way (a read, the cache, a row that does not unpack).

The code map (entry points, central files, history) is reused while the revision and what
it reads of the files (`codemap.excerpt`) are unchanged, else built again from the cache's
excerpts; the overview is written again, as its text names the version, from the last
snapshot's counts of every file moved by the changed ones (`filecounts.py`). `grep`'s
trigram index takes the rows the patch wrote (`TextIndex.patched`), the content hashes
(what names a same-size edit, `changes.py`) the changed files' new ones, and the patched
snapshot records what it patched, so the change report compares those paths alone.
What still passes over every file: the inventory's and the code index's own patches
(`patch_inventory`, `reindex_files`, `patch_listing_index`) and copies of the maps a
snapshot keeps (a snapshot is never modified).
"""

from __future__ import annotations

import bisect
import os
import stat
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import structlog

from context_bot.knowledge import overview as overview_mod
from context_bot.knowledge.filecounts import FileCounts
from context_bot.knowledge.git import git_output
from context_bot.knowledge.heap import give_back_free_heap
from context_bot.knowledge.indexing import Reindexed, reindex_files
from context_bot.knowledge.inventory import (
    GitListing,
    Inventory,
    changes_since,
    git_listing,
    keep_inventory,
    patch_inventory,
)
from context_bot.knowledge.listing import patch_listing_index
from context_bot.knowledge.loading import (
    FILE_TERMS,
    Excerpts,
    Knowledge,
    LoadBasis,
    VersionParts,
    codemap_of,
    file_term,
    load_knowledge,
    overview_text,
    short_digest,
    text_index_of,
)
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.search import (
    SearchIndex,
    StoredCode,
    index_entries,
    sandbox_reader,
)
from context_bot.knowledge.store import IndexStore, cache_folder
from context_bot.knowledge.symbols import TooManyOverlaid
from context_bot.knowledge.textindex import TextIndex

log = structlog.get_logger(__name__)

MAX_PATCH_PATHS = 256
"""More changed paths than this in one reload: a full load (a checkout, a generator)."""
IGNORE_FILES = frozenset({".gitignore", ".ignore", ".gitattributes"})
"""Files whose change can list or hide any other file: a full load."""


class CannotPatch(Exception):
    """Why a snapshot cannot be patched for a change (then it is loaded in full)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def changed_since(previous: Knowledge, files: RepoFiles) -> frozenset[str] | None:
    """The files of the repository that changed since `previous` was read (host paths, as
    the watcher names them), by git's listing and every file's `lstat` against its
    inventory; None when that cannot tell (not listed by git, or cut at its limit: then a
    full reload does). Blocking: about a second at 100,000 files, mostly git's.

    Why: the watcher sees only what changes once it is registered, and the snapshot it
    serves was read before that, over seconds (minutes for a first index of a large
    repository). An edit made meanwhile would wait, unseen, for its file's next change.
    A knowledge folder outside the repository is not looked at (its documents are few,
    read at every load, and rarely edited during a start).

    What it read (git's listing, the inventory's columns, a path → place map) is given
    back to the system once done: at 100k files it left the serving process 27-38 MB
    larger, held by the C heap after a restart that patched (measured: 395 MB → 357)."""
    try:
        kept = keep_inventory(previous.inventory)
        if kept is None:
            return None
        listing: Future[GitListing | None] = Future()
        listing.set_result(git_listing(files.root))
        moved: Future[set[str] | None] = Future()
        moved.set_result(None)  # every file is stat-ed here
        changed = changes_since(files, kept, listing, moved)
        del kept, listing, moved
        if changed is None:
            return None
        return frozenset(str(files.root / rel) for rel in changed)
    finally:
        give_back_free_heap()


def reload_knowledge(
    previous: Knowledge,
    changed: Iterable[str] | None,
    knowledge_dir: Path,
    repo_root: Path,
    *,
    overview_budget: int = 32_000,
    files: RepoFiles | None = None,
    cache_dir: Path | None = None,
) -> Knowledge:
    """The snapshot after the changes the watcher saw at `changed` (host paths; None when
    unknown): `previous` patched when it can be, else a full `load_knowledge` with the same
    arguments. Blocking: call it in a thread."""
    files = files or RepoFiles(repo_root)
    started = time.perf_counter()
    try:
        if changed is None:
            raise CannotPatch("paths_unknown")
        if cache_dir is None:
            raise CannotPatch("no_cache")
        store = IndexStore.open(cache_folder(cache_dir, files.root), scanned=False)
        if store is None:
            raise CannotPatch("no_cache")
        try:
            fresh = patch_knowledge(previous, changed, files, store, overview_budget)
        finally:
            store.close()
    except CannotPatch as exc:
        log.info("knowledge_patch_declined", reason=exc.reason)
    except Exception as exc:  # a failed patch is no failed reload: the full load decides
        log.warning("knowledge_patch_failed", error=exc.__class__.__name__, reason=str(exc))
    else:
        log.info(
            "knowledge_patched",
            version=fresh.version,
            files_read=fresh.index_stats.get("files_read", 0),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        give_back_free_heap()
        return fresh
    return load_knowledge(
        knowledge_dir, repo_root, overview_budget=overview_budget, files=files, cache_dir=cache_dir
    )


def patch_knowledge(
    previous: Knowledge,
    changed: Iterable[str],
    files: RepoFiles,
    store: IndexStore,
    overview_budget: int,
    *,
    listing: GitListing | None = None,
) -> Knowledge:
    """`previous` with the `changed` host paths looked at again (module docstring); raises
    CannotPatch when only a full load can be sure of the answer. `listing`: git's whole
    listing of the tree made just now (a restart's), to ask git nothing again."""
    basis = previous.basis
    if basis is None:
        raise CannotPatch("no_cache")
    if basis.budget != overview_budget:
        raise CannotPatch("settings")
    paths = _repo_paths(previous, basis, changed, files.root)
    root = files.root
    # A new inventory, without the last one's text index (set below).
    inventory = patch_inventory(previous.inventory, files, paths, listing=listing)
    revision = git_output(root, ["rev-parse", "HEAD"])
    readme = overview_mod.read_readme(files)
    outside = _outside(inventory.files, previous.knowledge_folder)
    entries = basis.stored.entries
    row_of = basis.row_of
    if row_of is None:  # the first patch of a loaded snapshot; later ones carry it on
        row_of = {e.path: row for row, e in entries.items()}
    try:
        done = reindex_files(outside, paths, entries, row_of, basis.stored.skipped, files, store)
    except ValueError as exc:
        raise CannotPatch("total_cap") from exc
    terms = basis.version_parts.files
    for path in paths:
        old, new = previous.inventory.get(path), inventory.get(path)
        before, now = done.digests.get(path, ("", ""))
        if old is not None:
            terms -= file_term(path, old.size, before)
        if new is not None:
            terms += file_term(path, new.size, now)
    parts = VersionParts(basis.version_parts.documents, terms % FILE_TERMS)
    version = parts.version(revision, readme, overview_budget)
    stored = StoredCode(store.reads(), done.entries, done.skipped)
    inventory = inventory.with_text_index(_text_index(previous, store, stored, inventory, done))
    try:
        symbols = previous.symbols.patched(done.symbols)
    except TooManyOverlaid as exc:
        raise CannotPatch("symbols") from exc
    codemap, excerpts = basis.codemap, basis.excerpts
    if done.excerpts_moved and excerpts is not None:
        excerpts = _excerpts(excerpts, store, done.digests.keys())
    if done.excerpts_moved or revision != previous.revision:
        history = codemap.history if revision == previous.revision else None
        texts = excerpts if excerpts is not None else store.excerpts()
        codemap = codemap_of(texts, inventory, files, revision, history)
    served, free = previous._served, previous._free  # unchanged: documents decline
    counts = _counts(previous, basis, inventory, paths)
    text = overview_text(
        root, revision, readme, served, free, previous.features(), version,
        len(previous.diagnostics), inventory, codemap, symbols, overview_budget, counts,
        overview_mod.manifest_name(files),
    )  # fmt: skip
    index = SearchIndex(index_entries(served, free), None, sandbox_reader(files), stored=stored)
    layout = patch_listing_index(previous.tree, previous.inventory, inventory, paths, served, free)
    reused = len(outside) - done.read
    return replace(
        previous,
        version=version,
        overview=text,
        revision=revision,
        _index=index,
        inventory=inventory,
        symbols=symbols,
        index_stats={"files_read": done.read, "files_reused": reused},
        basis=replace(
            basis,
            version_parts=parts,
            codemap=codemap,
            stored=stored,
            row_of=done.row_of,
            counts=counts,
            excerpts=excerpts,
            digests=_digests(basis.digests, done.digests),
            patched_from=previous.version,
            patched_paths=frozenset(paths),
        ),
        layout=layout,
    )


def _text_index(
    previous: Knowledge,
    store: IndexStore,
    stored: StoredCode,
    inventory: Inventory,
    done: Reindexed,
) -> TextIndex:
    """`grep`'s index of the patched snapshot: the last one's with the rows the patch
    wrote (those of the changed paths, and of files it moved across the total cap), or
    listed again from the cache when the last snapshot has none of its own."""
    last = previous.inventory.text_index
    if not isinstance(last, TextIndex):
        return text_index_of(store, stored, inventory)
    touched = {}
    for path in done.digests:  # every path whose row the patch wrote or dropped
        listed = inventory.get(path)
        touched[path] = (done.row_of.get(path), listed is not None and not listed.binary)
    return last.patched(touched)


def _counts(
    previous: Knowledge, basis: LoadBasis, inventory: Inventory, paths: set[str]
) -> FileCounts | None:
    """The overview's counts moved by the changed paths (None: counted in full)."""
    if basis.counts is None:
        return None
    before = (f for p in paths if (f := previous.inventory.get(p)) is not None)
    after = (f for p in paths if (f := inventory.get(p)) is not None)
    return basis.counts.patched(before, after, previous._served)


def _excerpts(last: Excerpts, store: IndexStore, touched: Iterable[str]) -> Excerpts:
    """What the code map reads (`IndexStore.excerpts`) after the patch: the last ones,
    those of the paths the patch wrote or dropped as the cache holds them now. The
    cache's list is a pass over every row (85 ms at 100k files)."""
    gone = set(touched)
    now = store.rows_of(sorted(gone))
    kept = [e for e in last if e[0] not in gone]
    kept += [(p, f.language, f.excerpt) for p, (f, _) in now.items() if f.skipped is None]
    return tuple(kept)


def _digests(last: Mapping[str, int], moved: Mapping[str, tuple[str, str]]) -> dict[str, int]:
    """The content hashes of the patched snapshot: the last ones, those of the paths the
    patch read again replaced (dropped when it read no content)."""
    digests = dict(last)
    for path, (_, now) in moved.items():
        if now:
            digests[path] = short_digest(now)
        else:
            digests.pop(path, None)
    return digests


def _outside(files: tuple[RepoFile, ...], inside: str | None) -> tuple[RepoFile, ...]:
    """The files (in path order) outside the knowledge folder `inside` (the repository
    path of it; None or "": none is inside): those are one run of the sorted paths, cut
    out rather than every path tested (a pass over 100k files for a folder that is
    often not even there)."""
    if not inside:
        return files
    start = bisect.bisect_left(files, f"{inside}/", key=_path)
    end = bisect.bisect_left(files, f"{inside}0", key=_path)  # "0" sorts right after "/"
    return files if start == end else files[:start] + files[end:]


def _path(f: RepoFile) -> str:
    return f.path


def _repo_paths(
    previous: Knowledge, basis: LoadBasis, changed: Iterable[str], root: Path
) -> set[str]:
    """The changed host paths as repository paths, or CannotPatch (module docstring)."""
    knowledge_dir = str(basis.knowledge_dir.resolve())
    top = str(root)
    paths: set[str] = set()
    for host in changed:
        full = os.path.abspath(host)  # noqa: PTH100 - plain strings from the watcher
        if full == knowledge_dir or full.startswith(knowledge_dir + os.sep):
            raise CannotPatch("documents")
        if not full.startswith(top + os.sep):
            raise CannotPatch("outside")
        rel = full[len(top) + 1 :].replace(os.sep, "/")
        parts = rel.split("/")
        if parts[-1] in IGNORE_FILES or ".git" in parts:
            raise CannotPatch("ignore_rules")
        if _is_folder(full) or rel in previous.tree.folder_at:
            raise CannotPatch("folder")
        if previous.document(rel) is not None or rel in basis.linked:
            raise CannotPatch("documented")
        paths.add(rel)
    if not paths:
        raise CannotPatch("paths_unknown")
    if len(paths) > MAX_PATCH_PATHS:
        raise CannotPatch("many_paths")
    return paths


def _is_folder(host: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(host).st_mode)
    except OSError:
        return False

"""Load a knowledge folder into one immutable, shareable snapshot: versions, links, index.

Of the knowledge, loading is the only part that touches the disk and git (through the
sandbox, the gate every file read passes); everything a request needs afterwards (the
serving document of a path, search, listings, features, the overview) is precomputed
here, so answering never blocks and a reload swaps one object atomically.

Which version is served: a document whose `fileVersion` is the git blob id of the working
tree file (what `git hash-object` prints) is current. Failing that, `fileVersion` may be a
commit id (the commit that last touched the file, or HEAD when the document was written):
such a version is current when the file's blob *at that commit* is the working tree blob;
one `git cat-file --batch-check` answers that for every candidate at once. Otherwise the
newest by `lastUpdated` is served and marked stale. See KNOWLEDGE.md.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import pickle
import posixpath
import re
import sqlite3
import stat
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import structlog

from context_bot.errors import ConfigError, FileError, InvalidPath, PathDenied
from context_bot.knowledge import overview as overview_mod
from context_bot.knowledge.codemap import (
    CodeMap,
    History,
    build_codemap,
    central_by_uses,
    git_log,
    read_history,
)
from context_bot.knowledge.documents import (
    MAX_DOCUMENT_BYTES,
    Diagnostic,
    Document,
    duplicate_diagnostics,
    parse_document,
)
from context_bot.knowledge.filecounts import FileCounts, count_files
from context_bot.knowledge.git import blobs_at_commits, git_output
from context_bot.knowledge.heap import give_back_free_heap
from context_bot.knowledge.indexing import (
    MAX_RESTART_OVERLAY,
    MadeOf,
    SymbolsAhead,
    index_files,
    keep_rows,
    overlay_was,
    restore_rows,
    symbols_ahead,
)
from context_bot.knowledge.inventory import (
    GitListing,
    Inventory,
    KeptInventory,
    StatPrint,
    build_inventory,
    changes_since,
    empty_inventory,
    git_listing,
    git_tracked,
    keep_inventory,
    kept_inventory,
)
from context_bot.knowledge.listing import (
    KeptLayout,
    Listing,
    ListingIndex,
    build_listing_index,
    keep_layout,
    kept_layout,
    layout_key,
)
from context_bot.knowledge.model import (
    Feature,
    RelatedFile,
    RepoFile,
    ServedDocument,
    VersionRef,
)
from context_bot.knowledge.overview import build_features
from context_bot.knowledge.paths import normalise_repo_path
from context_bot.knowledge.sandbox import RepoFiles, worktree_blob
from context_bot.knowledge.search import (
    IDENTIFIER,
    MAX_DEFINITION_HITS,
    CodeRows,
    SearchHit,
    SearchIndex,
    StoredCode,
    code_rows,
    definitions_first,
    index_entries,
    make_snippet,
    sandbox_reader,
    snippet_words,
)
from context_bot.knowledge.store import (
    SCHEMA_VERSION,
    IndexStore,
    StoredFile,
    cache_folder,
    report_superseded,
)
from context_bot.knowledge.symbols import SymbolIndex, build_symbols
from context_bot.knowledge.textindex import TextIndex, folds_as_re2

log = structlog.get_logger(__name__)

#: File suffixes loaded from the knowledge folder.
DOCUMENT_SUFFIXES = (".md", ".txt")
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")
# relatedFiles written for a bundler often name the compiled `.js` of a `.ts` source.
_SOURCE_TWINS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}


Excerpts = tuple[tuple[str, str | None, str], ...]
"""(path, language, code-map excerpt) of the files whose contents are indexed."""


@dataclass(frozen=True)
class LoadBasis:
    """What a load keeps so that a live reload of a few files can patch its snapshot
    instead of loading everything again (`patching.py`)."""

    knowledge_dir: Path
    budget: int
    version_parts: VersionParts
    codemap: CodeMap
    stored: StoredCode
    """The code index's rows as this snapshot knows them (a patch needs the cache)."""
    linked: frozenset[str]
    """Paths the documents' `relatedFiles` resolve to: whether they exist is part of the
    version, so a change there is loaded in full."""
    row_of: dict[str, int] | None = None
    """Path → row of `stored`; made by the first patch (a load does not need it)."""
    counts: FileCounts | None = None
    """What the overview counts over every file (`filecounts.py`), moved by a patch."""
    excerpts: Excerpts | None = None
    """What the code map read (`codemap_of`: path, language, excerpt of every file whose
    contents are indexed), kept so a patch that moves one need not list them all again:
    imports and entry-point files only, within the indexed total (64 MiB)."""
    digests: Mapping[str, int] = field(default_factory=dict)
    """Path → the start of its content hash (`short_digest`), for the files whose
    contents the index read: what tells an edit that keeps a file's size (`changes.py`)."""
    patched_from: str | None = None
    """The version of the snapshot this one patched (None: a full load) and the paths it
    looked at again (`patched_paths`): a change report need only compare those."""
    patched_paths: frozenset[str] = frozenset()


@dataclass(frozen=True, eq=False)
class Knowledge:
    """An immutable snapshot of a loaded knowledge folder; safe to share between tasks.
    Built by `load_knowledge`; the underscored fields are its precomputed lookups."""

    version: str
    overview: str
    diagnostics: list[Diagnostic]
    revision: str | None
    _served: dict[str, ServedDocument] = field(repr=False)
    _free: dict[str, ServedDocument] = field(repr=False)
    _history: dict[tuple[str, str], ServedDocument] = field(repr=False)
    _index: SearchIndex = field(repr=False)
    _features: tuple[Feature, ...] = field(repr=False)
    inventory: Inventory = field(default_factory=empty_inventory, repr=False)
    """Every file of the repository, documented or not (`inventory.py`)."""
    knowledge_folder: str | None = None
    """The knowledge folder's path in the repository (`knowledge`), None when outside it:
    its files are in the inventory too, and a change report names them by document."""
    symbols: SymbolIndex = field(default_factory=SymbolIndex, repr=False)
    """Definitions and name uses in the parsed languages (`symbols.py`)."""
    index_stats: dict[str, int] = field(default_factory=dict, repr=False)
    """How the load indexed the files: `files_read`, `files_reused` (from the index cache)."""
    basis: LoadBasis | None = field(default=None, repr=False)
    """What a live reload of a few files needs to patch this snapshot (`patching.py`)."""
    layout: ListingIndex | None = field(default=None, repr=False)
    """The tree laid out already (a patched snapshot's); None: laid out here."""
    _tree: ListingIndex = field(init=False, repr=False)
    """The tree in listing order, laid out once (in the loading thread) so `list` costs
    what it returns (`listing.py`)."""

    def __post_init__(self) -> None:
        tree = self.layout or build_listing_index(
            self.inventory.files, self._served, self._free, self.inventory.get
        )
        object.__setattr__(self, "_tree", tree)
        object.__setattr__(self, "layout", None)

    @property
    def tree(self) -> ListingIndex:
        """The tree in listing order (`listing.py`), for a reload that patches it."""
        return self._tree

    def document(self, path: str, *, version: str | None = None) -> ServedDocument | None:
        """The serving document for a repo path (or a free document's name); with `version`
        (a fileVersion or a document name) a historic version of it. None when unknown."""
        if not isinstance(path, str):
            return None
        norm = normalise_repo_path(path)
        if norm is None:
            return None
        doc = self._served.get(norm) or self._free.get(norm)
        if version is None or doc is None:
            return doc
        if version in (doc.file_version, doc.source):
            return doc
        return self._history.get((norm, version))

    def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Ranked hits over documents, paths and code (`search.py`); raises
        errors.BadRequest for an empty query or a bad limit. Blocking (a code hit reads its
        file for its line): call it off the event loop."""
        hits = self._index.search(query, limit=limit)
        return definitions_first(hits, self._definitions(query), limit)

    def _definitions(self, query: str) -> list[SearchHit]:
        """Where the name the query is, if it is one identifier, is defined."""
        name = query.strip()
        if not IDENTIFIER.match(name):
            return []
        words = snippet_words(name)
        return [
            SearchHit(
                s.path,
                "symbol",
                doc.feature if (doc := self._served.get(s.path)) is not None else None,
                1.0 if s.name == name else 0.95,
                make_snippet(s.signature, words),
                s.line,
            )
            for s in self.symbols.defined(name, MAX_DEFINITION_HITS)
        ]

    def listing(self, prefix: str = "", *, depth: int = 2, limit: int = 200) -> Listing:
        """Every file (documented or not), free document and folder under `prefix`, `depth`
        levels down, folders first, at most `limit` entries (then `truncated`). Raises
        InvalidPath or BadRequest on bad input."""
        return self._tree.listing(prefix, depth=depth, limit=limit)

    def features(self) -> tuple[Feature, ...]:
        """Every feature named by a served document, by name."""
        return self._features

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self._features if f.name == name), None)

    def served_documents(self) -> tuple[ServedDocument, ...]:
        """Every serving file document, by path."""
        return tuple(self._served[p] for p in sorted(self._served))

    def free_documents(self) -> tuple[ServedDocument, ...]:
        """Every free document, by name."""
        return tuple(self._free[n] for n in sorted(self._free))

    def stats(self) -> dict[str, int | str]:
        """Counts for health and metrics."""
        return {
            "version": self.version,
            "files": len(self._served),
            "free_documents": len(self._free),
            "historic_versions": sum(len(d.history) for d in self._served.values()),
            "stale": sum(1 for d in self._served.values() if d.stale),
            "diagnostics": len(self.diagnostics),
        }


class Patch(Protocol):
    """`patching.patch_knowledge`: a snapshot patched for the host paths that changed (with
    the gate, the index cache, the overview's budget, and git's listing of the tree when
    the restart has it), or an exception when only a full load can be sure of the answer.
    Passed in by the caller: the patch builds on this module."""

    def __call__(
        self,
        previous: Knowledge,
        changed: list[str],
        files: RepoFiles,
        store: IndexStore,
        overview_budget: int,
        /,
        *,
        listing: GitListing | None = None,
    ) -> Knowledge: ...


def load_knowledge(
    knowledge_dir: Path,
    repo_root: Path,
    *,
    overview_budget: int = 32_000,
    files: RepoFiles | None = None,
    cache_dir: Path | None = None,
    patch: Patch | None = None,
    keep_later: bool = False,
) -> Knowledge:
    """Load every `.md`/`.txt` under `knowledge_dir`; bad documents become diagnostics.

    With `cache_dir` (the base folder, `store.default_cache_base()` in the product), the
    code index is kept on disk in this repository's folder under it and only the files
    that changed since the last load are read (`indexing.py`); without it, or when that
    folder is unusable (logged once), every file is read and indexed in memory.

    Every file read on the product's own account (documents, the README) goes through
    `files`, the gate of a participant's `file` request (by default one over `repo_root`).
    A missing `knowledge_dir` is no error (the repository is served without documents);
    raises ConfigError only when it, or `repo_root`, names something that is not a folder.

    A restart (`RestartSnapshot`): with `cache_dir`, the end of a load keeps what it made
    of every file; the next load, if git's listing and every file's stat say nothing
    changed since, starts from that instead of describing and indexing the files again;
    if a few paths changed, it starts from it too and `patch` (when given) looks at those
    again as a live reload does; else it loads in full. `keep_later` (the bot's start):
    the next restart's snapshot is kept in a thread once this returns, not before."""
    if not repo_root.is_dir():
        raise ConfigError(
            f"the repository {repo_root} is not a folder; set knowledge.repo "
            "(CONTEXT_BOT_REPO) or --repo to the folder to serve"
        )
    if knowledge_dir.exists() and not knowledge_dir.is_dir():
        raise ConfigError(
            f"the knowledge folder {knowledge_dir} is not a folder; set knowledge.dir "
            "(CONTEXT_BOT_KNOWLEDGE_DIR) to a folder, or remove the file"
        )
    if not knowledge_dir.exists():
        # Most repositories have no knowledge folder: the repository itself is served.
        log.info("knowledge_folder_absent", folder=str(knowledge_dir))
    returned = threading.Event()  # with `keep_later`, the snapshot is kept once it is set
    _returned.event = returned if keep_later else None
    try:
        with _gc_paused():
            files = files or RepoFiles(repo_root)
            if cache_dir:  # the last load's snapshot, if it is still being kept
                wait_for_kept(cache_folder(cache_dir, files.root))
            store = IndexStore.open(cache_folder(cache_dir, files.root)) if cache_dir else None
            if cache_dir:
                report_superseded(cache_dir, files.root)
            try:
                knowledge = _load(knowledge_dir, files, overview_budget, store, patch)
            finally:
                if store is not None:
                    store.close()
        give_back_free_heap()  # what the load made and dropped (heap.py)
    finally:
        _returned.event = None
        returned.set()
    return knowledge


class _Returned(threading.local):
    event: threading.Event | None = None
    """Set when the `load_knowledge` running in this thread returns (`_keep_snapshot`)."""


_returned = _Returned()


def codemap_of(
    texts: Iterable[tuple[str, str | None, str]],
    inventory: Inventory,
    files: RepoFiles,
    revision: str | None,
    history: History | None = None,
    commits: list[tuple[str, str, str, list[str]]] | None = None,
) -> CodeMap:
    """The code map of `texts` (path, language, text of the indexed files), with the git
    history read again unless `history` is given (a live reload keeps it while the revision
    is the same) unless `commits` (`codemap.git_log`, run beside the load) is given. A
    path the inventory lists passed the gate already; the history's other paths (files
    deleted since, or never served) are asked of the gate, once each."""
    listed = inventory.get
    left_out = inventory.left_out

    def denied(path: str) -> bool:
        if listed(path) is not None:
            return False
        # Left out by the inventory: git or the deny-list said why already (git listed it,
        # so no other ignore rule covers it); the gate reads ignore files for the others.
        why = left_out.get(path)
        return why in ("ignored", "denied") if why is not None else files.denied(path)

    def keep(path: str) -> str | None:
        found = listed(path)
        return found.path if found is not None else None

    git = revision is not None
    if history is None:
        history = read_history(files.root, denied=denied, git=git, keep=keep, commits=commits)
    return build_codemap(texts, files.root, denied=denied, git=git, history=history)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A load allocates a million long-lived objects and no cyclic garbage; CPython's cyclic
    collector would rescan them over and over while they pile up, so it waits until the
    load is done (the process-wide pause lasts as long as one load).

    What it made is then moved to the oldest generation at once (`gc.freeze` then
    `gc.unfreeze`: two list splices): left in the youngest, the first allocation after
    `gc.enable` would scan them all (80 ms at 100k files, on a restart's critical path),
    and the next generation's collection again. The oldest is scanned only once it has
    grown by a quarter, as it would be anyway."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


MAX_RESTART_PATCH = 256
"""Paths changed since the snapshot a restart may patch (`Patch`); more: a full load."""


def _load(
    knowledge_dir: Path,
    files: RepoFiles,
    overview_budget: int,
    store: IndexStore | None,
    patch: Patch | None = None,
) -> Knowledge:
    root = files.root
    inside = _inside(knowledge_dir, root)
    # git lists the files (a second at 100k, in a process of its own) and reads the
    # history the code map counts, while this thread reads the documents and the cache's
    # facts of every file (or the snapshot's, checking every file's stat against it).
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="git-listing") as pool:
        listing = pool.submit(git_listing, files.root)
        head = _snapshot_head(store, files, inside, overview_budget) if store is not None else None
        # Every file of the snapshot stat-ed from its head alone, beside git, while the
        # rest of it is unpickled (a quarter to half a second at 100k files).
        moved = pool.submit(head[0].moved, root) if head is not None else None
        kept = _snapshot_body(head[1]) if head is not None else None
        head = None  # the blob's bytes (37 MB at 100k files) freed once unpickled
        # From a snapshot, the files are stat-ed at once (`stat_changes`) and the history
        # read only if the code map is made again: two processes fewer on the cores.
        tracked = pool.submit(git_tracked, files.root) if kept is None else None
        log_read = pool.submit(git_log, files.root) if kept is None else None
        # The snapshot's symbol index is unpacked while git lists and the files are stat-ed
        # (their system calls let it run): a change found patches it like the rest.
        ahead = None
        if kept is not None and kept.symbols_print is not None and store is not None:
            ahead = pool.submit(
                symbols_ahead, store, kept.symbols_print, kept.symbols_changed, kept.symbols_was
            )
        checking = None
        if kept is not None and moved is not None:  # while the documents and tree are laid out
            checking = pool.submit(changes_since, files, kept.inventory, listing, moved)
        folder = knowledge_dir.is_dir()
        docs, diags = read_folder(knowledge_dir, files=files) if folder else ([], [])
        diags.extend(duplicate_diagnostics(docs))
        groups, choices, served, history, free = _documents(docs, root)
        restored = None
        layout = None
        early: _Code | None = None
        early_text: TextIndex | None = None
        if kept is not None and checking is not None and store is not None:
            then = kept_inventory(kept.inventory)
            if kept.layout_key == layout_key(served, free):  # the same documents' tree
                layout = kept_layout(kept.layout, then.get)
            else:
                layout = build_listing_index(then.files, served, free, then.get)
            # The files' part as the snapshot has it, made while git and `stat` still run
            # (the patch, if any, starts from it): dropped if the check declines.
            early = _restored_code(
                kept, then, knowledge_dir, root, store, ahead.result() if ahead else None
            )
            if early is not None and early.stored is not None:
                early_text = text_index_of(store, early.stored, then)
            changed = checking.result()
            if (
                changed is not None
                and changed
                and (patch is None or len(changed) > MAX_RESTART_PATCH)
            ):
                log.info("restart_snapshot_declined", changed=len(changed))
                changed = None
            restored = (then, changed) if changed is not None else None
            if restored is None:
                layout = None
        stored: dict[str, StoredFile] | None = None
        allowed = store is not None and store.deny_key() == files.deny_key
        if restored is None:
            stored = store.known() if store is not None else None
            inventory = build_inventory(
                files, known=stored, listing=listing, known_allowed=allowed, tracked=tracked
            )
        else:
            inventory = restored[0]
    features = build_features(served.values())
    revision = git_output(root, ["rev-parse", "HEAD"])
    code = None
    if restored is not None and kept is not None and store is not None:
        code = early
        if code is None:  # the snapshot's rows do not fit the inventory: described anew
            restored = None
            stored = store.known()
            inventory = build_inventory(
                files, known=stored, listing=listing, known_allowed=allowed, tracked=tracked
            )
    if code is None:
        code = _index_code(_outside(inventory, knowledge_dir, root), files, store, stored)
    if code.stored is not None and store is not None:
        if code is not early or early_text is None:
            early_text = text_index_of(store, code.stored, inventory)
        inventory = inventory.with_text_index(early_text)
        if not allowed:  # the rows of the files it refuses are gone: the next load trusts it
            store.keep_deny_key(files.deny_key)
    index = SearchIndex(
        index_entries(served, free), code.rows, sandbox_reader(files), stored=code.stored
    )
    readme = overview_mod.read_readme(files)
    symbols = code.symbols
    if restored is not None and kept is not None:
        parts = VersionParts(_documents_digest(docs, served), kept.files_part)
        version = parts.version(revision, readme, overview_budget)
    else:
        version, parts = _version(
            docs, served, revision, readme, overview_budget, inventory, code.digests
        )
    if (
        restored is not None
        and kept is not None
        and (version, len(diags)) == (kept.version, kept.diagnostics)
    ):
        # The same version of the same code: the same files' contents, documents,
        # revision, README and budget, so the same code map, counts and overview.
        codemap, counts, text = kept.codemap, kept.counts, kept.overview
    else:
        commits = log_read.result() if log_read is not None else None
        codemap = codemap_of(code.texts, inventory, files, revision, commits=commits)
        counts = count_files(inventory.files, served)
        text = overview_text(
            root, revision, readme, served, free, features, version, len(diags), inventory,
            codemap, symbols, overview_budget, counts, overview_mod.manifest_name(files),
        )  # fmt: skip
    log.info(
        "knowledge_loaded",
        version=version,
        files=len(served),
        free_documents=len(free),
        stale=sum(1 for d in served.values() if d.stale),
        diagnostics=len(diags),
        indexed_files=index.code_size,
        indexed_bytes=code.indexed_bytes,
        index_cache="disk" if code.stored is not None else "memory",
        restart="snapshot" if restored is not None else "full",
        files_read=code.read,
        files_reused=code.reused,
        symbols=len(symbols),
        symbol_files=symbols.files,
        **{f"symbols_not_parsed_{k}": n for k, n in sorted(symbols.skipped.items())},
        **{f"not_indexed_{k}": n for k, n in sorted(code.skipped.items())},
    )
    stats = {"files_read": code.read, "files_reused": code.reused}
    basis = None
    if code.stored is not None:
        linked = related_candidates(choices[p][0] for p in groups)
        if restored is not None and kept is not None:
            digests: Mapping[str, int] = kept.digests
        else:
            digests = {path: short_digest(d) for path, d in (code.digests or {}).items()}
        basis = LoadBasis(
            knowledge_dir, overview_budget, parts, codemap, code.stored, linked,
            counts=counts, digests=digests, excerpts=tuple(code.texts),
        )  # fmt: skip
    loaded = Knowledge(
        version, text, diags, revision, served, free, history, index, features, inventory,
        knowledge_folder=inside, symbols=symbols, index_stats=stats, basis=basis,
        layout=layout if restored is not None else None,
    )  # fmt: skip
    if store is None:
        return loaded
    if restored is not None and restored[1] and patch is not None:
        paths = sorted(restored[1])
        try:
            hosts = [os.path.join(root, p) for p in paths]  # noqa: PTH118
            loaded = patch(loaded, hosts, files, store, overview_budget, listing=listing.result())
        except Exception as exc:  # a restart that cannot patch loads in full
            log.info("restart_patch_declined", reason=str(exc)[:200], changed=len(paths))
            return _load(knowledge_dir, files, overview_budget, store)
        log.info("restart_patched", version=loaded.version, changed=len(paths))
    elif restored is not None and kept is not None and version == kept.version:
        return loaded  # the snapshot kept is this one's
    made_of = code.symbols_from
    if made_of is not None and restored is not None:  # and the paths the patch overlaid
        overlay = tuple(sorted({*made_of[1], *restored[1]}))
        made_of = (made_of[0], overlay) if len(overlay) <= MAX_RESTART_OVERLAY else None
    later = _returned.event is not None
    _keep_snapshot(store, loaded, files, inside, len(diags), made_of, later=later)
    return loaded


SNAPSHOT_KEY = "restart-snapshot"
"""The index cache's blob (`IndexStore.keep_blob`) of the last load's `RestartSnapshot`."""
SNAPSHOT_FORMAT = 9
"""Bumped whenever what a `RestartSnapshot` holds, or how it is made, changes."""


@functools.cache
def code_print() -> str:
    """The knowledge core's own source, hashed. A snapshot holds the code map, counts and
    overview this code made of the files: after an upgrade (or on a checkout of other
    code) a restart must not serve what the previous code made, and nobody remembers to
    bump `SNAPSHOT_FORMAT` for a change to the overview. Read once a process (34
    files, a millisecond)."""
    digest = hashlib.blake2b(digest_size=8)
    core = Path(__file__).parent
    for path in sorted(core.rglob("*.py")):
        digest.update(path.relative_to(core).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


SnapshotKey = tuple[int, int, str, str | None, int, str]
"""(SNAPSHOT_FORMAT, store.SCHEMA_VERSION, deny-list key, knowledge folder, budget, the
core's `code_print`): what a snapshot depends on beside the files."""


@dataclass(frozen=True)
class RestartSnapshot:
    """What a load made of every file, kept (pickled, in the index cache, under the
    cache's generation: any later write of a file's row makes it stale) so that the next
    load, a restart, need not make it again: the inventory as columns, each file's row
    and outcome in the code index, what the code map reads, the content hashes, the
    files' part of the version, and the code map, counts and overview of that version.
    Its blob starts with a head (`_snapshot_head`: the key below and what `stat` prints
    of the files, `StatPrint`), so that a restart starts checking the files before it
    unpickles the rest.

    Kept with what it depends on beside the files: the deny-list, the knowledge folder's
    place, the overview's budget, this format, the cache's schema and the code that made
    it (`code_print`); a snapshot that does not match, or does not unpickle, is ignored
    (the load is a full one, and keeps a new snapshot). A pickle runs code as it loads:
    the cache folder is trusted as the user's home is (whoever can write it can run code
    as the user), and nothing from a room or the repository is ever unpickled."""

    key: SnapshotKey
    inventory: KeptInventory
    rows: list[int]
    states: list[str | None]
    code_skipped: dict[str, int]
    excerpts: Excerpts
    digests: dict[str, int]
    files_part: int
    version: str
    diagnostics: int
    codemap: CodeMap
    counts: FileCounts | None
    overview: str
    symbols_print: str | None
    """The fingerprint of the symbol index kept whole (`indexing.MadeOf`) that
    this snapshot's symbols are (None: not known, found from every file's mark)..."""
    symbols_changed: tuple[str, ...]
    """... with these paths, changed since, overlaid on it (`indexing._overlaid`), of
    which it held this (`indexing.overlay_was`; None: not known)."""
    symbols_was: dict[str, str | bool | None] | None
    layout: KeptLayout
    """The tree laid out (`listing.keep_layout`): three quarters of a second at 100k
    files to lay out again, a tenth of that to unpickle..."""
    layout_key: tuple[tuple[str, bool, str | None], ...]
    """... used while the documents it lists are the same (`listing.layout_key`)."""


def keep_restart_snapshot(k: Knowledge, files: RepoFiles, cache_dir: Path) -> bool:
    """Keep `k` as the next restart's snapshot, unless the cache has it already; whether
    it was kept. For a snapshot a live reload patched: that reload wrote the cache, which
    made the snapshot the load kept stale, so a restart after it would load in full
    (3.5 s at 100k files, against about 2 s from a snapshot). Blocking (pickles every
    file's entry): call it in a thread, and only while no reload writes the cache (the
    watcher's loop runs it between reloads, `watch.py`). What the symbol index is made
    of is left to the restart to find from the files' marks."""
    store = IndexStore.open(cache_folder(cache_dir, files.root))
    if store is None:
        return False
    wait_for_kept(store.path.parent)
    try:
        if store.has_blob(SNAPSHOT_KEY, str(store.generation())):
            return False
        _keep_snapshot(store, k, files, k.knowledge_folder, len(k.diagnostics), None)
        return store.has_blob(SNAPSHOT_KEY, str(store.generation()))
    finally:
        store.close()


def _snapshot_key(files: RepoFiles, inside: str | None, budget: int) -> SnapshotKey:
    return (SNAPSHOT_FORMAT, SCHEMA_VERSION, files.deny_key, inside, budget, code_print())


_SNAPSHOT_MAGIC = b"context-bot restart snapshot\n"
"""What a snapshot's token starts with (then 16 random bytes, `_keep_snapshot`)."""
_TOKEN_BYTES = len(_SNAPSHOT_MAGIC) + 16
SNAPSHOT_FILE = "restart-snapshot.bin"
"""The snapshot itself, in the cache folder beside the index: its token, its head's
length, the head, the body. One `read` of a file, where the same 37 MB (at 100k files)
read from the index cache's blob took 0.06-0.2 s before `stat` could start."""


def _snapshot_head(
    store: IndexStore, files: RepoFiles, inside: str | None, budget: int
) -> tuple[StatPrint, memoryview] | None:
    """The head of the snapshot the last load kept (`_snapshot_data`), if the cache was
    not written since and it was kept under the same settings and code: what `stat`
    prints of its files, to check them by while the rest (returned unread) unpickles;
    None otherwise (never fatal). The cache holds the snapshot's token under its
    generation (`IndexStore.keep_blob_at`), the file begins with it: a file kept by
    another load, or half-written, is not this generation's."""
    try:
        token = store.blob(SNAPSHOT_KEY, str(store.generation()))
        if token is None or len(token) != _TOKEN_BYTES or not token.startswith(_SNAPSHOT_MAGIC):
            return None  # none, or of another format
        data = (store.path.parent / SNAPSHOT_FILE).read_bytes()
        if not data.startswith(token):
            log.info("restart_snapshot_not_this_generation")
            return None
        view = memoryview(data)[len(token) :]
        size = int.from_bytes(view[:8], "big")
        key, printed = pickle.loads(view[8 : 8 + size])  # noqa: S301 - see RestartSnapshot
    except FileNotFoundError:
        log.info("restart_snapshot_missing", file=SNAPSHOT_FILE)
        return None
    except Exception as exc:  # corrupt, or of another code: the load is a full one
        log.warning("restart_snapshot_unreadable", error=exc.__class__.__name__)
        return None
    if key != _snapshot_key(files, inside, budget) or not isinstance(printed, StatPrint):
        return None
    return printed, view[8 + size :]


def _snapshot_body(body: memoryview) -> RestartSnapshot | None:
    """The rest of the snapshot whose head `_snapshot_head` read; None if it does not
    unpickle (never fatal)."""
    try:
        kept = pickle.loads(body)  # noqa: S301 - our own cache file, written by _keep_snapshot
    except Exception as exc:
        log.warning("restart_snapshot_unreadable", error=exc.__class__.__name__)
        return None
    return kept if isinstance(kept, RestartSnapshot) else None


_keeping: dict[Path, threading.Thread] = {}
"""Snapshots being kept after their load returned (`_keep_snapshot`), by cache folder."""
_keeping_lock = threading.Lock()


def wait_for_kept(folder: Path | None = None) -> None:
    """Until the snapshot a load is keeping in the background (`_keep_snapshot`) for the
    cache `folder` (None: every folder) is kept: a load of the same cache starts from it."""
    with _keeping_lock:
        pending = [t for f, t in _keeping.items() if folder is None or f == folder]
    for thread in pending:
        thread.join()


def _keep_snapshot(
    store: IndexStore,
    k: Knowledge,
    files: RepoFiles,
    inside: str | None,
    diagnostics: int,
    symbols: MadeOf | None,
    *,
    later: bool = False,
) -> None:
    """Keep what the next restart starts from (`RestartSnapshot`), when it can trust it.
    `symbols`: what `k`'s symbols are made of (None: not known, then a restart finds it
    from every file's mark).

    `later`: in a thread, after the load returns: pickling and writing what a load made
    of 100k files takes 0.3-0.4 s, which a restart need not wait for (its snapshot serves
    meanwhile). Kept under the cache's generation as it is now, and only if no live
    reload wrote the cache since (`IndexStore.keep_blob_at`). Not a daemon: a process
    that exits right after its load still keeps it; a later load of the same cache waits
    for it (`wait_for_kept`)."""
    folder, generation = store.path.parent, store.generation()
    returned = _returned.event if later else None
    key = _snapshot_key(files, inside, k.basis.budget) if k.basis is not None else None

    def keep() -> None:
        kept_in = None
        if returned is not None:  # not to take the GIL (pickling) from the load's end
            returned.wait()
        try:
            kept_in = _reopened(store) if later else store
            data = _snapshot_data(k, files, inside, diagnostics, symbols, key, kept_in)
            if kept_in is not None and data is not None:
                token = _SNAPSHOT_MAGIC + os.urandom(_TOKEN_BYTES - len(_SNAPSHOT_MAGIC))
                _write_snapshot(folder / SNAPSHOT_FILE, token, data)
                kept_in.keep_blob_at(SNAPSHOT_KEY, generation, token)
        except (sqlite3.Error, pickle.PicklingError, OSError) as exc:
            log.warning("restart_snapshot_not_kept", reason=str(exc)[:200])
        finally:
            if later:
                if kept_in is not None:
                    kept_in.close()
                with _keeping_lock:
                    if _keeping.get(folder) is threading.current_thread():
                        del _keeping[folder]
                give_back_free_heap()

    if not later:
        keep()
        return
    thread = threading.Thread(target=keep, name="keep-snapshot", daemon=False)
    with _keeping_lock:
        earlier = _keeping.get(folder)
        _keeping[folder] = thread
    if earlier is not None:
        earlier.join()  # one at a time per cache, in load order
    thread.start()


def _reopened(store: IndexStore) -> IndexStore | None:
    """`store`'s cache opened again (from another thread), as it is: never made, nor
    rebuilt when corrupt (`IndexStore.open` would): a snapshot kept late is only kept."""
    if not store.path.is_file():
        return None
    try:
        return IndexStore(store.path, scanned=False)
    except sqlite3.Error:
        return None


def _snapshot_data(
    k: Knowledge,
    files: RepoFiles,
    inside: str | None,
    diagnostics: int,
    symbols: MadeOf | None,
    key: SnapshotKey | None,
    store: IndexStore | None,
) -> bytes | None:
    """`k`'s `RestartSnapshot` as its file holds it after the token (its head's length,
    the head, the pickled body); None when a restart could not trust one.
    `store`: the cache, to read what the symbol index `symbols` names held of the paths
    overlaid on it."""
    basis = k.basis
    inventory = keep_inventory(k.inventory)
    if basis is None or inventory is None or basis.excerpts is None or key is None:
        return None
    outside = list(_outside(k.inventory, basis.knowledge_dir, files.root))
    kept_rows = keep_rows(outside, basis.stored.entries)
    if kept_rows is None:
        return None
    was = None
    if symbols is not None and symbols[1] and store is not None:
        was = overlay_was(store, symbols[0], symbols[1])
    paths, sizes, mtimes = inventory[:3]
    head = pickle.dumps((key, StatPrint.of(paths, sizes, mtimes)), protocol=pickle.HIGHEST_PROTOCOL)
    snapshot = RestartSnapshot(
        key, inventory, *kept_rows,
        dict(basis.stored.skipped), basis.excerpts, dict(basis.digests),
        basis.version_parts.files, k.version, diagnostics, basis.codemap, basis.counts,
        k.overview, symbols[0] if symbols else None, symbols[1] if symbols else (), was,
        keep_layout(k.tree), layout_key(k._served, k._free),
    )  # fmt: skip
    body = pickled_in_frames(snapshot)
    return b"".join((len(head).to_bytes(8, "big"), head, body))


def _write_snapshot(path: Path, token: bytes, data: bytes) -> None:
    """The snapshot's file, written whole (flushed to disk, then renamed over the last
    one) before its token is kept in the cache: a token names only a complete file."""
    part = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_native_id()}.part")
    try:
        with part.open("wb") as fh:
            fh.write(token)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


class _Frames:
    """Where `pickled_in_frames` writes: a method in Python, called for each frame."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, frame: bytes) -> None:
        self.parts.append(bytes(frame))


def pickled_in_frames(value: object) -> bytes:
    """`pickle.dumps(value)`, letting other threads run while it works. `pickle.dumps`
    holds the GIL from start to end: a snapshot at 100k files is 0.2-0.4 s in which no
    room's request and not the event loop run (after every live reload, `watch.py`'s
    `settled`). Pickled into a file object whose `write` is Python, the pickler hands it
    each frame of 64 KiB as it is done, and the interpreter may switch threads at each
    call: the longest hold measured on 22 MB fell from 212 to 37 ms."""
    out = _Frames()
    pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return b"".join(out.parts)


def _restored_code(
    kept: RestartSnapshot,
    inventory: Inventory,
    knowledge_dir: Path,
    root: Path,
    store: IndexStore,
    ahead: SymbolsAhead | None,
) -> _Code | None:
    """The files' part of a load from the snapshot (`restore_rows`); None when its rows do
    not fit the inventory's files (then they are indexed as usual)."""
    outside = list(_outside(inventory, knowledge_dir, root))
    if len(outside) != len(kept.rows):
        return None
    try:
        entries, skipped, indexed, symbols, made_of = restore_rows(
            outside, kept.rows, kept.states, store, ahead
        )
    except (ValueError, sqlite3.Error) as exc:
        log.warning("restart_snapshot_unusable", reason=str(exc)[:200])
        return None
    stored = StoredCode(store.reads(), entries, skipped)
    if made_of is None and kept.symbols_print is not None:
        made_of = (kept.symbols_print, kept.symbols_changed)
    return _Code(
        None, stored, symbols, list(kept.excerpts), skipped, indexed, None, 0, len(outside),
        made_of,
    )  # fmt: skip


def _documents(
    docs: list[Document], root: Path
) -> tuple[
    dict[str, list[Document]],
    dict[str, tuple[Document, bool, str | None, str | None]],
    dict[str, ServedDocument],
    dict[tuple[str, str], ServedDocument],
    dict[str, ServedDocument],
]:
    """The documents by path, the version each path serves, the served documents, their
    older versions (by path and name or fileVersion), and the free documents."""
    groups: dict[str, list[Document]] = defaultdict(list)
    free_docs: list[Document] = []
    for doc in docs:
        (groups[doc.file_path] if doc.file_path else free_docs).append(doc)
    choices = choose_versions(groups, root)
    known = set(groups)
    related = {p: resolve_related(choices[p][0], known, root) for p in groups}
    backlinks: dict[str, set[str]] = defaultdict(set)
    for path, entries in related.items():
        for link in entries:
            if link.path is not None and link.path != path:
                backlinks[link.path].add(path)
    served: dict[str, ServedDocument] = {}
    history: dict[tuple[str, str], ServedDocument] = {}
    for path, (doc, stale, reason, match) in choices.items():
        others = sorted((d for d in groups[path] if d is not doc), key=_newest_first)
        refs = tuple(VersionRef(d.source, d.file_version, d.last_updated) for d in others)
        links = tuple(sorted(backlinks.get(path, ())))
        served[path] = _serve(doc, path, stale, reason, match, refs, related[path], links)
        for old in others:
            entry = _serve(old, path, True, "older_version", None, (), (), links)
            history.setdefault((path, old.source), entry)
            if old.file_version:
                history.setdefault((path, old.file_version), entry)
    free = {d.source: _serve(d, d.source, False, None, None, (), (), ()) for d in free_docs}
    return groups, choices, served, history, free


def overview_text(
    root: Path,
    revision: str | None,
    readme: str | None,
    served: Mapping[str, ServedDocument],
    free: Mapping[str, ServedDocument],
    features: tuple[Feature, ...],
    version: str,
    diagnostics: int,
    inventory: Inventory,
    codemap: CodeMap,
    symbols: SymbolIndex,
    budget: int,
    counts: FileCounts | None = None,
    manifest: str | None = None,
) -> str:
    """The overview of a snapshot from what its load (or patch) gathered. Without central
    files from imports or history, those whose names the others use most. `manifest`:
    the name the repository's manifest declares (`overview.manifest_name`)."""
    if not codemap.central:
        paths = (f.path for f in inventory.files if not f.binary)
        central = central_by_uses(paths, functools.partial(_uses_of, symbols))
        codemap = replace(codemap, central=central)
    return overview_mod.build_overview(
        overview_mod.OverviewInput(
            repo_name=overview_mod.repo_title(root, readme, manifest),
            revision=revision,
            readme=readme,
            files=tuple(served.values()),
            free=tuple(free.values()),
            features=features,
            knowledge_version=version,
            diagnostics=diagnostics,
            inventory=inventory.files,
            codemap=codemap,
            most_used={c.path: symbols.most_used(c.path) for c in codemap.central},
            counts=counts,
        ),
        budget=budget,
    )


def _uses_of(symbols: SymbolIndex, path: str) -> int:
    """How many times the top-level names `path` defines are used, counted by name."""
    return sum(count for _, count in symbols.most_used(path, limit=USED_NAMES_COUNTED))


USED_NAMES_COUNTED = 64
"""A file's top-level names counted in its uses (`central_by_uses`): its most used."""


@dataclass
class _Code:
    """The files' part of a load, from the cache or read in full."""

    rows: CodeRows | None
    stored: StoredCode | None
    symbols: SymbolIndex
    texts: list[tuple[str, str | None, str]]
    """(path, language, text or code-map excerpt) of every indexed text file."""
    skipped: dict[str, int]
    indexed_bytes: int
    digests: dict[str, str] | None
    read: int
    reused: int
    symbols_from: MadeOf | None = None
    """What `symbols` is made of (`indexing.MadeOf`), when the cache made it."""


def text_index_of(store: IndexStore, stored: StoredCode, inventory: Inventory) -> TextIndex:
    """`grep`'s trigram index for this snapshot: the rows the cache holds as text, and
    the files it must always read (text files it holds no text of, and `folds` unless
    the tokenizer folds those characters as RE2 does), and the spans of its texts with
    long runs of word characters (`store.word_run_spans`)."""
    texts = store.texts()
    paths = {row: e.path for row, e in stored.entries.items() if row in texts.held}
    always = {f.path for f in inventory.files if not f.binary} - set(paths.values())
    if not folds_as_re2():
        always.update(paths[row] for row in texts.folds if row in paths)
    runs = {row: spans for row, spans in texts.runs.items() if row in paths}
    return TextIndex(store.path, paths, frozenset(always), runs=runs)


def _index_code(
    repo_files: Iterable[RepoFile],
    files: RepoFiles,
    store: IndexStore | None,
    known: dict[str, StoredFile] | None,
) -> _Code:
    if store is not None and known is not None:
        try:
            done = index_files(repo_files, files, store, known)
            stored = StoredCode(store.reads(), done.entries, done.skipped)
        except sqlite3.Error as exc:
            # A cache that fails mid-load (disk full, removed under us) is no reason to
            # fail the load: this one indexes in memory.
            log.warning("index_cache_failed", reason=str(exc)[:200])
        else:
            return _Code(
                None, stored, done.symbols, done.excerpts, done.skipped, done.indexed_bytes,
                done.digests, done.read, done.reused, done.symbols_from,
            )  # fmt: skip
    code = code_rows(repo_files, files)
    symbols = build_symbols(
        (e.path, e.language, t, e.skipped)
        for e, t in zip(code.entries, code.texts, strict=True)
        if e.skipped != "binary"
    )
    texts = [
        (e.path, e.language, t)
        for e, t in zip(code.entries, code.texts, strict=True)
        if e.skipped is None  # an empty `__init__.py` still makes a package
    ]
    read = sum(1 for e in code.entries if e.skipped in (None, "unreadable"))
    return _Code(code, None, symbols, texts, code.skipped, code.indexed_bytes, None, read, 0)


def _inside(folder: Path, root: Path) -> str | None:
    """`folder` relative to `root` ("" for the root itself), or None when outside it."""
    try:
        rel = folder.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return None
    return rel.as_posix() if rel.parts else ""


def _outside(inventory: Inventory, knowledge_dir: Path, root: Path) -> Iterator[RepoFile]:
    """The inventory without the knowledge folder's own files: `search` finds those as
    documents already (a second hit for each would only repeat it)."""
    inside = _inside(knowledge_dir, root)
    if not inside:  # elsewhere, or the repository itself: every file is a file
        return iter(inventory.files)
    return (f for f in inventory.files if not f.path.startswith(f"{inside}/"))


def read_folder(
    knowledge_dir: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES, files: RepoFiles | None = None
) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document file under the folder, in a stable (sorted) order.

    Hidden files and folders are skipped; symlinked folders are not entered; a symlinked
    document is read only if it points inside the knowledge folder (a link to `../.env`
    must not turn a secret into a searchable document). With `files`, each document must
    also pass its gate, as a participant's `file` request for it would: the whole gate
    when the folder is inside the repository, the deny-list when it is elsewhere."""
    base = knowledge_dir.resolve()
    found: list[tuple[str, str, bool]] = []  # (name inside the folder, host path, is symlink)
    pending = [("", str(base))]
    while pending:
        prefix, folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append((f"{prefix}{entry.name}/", entry.path))
            elif entry.name.lower().endswith(DOCUMENT_SUFFIXES):
                found.append((prefix + entry.name, entry.path, entry.is_symlink()))
    docs: list[Document] = []
    diags: list[Diagnostic] = []
    for source, host, is_link in sorted(found):
        try:
            if is_link and not Path(host).resolve().is_relative_to(base):
                diags.append(
                    Diagnostic(source, None, "symlink points outside the knowledge folder")
                )
                continue
            refused = _gate(files, base, source) if files is not None else None
            if refused is not None:
                diags.append(Diagnostic(source, None, f"not read: {refused}"))
                continue
            with open(host, "rb", opener=_nonblocking) as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    diags.append(Diagnostic(source, None, "not a regular file"))
                    continue
                data = fh.read(min(st.st_size, max_bytes) + 1)  # no 1 MB buffer per file
        except OSError as exc:
            reason = f"cannot read document: {exc.strerror or 'I/O error'}"
            diags.append(Diagnostic(source, None, reason))
            continue
        doc, problems = parse_document(source, data, max_bytes=max_bytes)
        diags.extend(problems)
        if doc is not None:
            docs.append(doc)
    return docs, diags


def _gate(files: RepoFiles, base: Path, source: str) -> str | None:
    """Why `files` refuses the document `source` of the folder `base`, or None."""
    inside = base.is_relative_to(files.root)
    try:
        if inside:
            files.locate((base / source).relative_to(files.root).as_posix())
        else:
            real = (base / source).resolve().relative_to(base).as_posix()
            if files.deny_listed(source) or files.deny_listed(real):
                raise PathDenied(f"path is not served: {source}")
    except (PathDenied, InvalidPath) as exc:
        return exc.message
    except (FileError, OSError, ValueError, RuntimeError):
        return None  # not a regular file, too large, gone: the reader reports it itself
    return None


def _nonblocking(path: str, flags: int) -> int:
    """A FIFO named `*.md` in the knowledge folder must not hang the loader."""
    return os.open(path, flags | os.O_NONBLOCK)


def choose_versions(
    groups: dict[str, list[Document]], root: Path
) -> dict[str, tuple[Document, bool, str | None, str | None]]:
    """path → (served document, stale, stale reason, how it matched: blob/commit/None)."""
    blobs = {path: worktree_blob(root, path) for path in groups}
    chosen: dict[str, tuple[Document, bool, str | None, str | None]] = {}
    pending: list[tuple[str, Document]] = []
    for path, docs in groups.items():
        blob = blobs[path]
        matches = [d for d in docs if blob and (d.file_version or "").lower() == blob]
        if matches:
            chosen[path] = (min(matches, key=_newest_first), False, None, "blob")
        elif blob is not None:
            pending.extend(
                (path, d) for d in docs if d.file_version and _HEX.fullmatch(d.file_version)
            )
    if pending:
        at_commit = blobs_at_commits(root, [(d.file_version or "", path) for path, d in pending])
        for (path, doc), blob_then in zip(pending, at_commit, strict=True):
            if blob_then is not None and blob_then == blobs[path]:
                best = chosen.get(path)
                if best is None or _newest_first(doc) < _newest_first(best[0]):
                    chosen[path] = (doc, False, None, "commit")
    for path, docs in groups.items():
        if path not in chosen:
            reason = "file_missing" if blobs[path] is None else "no_matching_version"
            chosen[path] = (min(docs, key=_newest_first), True, reason, None)
    return chosen


def resolve_related(doc: Document, known: set[str], root: Path) -> tuple[RelatedFile, ...]:
    """Resolve each relatedFiles entry against the document's directory, then the repo root.

    An entry resolves to the first candidate that has a document or exists in the
    repository (trying `.ts` for a `.js` name); otherwise to its first valid candidate."""
    out: list[RelatedFile] = []
    for raw, valid, options in _related_options(doc):
        found: RelatedFile | None = None
        for option in options:
            has_doc = option in known
            host = os.path.join(root, option)  # noqa: PTH118 - hot path, plain strings
            if has_doc or os.path.isfile(host):  # noqa: PTH113
                found = RelatedFile(raw, option, has_doc, True)
                break
        out.append(found or RelatedFile(raw, valid[0] if valid else None, False, False))
    return tuple(out)


def related_candidates(docs: Iterable[Document]) -> frozenset[str]:
    """Every path the documents' relatedFiles may resolve to, depending on which exist."""
    return frozenset(o for doc in docs for _, _, options in _related_options(doc) for o in options)


def _related_options(doc: Document) -> Iterator[tuple[str, list[str], list[str]]]:
    """Each relatedFiles entry: (as written, its valid candidates, the paths tried in order)."""
    base = posixpath.dirname(doc.file_path or "")
    for raw in doc.related_files:
        entry = raw.strip()
        candidates = [posixpath.normpath(posixpath.join(base, entry))]
        if not entry.startswith(("./", "../")):
            candidates.append(posixpath.normpath(entry))
        valid = [c for c in (normalise_repo_path(c) for c in candidates) if c is not None]
        options: list[str] = []
        for cand in valid:
            stem, ext = posixpath.splitext(cand)
            options.extend((cand, *(stem + twin for twin in _SOURCE_TWINS.get(ext, ()))))
        yield raw, valid, options


def _version(
    docs: list[Document],
    served: dict[str, ServedDocument],
    revision: str | None,
    readme: str | None,
    budget: int,
    inventory: Inventory,
    digests: dict[str, str] | None = None,
) -> tuple[str, VersionParts]:
    """A short hash of everything served: every document's bytes, which version each path
    serves and why, where its links resolve, what the overview is built from, and which
    files the repository has (a file added or grown is a new version; with the index
    cache's content hashes, a file edited in place too); and its parts, which a live
    reload of a few files updates (`patching.py`)."""
    hashes = digests or {}
    files = sum(file_term(f.path, f.size, hashes.get(f.path, "")) for f in inventory.files)
    parts = VersionParts(_documents_digest(docs, served), files % FILE_TERMS)
    return parts.version(revision, readme, budget), parts


@dataclass(frozen=True)
class VersionParts:
    """The two parts of a knowledge version that do not change with the revision, the
    README or the budget: the documents', and the files' as a sum of one term a file, so
    that a file's change moves it by a subtraction and an addition, not a pass over all."""

    documents: str
    files: int

    def version(self, revision: str | None, readme: str | None, budget: int) -> str:
        head = f"{revision}\0{budget}\0{readme}\n{self.documents}\n{self.files:032x}"
        return hashlib.sha256(head.encode()).hexdigest()[:16]


FILE_TERMS = 1 << 128
"""The files' part of a version is a sum of terms modulo this."""


def short_digest(digest: str) -> int:
    """A content hash (hex) as the int a snapshot keeps of it: 60 bits tell an edit."""
    return int(digest[:15] or "0", 16)


def file_term(path: str, size: int, digest: str) -> int:
    """One file's term of the files' part of the version."""
    line = hashlib.sha1(f"{path}\0{size}\0{digest}".encode(), usedforsecurity=False)
    return int.from_bytes(line.digest()[:16], "big")


def _documents_digest(docs: list[Document], served: dict[str, ServedDocument]) -> str:
    digest = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: d.source):
        digest.update(f"{doc.source}\0{doc.digest}\n".encode())
    for path in sorted(served):
        s = served[path]
        links = "\0".join(f"{r.path}:{r.has_document}:{r.exists}" for r in s.related)
        digest.update(
            f"{path}\0{s.source}\0{s.stale_reason}\0{s.version_match}\0{links}\n".encode()
        )
    return digest.hexdigest()


def _newest_first(doc: Document) -> tuple[float, str]:
    """Sort key: newest lastUpdated first, then document name (so ties are stable)."""
    return (-_timestamp(doc.last_updated), doc.source)


def _timestamp(value: str | None) -> float:
    if not value:
        return float("-inf")
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return float("-inf")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def _serve(
    doc: Document,
    path: str,
    stale: bool,
    reason: str | None,
    match: str | None,
    history: tuple[VersionRef, ...],
    related: tuple[RelatedFile, ...],
    backlinks: tuple[str, ...],
) -> ServedDocument:
    kind: Literal["file", "doc"] = "doc" if doc.file_path is None else "file"
    return ServedDocument(
        path, kind, doc.text, stale, reason, match, doc.file_version, doc.last_updated,
        doc.source, history, related, backlinks, doc,
    )  # fmt: skip

"""Load a knowledge folder into one immutable, shareable snapshot: versions, links, index.

Loading is the only place that touches the disk and git; everything a request needs
afterwards (the serving document of a path, search, listings, features, the overview) is
precomputed here, so answering never blocks and a reload swaps one object atomically.

Which version is served: a document whose `fileVersion` is the git blob id of the working
tree file (what `git hash-object` prints) is current. Failing that, `fileVersion` may be a
commit id (the commit that last touched the file, or HEAD when the document was written):
such a version is current when the file's blob *at that commit* is the working tree blob;
one `git cat-file --batch-check` answers that for every candidate at once. Otherwise the
newest by `lastUpdated` is served and marked stale. See KNOWLEDGE.md.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import structlog

from context_bot import overview as overview_mod
from context_bot.documents import (
    MAX_DOCUMENT_BYTES,
    Diagnostic,
    Document,
    RelatedFile,
    ServedDocument,
    VersionRef,
    duplicate_diagnostics,
    normalise_repo_path,
    parse_document,
)
from context_bot.errors import ConfigError
from context_bot.files import blobs_at_commits, git_output, worktree_blob
from context_bot.overview import Feature, build_features
from context_bot.search import IndexEntry, Listing, SearchHit, SearchIndex, build_listing

log = structlog.get_logger(__name__)

#: File suffixes loaded from the knowledge folder.
DOCUMENT_SUFFIXES = (".md", ".txt")
_HEX = re.compile(r"[0-9a-fA-F]{7,64}")
# relatedFiles written for a bundler often name the compiled `.js` of a `.ts` source.
_SOURCE_TWINS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}


class Knowledge:
    """An immutable snapshot of a loaded knowledge folder; safe to share between tasks."""

    def __init__(
        self,
        *,
        version: str,
        overview: str,
        diagnostics: list[Diagnostic],
        served: dict[str, ServedDocument],
        free: dict[str, ServedDocument],
        history: dict[tuple[str, str], ServedDocument],
        index: SearchIndex,
        features: tuple[Feature, ...],
        revision: str | None,
    ) -> None:
        self.version = version
        self.overview = overview
        self.diagnostics = diagnostics
        self.revision = revision
        self._served = served
        self._free = free
        self._history = history
        self._index = index
        self._features = features
        self._feature_by_name = {f.name: f for f in features}
        self._paths = sorted([(p, "file") for p in served] + [(n, "doc") for n in free])

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
        """BM25-ranked hits; raises errors.BadRequest for an empty query or a bad limit."""
        return self._index.search(query, limit=limit)

    def listing(self, prefix: str = "", *, depth: int = 2, limit: int = 200) -> Listing:
        """Files and folders that have knowledge under `prefix`, `depth` levels down, at most
        `limit` entries (then `truncated`). Raises InvalidPath or BadRequest on bad input."""
        return build_listing(self._paths, self._served, prefix, depth=depth, limit=limit)

    def features(self) -> tuple[Feature, ...]:
        """Every feature named by a served document, by name."""
        return self._features

    def feature(self, name: str) -> Feature | None:
        return self._feature_by_name.get(name)

    def stats(self) -> dict[str, int | str]:
        """Counts for health and metrics."""
        return {
            "version": self.version,
            "files": len(self._served),
            "free_documents": len(self._free),
            "historic_versions": len(self._history),
            "stale": sum(1 for d in self._served.values() if d.stale),
            "diagnostics": len(self.diagnostics),
        }


def load_knowledge(
    knowledge_dir: Path, repo_root: Path, *, overview_budget: int = 32_000
) -> Knowledge:
    """Load every `.md`/`.txt` under `knowledge_dir`; bad documents become diagnostics.

    Raises ConfigError only when `knowledge_dir` is missing or is not a directory."""
    if not knowledge_dir.is_dir():
        raise ConfigError(
            "knowledge folder does not exist or is not a directory; set knowledge_dir"
        )
    docs, diags = read_folder(knowledge_dir, repo_root)
    diags.extend(duplicate_diagnostics(docs))
    root = repo_root.resolve()
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
    features = build_features(served.values())
    revision = git_output(root, ["rev-parse", "HEAD"])
    index = SearchIndex(_index_entries(served, free))
    digest = hashlib.sha256()
    for doc in sorted(docs, key=lambda d: d.source):
        digest.update(f"{doc.source}\0{doc.digest}\n".encode())
    for path in sorted(served):
        doc_s = served[path]
        digest.update(f"{path}\0{doc_s.source}\0{doc_s.stale}\0{doc_s.version_match}\n".encode())
    version = digest.hexdigest()[:16]
    text = overview_mod.build_overview(
        overview_mod.OverviewInput(
            repo_name=root.name,
            revision=revision,
            readme=_read_readme(root),
            files=tuple(served.values()),
            free=tuple(free.values()),
            features=features,
            knowledge_version=version,
            diagnostics=len(diags),
        ),
        budget=overview_budget,
    )
    log.info(
        "knowledge_loaded",
        version=version,
        files=len(served),
        free_documents=len(free),
        stale=sum(1 for d in served.values() if d.stale),
        diagnostics=len(diags),
    )
    return Knowledge(
        version=version,
        overview=text,
        diagnostics=diags,
        served=served,
        free=free,
        history=history,
        index=index,
        features=features,
        revision=revision,
    )


def read_folder(
    knowledge_dir: Path, repo_root: Path, *, max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[list[Document], list[Diagnostic]]:
    """Parse every document file under the folder, in a stable (sorted) order."""
    base = knowledge_dir.resolve()
    allowed = (base, repo_root.resolve())
    docs: list[Document] = []
    diags: list[Diagnostic] = []
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, base)
        for name in filenames:
            if not name.startswith(".") and name.lower().endswith(DOCUMENT_SUFFIXES):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/"))
    for source in sorted(found):
        path = base / source
        try:
            if path.is_symlink() and not any(path.resolve().is_relative_to(a) for a in allowed):
                diags.append(
                    Diagnostic(source, None, "symlink points outside the knowledge folder")
                )
                continue
            with path.open("rb") as fh:
                data = fh.read(max_bytes + 1)
        except OSError as exc:
            diags.append(
                Diagnostic(source, None, f"cannot read document: {exc.strerror or 'I/O error'}")
            )
            continue
        doc, problems = parse_document(source, data, max_bytes=max_bytes)
        diags.extend(problems)
        if doc is not None:
            docs.append(doc)
    return docs, diags


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
    base = posixpath.dirname(doc.file_path or "")
    out: list[RelatedFile] = []
    for raw in doc.related_files:
        entry = raw.strip()
        candidates = [posixpath.normpath(posixpath.join(base, entry))]
        if not entry.startswith(("./", "../")):
            candidates.append(posixpath.normpath(entry))
        valid = [c for c in (normalise_repo_path(c) for c in candidates) if c is not None]
        found: RelatedFile | None = None
        for cand in valid:
            stem, ext = posixpath.splitext(cand)
            for option in (cand, *(stem + twin for twin in _SOURCE_TWINS.get(ext, ()))):
                has_doc = option in known
                if has_doc or (root / option).is_file():
                    found = RelatedFile(raw, option, has_doc, True)
                    break
            if found:
                break
        out.append(found or RelatedFile(raw, valid[0] if valid else None, False, False))
    return tuple(out)


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


def _read_readme(root: Path) -> str | None:
    try:
        names = {p.name.lower(): p for p in root.iterdir() if p.is_file()}
    except OSError:
        return None
    for wanted in ("readme.md", "readme", "readme.txt", "readme.rst"):
        if wanted in names:
            try:
                return names[wanted].read_bytes()[:65_536].decode("utf-8", "replace")
            except OSError:
                return None
    return None


def _index_entries(
    served: dict[str, ServedDocument], free: dict[str, ServedDocument]
) -> Iterable[IndexEntry]:
    for doc in (*served.values(), *free.values()):
        d = doc.document
        yield IndexEntry(
            path=doc.path,
            kind=doc.kind,
            feature=d.feature or "",
            tags=" ".join(d.tags),
            meta=" ".join((*d.user_flows, d.feature_role or "", d.title)),
            body="\n\n".join(f"{s.heading}\n{s.body}" for s in d.sections),
        )


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
    return ServedDocument(
        path=path,
        kind="doc" if doc.file_path is None else "file",
        text=doc.text,
        stale=stale,
        stale_reason=reason,
        version_match=match,
        file_version=doc.file_version,
        last_updated=doc.last_updated,
        source=doc.source,
        history=history,
        related=related,
        backlinks=backlinks,
        document=doc,
    )

"""The knowledge core's value types: what a served document, a version and a feature are.

They depend on nothing above the parsed document (`documents.py`), so loading, search,
listing and the overview all build on them without importing one another in a circle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from context_bot.knowledge.documents import Document


@dataclass(frozen=True, slots=True)
class VersionRef:
    """Another version of a file's document, kept reachable as history."""

    source: str
    file_version: str | None
    last_updated: str | None

    def to_wire(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RelatedFile:
    """One relatedFiles entry: as written, resolved repo path, and what exists there."""

    raw: str
    path: str | None  # None when the entry cannot be a repository path (e.g. `../../..`)
    has_document: bool
    exists: bool  # a document or a repository file is there

    def to_wire(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ServedDocument:
    """What `Knowledge.document()` answers: a document plus what loading learned about it."""

    path: str  # repo-relative file path, or a free document's name in the knowledge folder
    kind: Literal["file", "doc"]
    text: str  # the full original document, front-matter included, exactly as on disk
    stale: bool
    stale_reason: str | None  # no_matching_version, file_missing, older_version
    version_match: str | None  # "blob" or "commit" when verified against the working tree
    file_version: str | None
    last_updated: str | None
    source: str  # the document's file inside the knowledge folder
    history: tuple[VersionRef, ...]  # the other versions, newest first
    related: tuple[RelatedFile, ...]
    backlinks: tuple[str, ...]  # served files whose relatedFiles point here
    document: Document

    @property
    def feature(self) -> str | None:
        return self.document.feature

    @property
    def title(self) -> str:
        return self.document.title

    def to_wire(self) -> dict[str, object]:
        d = self.document
        return {
            "path": self.path,
            "kind": self.kind,
            "text": self.text,
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "version_match": self.version_match,
            "version": self.file_version,
            "last_updated": self.last_updated,
            "source": self.source,
            "title": d.title,
            "feature": d.feature,
            "feature_role": d.feature_role,
            "importance": d.importance,
            "tags": list(d.tags),
            "history": [h.to_wire() for h in self.history],
            "related": [r.to_wire() for r in self.related],
            "backlinks": list(self.backlinks),
        }


@dataclass(frozen=True, slots=True)
class FeatureFile:
    path: str
    role: str | None

    def to_wire(self) -> dict[str, object]:
        return {"path": self.path, "role": self.role}


@dataclass(frozen=True, slots=True)
class Feature:
    """A feature named in front-matter, its files with their roles, and its user flows."""

    name: str
    files: tuple[FeatureFile, ...]
    user_flows: tuple[str, ...]
    entry_points: tuple[str, ...] = ()  # files whose role is entry_point (any spelling)
    services: tuple[str, ...] = ()  # files whose role is service

    def to_wire(self) -> dict[str, object]:
        return {
            "name": self.name,
            "files": [f.to_wire() for f in self.files],
            "entry_points": list(self.entry_points),
            "services": list(self.services),
            "user_flows": list(self.user_flows),
        }


@dataclass(frozen=True, slots=True)
class RepoFile:
    """One file of the repository's inventory, documented or not."""

    path: str
    size: int
    language: str | None  # "python", "typescript", ...; None when unknown or binary
    binary: bool
    mtime_ns: int = field(default=0, compare=False)
    """The modification time the load saw (what the index cache keys a file by, with its
    size); 0 when not known."""

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "language": self.language,
            "binary": self.binary,
        }


@dataclass(frozen=True, slots=True)
class Symbol:
    """One definition found by a parser (`symbols.py`): where it is and what it says."""

    name: str
    kind: str  # class, interface, struct, enum, trait, type, impl, module, namespace,
    # function, method, constructor, field, constant, variable, macro
    container: str | None  # the enclosing definitions, dotted (`Outer.Inner`); None at top
    path: str
    line: int  # 1-based, the definition's first line
    end_line: int  # its last line
    signature: str  # its head on one line: `def f(x: int) -> str`, `func (s *S) Run()`
    doc: str | None  # its docstring or leading comment, first paragraph, one line
    language: str

    def to_wire(self) -> dict[str, object]:
        return asdict(self)

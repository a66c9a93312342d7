"""Parse one knowledge document: YAML front-matter, `##` sections, and what is wrong with it.

A knowledge folder is written by tools and people, so anything can be in it. This module
turns the bytes of one file into a typed `Document` plus `Diagnostic`s, and never raises on
bad input: a broken document yields diagnostics and, where nothing useful is left, no
document at all. The accepted format is written down in KNOWLEDGE.md.

Front-matter goes through a small fast path for the shape real documents have (flat
`key: scalar` and `key:` + `- item` lists, resolved with PyYAML's own implicit-type rules)
and falls back to PyYAML's safe loader for anything else: loading 10,000 documents with the
full YAML loader alone costs about a second, half the load budget.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from difflib import get_close_matches
from typing import Any, Literal

import yaml

#: Default cap on one document's size, in bytes; larger files are refused with a diagnostic.
MAX_DOCUMENT_BYTES = 1_000_000
#: Known front-matter fields → (attribute on Document, type: "str", "bool" or "list" of str).
FIELDS: dict[str, tuple[str, str]] = {
    "filePath": ("file_path", "str"),
    "fileVersion": ("file_version", "str"),
    "lastUpdated": ("last_updated", "str"),
    "updatedBy": ("updated_by", "str"),
    "tags": ("tags", "list"),
    "importance": ("importance", "str"),
    "extractedBy": ("extracted_by", "str"),
    "model": ("model", "str"),
    "humanVerified": ("human_verified", "bool"),
    "feature": ("feature", "str"),
    "featureRole": ("feature_role", "str"),
    "userFlows": ("user_flows", "list"),
    "relatedFiles": ("related_files", "list"),
}
#: Importance levels, lowest first; the rank orders files in the overview.
IMPORTANCE_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in one document. `file` is relative to the knowledge folder."""

    file: str
    line: int | None
    reason: str
    severity: Severity = "error"

    def to_wire(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "reason": self.reason,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class Section:
    """A `##` section: its heading (without the hashes), its body, and its 1-based line."""

    heading: str
    body: str
    line: int


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed knowledge document; `file_path` is None for a free document."""

    source: str  # path of the document inside the knowledge folder, POSIX form
    text: str  # the whole document, front-matter included, exactly as on disk
    digest: str  # sha256 of the document bytes
    title: str
    sections: tuple[Section, ...]
    file_path: str | None = None
    file_version: str | None = None
    last_updated: str | None = None
    updated_by: str | None = None
    tags: tuple[str, ...] = ()
    importance: str | None = None
    extracted_by: str | None = None
    model: str | None = None
    human_verified: bool | None = None
    feature: str | None = None
    feature_role: str | None = None
    user_flows: tuple[str, ...] = ()
    related_files: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # unknown front-matter fields
    front_matter_text: str = ""  # the raw YAML, for search

    @property
    def is_free(self) -> bool:
        return self.file_path is None

    @property
    def importance_rank(self) -> int:
        return IMPORTANCE_RANK.get((self.importance or "").lower(), 0)

    def section(self, heading_prefix: str) -> Section | None:
        """The first section whose heading starts with `heading_prefix` (case-insensitive)."""
        wanted = heading_prefix.lower()
        for sec in self.sections:
            if sec.heading.lower().startswith(wanted):
                return sec
        return None


def git_blob_sha(data: bytes) -> str:
    """The object id `git hash-object` gives these bytes (SHA-1 of the blob header + data)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def normalise_repo_path(raw: str) -> str | None:
    """`./a//b/` → `a/b`; None for absolute paths, `..` escapes, `~`, NUL or empty."""
    if not raw or "\0" in raw or raw.startswith(("/", "~", "\\")):
        return None
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def parse_document(
    source: str, data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one document's bytes; the document is None when nothing servable is left."""
    diags: list[Diagnostic] = []
    if len(data) > max_bytes:
        return None, [
            Diagnostic(source, None, f"document is {len(data)} bytes; the cap is {max_bytes}")
        ]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Diagnostic(source, line, f"not UTF-8 (invalid byte at offset {exc.start})")]
    if not text.strip():
        return None, [Diagnostic(source, None, "document is empty")]
    digest = hashlib.sha256(data).hexdigest()
    body = text[1:] if text.startswith("\ufeff") else text
    lines = body.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        sections = split_sections(lines, 1)
        return Document(source, text, digest, _title(source, lines), sections), diags
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        return None, [Diagnostic(source, 1, "front-matter opened with '---' is never closed")]
    fm_text = "".join(lines[1:end])
    meta, error = load_front_matter(fm_text)
    if error is not None:
        at, reason = error
        return None, [Diagnostic(source, None if at is None else at + 2, reason)]
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return None, [Diagnostic(source, 2, "front-matter is not a mapping of fields")]
    fields = _check_fields(source, meta, fm_text, diags)
    sections = split_sections(lines[end + 1 :], end + 2)
    doc = Document(
        source,
        text,
        digest,
        _title(source, lines[end + 1 :]),
        sections,
        front_matter_text=fm_text,
        **fields,
    )
    return doc, diags


def split_sections(lines: Iterable[str], first_line: int) -> tuple[Section, ...]:
    """Split Markdown lines at `## ` headings outside fenced code; text before the first
    heading becomes a section with an empty heading (if it holds anything)."""
    sections: list[Section] = []
    heading, start = "", first_line
    buf: list[str] = []
    fence: str | None = None
    for number, line in enumerate(lines, first_line):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            fence = marker if fence is None else (None if marker == fence else fence)
        elif fence is None and line.startswith("## "):
            if heading or "".join(buf).strip():
                sections.append(Section(heading, "".join(buf).strip(), start))
            heading, start, buf = line[3:].strip(), number, []
            continue
        buf.append(line)
    if heading or "".join(buf).strip():
        sections.append(Section(heading, "".join(buf).strip(), start))
    return tuple(sections)


def _title(source: str, lines: list[str]) -> str:
    for line in lines:
        if line.startswith("# "):
            return line[2:].strip()
    for line in lines:
        if line.strip() and line.strip() != "---":
            text = line.strip().lstrip("#").strip()
            return text if len(text) <= 80 else text[:79] + "…"
    return posixpath.basename(source)


def _field_line(fm_text: str, key: str) -> int | None:
    """1-based line of `key:` in the document (front-matter starts on line 2)."""
    match = re.search(rf"(?m)^{re.escape(key)}\s*:", fm_text)
    return None if match is None else fm_text.count("\n", 0, match.start()) + 2


def _check_fields(
    source: str, meta: dict[Any, Any], fm_text: str, diags: list[Diagnostic]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    def warn(key: str, reason: str, severity: Severity = "warning") -> None:
        diags.append(Diagnostic(source, _field_line(fm_text, key), reason, severity))

    for key, value in meta.items():
        name = str(key)
        attr, kind = FIELDS.get(name, ("", ""))
        if not attr:
            extra[name] = value
            near = get_close_matches(name, FIELDS, n=1, cutoff=0.8)
            if near:
                warn(name, f"unknown field '{name}' (did you mean '{near[0]}'?); kept as extra")
            continue
        if value is None:
            continue
        if kind == "list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
            ):
                warn(name, f"field '{name}' must be a list of strings; ignored")
                continue
            out[attr] = tuple(str(v) for v in value)
        elif kind == "bool":
            if not isinstance(value, bool):
                warn(name, f"field '{name}' must be true or false; ignored")
                continue
            out[attr] = value
        else:
            if isinstance(value, datetime | date) and name == "lastUpdated":
                value = value.isoformat()
            elif (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and name in ("fileVersion", "filePath")
            ):
                warn(name, f"field '{name}' should be a quoted string; read as text")
                value = str(value)
            if not isinstance(value, str):
                sev: Severity = "error" if name == "filePath" else "warning"
                warn(name, f"field '{name}' must be a string; ignored", sev)
                continue
            out[attr] = value
    if extra:
        out["extra"] = extra
    if "file_path" in out:
        norm = normalise_repo_path(out["file_path"].strip())
        if norm is None:
            warn(
                "filePath",
                "filePath must be a repository-relative path; served as a free document",
                "error",
            )
            del out["file_path"]
        else:
            out["file_path"] = norm
    elif "filePath" not in meta or meta.get("filePath") is None:
        diags.append(
            Diagnostic(
                source, 1, "front-matter has no filePath; served as a free document", "error"
            )
        )
    if "importance" in out and out["importance"].lower() not in IMPORTANCE_RANK:
        warn(
            "importance",
            f"importance '{out['importance']}' is not one of low, medium, high, critical",
        )
    return out


def duplicate_diagnostics(docs: Iterable[Document]) -> list[Diagnostic]:
    """One error per document that repeats an earlier (filePath, fileVersion) pair."""
    seen: dict[tuple[str, str], str] = {}
    diags: list[Diagnostic] = []
    for doc in docs:
        if doc.file_path is None or doc.file_version is None:
            continue
        key = (doc.file_path, doc.file_version)
        first = seen.setdefault(key, doc.source)
        if first != doc.source:
            diags.append(
                Diagnostic(
                    doc.source,
                    _field_line(doc.front_matter_text, "fileVersion"),
                    f"same filePath and fileVersion as {first}",
                )
            )
    return diags


# --- front-matter: fast path for flat documents, PyYAML for everything else -------------

_RESOLVER = yaml.resolver.Resolver()
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*?))?\s*$")
_ITEM_LINE = re.compile(r"( *)- +(.*?)\s*$")
_PLAIN_BAD_START = tuple("-?:,[]{}#&*!|>'\"%@`")


def _fast_scalar(raw: str) -> tuple[bool, Any]:
    """(True, value) when `raw` is a scalar whose meaning is unambiguous without PyYAML."""
    if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'" and "'" not in raw[1:-1]:
        return True, raw[1:-1]
    if (
        not raw
        or raw.startswith(_PLAIN_BAD_START)
        or ": " in raw
        or " #" in raw
        or raw.endswith(":")
    ):
        return False, None
    tag = _RESOLVER.resolve(yaml.ScalarNode, raw, (True, False))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:str":
        return True, raw
    if tag == "tag:yaml.org,2002:bool" and raw in ("true", "false"):
        return True, raw == "true"
    return False, None


def _fast_front_matter(fm_text: str) -> dict[str, Any] | None:
    """Parse the flat subset real documents use; None means 'ask PyYAML'."""
    out: dict[str, Any] = {}
    current: list[Any] | None = None
    for line in fm_text.splitlines():
        if not line.strip() or "\t" in line:
            if "\t" in line:
                return None
            continue
        if current is not None:
            item = _ITEM_LINE.match(line)
            if item is not None and len(item.group(1)) <= 4:
                ok, value = _fast_scalar(item.group(2))
                if not ok:
                    return None
                current.append(value)
                continue
        key = _KEY_LINE.match(line)
        if key is None or key.group(1) in out:
            return None
        raw = key.group(2)
        if raw is None or raw == "":
            current = []
            out[key.group(1)] = current
            continue
        ok, value = _fast_scalar(raw)
        if not ok:
            return None
        out[key.group(1)] = value
        current = None
    return {k: (None if v == [] else v) for k, v in out.items()}


def load_front_matter(fm_text: str) -> tuple[Any, tuple[int | None, str] | None]:
    """(value, None) or (None, (0-based line inside the YAML or None, reason))."""
    fast = _fast_front_matter(fm_text)
    if fast is not None:
        return fast, None
    try:
        return yaml.load(fm_text, Loader=_LOADER), None  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        return None, (
            None if mark is None else mark.line,
            f"front-matter is not valid YAML: {exc.problem}",
        )
    except yaml.YAMLError as exc:
        return None, (None, f"front-matter is not valid YAML: {exc}")


_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- what the knowledge snapshot serves ----------------------------------------------------


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

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
from functools import cached_property
from typing import Any, Literal

import yaml

from context_bot.knowledge.paths import normalise_repo_path

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
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Section:
    """A `##` section: its heading (without the hashes), its body, and its 1-based line."""

    heading: str
    body: str
    line: int


@dataclass(frozen=True)
class Document:
    """One parsed knowledge document; `file_path` is None for a free document.

    `sections` and `title` are worked out on first use: at 10,000 documents only the few
    the overview shows ever need them, and search indexes the Markdown body as it is."""

    source: str  # path of the document inside the knowledge folder, POSIX form
    text: str  # the whole document, front-matter included, exactly as on disk
    digest: str  # sha256 of the document bytes
    body_start: int = 0  # offset in `text` where the Markdown after the front-matter starts
    body_line: int = 1  # the document line that offset is on
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
    front_matter_end: int = 0  # `text[4:front_matter_end]` is the YAML (offsets, not a copy)

    @property
    def body(self) -> str:
        return self.text[self.body_start :]

    @property
    def front_matter_text(self) -> str:
        start = self.text.find("\n") + 1 if self.front_matter_end else 0
        return self.text[start : self.front_matter_end]

    @cached_property
    def sections(self) -> tuple[Section, ...]:
        return split_sections(self.body, self.body_line)

    @cached_property
    def title(self) -> str:
        return _title(self.source, self.body)

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


def parse_document(
    source: str, data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES
) -> tuple[Document | None, list[Diagnostic]]:
    """Parse one document's bytes; the document is None when nothing servable is left."""
    diags: list[Diagnostic] = []
    if len(data) > max_bytes:
        reason = f"document is {len(data)} bytes; the cap is {max_bytes}"
        return None, [Diagnostic(source, None, reason)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Diagnostic(source, line, f"not UTF-8 (invalid byte at offset {exc.start})")]
    if not text.strip():
        return None, [Diagnostic(source, None, "document is empty")]
    digest = hashlib.sha256(data).hexdigest()
    bom = 1 if text.startswith("\ufeff") else 0
    opening = _OPEN.match(text, bom)
    if opening is None:
        return Document(source, text, digest, bom), diags
    closing = _CLOSE.search(text, opening.end() - 1)
    if closing is None:
        return None, [Diagnostic(source, 1, "front-matter opened with '---' is never closed")]
    fm_text = text[opening.end() : closing.start() + 1]
    meta, error = load_front_matter(fm_text)
    if error is not None:
        at, reason = error
        return None, [Diagnostic(source, None if at is None else at + 2, reason)]
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return None, [Diagnostic(source, 2, "front-matter is not a mapping of fields")]
    fields = _check_fields(source, meta, fm_text, diags)
    line = text.count("\n", 0, closing.end()) + 1
    end = closing.start() + 1
    doc = Document(source, text, digest, closing.end(), line, front_matter_end=end, **fields)
    return doc, diags


_OPEN = re.compile(r"---[ \t]*\r?\n")
_CLOSE = re.compile(r"\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)")
_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
# Python's `re` scans `^## ` line by line slowly; `str.find` on "\n## " is a C loop. Both
# matter at 10,000 documents, where parsing is half the load budget.


def _line_starts(text: str, marker: str) -> list[int]:
    """Offsets of every line of `text` that starts with `marker`."""
    found = [0] if text.startswith(marker) else []
    at = text.find("\n" + marker)
    while at != -1:
        found.append(at + 1)
        at = text.find("\n" + marker, at + 1)
    return found


def split_sections(text: str, first_line: int) -> tuple[Section, ...]:
    """Split Markdown at `## ` headings outside fenced code; text before the first heading
    becomes a section with an empty heading (if it holds anything). `first_line` is the
    document line `text` starts on, so each section knows its own line."""
    fenced = "```" in text or "~~~" in text
    fences = [(m.start(), m.group(1)) for m in _FENCE.finditer(text)] if fenced else []
    heads: list[tuple[int, int, str]] = []
    for start in _line_starts(text, "## "):
        if fences and _inside_fence(fences, start):
            continue
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        heads.append((start, end, text[start + 3 : end].strip()))
    sections: list[Section] = []
    preamble = text[: heads[0][0] if heads else len(text)].strip()
    if preamble:
        sections.append(Section("", preamble, first_line))
    line, pos = first_line, 0
    for i, (start, end, heading) in enumerate(heads):
        line += text.count("\n", pos, start)
        pos = start
        stop = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        sections.append(Section(heading, text[end:stop].strip(), line))
    return tuple(sections)


def _inside_fence(fences: list[tuple[int, str]], offset: int) -> bool:
    open_marker: str | None = None
    for start, marker in fences:
        if start >= offset:
            break
        if open_marker is None:
            open_marker = marker
        elif marker == open_marker:
            open_marker = None
    return open_marker is not None


def _title(source: str, text: str) -> str:
    """The first `# ` heading, else the first non-empty line (clipped), else the name."""
    h1 = _line_starts(text, "# ")[:1]
    if h1:
        end = text.find("\n", h1[0])
        return text[h1[0] + 2 : end if end != -1 else len(text)].strip()
    for line in text.split("\n", 20):
        clean = line.strip().lstrip("#").strip()
        if clean and clean != "---":
            return clean if len(clean) <= 80 else clean[:79] + "…"
    return posixpath.basename(source)


def _field_line(fm_text: str, key: str) -> int | None:
    """1-based line of `key:` in the document (front-matter starts on line 2)."""
    match = re.search(rf"(?m)^{re.escape(key)}\s*:", fm_text)
    return None if match is None else fm_text.count("\n", 0, match.start()) + 2


def _check_fields(
    source: str, meta: dict[Any, Any], fm_text: str, diags: list[Diagnostic]
) -> dict[str, Any]:
    """Typed Document fields from the front-matter mapping, with a diagnostic per problem."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}

    def warn(key: str, reason: str, severity: Severity = "warning") -> None:
        diags.append(Diagnostic(source, _field_line(fm_text, key), reason, severity))

    for key, value in meta.items():
        name = str(key)
        attr, kind = FIELDS.get(name, ("", ""))
        if not attr:
            extra[name] = value
            lowered = {f.lower(): f for f in FIELDS}
            near = get_close_matches(name.lower(), lowered, n=1, cutoff=0.8)
            if near:
                meant = lowered[near[0]]
                warn(name, f"unknown field '{name}' (did you mean '{meant}'?); kept as extra")
        elif type(value) is str and kind == "str":  # the common cases, checked first
            out[attr] = value
        elif type(value) is list and kind == "list" and all(type(v) is str for v in value):
            out[attr] = tuple(value)
        elif value is not None:
            kept, problem = _coerce(name, kind, value)
            if problem:
                warn(name, problem, "error" if kept is None and name == "filePath" else "warning")
            if kept is not None:
                out[attr] = kept
    if extra:
        out["extra"] = extra
    raw_path = out.pop("file_path", None)
    if raw_path is not None:
        out["file_path"] = normalise_repo_path(raw_path.strip())
        if out["file_path"] is None:
            reason = "filePath must be a repository-relative path; served as a free document"
            warn("filePath", reason, "error")
    elif meta.get("filePath") is None:
        reason = "front-matter has no filePath; served as a free document"
        diags.append(Diagnostic(source, 1, reason, "error"))
    level = out.get("importance")
    if level is not None and level.lower() not in IMPORTANCE_RANK:
        warn("importance", f"importance '{level}' is not one of low, medium, high, critical")
    return out


_EXPECTED = {"list": "a list of strings", "bool": "true or false", "str": "a string"}


def _coerce(name: str, kind: str, value: Any) -> tuple[Any, str | None]:
    """(the value to keep, or None to drop it; the warning to give, or None)."""
    if kind == "list":
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in items
        ):
            return tuple(str(v) for v in items), None
    elif kind == "bool":
        if isinstance(value, bool):
            return value, None
    elif isinstance(value, str):
        return value, None
    elif isinstance(value, datetime | date) and name == "lastUpdated":
        return value.isoformat(), None
    elif isinstance(value, int | float) and not isinstance(value, bool) and name in _TEXTUAL:
        return str(value), f"field '{name}' should be a quoted string; read as text"
    return None, f"field '{name}' must be {_EXPECTED[kind]}; ignored"


_TEXTUAL = ("fileVersion", "filePath")


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
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PLAIN_BAD_START = tuple("-?:,[]{}#&*!|>'\"%@`")
# First characters for which PyYAML's implicit resolvers may type a plain scalar as
# something other than a string (bool, null, int, float, timestamp, merge, value).
_MAYBE_TYPED = frozenset("yYnNtTfFoO~-+.0123456789<=")


def _fast_scalar(raw: str) -> tuple[bool, Any]:
    """(True, value) when `raw` is a scalar whose meaning is unambiguous without PyYAML."""
    known = _SCALARS.get(raw)
    if known is None:
        known = _classify_scalar(raw)
        if len(raw) <= 24:  # ids and timestamps are unique per document: not worth keeping
            _SCALARS[raw] = known
            if len(_SCALARS) > _SCALAR_CACHE:
                _SCALARS.clear()
    return known


# Tags, tool names, importance levels and features repeat across thousands of documents.
_SCALARS: dict[str, tuple[bool, Any]] = {}
_SCALAR_CACHE = 50_000


def _classify_scalar(raw: str) -> tuple[bool, Any]:
    if not raw or not raw.isprintable():
        return False, None
    if raw[0] == "'":
        inner = raw[1:-1]
        return (
            (True, inner)
            if len(raw) >= 2 and raw[-1] == "'" and "'" not in inner
            else (False, None)
        )
    if raw.startswith(_PLAIN_BAD_START) or ": " in raw or " #" in raw or raw[-1] == ":":
        return False, None
    if raw[0] not in _MAYBE_TYPED:
        return True, raw
    tag = _RESOLVER.resolve(yaml.ScalarNode, raw, (True, False))  # type: ignore[no-untyped-call]
    if tag == "tag:yaml.org,2002:str":
        return True, raw
    if tag == "tag:yaml.org,2002:bool" and raw in ("true", "false"):
        return True, raw == "true"
    return False, None


def _fast_front_matter(fm_text: str) -> dict[str, Any] | None:
    """Parse the flat subset real documents use; None means 'ask PyYAML'."""
    if "\t" in fm_text or "\r" in fm_text:
        return None
    out: dict[str, Any] = {}
    current: list[Any] | None = None
    for line in fm_text.split("\n"):
        if not line or line.isspace():
            continue
        if line[0] in " -":
            item = line.lstrip(" ")
            if current is None or not item.startswith("- ") or len(line) - len(item) > 4:
                return None
            ok, value = _fast_scalar(item[2:].strip())
            if not ok:
                return None
            current.append(value)
            continue
        key, sep, raw = line.partition(":")
        if not sep or key in out or raw[:1] not in ("", " "):
            return None
        if key not in FIELDS and _KEY.fullmatch(key) is None:
            return None
        raw = raw.strip()
        if not raw:
            current = out[key] = []
            continue
        ok, value = _fast_scalar(raw)
        if not ok:
            return None
        out[key] = value
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

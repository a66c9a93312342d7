"""What a drafted knowledge document says, from the code alone: pure text in, text out.

`context-bot draft` gives every source file a document in the seeds' format
(KNOWLEDGE.md) without a person or a model: the front-matter from facts (the blob id,
folders, the import graph, entry points) and three sections from what the code states: its
Purpose (the module docstring or leading comment), its Architecture Context (the outline
from the symbol index, what it depends on, what depends on it) and its Gotchas (TODO,
FIXME, HACK, deprecations, with line numbers). Nothing is invented: a section with nothing
to say is left out, `userFlows` stays empty, and what is a guess (feature, role,
importance) is listed as one in the front-matter field `guessed`.

A document someone else wrote (a person, another pipeline) is refreshed, not replaced:
`refresh_document` updates the derived front-matter and the one section draft owns in it
(`## Outline`), and carries every other section over verbatim. Gathering the facts from a
repository is `knowledge/draft_plan.py`; writing files is `knowledge/draft_writer.py`.
"""

from __future__ import annotations

import posixpath
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

from context_bot import __version__
from context_bot.knowledge.documents import FIELDS, Document, load_front_matter
from context_bot.knowledge.redaction import redact_assignment
from context_bot.knowledge.symbols import OutlineNode
from context_bot.knowledge.testfiles import is_test

#: Who draft says wrote a document (`extractedBy`), and who last updated one (`updatedBy`).
EXTRACTED_BY = f"context-bot-draft@{__version__}"
UPDATED_BY = f"context-bot draft {__version__}"
#: A document whose `extractedBy` starts with this was written by draft: rewritten whole.
DRAFT_MARK = "context-bot-draft"
#: The section draft owns in a document someone else wrote.
OWNED_SECTION = "Outline"
#: Definitions listed in an outline at most (the rest is counted).
MAX_OUTLINE = 40
#: Files listed under "Depends on" / "Used by", and in `relatedFiles`, at most each.
MAX_LINKS = 25
#: Gotchas listed at most, and the characters of each kept.
MAX_GOTCHAS = 20
GOTCHA_CHARS = 160
#: Characters of a module docstring or leading comment kept as Purpose (whole paragraphs).
PURPOSE_CHARS = 1_200
#: Importers that make a file `high` / `critical` (a guess from centrality).
HIGH_IMPORTERS, CRITICAL_IMPORTERS = 5, 15

_GOTCHA = re.compile(
    r"(?:#|//|/\*|\*|--|;|<!--)\s*(TODO|FIXME|HACK|XXX)\b[\s:(\-]*(.*)", re.IGNORECASE
)
_DEPRECATED = re.compile(
    r"@deprecated\b|#\[deprecated|@Deprecated\b|DeprecationWarning|\bDeprecated:|"
    r"(?:#|//|\*)\s*deprecated\b",
    re.IGNORECASE,
)
_PY_DOCSTRING = re.compile(r'\A(?:\s*#[^\n]*\n|\s*\n)*\s*[rRuU]?("""|\'\'\')(.*?)\1', re.S)
_LICENSE = re.compile(r"copyright|spdx-license|licensed under|all rights reserved", re.I)
#: Languages where `#` starts a preprocessor line, not a comment; and where `--` comments.
_NO_HASH_COMMENTS = frozenset({"c", "c++", "objective-c", "c#", "css", "scss", "less"})
_DASH_COMMENTS = frozenset({"sql", "lua", "haskell", "elm"})
_BLOCK_COMMENT = re.compile(r"\A\s*/\*+(.*?)\*/", re.S)
_GENERIC_FOLDERS = frozenset({"src", "lib", "pkg", "internal", "app", "source", "sources"})
_MD_SPECIAL = re.compile(r"^(\s*)(#|```|~~~|---|\.\.\.)", re.M)


@dataclass(frozen=True)
class FileFacts:
    """What draft knows about one file, gathered by `draft_plan.py`."""

    path: str
    language: str | None
    text: str
    blob: str  # the git blob id of the working-tree file
    outline: tuple[OutlineNode, ...] = ()
    imports: tuple[str, ...] = ()  # repository files it imports, sorted
    imported_by: tuple[str, ...] = ()  # repository files that import it, sorted
    packages: tuple[str, ...] = ()  # Go package folders it imports ("pkg/")
    entry: tuple[str, ...] = ()  # the entry-point declarations naming it
    feature: str | None = None
    tags: tuple[str, ...] = field(default=())


# -- a whole document ---------------------------------------------------------------------


def draft_document(facts: FileFacts, stamp: str, *, prose: dict[str, str] | None = None) -> str:
    """The document draft writes for a file: front-matter and the sections it can fill.

    `prose` (from the optional model writer) replaces or adds sections by heading
    (Purpose, Problem, Solution, Impact, Gotchas); the Architecture Context stays draft's."""
    meta: dict[str, Any] = {
        "filePath": facts.path,
        "fileVersion": facts.blob,
        "lastUpdated": stamp,
        "updatedBy": UPDATED_BY,
        "tags": list(facts.tags),
        "importance": importance(facts),
        "extractedBy": EXTRACTED_BY,
        "humanVerified": False,
    }
    if prose and prose.get("model"):
        meta["model"] = prose["model"]
    guessed = ["importance"]
    if facts.feature:
        meta["feature"] = facts.feature
        meta["featureRole"] = feature_role(facts)
        guessed += ["feature", "featureRole"]
    meta["userFlows"] = []
    meta["relatedFiles"] = related_files(facts)
    meta["guessed"] = guessed
    sections: list[tuple[str, str]] = []
    chosen = dict(prose or {})
    purpose = chosen.pop("Purpose", None) or purpose_text(facts)
    if purpose:
        sections.append(("Purpose", purpose))
    for heading in ("Problem", "Solution", "Impact"):
        if chosen.get(heading):
            sections.append((heading, chosen[heading]))
    context = architecture_text(facts)
    if context:
        sections.append(("Architecture Context", context))
    gotchas = "\n".join(filter(None, [chosen.get("Gotchas", ""), gotchas_text(facts)]))
    if gotchas:
        sections.append(("Gotchas", gotchas))
    return render(meta, sections)


def refresh_document(doc: Document, facts: FileFacts, stamp: str) -> str:
    """A document someone else wrote, brought to the file's current version: the derived
    front-matter regenerated (fileVersion, lastUpdated, updatedBy; tags and relatedFiles
    gain what draft derives, keeping what was written), draft's `## Outline` section
    replaced, every other field and section carried over as written."""
    meta, _ = load_front_matter(doc.front_matter_text)
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["fileVersion"] = facts.blob
    meta["lastUpdated"] = stamp
    meta["updatedBy"] = UPDATED_BY
    meta["tags"] = _union(_strings(meta.get("tags")), facts.tags)
    meta["relatedFiles"] = _union(_strings(meta.get("relatedFiles")), related_files(facts))
    ordered = {k: meta[k] for k in FIELDS if k in meta}
    ordered |= {k: v for k, v in meta.items() if k not in ordered}
    kept = [
        (s.heading, s.body.strip("\n"))
        for s in doc.sections
        if s.heading.strip() != OWNED_SECTION and (s.heading or s.body.strip())
    ]
    outline = architecture_text(facts, intro=False)
    if outline:
        kept.append((OWNED_SECTION, outline))
    return render(ordered, kept)


def render(meta: dict[str, Any], sections: Iterable[tuple[str, str]]) -> str:
    """Front-matter (block lists, quoted strings where YAML would read another type) and
    `##` sections; text before the first heading is a section with an empty heading."""
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list | tuple):
            lines.append(f"{key}:" + ("" if value else " []"))
            lines += [f"  - {_scalar(v)}" for v in value]
        else:
            lines.append(f"{key}: {_scalar(value)}")
    lines.append("---")
    for heading, body in sections:
        lines.append(f"## {heading}\n{body.rstrip()}" if heading else body.rstrip())
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{7,64}", value):
        return f"'{value}'"  # an all-digit blob id would be read as a number
    dumped = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30)
    return dumped.removesuffix("\n...\n").strip()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _union(first: Iterable[str], then: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *then]))


# -- guesses ------------------------------------------------------------------------------


def importance(facts: FileFacts) -> str:
    """From centrality: how many files import it, and whether it is a way in."""
    n = len(facts.imported_by)
    if n >= CRITICAL_IMPORTERS:
        return "critical"
    if n >= HIGH_IMPORTERS or facts.entry:
        return "high"
    return "medium" if n >= 2 else "low"


def feature_role(facts: FileFacts) -> str:
    if is_test(facts.path):
        return "test"
    if facts.entry:
        return "entry_point"
    return "service" if facts.imported_by else "module"


def feature_of(path: str, top_package: str | None) -> str | None:
    """The first folder that names something: past `src/`-like folders and past the one
    package that holds most of the code; None for a file at the root."""
    folders = path.split("/")[:-1]
    while folders and folders[0].lower() in _GENERIC_FOLDERS:
        folders = folders[1:]
    if folders and folders[0] == top_package and len(folders) > 1:
        folders = folders[1:]
    return folders[0] if folders else None


def tags_of(path: str, language: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*path.split("/")[:-1], *([language] if language else [])]))


def related_files(facts: FileFacts) -> list[str]:
    return _union(facts.imports[:MAX_LINKS], facts.imported_by[:MAX_LINKS])


# -- sections -----------------------------------------------------------------------------


def purpose_text(facts: FileFacts) -> str | None:
    """The module docstring or leading comment (not a licence header); otherwise one
    sentence naming what it defines; None when neither says anything."""
    said = leading_text(facts.text, facts.language)
    if said:
        return _markdown_safe(said)
    kinds: dict[str, list[str]] = {}
    for node in facts.outline:
        if _public(node.symbol.name):
            kinds.setdefault(node.symbol.kind, []).append(f"`{node.symbol.name}`")
    if not kinds:
        return None
    parts = []
    for kind, names in kinds.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        parts.append(f"the {_plural(kind, len(names))} {shown}")
    return f"Defines {'; '.join(parts)}."


def leading_text(text: str, language: str | None) -> str | None:
    """The module docstring (Python), else the first leading comment block that is not a
    licence header; None when the file starts with code."""
    if language == "python":
        match = _PY_DOCSTRING.match(text)
        if match:
            return _paragraphs(_dedent(match.group(2)))
    body = text.split("\n", 1)[1] if text.startswith("#!") and "\n" in text else text
    for block in _leading_comments(body, _line_comment(language)):
        if block and not _LICENSE.search(block):
            return _paragraphs(block)
    return None


def _line_comment(language: str | None) -> re.Pattern[str]:
    marks = ["//+!?"]
    if language not in _NO_HASH_COMMENTS:
        marks.append("#+!?")
    if language in _DASH_COMMENTS:
        marks.append("--")
    return re.compile(rf"^\s*(?:{'|'.join(marks)})[ \t]?(.*)$")


def _leading_comments(body: str, line_comment: re.Pattern[str]) -> Iterator[str]:
    """Each comment block before the first line of code: `/* */` blocks and runs of line
    comments, their markers taken off."""
    while True:
        body = body.lstrip()
        block = _BLOCK_COMMENT.match(body)
        if block:
            inner = (re.sub(r"^\s*\*+ ?", "", line) for line in block.group(1).split("\n"))
            yield "\n".join(inner).strip()
            body = body[block.end() :]
            continue
        lines = body.split("\n")
        run: list[str] = []
        for line in lines:
            match = line_comment.match(line)
            if match is None:
                break
            run.append(match.group(1))
        if not run:
            return
        yield "\n".join(run).strip()
        body = "\n".join(lines[len(run) :])


def _dedent(text: str) -> str:
    first, _, rest = text.partition("\n")
    return (first.strip() + "\n" + textwrap.dedent(rest)).strip()


def _paragraphs(text: str) -> str | None:
    kept: list[str] = []
    size = 0
    for para in re.split(r"\n\s*\n", text.strip()):
        para = para.strip()
        if not para:
            continue
        if kept and size + len(para) > PURPOSE_CHARS:
            break
        kept.append(para)
        size += len(para)
    out = "\n\n".join(kept)
    if len(out) > PURPOSE_CHARS:
        out = out[: PURPOSE_CHARS - 1].rstrip() + "…"
    return out or None


def _markdown_safe(text: str) -> str:
    """A docstring must not open a section, a fence or a front-matter break."""
    return _MD_SPECIAL.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)


def architecture_text(facts: FileFacts, *, intro: bool = True) -> str | None:
    """The outline, the ways in, what it depends on and what depends on it; `intro`
    introduces the outline (not needed under a heading `## Outline`)."""
    lines: list[str] = []
    outline = list(_outline_lines(facts.outline, 0))
    if outline:
        if intro:
            lines.append("Outline (from the symbol index):")
        lines += outline[:MAX_OUTLINE]
        if len(outline) > MAX_OUTLINE:
            left = len(outline) - MAX_OUTLINE
            lines.append(f"- … and {left} more (`context-bot outline {facts.path}`)")
    if facts.entry:
        lines.append("")
        lines.append("A way in, declared by: " + "; ".join(facts.entry) + ".")
    for label, paths in (
        ("Depends on", [*facts.imports, *facts.packages]),
        ("Used by", facts.imported_by),
    ):
        if paths:
            shown = ", ".join(f"`{p}`" for p in paths[:MAX_LINKS])
            more = f" and {len(paths) - MAX_LINKS} more" if len(paths) > MAX_LINKS else ""
            lines.append("")
            lines.append(f"{label}: {shown}{more}.")
    return "\n".join(lines).strip() or None


def _outline_lines(nodes: Iterable[OutlineNode], depth: int) -> Iterable[str]:
    for node in nodes:
        s = node.symbol
        if not _public(s.name) or (depth and s.kind in ("variable", "field")):
            continue
        doc = f": {s.doc}" if s.doc else ""
        signature = redact_assignment(s.name, s.kind, s.signature).replace("`", "'")
        yield f"{'  ' * depth}- `{signature}` (line {s.line}){_markdown_line(doc)}"
        if s.kind not in ("function", "method", "constructor"):
            yield from _outline_lines(node.children, depth + 1)


def _markdown_line(text: str) -> str:
    return text.replace("\n", " ")


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def gotchas_text(facts: FileFacts) -> str | None:
    found: list[str] = []
    for number, line in enumerate(facts.text.split("\n"), 1):
        match = _GOTCHA.search(line)
        if match:
            note = f"{match.group(1).upper()}: {match.group(2).strip().rstrip('*/ ').strip()}"
        elif _DEPRECATED.search(line):
            note = "deprecated: " + line.strip()
        else:
            continue
        note = note.rstrip(": ").replace("`", "'")
        if len(note) > GOTCHA_CHARS:
            note = note[: GOTCHA_CHARS - 1] + "…"
        found.append(f"- Line {number}: `{note}`")
        if len(found) >= MAX_GOTCHAS:
            break
    return "\n".join(found) or None


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return kind
    return {"class": "classes", "struct": "structs"}.get(kind, kind + "s")


def document_name(path: str) -> str:
    """Where draft puts a new file's document inside the knowledge folder."""
    return posixpath.normpath(path) + ".md"

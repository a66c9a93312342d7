"""Which documents `draft` writes, and what it knows about each file: one read of the repo.

The rule for which files are *source files* (each should have a document; `check --stale`
counts those without one as missing) lives here, once: a text file the inventory lists,
outside the knowledge folder, in a programming or configuration language, not empty, not
larger than MAX_SOURCE_BYTES, not a lock file, not minified, and not under a vendored or
generated folder (`node_modules/`, `vendor/`, `dist/`, `build/`, ...).

For each file under the given paths: no document and a source file → `create` (at
`knowledge/<path>.md`); a current document → nothing; a stale one → `rewrite` when draft
wrote it, `refresh` when someone else did (`drafting.refresh_document`), and nothing when a
person verified it (`humanVerified: true`: reported, never touched). Staleness is the
loader's own (`loading.choose_versions`), so `check` and `draft` never disagree.

Blocking (reads every text file once, runs git): call it from the CLI or a worker thread.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from context_bot.knowledge.codemap import entry_points, import_graph
from context_bot.knowledge.documents import Document
from context_bot.knowledge.drafting import (
    DRAFT_MARK,
    FileFacts,
    document_name,
    draft_document,
    feature_of,
    leading_text,
    refresh_document,
    tags_of,
)
from context_bot.knowledge.generated import vendored_or_generated
from context_bot.knowledge.inventory import build_inventory
from context_bot.knowledge.loading import choose_versions, read_folder
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.paths import check_relative
from context_bot.knowledge.sandbox import RepoFiles, worktree_blob
from context_bot.knowledge.search import code_rows
from context_bot.knowledge.symbols import build_symbols

#: Source files larger than this get no document (generated tables, bundles, data).
MAX_SOURCE_BYTES = 256 * 1024
#: The inventory's languages (identify's names) whose files are source files.
SOURCE_LANGUAGES = frozenset(
    [
        "python",
        "javascript",
        "typescript",
        "go",
        "rust",
        "java",
        "kotlin",
        "scala",
        "swift",
        "c",
        "c++",
        "c#",
        "objective-c",
        "ruby",
        "php",
        "perl",
        "lua",
        "r",
        "dart",
        "elixir",
        "erlang",
        "haskell",
        "ocaml",
        "clojure",
        "zig",
        "nim",
        "julia",
        "groovy",
        "shell",
        "powershell",
        "sql",
        "html",
        "css",
        "scss",
        "less",
        "vue",
        "svelte",
        "toml",
        "yaml",
        "ini",
        "pyproject",
        "dockerfile",
        "makefile",
        "cmake",
        "terraform",
        "proto",
        "graphql",
    ]
)
#: Dependency lock files: written by tools, never read by people.
LOCK_FILES = frozenset(
    [
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Pipfile.lock",
        "Cargo.lock",
        "go.sum",
        "uv.lock",
        "Gemfile.lock",
        "composer.lock",
        "pdm.lock",
        "bun.lockb",
    ]
)
Action = Literal["create", "rewrite", "refresh"]


def is_source(f: RepoFile, knowledge_folder: str | None) -> bool:
    """Whether `f` should have a knowledge document (the module docstring has the rule)."""
    if f.binary or f.language not in SOURCE_LANGUAGES or not 0 < f.size <= MAX_SOURCE_BYTES:
        return False
    if knowledge_folder is not None and (
        knowledge_folder == "" or f.path.startswith(f"{knowledge_folder}/")
    ):
        return False
    return posixpath.basename(f.path) not in LOCK_FILES and not vendored_or_generated(f.path)


@dataclass(frozen=True)
class Change:
    """One document to write: the file it describes, its name in the knowledge folder, why,
    its text now (None when new) and its text to be."""

    path: str
    name: str
    action: Action
    old: str | None
    new: str
    facts: FileFacts


@dataclass
class DraftPlan:
    changes: list[Change] = field(default_factory=list)
    verified: list[tuple[str, str]] = field(default_factory=list)
    """(file, document) stale but `humanVerified: true`: kept as written, reported."""
    orphans: list[str] = field(default_factory=list)
    """Documents whose file is gone: left alone, reported."""
    conflicts: list[str] = field(default_factory=list)
    """Files whose document name is taken by another document: not written, reported."""
    current: int = 0
    """Files under the paths whose document is current."""
    summaries: dict[str, str] = field(default_factory=dict)
    """Each neighbour (import or importer) of a file to write → one line on what it is: its
    document's Purpose, else its docstring or leading comment (the model writer's context)."""

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)


def plan_drafts(
    repo: Path, knowledge_dir: Path, stamp: str, paths: Sequence[str] = ()
) -> DraftPlan:
    """What `draft` would write for the files under `paths` (all files when empty), with
    `stamp` as `lastUpdated`. Raises InvalidPath for a path that is not repository-relative."""
    wanted = [check_relative(p) for p in paths]
    files = RepoFiles(repo)
    root = files.root
    inventory = build_inventory(files)
    folder = knowledge_folder(knowledge_dir, root)
    docs = read_folder(knowledge_dir, files=files)[0] if knowledge_dir.is_dir() else []
    groups: dict[str, list[Document]] = defaultdict(list)
    for doc in docs:
        if doc.file_path:
            groups[doc.file_path].append(doc)
    choices = choose_versions(groups, root)
    names = {doc.source for doc in docs}
    outside = [f for f in inventory.files if folder is None or not _under(f.path, folder)]
    plan, targets = _targets(outside, wanted, choices, names, folder)
    plan.orphans = sorted(
        choices[p][0].source
        for p in choices
        if choices[p][2] == "file_missing" and p not in inventory
    )
    if not targets:
        return plan  # nothing to write: no file needs reading
    rows = code_rows(outside, files)
    texts = {
        e.path: (e.language, t)
        for e, t in zip(rows.entries, rows.texts, strict=True)
        if e.skipped is None
    }
    triples = sorted((p, lang, t) for p, (lang, t) in texts.items())
    importers = import_graph(triples)
    imports: dict[str, set[str]] = defaultdict(set)
    for target, sources in importers.items():
        for source in sources:
            imports[source].add(target)
    entries = _entries(entry_points(triples), set(texts))
    top = _top_package(f.path for f in outside if is_source(f, folder))
    drafted = {f.path for f, _, _ in targets}
    symbols = build_symbols(
        (p, texts[p][0], texts[p][1], None) for p in sorted(drafted) if p in texts
    )
    for f, _, _ in targets:
        for near in (*imports.get(f.path, ()), *importers.get(f.path, ())):
            if near not in plan.summaries:
                plan.summaries[near] = _summary(near, choices, texts)
    for f, action, existing in targets:
        blob = worktree_blob(root, f.path)
        if blob is None:
            continue
        language, text = texts.get(f.path, (f.language, ""))
        facts = FileFacts(
            path=f.path,
            language=language,
            text=text,
            blob=blob,
            outline=tuple(symbols.outline(f.path)),
            imports=tuple(sorted(p for p in imports.get(f.path, ()) if not p.endswith("/"))),
            imported_by=tuple(sorted(_importers(f.path, importers))),
            packages=tuple(sorted(p for p in imports.get(f.path, ()) if p.endswith("/"))),
            entry=tuple(entries.get(f.path, ())),
            feature=feature_of(f.path, top),
            tags=tags_of(f.path, language),
        )
        if existing is None:
            new = draft_document(facts, stamp)
            plan.changes.append(Change(f.path, document_name(f.path), action, None, new, facts))
        else:
            new = (
                draft_document(facts, stamp)
                if action == "rewrite"
                else refresh_document(existing, facts, stamp)
            )
            change = Change(f.path, existing.source, action, existing.text, new, facts)
            plan.changes.append(change)
    return plan


def _targets(
    outside: list[RepoFile],
    wanted: list[str],
    choices: dict[str, tuple[Document, bool, str | None, str | None]],
    names: set[str],
    folder: str | None,
) -> tuple[DraftPlan, list[tuple[RepoFile, Action, Document | None]]]:
    """Which files under `wanted` get a document (new, rewritten or refreshed), and the
    plan's counts of the rest (current, verified, name taken)."""
    plan = DraftPlan()
    targets: list[tuple[RepoFile, Action, Document | None]] = []
    for f in outside:
        if wanted and not any(_under(f.path, w) or f.path == w for w in wanted):
            continue
        choice = choices.get(f.path)
        if choice is None:
            if not is_source(f, folder):
                continue
            if document_name(f.path) in names:
                plan.conflicts.append(f.path)
            else:
                targets.append((f, "create", None))
            continue
        served, stale, reason, _ = choice
        if not stale:
            plan.current += 1
        elif served.human_verified:
            plan.verified.append((f.path, served.source))
        elif reason == "no_matching_version":
            mine = (served.extracted_by or "").startswith(DRAFT_MARK)
            targets.append((f, "rewrite" if mine else "refresh", served))
    return plan, targets


def _summary(
    path: str,
    choices: dict[str, tuple[Document, bool, str | None, str | None]],
    texts: dict[str, tuple[str | None, str]],
) -> str:
    """The first line of the file's document's Purpose, else of its leading text."""
    purpose = choices[path][0].section("Purpose") if path in choices else None
    if purpose is not None:
        said: str | None = purpose.body
    else:
        language, text = texts.get(path, (None, ""))
        said = leading_text(text, language)
    return (said or "").strip().split("\n", 1)[0]


def knowledge_folder(knowledge_dir: Path, root: Path) -> str | None:
    """The knowledge folder relative to the repository ("" for the root itself), or None
    when it is elsewhere."""
    try:
        rel = knowledge_dir.resolve().relative_to(root)
    except (ValueError, OSError, RuntimeError):
        return None
    return rel.as_posix() if rel.parts else ""


def _under(path: str, folder: str) -> bool:
    return folder == "" or path.startswith(f"{folder}/")


def _importers(path: str, importers: dict[str, set[str]]) -> set[str]:
    """Files importing this one, and for a Go file, files importing its package."""
    found = set(importers.get(path, ()))
    if path.endswith(".go"):
        folder = posixpath.dirname(path)
        found |= importers.get(f"{folder}/" if folder else "./", set())
    found.discard(path)
    return found


_BACKTICKED = re.compile(r"`([^`]+)`")
_DECLARERS = frozenset(
    [
        "pyproject.toml",
        "setup.cfg",
        "package.json",
        "Procfile",
        "Dockerfile",
        "Makefile",
        "makefile",
        "GNUmakefile",
    ]
)


def _entries(lines: Iterable[str], paths: set[str]) -> dict[str, list[str]]:
    """File → the entry-point declarations (codemap's lines) naming it: as a path, or as a
    Python `module:function` target."""
    modules: dict[str, str] = {}
    for p in paths:
        if p.endswith(".py"):
            dotted = p[:-3].removesuffix("/__init__").replace("/", ".")
            modules.setdefault(dotted, p)
            modules.setdefault(dotted.removeprefix("src."), p)
    found: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        tokens = _BACKTICKED.findall(line)
        if tokens and posixpath.basename(tokens[0]) in _DECLARERS:
            tokens = tokens[1:]  # the file that declares the way in, not the way in
        for token in tokens:
            target = token if token in paths else modules.get(token.split(":", 1)[0].strip())
            if target is not None and line not in found[target]:
                found[target].append(line)
    return found


def _top_package(paths: Iterable[str]) -> str | None:
    """The top folder holding more than half the source files that are not tests, docs or
    tooling (the project's own package), if any: its name says nothing about a feature."""
    tops = Counter(
        p.split("/", 1)[0] for p in paths if "/" in p and p.split("/", 1)[0] not in _NOT_PACKAGES
    )
    total = sum(tops.values())
    if not tops:
        return None
    name, count = tops.most_common(1)[0]
    return name if count * 2 > total else None


_NOT_PACKAGES = frozenset(
    [
        "test",
        "tests",
        "spec",
        "__tests__",
        "docs",
        "doc",
        "examples",
        "example",
        "benchmarks",
        "bench",
        "scripts",
        "tools",
    ]
)

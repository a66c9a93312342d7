"""The onboarding overview: one Markdown text a newcomer (person or agent) gets on joining.

It is built once per knowledge version from what loading computed, never per request, and
always fits a byte budget (UTF-8): the first message in a room must be small enough to
arrive at once and be read by an agent without blowing its context. Sections get a share
of the budget in priority order, leftovers go to whoever still has items, and the text ends
by saying what it left out. The output depends only on its input: no clocks, no ordering
from dicts or sets.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from context_bot.errors import FileError
from context_bot.knowledge.codemap import ROOT_PACKAGE, CodeMap
from context_bot.knowledge.filecounts import FileCounts, count_files
from context_bot.knowledge.model import Feature, FeatureFile, RepoFile, ServedDocument

if TYPE_CHECKING:
    from context_bot.knowledge.sandbox import RepoFiles

#: Default size of the overview, in UTF-8 bytes.
DEFAULT_BUDGET = 32_000
#: Share of the budget each section may take in the first pass, in priority order.
#: The sections from the code (entry points, central files, languages, recent activity)
#: come after the documents' and share what they leave: with documents, theirs come first.
SHARES = {
    "features": 0.22,
    "important": 0.18,
    "flows": 0.14,
    "gotchas": 0.16,
    "tree": 0.14,
    "guides": 0.08,
    "entry": 0.07,
    "central": 0.07,
    "activity": 0.05,
    "languages": 0.03,
}
ORDER = (
    "features",
    "flows",
    "important",
    "entry",
    "central",
    "tree",
    "languages",
    "activity",
    "gotchas",
    "guides",
)
TITLES = {
    "features": "Features",
    "flows": "User flows",
    "important": "Most important files",
    "tree": "Layout",
    "gotchas": "Gotchas",
    "guides": "Guides and API notes",
    "entry": "Entry points",
    "central": "Central files",
    "languages": "Languages",
    "activity": "Recent activity",
}
ASK_LINE = (
    "Ask for more in the room: `file` (a path: its knowledge and source), `search` (words), "
    "`list` (a folder), `feature` (a name), `overview` (this text again)."
)
_SNIPPET_CHARS = 160


def _role(role: str | None) -> str:
    return (role or "").strip().lower().replace("-", "_").replace(" ", "_")


def build_features(served: Iterable[ServedDocument]) -> tuple[Feature, ...]:
    """Group served file documents by their `feature` field, sorted by name."""
    files: dict[str, list[FeatureFile]] = defaultdict(list)
    flows: dict[str, dict[str, None]] = defaultdict(dict)
    for doc in sorted(served, key=lambda d: d.path):
        name = doc.document.feature
        if doc.kind != "file" or not name:
            continue
        files[name].append(FeatureFile(doc.path, doc.document.feature_role))
        for flow in doc.document.user_flows:
            flows[name].setdefault(flow, None)
    out = []
    for name in sorted(files):
        roles = [(f.path, _role(f.role)) for f in files[name]]
        entry = tuple(p for p, r in roles if r == "entry_point")
        services = tuple(p for p, r in roles if r == "service")
        out.append(Feature(name, tuple(files[name]), tuple(flows[name]), entry, services))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class OverviewInput:
    repo_name: str
    revision: str | None
    readme: str | None
    files: tuple[ServedDocument, ...]
    free: tuple[ServedDocument, ...]
    features: tuple[Feature, ...]
    knowledge_version: str
    diagnostics: int
    inventory: tuple[RepoFile, ...] = ()  # every file of the repository, by path
    codemap: CodeMap | None = None  # what the code says: entry points, imports, history
    most_used: Mapping[str, Sequence[tuple[str, int]]] = field(default_factory=dict)
    """Per central file, its most used top-level names and their use counts
    (`SymbolIndex.most_used`), named in the central files' section."""
    counts: FileCounts | None = None
    """`count_files` of `inventory` and the documented paths, when the caller kept them
    (a live reload patches the last ones); None: counted here."""


class _Feed:
    """One section's lines, produced lazily in rank order: a 32 kB overview of 10,000 files
    shows a few hundred lines, so only those are ever formatted."""

    def __init__(self, total: int, lines: Iterator[str], order: list[str] | None = None) -> None:
        self.total = total
        self.taken: list[str] = []
        self.used = 0
        self._lines = lines
        self._next: str | None = None
        self._order = order  # sort keys of the lines, when shown in another order than taken
        self._keys: list[str] = []

    def peek(self) -> str | None:
        if self._next is None:
            self._next = next(self._lines, None)
        return self._next

    def take(self, cost: int) -> None:
        if self._next is not None:
            if self._order is not None:
                self._keys.append(self._order[len(self.taken)])
            self.taken.append(self._next)
            self.used += cost
            self._next = None

    def shown(self) -> list[str]:
        if self._order is None:
            return self.taken
        return [line for _, line in sorted(zip(self._keys, self.taken, strict=True))]


def read_readme(files: RepoFiles) -> str | None:
    """The repository README's text (first 64 KiB), if there is one at the root.

    Read through the same gate as a participant's `file` request (deny-list, ignore rules,
    inside the root, a regular text file): everyone in a room gets the overview, so a
    README that is a symlink to `.env`, or is git-ignored, must never be quoted."""
    try:
        names = {p.name.lower(): p.name for p in files.root.iterdir()}
    except OSError:
        return None
    for wanted in ("readme.md", "readme", "readme.txt", "readme.rst"):
        if wanted in names:
            try:
                return files.read_sync(names[wanted]).text[:65_536]
            except FileError:
                continue  # not served to a participant, so not quoted either
    return None


def repo_title(root: Path, readme: str | None, manifest: str | None = None) -> str:
    """The README's first `# ` heading when it names the project; else the name its
    manifest declares (`manifest_name`: fastapi's README opens with HTML, its
    `pyproject.toml` says `fastapi`); else the folder's name, which for a clone can be
    anything (CI clones into `fresh/`, a source archive unpacks into `repo/`)."""
    lines = (readme or "").splitlines()[:20]
    for n, line in enumerate(lines):
        heading = line[2:] if line.startswith("# ") else line if _underlined(lines, n) else None
        if heading is not None and 0 < len(title := heading_text(heading)) <= 60:
            return title
        if _prose(line):
            break  # a heading after the opening text is a section's ("# Overview"), not a name
    return manifest or root.name


_MANIFEST_NAME = (
    ("pyproject.toml", re.compile(r'^name\s*=\s*"([^"]{1,60})"', re.M)),
    ("package.json", re.compile(r'^\s{0,4}"name"\s*:\s*"([^"]{1,60})"', re.M)),
    ("Cargo.toml", re.compile(r'^name\s*=\s*"([^"]{1,60})"', re.M)),
    ("go.mod", re.compile(r"^module\s+\S*?([^/\s]{1,60})\s*$", re.M)),
)


def manifest_name(files: RepoFiles) -> str | None:
    """The name the repository's manifest at its root declares (`pyproject.toml`,
    `package.json`, `Cargo.toml`, `go.mod`), read through the gate of a `file` request;
    None when there is none."""
    for path, pattern in _MANIFEST_NAME:
        try:
            text = files.read_sync(path).text[:16_384]
        except FileError:
            continue
        found = pattern.search(text)
        if found is not None:
            return found.group(1)
    return None


_BADGE = re.compile(
    r"\[!\[[^\]]*\](?:\[[^\]]*\]|\([^)]*\))?\](?:\[[^\]]*\]|\([^)]*\))"  # a linked image
    r"|!\[[^\]]*\](?:\[[^\]]*\]|\([^)]*\))?"  # an image (`![alt]` refers to a definition)
    r"|<[^>]*>|&#?\w+;"  # HTML: a tag, an entity
)
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # Markdown's and reStructuredText's escapes


def heading_text(heading: str) -> str:
    """A README heading as words: badges, images, HTML and escapes taken out
    (`# Serde JSON &emsp; [![Build Status]][actions]` is "Serde JSON", `\\$ click\\_` is
    "$ click_")."""
    return " ".join(_ESCAPED.sub(r"\1", _BADGE.sub(" ", heading)).split())


def _prose(line: str) -> bool:
    """Whether a README line is running text, not a badge, image, HTML or markup line."""
    text = line.strip()
    return bool(text) and text[0].isalnum() and " " in text


def _underlined(lines: list[str], n: int) -> bool:
    """Whether line `n` is a title underlined by the next: Markdown's setext heading (a
    line of `=` or `-` of any length: hashicorp/raft's README opens with a title and its
    badge over `====`) or reStructuredText's (`===`, `***`, `~~~`… as long as the title)."""
    nxt = lines[n + 1].strip() if n + 1 < len(lines) else ""
    title = lines[n].strip()
    if not title or len(nxt) < 2 or len(set(nxt)) != 1 or title[0] in "-=*|":
        return False
    return nxt[0] in "=-" or (nxt[0] in "*~#^" and len(nxt) >= max(len(title), 3))


def build_overview(data: OverviewInput, *, budget: int = DEFAULT_BUDGET) -> str:
    """The overview Markdown, at most `budget` UTF-8 bytes."""
    files = sorted(data.files, key=lambda d: d.path)
    ranked = sorted(files, key=_rank)
    counts = data.counts or count_files(data.inventory, (d.path for d in files))
    head = _head(data, files, ranked, counts)
    tail = ["", "## Asking for more", ASK_LINE]
    guides = sorted(data.free, key=lambda d: d.path)
    flows = _flows(files)
    tree = _with_top_level(counts.tree(), counts.files)
    code = data.codemap or CodeMap()
    languages = _languages(counts)
    # A plain substring test first: parsing every document's sections would cost more than
    # the rest of the overview at 10,000 files.
    with_gotchas = [d for d in ranked if _GOTCHAS in d.text or _GOTCHAS_LOW in d.text]
    # Whether the central files' section names their top-level names (not in a language
    # the symbol index does not parse: okhttp's Kotlin).
    named = any(data.most_used.get(c.path) for c in code.central)
    feeds = {
        "features": _Feed(len(data.features), _feature_items(data.features)),
        "flows": _Feed(len(flows), _flow_items(flows)),
        "important": _Feed(len(ranked), _important_items(ranked)),
        # Shown depth-first, compared by path component: as plain strings `pkg.egg-info`
        # sorts between `pkg` and `pkg/include` ('.' < '/'), and the indented list put
        # pybind11's `include/` under its egg-info.
        "tree": _Feed(len(tree), _tree_items(tree), [path.replace("/", "\0") for path, _ in tree]),
        "gotchas": _Feed(len(with_gotchas), _gotcha_items(with_gotchas)),
        "guides": _Feed(len(guides), (f"- `{d.path}` — {d.document.title}" for d in guides)),
        "entry": _Feed(len(code.entry_points), (f"- {e}" for e in code.entry_points)),
        "central": _Feed(len(code.central), _central_items(code, data.most_used)),
        "languages": _Feed(len(languages), iter(languages)),
        "activity": _Feed(len(code.recent), _activity_items(code)),
    }
    worst = _left_line(budget, {k: f.total for k, f in feeds.items()})
    room = budget - _size(head) - _size(tail) - _line_size(worst)
    used = 0
    for final_pass in (False, True):
        for key in sorted(SHARES, key=lambda k: -SHARES[k]):
            feed, cap = feeds[key], room if final_pass else int(room * SHARES[key])
            while (line := feed.peek()) is not None:
                heading = 4 + len(TITLES[key].encode()) + _size(_intro(key, code, named))
                cost = _line_size(line) + (0 if feed.taken else heading)
                if used + cost > room or (not final_pass and feed.used + cost > cap):
                    break
                used += cost
                feed.take(cost)
    body: list[str] = []
    for key in ORDER:
        if feeds[key].taken:
            body += ["", f"## {TITLES[key]}", *_intro(key, code, named), *feeds[key].shown()]
    left = {k: f.total - len(f.taken) for k, f in feeds.items() if len(f.taken) < f.total}
    if left:
        tail.append(_left_line(budget, left))
    return _fit("\n".join([*head, *body, *tail]) + "\n", budget)


def _left_line(budget: int, left: dict[str, int]) -> str:
    parts = ", ".join(f"{n} {TITLES[k].lower()} entries" for k, n in left.items())
    return f"_Left out to fit {budget} bytes: {parts}. Use `search`, `list` or `feature`._"


def _head(
    data: OverviewInput,
    files: list[ServedDocument],
    ranked: list[ServedDocument],
    counts: FileCounts,
) -> list[str]:
    stale = [d for d in ranked if d.stale]  # most important first
    by_match = {m: sum(1 for d in files if d.version_match == m) for m in ("blob", "commit")}
    missing = sum(1 for d in stale if d.stale_reason == "file_missing")
    rev = f"`{data.revision[:12]}`" if data.revision else "unknown (not a git checkout)"
    lines = [
        f"# {data.repo_name}: onboarding overview",
        "",
        f"Revision {rev} · knowledge `{data.knowledge_version}` · "
        f"{_count(len(files), 'file')} documented · {_count(len(data.free), 'guide')} · "
        f"{_count(len(data.features), 'feature')}",
        "",
        "## What this product does",
        _product(data),
        *_coverage(data, files, counts),
        "",
        "## Freshness",
        f"{len(files) - len(stale)} of {len(files)} file documents match the working tree "
        f"({by_match['blob']} by blob id, {by_match['commit']} by commit); {len(stale)} stale "
        f"({missing} for files that no longer exist). A stale document was written for "
        "another version of its file: check it against the source.",
    ]
    if stale:
        shown = ", ".join(f"`{d.path}`" for d in stale[:5])
        lines.append(f"Stale, most important first: {shown}{' …' if len(stale) > 5 else ''}")
    if not files and data.inventory:
        lines = lines[: lines.index("## Freshness") - 1]  # nothing to be fresh or stale
    if data.diagnostics:
        lines.append(f"{_count(data.diagnostics, 'problem')} found in the knowledge folder.")
    return lines


def _product(data: OverviewInput) -> str:
    if data.readme:
        paragraph = first_paragraph(data.readme)
        if paragraph:
            return _clip(paragraph, 700)
    for doc in sorted(data.free, key=lambda d: d.path):
        paragraph = first_paragraph(doc.text)
        if paragraph:
            return f"From `{doc.path}`: {_clip(paragraph, 500)}"
    if data.features:
        return "No README or guide describes the product yet; see the features below."
    # A source archive (a Maven sources jar, okhttp's) has no README, and no documents.
    return "No README or guide describes the product yet: the sections below come from the code."


_LINK_DEFINITION = re.compile(r"\[[^\]]+\]:\s*\S")
_MD_LINK = re.compile(r"\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])")
_NAV_MARKS = " \t|·•-–—/,"
"""What separates the links of a navigation bar (eslint's README: `[Website](…) |`)."""
_HTML_LINK = re.compile(r"<a\b[^>]*>.*?</a>", re.I)
_LABEL = re.compile(r"^[*_]*[\w ]{1,24}[*_]*:$")


def _links_only(line: str) -> bool:
    """Whether a README line is links and their separators (eslint's `[Website](…) |`),
    or a label and its link (fastapi's `**Documentation**: <a href=…>…</a>`): no
    opening, however it starts."""
    rest = _HTML_LINK.sub("", _MD_LINK.sub("", line)).strip(_NAV_MARKS)
    return not rest or (rest != line.strip() and bool(_LABEL.match(rest)))


_HTML_TAG = re.compile(r"<(!--|/?[A-Za-z][A-Za-z0-9-]*(\s|/?>|$))")
"""An HTML line (`<p align=center>`, `</div>`, `<!-- -->`), not the `<https://…>` of an
rST link that wrapped onto its own line (python-lz4's README opens so)."""
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>`]+>`__?")
_RST_LITERAL = re.compile(r"``([^`]+)``")


def first_paragraph(text: str) -> str:
    """The first run of prose lines: skips front-matter, headings, badges, HTML, code."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        lines = lines[end + 1 :]
    out: list[str] = []
    fence = False
    for n, line in enumerate(lines):
        s = line.strip()
        if s.startswith(("```", "~~~")):
            fence = not fence
            continue
        skip = fence or s.startswith(("#", "![", "[![", "|", "---", "===")) or not s
        skip = skip or bool(_HTML_TAG.match(s))
        skip = skip or bool(_LINK_DEFINITION.match(s))  # `[label]: https://…`
        skip = skip or _links_only(s)  # a bar of links, or a label and its link
        skip = skip or _underlined(lines, n) or (n > 0 and _underlined(lines, n - 1))
        skip = skip or s.startswith((".. ", ":"))  # rST
        if skip:
            if out:
                break
            continue
        out.append(s)
    else:
        n = len(lines)
    if out and out[-1].endswith(":"):  # "It is:" and a list (tokio's README): its items
        out += _list_items(lines[n:])
    # rST's inline markup read as Markdown would show its syntax: a link is its text.
    return _RST_LITERAL.sub(r"`\1`", _RST_LINK.sub(r"\1", " ".join(out)))


_LIST_ITEM = re.compile(r"^\s{0,3}(?:[*+-]|\d{1,3}[.)])\s+(.*)")


def _list_items(lines: list[str]) -> list[str]:
    """The items of the list that `lines` open with (blank lines between items allowed,
    an item's wrapped lines joined), each ended with ";" but the last with "."; [] when
    they open with no list."""
    items: list[str] = []
    for line in lines:
        item = _LIST_ITEM.match(line)
        if item is not None:
            items.append(item.group(1).strip())
        elif not line.strip():
            continue  # between items, or before the list
        elif items and line[:1].isspace():
            items[-1] += " " + line.strip()  # the item's wrapped line
        else:
            break
    ends = [";"] * (len(items) - 1) + ["."]
    return [item.rstrip(".;,") + end for item, end in zip(items, ends, strict=False)]


def _feature_items(features: tuple[Feature, ...]) -> Iterator[str]:
    for f in sorted(features, key=lambda f: (-len(f.files), f.name)):
        parts = [f"- **{f.name}** ({_count(len(f.files), 'file')})"]
        if f.entry_points:
            parts.append("entry points " + _paths(f.entry_points))
        if f.services:
            parts.append("services " + _paths(f.services))
        if not f.entry_points and not f.services:
            parts.append("files " + _paths(tuple(x.path for x in f.files)))
        yield "; ".join(parts)


def _flows(files: list[ServedDocument]) -> list[tuple[str, list[str]]]:
    """Each user flow with the files that serve it, most files first."""
    flows: dict[str, dict[str, None]] = defaultdict(dict)  # dicts: ordered, O(1) dedupe
    for doc in files:
        for flow in doc.document.user_flows:
            flows[flow][doc.path] = None
    return sorted(((f, list(p)) for f, p in flows.items()), key=lambda kv: (-len(kv[1]), kv[0]))


def _flow_items(flows: list[tuple[str, list[str]]]) -> Iterator[str]:
    for flow, paths in flows:
        yield f"- {_clip(flow, 160)} → {_paths(tuple(paths))}"


def _rank(doc: ServedDocument) -> tuple[int, int, str]:
    """Most important first: importance level, then how many files link here, then path."""
    return (-doc.document.importance_rank, -len(doc.backlinks), doc.path)


def _important_items(ranked: list[ServedDocument]) -> Iterator[str]:
    for doc in ranked:
        d = doc.document
        purpose = d.section("purpose")
        what = f" — {_clip(purpose.body, _SNIPPET_CHARS)}" if purpose else ""
        links = _count(len(doc.backlinks), "backlink")
        yield f"- `{doc.path}` ({d.importance or 'unrated'}, {links}){what}"


def _with_top_level(
    tree: list[tuple[str, tuple[int, int | None]]], files: int
) -> list[tuple[str, tuple[int, int | None]]]:
    """The tree with the files of no folder first (as ""): in a Go module or a small
    package the code is often all there, and a layout of folders alone hides it."""
    in_folders = sum(n for path, (n, _) in tree if "/" not in path)
    top = files - in_folders
    return [("", (top, None)), *tree] if top > 0 else tree


def _tree_items(counts: list[tuple[str, tuple[int, int | None]]]) -> Iterator[str]:
    for path, (n, documented) in counts:
        if not path:
            yield f"- top level: {_count(n, 'file')} in no folder"
            continue
        indent = "  " * path.count("/")
        of = "" if documented is None else f", {documented} documented"
        yield f"{indent}- {posixpath.basename(path)}/ ({_count(n, 'file')}{of})"


def _coverage(data: OverviewInput, files: list[ServedDocument], counts: FileCounts) -> list[str]:
    """How much of the source the documents cover, when the repository's files are known."""
    if not data.inventory:
        return []
    line = (
        f"{counts.covered} of {_count(counts.source, 'source file')} documented "
        f"({_count(counts.files, 'file')} in all, {counts.binary} binary)."
    )
    if not files:
        line += (
            " No knowledge documents: this overview is read from the code. `file` serves any "
            "file, `search` finds words in paths and code, `list` shows every folder."
        )
    return ["", "## Documentation coverage", line]


def _languages(counts: FileCounts) -> list[str]:
    """One line per language, most files first (text files of a known language)."""
    return [
        f"- {lang}: {_count(n, 'file')}, {_kib(size)}" for lang, n, size in counts.language_lines()
    ]


def _kib(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"


def _central_items(
    code: CodeMap, most_used: Mapping[str, Sequence[tuple[str, int]]]
) -> Iterator[str]:
    for c in code.central:
        if c.path == ROOT_PACKAGE:
            label = "the module's root package (the top level's `.go` files)"
        elif c.path.endswith("/"):
            label = f"`{c.path}` (a Go package)"
        else:
            label = f"`{c.path}`"
        parts = []
        if c.imported_by:
            parts.append(f"imported by {_count(c.imported_by, 'file')}")
        if c.changes and _history_tells(code):
            parts.append(f"changed in {c.changes} of the last {code.history_commits} commits")
        if c.uses:
            parts.append(f"its names used {c.uses} times")
        used = most_used.get(c.path, ())
        names = "; most used: " + ", ".join(f"`{n}` ({k})" for n, k in used) if used else ""
        yield f"- {label} — {', '.join(parts)}{names}"


def _history_tells(code: CodeMap) -> bool:
    """Whether how often files changed says anything: not in a history of one commit (a
    source archive committed whole, where every file "changed in 1 of the last 1")."""
    return code.history_commits > 1


def _activity_items(code: CodeMap) -> Iterator[str]:
    for c in code.recent:
        where = ", ".join(f"`{f}`" for f in c.folders[:4])
        more = f" and {len(c.folders) - 4} more" if len(c.folders) > 4 else ""
        touched = f" — {_count(c.files, 'file')} in {where}{more}" if c.files else ""
        yield f"- `{c.short}` {c.date} {_clip(c.subject, 120)}{touched}"


def _intro(key: str, code: CodeMap, names: bool = False) -> list[str]:
    """A line saying how a section from the code was made, so it is read as a heuristic."""
    if key == "central" and code.central and all(c.uses for c in code.central):
        # Neither imports nor history told them (`codemap.central_by_uses`).
        return ["_By how often other code uses the top-level names each file defines "
                "(counted by name, not type-resolved)._"]  # fmt: skip
    if key == "central":
        how = "what other files import most (a per-language scan)"
        if _history_tells(code):
            how += f", then what changed most often in the last {code.history_commits} commits"
        if names:
            how += "; the names are each file's top-level definitions used most, counted by name"
        return [f"_By {how}._"]
    return []


_GOTCHAS, _GOTCHAS_LOW = "\n## Gotchas", "\n## gotchas"


def _gotcha_items(docs: list[ServedDocument]) -> Iterator[str]:
    """One entry per file: its path, then at most two of its gotchas."""
    for doc in docs:
        section = doc.document.section("gotchas")
        if section is None:
            continue
        text = section.body
        bullets = [b.strip()[2:] for b in text.splitlines() if b.strip().startswith(("- ", "* "))]
        shown = [f"  - {_clip(b, 220)}" for b in (bullets or [text])[:2] if b.strip()]
        if shown:
            yield "\n".join([f"- `{doc.path}`", *shown])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _paths(paths: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(f"`{p}`" for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _line_size(line: str) -> int:
    return len(line.encode()) + 1


def _size(lines: list[str]) -> int:
    return sum(_line_size(x) for x in lines)


def _fit(text: str, budget: int) -> str:
    """Last resort for tiny budgets: cut at a character boundary and say so."""
    data = text.encode()
    if len(data) <= budget:
        return text
    note = "\n…(overview cut to fit the byte budget)\n".encode()
    keep = max(0, budget - len(note))
    return (
        data[:keep].decode("utf-8", "ignore") + note.decode()
        if budget > len(note)
        else data[:budget].decode("utf-8", "ignore")
    )

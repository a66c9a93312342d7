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
from collections.abc import Iterable
from dataclasses import dataclass

from context_bot.documents import ServedDocument

#: Default size of the overview, in UTF-8 bytes.
DEFAULT_BUDGET = 32_000
#: Depth of the folder tree shown (1 = top-level folders only).
TREE_DEPTH = 3
#: Share of the budget each section may take in the first pass, in priority order.
SHARES = {
    "features": 0.22,
    "important": 0.18,
    "flows": 0.14,
    "gotchas": 0.16,
    "tree": 0.14,
    "guides": 0.08,
}
ORDER = ("features", "flows", "important", "tree", "gotchas", "guides")
TITLES = {
    "features": "Features",
    "flows": "User flows",
    "important": "Most important files",
    "tree": "Layout",
    "gotchas": "Gotchas",
    "guides": "Guides and API notes",
}
ASK_LINE = (
    "Ask for more in the room: `file` (a path: its knowledge and source), `search` (words), "
    "`list` (a folder), `feature` (a name), `overview` (this text again)."
)
_SNIPPET_CHARS = 160


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

    @property
    def entry_points(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if _role(f.role) == "entry_point")

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files if _role(f.role) == "service")

    def to_wire(self) -> dict[str, object]:
        return {
            "name": self.name,
            "files": [f.to_wire() for f in self.files],
            "entry_points": list(self.entry_points),
            "services": list(self.services),
            "user_flows": list(self.user_flows),
        }


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
    return tuple(Feature(n, tuple(files[n]), tuple(flows[n])) for n in sorted(files))


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


def build_overview(data: OverviewInput, *, budget: int = DEFAULT_BUDGET) -> str:
    """The overview Markdown, at most `budget` UTF-8 bytes."""
    files = sorted(data.files, key=lambda d: d.path)
    head = _head(data, files)
    tail = ["", "## Asking for more", ASK_LINE]
    items = {
        "features": _feature_items(data.features),
        "flows": _flow_items(files),
        "important": _important_items(files),
        "tree": _tree_items(files),
        "gotchas": _gotcha_items(files),
        "guides": [
            f"- `{d.path}` — {d.document.title}" for d in sorted(data.free, key=lambda d: d.path)
        ],
    }
    fixed = _size(head) + _size(tail) + 200  # 200: room for the "left out" line
    room = budget - fixed
    taken: dict[str, int] = dict.fromkeys(ORDER, 0)
    headers = {k: 2 + len(TITLES[k].encode()) + 4 for k in ORDER}
    used = 0
    for final_pass in (False, True):
        for key in sorted(SHARES, key=lambda k: -SHARES[k]):
            cap = room if final_pass else int(room * SHARES[key])
            section_used = sum(_line_size(x) for x in items[key][: taken[key]])
            for item in items[key][taken[key] :]:
                cost = _line_size(item) + (headers[key] if taken[key] == 0 else 0)
                if used + cost > room or (not final_pass and section_used + cost > cap):
                    break
                used += cost
                section_used += cost
                taken[key] += 1
    body: list[str] = []
    for key in ORDER:
        if taken[key]:
            body += ["", f"## {TITLES[key]}", *items[key][: taken[key]]]
    left = [
        f"{len(items[k]) - taken[k]} {TITLES[k].lower()} lines"
        for k in ORDER
        if taken[k] < len(items[k])
    ]
    if left:
        tail.append(f"_Left out to fit {budget} bytes: {', '.join(left)}. Use `search` or `list`._")
    return _fit("\n".join([*head, *body, *tail]) + "\n", budget)


def _head(data: OverviewInput, files: list[ServedDocument]) -> list[str]:
    stale = [d for d in files if d.stale]
    rev = f"`{data.revision[:12]}`" if data.revision else "unknown (not a git checkout)"
    lines = [
        f"# {data.repo_name}: onboarding overview",
        "",
        f"Revision {rev} · knowledge `{data.knowledge_version}` · {len(files)} files documented, "
        f"{len(data.free)} guides, {len(data.features)} features.",
        "",
        "## What this product does",
        _product(data),
        "",
        "## Freshness",
        f"{len(files) - len(stale)} of {len(files)} file documents match the working tree; "
        f"{len(stale)} are stale (written for another version of their file).",
    ]
    if stale:
        shown = ", ".join(f"`{d.path}`" for d in stale[:5])
        lines.append(f"Stale: {shown}{' and more' if len(stale) > 5 else ''}.")
    if data.diagnostics:
        lines.append(f"{data.diagnostics} problems were found in the knowledge folder.")
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
    return "No README or guide describes the product yet; see the features below."


def first_paragraph(text: str) -> str:
    """The first run of prose lines: skips front-matter, headings, badges, HTML, code."""
    lines = text.splitlines()
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), 0)
        lines = lines[end + 1 :]
    out: list[str] = []
    fence = False
    for line in lines:
        s = line.strip()
        if s.startswith(("```", "~~~")):
            fence = not fence
            continue
        skip = fence or s.startswith(("#", "![", "[![", "<", "|", "---", "===")) or not s
        if skip:
            if out:
                break
            continue
        out.append(s)
    return " ".join(out)


def _feature_items(features: tuple[Feature, ...]) -> list[str]:
    out = []
    for f in sorted(features, key=lambda f: (-len(f.files), f.name)):
        parts = [f"- **{f.name}** ({len(f.files)} files)"]
        if f.entry_points:
            parts.append("entry points " + _paths(f.entry_points))
        if f.services:
            parts.append("services " + _paths(f.services))
        if not f.entry_points and not f.services:
            parts.append("files " + _paths(tuple(x.path for x in f.files)))
        out.append("; ".join(parts))
    return out


def _flow_items(files: list[ServedDocument]) -> list[str]:
    flows: dict[str, list[str]] = defaultdict(list)
    for doc in files:
        for flow in doc.document.user_flows:
            if doc.path not in flows[flow]:
                flows[flow].append(doc.path)
    ordered = sorted(flows.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [f"- {_clip(flow, 160)} → {_paths(tuple(paths))}" for flow, paths in ordered]


def _rank(doc: ServedDocument) -> tuple[int, int, str]:
    return (-doc.document.importance_rank, -len(doc.backlinks), doc.path)


def _important_items(files: list[ServedDocument]) -> list[str]:
    out = []
    for doc in sorted(files, key=_rank):
        d = doc.document
        purpose = d.section("purpose")
        what = f" — {_clip(purpose.body, _SNIPPET_CHARS)}" if purpose else ""
        level = d.importance or "unrated"
        out.append(f"- `{doc.path}` ({level}, {len(doc.backlinks)} backlinks){what}")
    return out


def _tree_items(files: list[ServedDocument]) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for doc in files:
        parts = doc.path.split("/")
        for depth in range(1, min(len(parts), TREE_DEPTH + 1)):
            counts["/".join(parts[:depth])] += 1
    return [
        f"{'  ' * p.count('/')}- {posixpath.basename(p)}/ ({n} files)"
        for p, n in sorted(counts.items())
    ]


def _gotcha_items(files: list[ServedDocument]) -> list[str]:
    out = []
    for doc in sorted(files, key=_rank):
        section = doc.document.section("gotchas")
        if section is None:
            continue
        bullets = [
            b.strip()[2:] for b in section.body.splitlines() if b.strip().startswith(("- ", "* "))
        ]
        for bullet in bullets[:2] or [section.body]:
            out.append(f"- `{doc.path}`: {_clip(bullet, 220)}")
    return out


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

"""The instructions block: the tools named as the model sees them, then the overview.

A small budget keeps the overview's sections in `SECTION_PRIORITY` order (coverage, layout
and gotchas before long lists), with a note naming what was left out; after a knowledge
change the block names the changed paths.
"""

from __future__ import annotations

import re

from livekit.agents import llm

from context_bot.agents.budget import CHARS_PER_TOKEN, clip
from context_bot.agents.tools import TOOL_ROLES

MAX_CHANGED_PATHS = 8
"""Changed paths named in the instructions after a knowledge change."""
_OPEN_TAG = '<repository_context knowledge_version="{version}">'
_CLOSE_TAG = "</repository_context>"
_GUIDE = (
    "You can read this code repository through tools: {tools}. Use them rather than "
    "guessing; paths are relative to the repository root. A file without a knowledge "
    "document (list_folder says so) is explained by nothing but its code: read the code "
    "rather than assuming. The repository's onboarding overview follows, its most useful "
    "sections first."
)
SECTION_PRIORITY = (
    "What this product does",
    "Documentation coverage",
    "Layout",
    "Gotchas",
    "Entry points",
    "Central files",
    "Most important files",
    "Features",
    "Freshness",
    "Guides and API notes",
    "Languages",
    "Recent activity",
    "User flows",
)
"""The overview's sections (`knowledge/overview.py` TITLES) in the order a small budget
keeps them: what the product is and how much of it is documented, then where things are
and what bites (layout, gotchas; for a repository without documents, the entry points and
central files read from the code), and last the lists that run long and that
describe_feature gives per feature (user flows). A section this list does not know (a
newer bot's) goes just before the user flows."""
DROPPED_SECTIONS = frozenset({"Asking for more"})
"""Sections that name the room protocol's methods (`file`, `list`): the guide above names
the tools the model actually has instead."""


def tool_guide(tools: llm.Toolset) -> str:
    """The sentence that introduces the tools, each by the name the model sees."""
    roles = {tool.info.name: role for tool, (_, role) in TOOL_ROLES.items()}
    named = []
    for tool in tools.tools:
        if isinstance(tool, llm.FunctionTool):
            name = tool.info.name
            # A tool added without a role is still named, with its description's start.
            role = roles.get(name) or (tool.info.description or "").split(".")[0].lower()
            named.append(f"{name} ({role})")
    order = {tool.info.name: n for n, tool in enumerate(TOOL_ROLES)}
    named.sort(key=lambda text: order.get(text.split(" ")[0], len(order)))
    listed = ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 1 else "".join(named)
    return _GUIDE.format(tools=listed)


def render_instructions(
    overview: str,
    *,
    budget_tokens: int,
    tools: llm.Toolset,
    version: str | None,
    changed: list[str] | None = None,
) -> str:
    """The instructions block: the tool guide, then the overview's sections in
    `SECTION_PRIORITY` order, whole while they fit, the first that does not cut at a line
    end, later ones skipped; a note names what was left out and what was cut short.

    Only the overview's own Markdown structure is relied on (a `## ` heading per section),
    so an overview from an older or newer bot still renders: unknown sections rank just
    before the user flows."""
    budget = budget_tokens * CHARS_PER_TOKEN
    head = f"{_OPEN_TAG.format(version=version or 'unknown')}\n{tool_guide(tools)}\n\n"
    tail = f"\n{_CLOSE_TAG}"
    if changed is not None:
        named = ", ".join(changed[:MAX_CHANGED_PATHS])
        named += " …" if len(changed) > MAX_CHANGED_PATHS else ""
        tail = (
            f"\n\nThe knowledge changed during this conversation ({named or 'no paths'});"
            f" read those files again before relying on what you read earlier.{tail}"
        )
    preamble, sections = _sections(overview, tools)
    room, note, shrink = budget - len(head) - len(tail), "", 0
    # The note's length depends on the sections it names, and packing fewer sections can
    # lengthen it: pack again with the overshoot taken off until body and note fit.
    for _ in range(8):
        body, left_out, cut = _pack(preamble, sections, room - len(note) - shrink)
        note = ""
        if left_out or cut:
            parts = [f"left out: {', '.join(left_out)}"] if left_out else []
            parts += [f"cut short: {', '.join(cut)}"] if cut else []
            note = (
                f"\n[Overview cut to fit {budget_tokens:,} tokens; {'; '.join(parts)}. "
                "The tools give the rest.]"
            )
        over = len(body) + len(note) - room
        if over <= 0:
            break
        shrink += over
    else:
        body, _ = clip(body, max(room - len(note), 0))  # still at a line end
    return head + body + note + tail


def _sections(overview: str, tools: llm.Toolset) -> tuple[str, list[tuple[str, str]]]:
    """The overview's text before its first section, and its sections (title, text) in
    priority order, the protocol's method names in the coverage line made the tools'."""
    parts = re.split(r"^(?=## )", overview, flags=re.MULTILINE)
    preamble, sections = parts[0].strip(), []
    names = {tool.info.name for tool in tools.tools if isinstance(tool, llm.FunctionTool)}
    methods = {m: t.info.name for t, (m, _) in TOOL_ROLES.items() if m and t.info.name in names}
    for part in parts[1:]:
        title = part.splitlines()[0][3:].strip()
        if title in DROPPED_SECTIONS:
            continue
        text = part.strip()
        if title == "Documentation coverage":  # "`file` serves any file, `list` shows..."
            text = re.sub(r"`(\w+)`", lambda m: f"`{methods.get(m[1], m[1])}`", text)
        sections.append((title, text))
    last = SECTION_PRIORITY.index("User flows")
    sections.sort(
        key=lambda s: SECTION_PRIORITY.index(s[0]) if s[0] in SECTION_PRIORITY else last - 0.5
    )
    return preamble, sections


def _pack(
    preamble: str, sections: list[tuple[str, str]], room: int
) -> tuple[str, list[str], list[str]]:
    """As many sections as fit in `room`: (the text, titles left out, titles cut short)."""
    body, _ = clip(preamble, room)
    left_out: list[str] = []
    cut: list[str] = []
    for title, text in sections:
        free = room - len(body) - 2
        if len(text) <= free:
            body += "\n\n" + text
            continue
        shown, _ = clip(text, free)
        # Worth showing only with a few of its lines: a heading alone says nothing.
        if shown.count("\n") >= 3:
            body += "\n\n" + shown.rstrip("\n")
            cut.append(f"{title} ({shown.count(chr(10))} of {text.count(chr(10))} lines)")
        else:
            left_out.append(title)
    return body, left_out, cut

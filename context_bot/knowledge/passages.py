"""The block `retrieve` answers: per file its purpose and the lines that matter, in a budget.

Apart from the ranking (`retrieval.py`) because it is a different question: not which
files answer a turn, but what of each a model should read first. A knowledge document's
Purpose says what the file is for in one sentence; a file without one is introduced by
its own opening docstring or comment; and its lines are those that define a name the turn
used, then those holding most of the turn's words, numbered so the model can read on
from them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from context_bot.knowledge.loading import Knowledge
from context_bot.knowledge.model import Symbol
from context_bot.knowledge.openings import MAX_PURPOSE_CHARS, cut, opening_comment
from context_bot.knowledge.search import SearchHit, lowered

MAX_LINES_PER_FILE = 3
"""Lines shown per file: the ones with the most distinct words of the turn."""
MAX_LINE_CHARS = 160
"""Longest line shown; a longer one is cut with `…`."""
MAX_WORD_HITS = 400
"""Occurrences of one word looked at per file when picking its lines."""


def holds(line: str, needle: tuple[str, ...]) -> bool:
    """Whether lower-cased `line` holds a turn's word: its stem (`needle[0]`), or every
    one of its identifier pieces (`needle[1:]`, for `RateLimiter`: rate, limiter)."""
    return needle[0] in line or (len(needle) > 1 and all(p in line for p in needle[1:]))


def pick_lines(
    text: str | None,
    needles: list[tuple[str, ...]],
    *,
    hit: SearchHit | None = None,
    symbols: Sequence[Symbol] = (),
) -> list[tuple[int, str]]:
    """The file's lines that matter, in file order: its matched definitions' first lines,
    then the lines with the most distinct turn words (two at least, or the one word of a
    one-word turn), at most MAX_LINES_PER_FILE."""
    if text is None:
        if hit is not None and hit.line is not None:
            return [(hit.line, hit.snippet.replace("**", ""))]
        return []
    found_lower = lowered(text)  # kept per text: search lower-cased it for its hit
    low, breaks = found_lower.text, found_lower.breaks
    picked: dict[int, int] = {}  # line number → weight
    for s in symbols:
        if 1 <= s.line <= len(breaks) + 1:
            picked[s.line] = 100
    # Where each word occurs, by line, with `str.find` on the lower-cased text: a
    # per-line scan cost ten times as much on a 2,000-line file.
    found: dict[int, set[int]] = {}  # line number → the words it holds
    for w, needle in enumerate(needles):
        form = needle[0]  # the stem; an identifier's pieces rarely share a line apart
        at, seen = low.find(form), 0
        while at != -1 and seen < MAX_WORD_HITS:
            found.setdefault(bisect.bisect_left(breaks, at) + 1, set()).add(w)
            at, seen = low.find(form, at + len(form)), seen + 1
    need = min(2, len(needles))
    for n, held in found.items():
        if len(held) >= need:
            picked.setdefault(n, len(held))
    chosen = sorted(picked, key=lambda n: (-picked[n], n))[:MAX_LINES_PER_FILE]
    return [(n, cut(_line(text, breaks, n).strip(), MAX_LINE_CHARS)) for n in sorted(chosen)]


def _line(text: str, breaks: Sequence[int], n: int) -> str:
    """Line `n` (1-based) of `text`, whose newlines are at `breaks`."""
    begin = breaks[n - 2] + 1 if n > 1 else 0
    return text[begin : breaks[n - 1] if n - 1 < len(breaks) else len(text)]


def purpose(knowledge: Knowledge, path: str) -> str | None:
    """A knowledge document's one-line purpose: its Purpose section's first sentence, or
    for a guide its title."""
    served = knowledge.document(path)
    if served is None:
        return None
    document = served.document
    section = document.section("purpose")
    if section is None:
        return document.title or None
    text = " ".join(section.body.split())
    end = re.search(r"(?<=[.!?])\s", text)
    return cut(text[: end.start()] if end else text, MAX_PURPOSE_CHARS)


_HEAD = "Repository passages that may answer this turn, best first (path, then numbered lines):"


def render_block(
    knowledge: Knowledge,
    shown: list[tuple[str, str, list[tuple[int, str]]]],
    texts: dict[str, str | None],
    limit: int,
) -> tuple[str, dict[str, list[int]]]:
    """The block: a header, then per file its path and purpose (a file without a document
    says what its own opening comment says) and its numbered lines; files and lines are
    added while they fit in `limit` characters. Also the line numbers shown, by path."""
    out = _HEAD
    numbers: dict[str, list[int]] = {}
    for path, kind, lines in shown:
        about = purpose(knowledge, path)
        if about is None and kind != "guide":
            opening = opening_comment(texts.get(path))
            about = f"(no document; it opens with) {opening}" if opening else None
        entry = f"\n- {path}" + (f": {about}" if about else "")
        if len(out) + len(entry) > limit:
            break
        out += entry
        numbers[path] = []
        for n, line in lines:
            row = f"\n  {n}: {line}"
            if len(out) + len(row) > limit:
                break
            out += row
            numbers[path].append(n)
    return (out, numbers) if out != _HEAD else ("", {})

"""What text every match of a `grep` pattern must contain: the trigram index's question.

As Google Code Search and zoekt do, a pattern is narrowed to the files that hold the
literal parts every match needs; RE2 then confirms on those files alone. RE2 has no
public API for its parse tree, so the pattern is parsed with Python's own regular
expression parser (`re._parser`), whose syntax RE2's overlaps, and read conservatively:
only a run of plain characters that every match must pass through counts (a sequence's
literals, a group's, a repetition's taken at least once); an alternation, a class, any
escape it does not read as a plain character, or a pattern it cannot parse contributes
nothing. Nothing found means no narrowing: the search scans every file, as without an
index. Where the two parsers could read a pattern differently (`x{,3}` is a repetition to
Python, text to RE2), Python's reading asks for less text, never more.

Only ASCII pieces of three characters or more are asked for (the trigram index folds
ASCII case; other letters' folding is RE2's business, not the index's).
"""

from __future__ import annotations

import re
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

MIN_LITERAL = 3
"""Shortest piece the trigram index can look up."""
MAX_LITERALS = 8
"""Pieces asked for at most (the longest): more narrows little and costs a lookup each."""

_NON_ASCII = re.compile(r"[^\x01-\x7f]+")


def required_literals(pattern: str, *, regex: bool) -> list[str]:
    """ASCII strings of MIN_LITERAL characters or more that every match contains; [] when
    none can be proven (then every file is a candidate)."""
    if not regex:
        pieces = _ascii_pieces(pattern)
    else:
        try:
            parsed = sre_parser.parse(pattern)
        except (re.error, RecursionError, OverflowError, ValueError, TypeError):
            return []
        pieces = _required(list(parsed))
    unique = sorted(set(pieces), key=lambda p: (-len(p), p))
    return unique[:MAX_LITERALS]


def _ascii_pieces(text: str) -> list[str]:
    return [p for p in _NON_ASCII.split(text) if len(p) >= MIN_LITERAL]


def _required(items: list[tuple[Any, Any]]) -> list[str]:
    out: list[str] = []
    run: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        out += _ascii_pieces("".join(run))
        run = []
        if op is sre_constants.SUBPATTERN:
            out += _required(list(arg[-1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
            out += _required(list(arg[2]))
        # Anything else (alternation, class, any, anchor, reference) asks for nothing.
    out += _ascii_pieces("".join(run))
    return out

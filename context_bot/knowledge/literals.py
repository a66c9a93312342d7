"""What text every match of a `grep` pattern must contain: the trigram index's question.

As Google Code Search and zoekt do, a pattern is narrowed to the files that hold the
literal parts every match needs; RE2 then confirms on those files alone. RE2 has no
public API for its parse tree, so the pattern is parsed with Python's own regular
expression parser (`re._parser`), whose syntax RE2's overlaps, and read conservatively:
only a run of plain characters that every match must pass through counts (a sequence's
literals, a group's, a repetition's taken at least once); a class, any escape it does not
read as a plain character, or a pattern it cannot parse contributes nothing. An
alternation counts when each of its branches requires a piece (`Either`: the file must
hold one branch's pieces; `foo|barbaz` asks for `foo` OR `barbaz`). Nothing found means
no narrowing: the search scans every file, as without an index. Where the two parsers
could read a pattern differently (`x{,3}` is a repetition to Python, text to RE2),
Python's reading asks for less text, never more.

Only ASCII pieces of three characters or more are asked for (the trigram index folds
ASCII case; other letters' folding is RE2's business, not the index's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

MIN_LITERAL = 3
"""Shortest piece the trigram index can look up."""
MAX_LITERALS = 8
"""Pieces asked for at most (the longest): more narrows little and costs a lookup each."""

MAX_OPTIONS = 16
"""Branches of one alternation asked for at most (past that it asks for nothing)."""

_NON_ASCII = re.compile(r"[^\x01-\x7f]+")


@dataclass(frozen=True, slots=True)
class Either:
    """Text a match holds one of: each option is pieces that one branch requires (all of
    them). An option's own alternations are left out (fewer pieces: still a superset)."""

    options: tuple[tuple[str, ...], ...]


Term = str | Either
"""A piece every match holds, or a choice of them."""


def literal_query(pattern: str, *, regex: bool) -> tuple[Term, ...]:
    """What every match holds: each term is required (pieces longest first, then the
    choices); () when nothing can be proven (then every file is a candidate)."""
    if not regex:
        return tuple(_longest_first(_ascii_pieces(pattern)))
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return ()
    terms = _terms(list(parsed))
    pieces = _longest_first([t for t in terms if isinstance(t, str)])
    choices = list(dict.fromkeys(t for t in terms if isinstance(t, Either)))
    return (*pieces, *choices)


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
        pieces = [t for t in _terms(list(parsed)) if isinstance(t, str)]
    return _longest_first(pieces)


def _longest_first(pieces: list[str]) -> list[str]:
    return sorted(set(pieces), key=lambda p: (-len(p), p))[:MAX_LITERALS]


def _ascii_pieces(text: str) -> list[str]:
    return [p for p in _NON_ASCII.split(text) if len(p) >= MIN_LITERAL]


def _terms(items: list[tuple[Any, Any]]) -> list[Term]:
    out: list[Term] = []
    run: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        out += _ascii_pieces("".join(run))
        run = []
        if op is sre_constants.SUBPATTERN:
            out += _terms(list(arg[-1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
            out += _terms(list(arg[2]))
        elif op is sre_constants.BRANCH:
            out += _either(arg[1])
        # Anything else (class, any, anchor, reference) asks for nothing.
    out += _ascii_pieces("".join(run))
    return out


def _either(branches: list[Any]) -> list[Term]:
    """An alternation's choice, when every branch requires a piece (else nothing: a
    branch without one matches in files that hold none of the others')."""
    if len(branches) > MAX_OPTIONS:
        return []
    options: list[tuple[str, ...]] = []
    for branch in branches:
        pieces = _longest_first([t for t in _terms(list(branch)) if isinstance(t, str)])
        if not pieces:
            return []
        options.append(tuple(pieces))
    return [Either(tuple(options))]

"""What text every match of a `grep` pattern must contain: the trigram index's question.

As Google Code Search and zoekt do, a pattern is narrowed to the files that hold the
literal parts every match needs; RE2 then confirms on those files alone. RE2 has no
public API for its parse tree, so the pattern is parsed with Python's own regular
expression parser (`re._parser`), whose syntax RE2's overlaps, and read conservatively:
only a run of plain characters that every match must pass through counts (a sequence's
literals, a group's, a repetition's taken at least once); a class, any escape it does not
read as a plain character, or a pattern it cannot parse contributes nothing, except that
a small class right next to a run (`\\s`, `[ab]`, a repetition of one taken at least
once) makes a choice of the run with each of its characters (`\\s+Options`: ` Options`
or `\\tOptions` or ...), which narrows where the run alone is common. An
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

MAX_CLASS = 6
"""Characters of a class next to a literal run asked for at most (each one more option)."""
RE2_SPACE = frozenset("\t\n\f\r ")
"""What RE2's `\\s` matches (Perl's class: no vertical tab, unlike Python's)."""

_NON_ASCII = re.compile(r"[^\x01-\x7f]+")
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")


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
    parsed = _parsed(pattern)
    if parsed is None:
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
        parsed = _parsed(pattern)
        if parsed is None:
            return []
        pieces = [t for t in _terms(list(parsed)) if isinstance(t, str)]
    return _longest_first(pieces)


def _parsed(pattern: str) -> Any | None:
    """Python's parse of the pattern, or None where it cannot be read as RE2 reads it: it
    does not parse, or it holds a POSIX class, which RE2 reads in a bracket
    (`[[:space:]]`: a space) and Python as characters and a `]` after the bracket
    (`[[:upper:]]ptions` would require `]ptions`, which no match of RE2's holds)."""
    if _POSIX_CLASS.search(pattern):
        return None
    try:
        return sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError, ValueError, TypeError):
        return None


def _longest_first(pieces: list[str]) -> list[str]:
    return sorted(set(pieces), key=lambda p: (-len(p), p))[:MAX_LITERALS]


def _ascii_pieces(text: str) -> list[str]:
    return [p for p in _NON_ASCII.split(text) if len(p) >= MIN_LITERAL]


def _terms(items: list[tuple[Any, Any]]) -> list[Term]:
    out: list[Term] = []
    run: list[str] = []
    before: frozenset[str] | None = None  # what the item just before `run` ends with
    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        chars = _class_chars(op, arg)
        out += _run_terms("".join(run), before, chars)
        run = []
        before = chars
        if op is sre_constants.SUBPATTERN:
            out += _terms(list(arg[-1]))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
            out += _terms(list(arg[2]))
        elif op is sre_constants.BRANCH:
            out += _either(arg[1])
        # Anything else (class, any, anchor, reference) asks for nothing.
    out += _run_terms("".join(run), before, None)
    return out


def _run_terms(run: str, before: frozenset[str] | None, after: frozenset[str] | None) -> list[Term]:
    """A literal run's pieces, and, when a small class (`\\s`, `[ab]`) is right before or
    after it, the run with each of the class's characters (`\\s+Options` holds one of
    ` Options`, `\\tOptions`, ...: an `Either` the positioned index can answer, where
    `Options` alone is in one file in seven; `fn\\s` holds `fn ` or `fn\\t` or ...)."""
    out: list[Term] = list(_ascii_pieces(run))
    if not run or not run.isascii() or len(run) + 1 < MIN_LITERAL:
        return out
    if before:
        out.append(Either(tuple((c + run,) for c in sorted(before))))
    if after:
        out.append(Either(tuple((run + c,) for c in sorted(after))))
    return out


def _class_chars(op: Any, arg: Any) -> frozenset[str] | None:
    """The characters one item can match, as RE2 reads it within a line, when they are
    few: a class of plain ASCII characters and `\\s` (RE2's `\\s` is `[\\t\\n\\f\\r ]`;
    `\\n` ends a line, so no match holds it), or a repetition taken at least once of one
    such item (its last character is one of them). None otherwise."""
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
        inner = list(arg[2])
        return _class_chars(*inner[0]) if len(inner) == 1 else None
    if op is sre_constants.LITERAL:
        return frozenset(chr(arg)) if chr(arg).isascii() and chr(arg) != "\n" else None
    if op is not sre_constants.IN:
        return None
    chars: set[str] = set()
    for kind, value in arg:
        if kind is sre_constants.LITERAL and chr(value).isascii():
            chars.add(chr(value))
        elif kind is sre_constants.CATEGORY and value is sre_constants.CATEGORY_SPACE:
            chars.update(RE2_SPACE)
        else:
            return None  # a range, a negation, another category: too many to ask for
    chars.discard("\n")
    chars.discard("\0")
    return frozenset(chars) if 0 < len(chars) <= MAX_CLASS else None


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

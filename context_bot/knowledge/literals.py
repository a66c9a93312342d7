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

_SPACE_BYTES = "".join(sorted(RE2_SPACE)).encode()
SPACE_RUN = re.compile("[" + "".join(f"\\x{byte:02x}" for byte in _SPACE_BYTES) + "]+")
"""A run of what RE2's `\\s` matches: what `collapse_space` makes one space of."""
_SPACE_TABLE = dict.fromkeys(map(ord, RE2_SPACE))


def collapse_space(text: str) -> str:
    """`text` with each run of whitespace as one space: how `collapsed_query` writes what
    a match holds, so that `class\\s+Options` is `class Options` however much whitespace
    a match has between the two."""
    return SPACE_RUN.sub(" ", text)


def strip_space(text: str) -> str:
    """`text` without its whitespace: the text the trigram indexes keep (`store.spans`).
    Whatever holds `class Options` (collapsed) holds `classOptions` so stripped, and its
    trigrams across the gap, `ssO` and `sOp`, are what `s O` and ` Op` were with a
    letter more each: at 100k files `(class|…|function)\\s+Options\\b`'s lookup gave
    999 files where the collapsed text gave 1,384 (benchmarks/RESULTS-index.md)."""
    return text.translate(_SPACE_TABLE)


def strip_space_bytes(data: bytes) -> bytes:
    """`strip_space` of UTF-8 bytes."""
    return data.translate(None, _SPACE_BYTES)


def solid_bytes(data: bytes) -> int:
    """How many of the bytes are not whitespace (`SPACE_RUN`): the length of
    `strip_space_bytes(data)`, counted without keeping it."""
    return len(data.translate(None, _SPACE_BYTES))


def collapsed_query(pattern: str, *, regex: bool) -> tuple[Term, ...]:
    """What every match holds, for text kept without its whitespace (the trigram
    indexes, `store.spans`): the terms of `literal_query` collapsed
    (`collapse_space`), plus, for each chain of plain texts or alternations of plain
    texts joined by whitespace, required or not (`(class|fn)\\s+Options`,
    `Meta\\s*\\(`), the choice of its cross product without the whitespace
    (`classOptions` or `fnOptions`; `Meta(`), which only text so kept can answer. ()
    when nothing can be proven."""
    terms: list[Term] = []
    for term in literal_query(pattern, regex=regex):
        if isinstance(term, str):
            terms.append(collapse_space(term))
        else:
            options = {tuple(collapse_space(p) for p in option) for option in term.options}
            terms.append(Either(tuple(sorted(options))))
    if regex:
        parsed = _parsed(pattern)
        if parsed is not None:
            terms += _chains(list(parsed))
    return tuple(dict.fromkeys(terms))


def _chains(items: list[tuple[Any, Any]]) -> list[Term]:
    """The choices of the chains in `items` (see `collapsed_query`), each of at most
    MAX_OPTIONS texts; the chains of groups are looked for inside them too."""
    out: list[Term] = []
    chain: list[list[str]] = []  # each link: the texts it may be
    spaced = False  # whether the chain holds a run of whitespace: else nothing new
    for op, arg in items:
        texts = _plain_texts(op, arg)
        if op is sre_constants.AT:
            continue  # `\\b`, `^`: no character taken
        if texts is not None:
            chain.append(texts)
            continue
        if _only_space(op, arg) and chain:
            chain.append([" "])
            spaced = True
            continue
        out += _chain_term(chain, spaced=spaced)
        chain, spaced = [], False
        if op is sre_constants.SUBPATTERN:
            out += _chains(list(arg[-1]))
    out += _chain_term(chain, spaced=spaced)
    return out


def _chain_term(chain: list[list[str]], *, spaced: bool) -> list[Term]:
    while chain and chain[-1] == [" "]:
        chain = chain[:-1]  # whitespace at the end asks for nothing
    if not spaced or [" "] not in chain[1:]:
        return []  # no whitespace between two texts: literal_query asked for it all
    texts = [""]
    for link in chain:
        texts = [t + x for t in texts for x in link]
        if len(texts) > MAX_OPTIONS:
            return []
    options = sorted({strip_space(t) for t in texts})
    if any(len(o) < MIN_LITERAL or not o.isascii() for o in options):
        return []
    return [Either(tuple((o,) for o in options))]


def _plain_texts(op: Any, arg: Any) -> list[str] | None:
    """The texts one item matches when they are few and plain: a character, or a group
    holding an alternation of plain texts (or one plain text)."""
    if op is sre_constants.LITERAL:
        return [chr(arg)]
    if op is sre_constants.IN:  # `(?:a|b)` is parsed as a class of its characters
        chars = [chr(v) for kind, v in arg if kind is sre_constants.LITERAL]
        return chars if len(chars) == len(arg) and len(chars) <= MAX_CLASS else None
    if op is sre_constants.BRANCH:  # a group that captures nothing: `(?:class|fn)`
        texts = [_plain_text(list(branch)) for branch in arg[1]]
        return None if any(t is None for t in texts) else [t for t in texts if t is not None]
    if op is not sre_constants.SUBPATTERN:
        return None
    inner = list(arg[-1])
    if len(inner) == 1:
        return _plain_texts(*inner[0])
    text = _plain_text(inner)
    return None if text is None else [text]


def _plain_text(items: list[tuple[Any, Any]]) -> str | None:
    if not items or any(op is not sre_constants.LITERAL for op, _ in items):
        return None
    return "".join(chr(arg) for _, arg in items)


def _only_space(op: Any, arg: Any) -> bool:
    """Whether the item matches whitespace only, if anything (`\\s+`, `[ \\t]*`,
    `\\s`): text kept without its whitespace holds what is on either side of it
    together, however many times it is taken."""
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        _, _, inner = arg
        return len(inner) == 1 and _only_space(*inner[0])
    chars = _class_chars(op, arg)
    return chars is not None and chars <= RE2_SPACE


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


MAX_GAPS = 4
"""Gaps (`word_gaps`) asked for at most: each is a lookup of two position lists."""
WORD_CLASS = "[0-9A-Za-z_]"
"""What RE2's `\\w` matches: ASCII only, whatever the text's encoding (`WORD_CHARS`;
the long runs `store.word_run_spans` looks for)."""
WORD_CHARS = frozenset(c for c in map(chr, range(128)) if re.fullmatch(WORD_CLASS, c))
_WORD_CATEGORIES = frozenset({sre_constants.CATEGORY_WORD, sre_constants.CATEGORY_DIGIT})


@dataclass(frozen=True, slots=True)
class Gap:
    """Two texts every match holds one after the other with nothing between them but
    word characters and whitespace (`word_gaps`): in text kept without its whitespace,
    one of `left`, then at most `runs` runs of word characters (each within one run of
    the text's own, so no longer than its longest) and `fixed` word characters more,
    then one of `right`. `class\\s+\\w+Error` is `class`, one run, `Error`;
    `(public|private)\\s+\\w+\\s+get` is `private` or `public`, one run, `get`.
    `chained`: `left` is the `right` of the gap before it in `word_gaps` (the same text
    of the pattern)."""

    left: tuple[str, ...]
    right: tuple[str, ...]
    runs: int
    fixed: int
    chained: bool = False


def word_gaps(pattern: str) -> tuple[Gap, ...]:
    """The gaps of a regular expression's top-level sequence (groups that set no flag
    read as their items), in order, each side a plain ASCII text, or a choice of at most
    MAX_OPTIONS (`(class|struct)`, `[ab]c`), of MIN_LITERAL characters or more without
    its whitespace; at most MAX_GAPS. What the trigram index can answer with the distance
    between two texts, where their trigrams alone are in files that hold them far apart
    (`class` and `Error`, one file in seven at 100k files). () when there is none, or the
    pattern cannot be read as RE2 reads it."""
    parsed = _parsed(pattern)
    if parsed is None:
        return ()
    return tuple(_gaps(_flat(list(parsed)))[:MAX_GAPS])


def _flat(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """`items` with each group that changes no flag (`(\\w+)`, `(?:get)`) replaced by
    its own items: the same text in the same order."""
    out: list[tuple[Any, Any]] = []
    for op, arg in items:
        if op is sre_constants.SUBPATTERN and not arg[1] and not arg[2]:
            out += _flat(list(arg[-1]))
        else:
            out.append((op, arg))
    return out


def _gaps(items: list[tuple[Any, Any]]) -> list[Gap]:
    out: list[Gap] = []
    left: tuple[str, ...] | None = None  # the text before the gap being read
    runs = fixed = 0
    gapped = False  # a word item since `left`
    chained = False  # `left` is the right side of the last gap told
    texts = [""]  # what the items since the last text may have been, not yet read as one

    def text_ends() -> None:
        nonlocal left, runs, fixed, gapped, chained
        options = tuple(sorted({strip_space(t) for t in texts}))
        texts[:] = [""]
        if options == ("",):
            return  # whitespace: nothing in text kept without it
        if any(len(o) < MIN_LITERAL or not o.isascii() for o in options):
            if left is not None and all(set(o) <= WORD_CHARS for o in options):
                fixed += max(map(len, options))  # a short word inside the gap: part of it
                gapped = True
            else:
                left = None
            return
        told = False
        if left is not None and gapped:
            out.append(Gap(left, options, runs, fixed, chained))
            told = True
        left, runs, fixed, gapped, chained = options, 0, 0, False, told

    for op, arg in items:
        if op is sre_constants.AT:
            continue  # `\\b`, `^`: no character taken
        # A group left by `_flat` sets a flag (`(?i:abc)`): not read as plain text.
        plain = None if op is sre_constants.SUBPATTERN else _plain_texts(op, arg)
        if plain:
            texts[:] = [t + p for t in texts for p in plain]
            if len(texts) <= MAX_OPTIONS:
                continue
            texts[:] = [""]  # too many choices to ask: read as anything else
        text_ends()
        kind = _gap_item(op, arg)
        if kind is None:
            left = None  # anything else between: no distance can be told
        elif kind == "space":
            continue
        elif left is not None:
            gapped = True
            if isinstance(kind, int):
                fixed += kind
            else:
                runs += 1
    text_ends()
    return out


def _gap_item(op: Any, arg: Any) -> int | str | None:
    """What one item may take in a gap: "space" (whitespace only, `_only_space`), "run"
    (a run of word characters as long as any), a number (at most that many word
    characters), or None (anything else)."""
    if _only_space(op, arg):
        return "space"
    if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
        _, most, inner = arg
        inner = list(inner)
        if len(inner) != 1 or not _is_word(*inner[0]):
            return None
        return "run" if most == sre_constants.MAXREPEAT else int(most)
    return 1 if _is_word(op, arg) else None


def _is_word(op: Any, arg: Any) -> bool:
    """Whether one character the item takes is always a word character."""
    if op is sre_constants.LITERAL:
        return chr(arg) in WORD_CHARS
    if op is not sre_constants.IN:
        return False
    for kind, value in arg:
        if kind is sre_constants.LITERAL:
            word = chr(value) in WORD_CHARS
        elif kind is sre_constants.RANGE:
            low, high = value
            word = high < 128 and all(chr(c) in WORD_CHARS for c in range(low, high + 1))
        elif kind is sre_constants.CATEGORY:
            word = value in _WORD_CATEGORIES
        else:
            word = False  # a negation, or anything else
        if not word:
            return False
    return bool(arg)

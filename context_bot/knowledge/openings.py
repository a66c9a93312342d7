"""What an undocumented file says it is: the first sentence of its opening comment.

Shared by the passages an agent's turn gets (`passages.py`) and the snippets of `search`'s
path hits (`search.py`): a file without a knowledge document is introduced by its own
opening docstring or comment block. Licence headers come first in most files of most
ecosystems (every Go file of cobra opens with one) and say nothing of the file, so they
are passed over.
"""

from __future__ import annotations

import re

MAX_PURPOSE_CHARS = 220
"""Longest purpose shown (a document's first sentence, or a file's opening comment's)."""
MAX_OPENING_BLOCKS = 3
"""Comment blocks `opening_comment` looks at, past licence headers, before giving up."""
_LICENCE = re.compile(r"(?i)\bcopyright\b|\blicen[cs]ed?\b|SPDX-License-Identifier")
_OPENING = re.compile(  # matched at a position: the shebang and coding lines lead only a file
    r"(?:#![^\n]*\n)?(?:#[^\n]*coding[^\n]*\n)?\s*"
    r'(?:(?:[rRuU]?("""|\'\'\'))(?P<doc>.*?)(?:\1|\Z)'  # a docstring, or
    r"|(?P<comment>(?:[ \t]*(?:#|//|/\*+|\*|--)[^\n]*\n?)+))",  # a block of comment lines
    re.DOTALL,
)


_JSDOC_LEAD = re.compile(r"^@(?:fileoverview|file|overview|description|module)\b:?\s*", re.I)
"""A JSDoc block's leading tag (eslint's files open `@fileoverview Rule Validator`)."""
_JSDOC_TAG = re.compile(r"(?:^|\s)@[a-z]+\b")


def opening_comment(text: str | None) -> str | None:
    """The first sentence of a file's opening docstring or comment block, if it has one:
    what an undocumented file says it is for."""
    if not text:
        return None
    head, at = text[:4_000], 0
    for _ in range(MAX_OPENING_BLOCKS):
        found = _OPENING.match(head, at)
        if found is None:
            return None
        body = found.group("doc") or found.group("comment") or ""
        body = re.sub(r"(?m)^[ \t]*(?:#+|//+|/\*+|\*+/?|--)[ \t]?", "", body)
        if not _LICENCE.search(body):
            break
        at = found.end()  # a licence header says nothing of this file: the next block may
    else:
        return None
    words = _JSDOC_LEAD.sub("", " ".join(body.split()))
    tag = _JSDOC_TAG.search(words)  # `@author`, `@license`…: the description ends there
    words = words[: tag.start()].rstrip() if tag else words
    end = re.search(r"(?<=[.!?])\s", words)
    sentence = words[: end.start()] if end else words
    return cut(sentence, MAX_PURPOSE_CHARS) if len(sentence) >= 12 else None


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters ending in `…`."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

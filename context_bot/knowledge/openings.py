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
    what an undocumented file says it is for. Past a licence header and the code that
    follows (a Java or Kotlin file's package and imports), the first doc comment
    (`/** … */`, guava's and okhttp's classes) says it."""
    if not text:
        return None
    head = text[:4_000]
    body, at = _leading_block(head)
    if body is None:
        doc = _DOC_COMMENT.search(text[:DOC_COMMENT_REACH], at)
        if doc is None:
            return None
        body = _JAVADOC_INLINE.sub(r"\1", _HTML.sub("", doc.group("doc")))
        body = re.sub(r"(?m)^[ \t]*\*+[ \t]?", "", body)
    words = _JSDOC_LEAD.sub("", " ".join(body.split()))
    tag = _JSDOC_TAG.search(words)  # `@author`, `@license`…: the description ends there
    words = words[: tag.start()].rstrip() if tag else words
    end = re.search(r"(?<=[.!?])\s", words)
    sentence = words[: end.start()] if end else words
    return cut(sentence, MAX_PURPOSE_CHARS) if len(sentence) >= 12 else None


def _leading_block(head: str) -> tuple[str | None, int]:
    """The opening docstring's or comment block's text, past licence headers (None when
    there is none), and where the search for a doc comment may start."""
    at = 0
    for _ in range(MAX_OPENING_BLOCKS):
        found = _OPENING.match(head, at)
        if found is None:
            return None, at
        body = found.group("doc") or found.group("comment") or ""
        # Rust's `//!` and `/*!` (a module's own docs, tokio's) are comment marks too.
        body = re.sub(r"(?m)^[ \t]*(?:#+|//+!?|/\*+!?|\*+/?|--)[ \t]?", "", body)
        if not _LICENCE.search(body):
            return body, at
        at = found.end()  # a licence header says nothing of this file: the next block may
    return None, at


DOC_COMMENT_REACH = 16_000
"""How far into a file its first doc comment is looked for (okhttp's `OkHttpClient.kt` opens
it after 4 KB of licence and imports; guava's `Splitter` has one longer than 4 KB)."""
_DOC_COMMENT = re.compile(r"/\*\*(?!/)(?P<doc>.*?)\*/", re.DOTALL)
_JAVADOC_INLINE = re.compile(r"\{@(?:code|link|linkplain|literal)\s+([^}]*)\}")
_HTML = re.compile(r"</?[A-Za-z][^>]*>")


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters ending in `…`."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

"""Sizes in tokens, and cutting text to them.

Sizes are counted in tokens of about four characters (livekit-agents ships no LLM
tokenizer, and an estimate is all a budget needs). Every answer that does not fit is cut
with a note saying what was left out and how to get it: a model that is silently given
half a file reasons about the half as if it were all.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4
"""The token estimate: about four characters of English or code per token."""
DEFAULT_BUDGET_TOKENS = 4000
"""Instructions: the overview block, all included."""
DEFAULT_ANSWER_TOKENS = 3000
"""One tool answer (about 300 lines of code)."""
MIN_BUDGET_TOKENS = 200
"""Below this, the block's frame and notes leave no room for the overview."""


def clip(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, at a line end unless one line is too long."""
    if len(text) <= limit:
        return text, False
    limit = max(limit, 0)
    cut = text.rfind("\n", 0, limit) + 1
    return text[: cut if cut > limit // 2 else limit], True


def fit(text: str, limit: int, more: str) -> str:
    """`text`, or as much as fits in `limit` with a note saying so and how to get more."""
    note = "\n[Cut here to fit: {shown:,} of {total:,} characters shown. {more}]"
    longest = note.format(shown=len(text), total=len(text), more=more)
    shown, cut = clip(text, limit - len(longest))
    return shown + note.format(shown=len(shown), total=len(text), more=more) if cut else text

"""What looks like a secret, in one place: names that say they hold one, and values shaped
like a signed token.

The sandbox keeps secret *files* out of every answer (`sandbox.py`'s deny-list). This
module is for text we write ourselves from what we read: log records (`logs.py`) and the
outlines `draft` copies into knowledge documents (`drafting.py`), where a constant such as
`API_KEY = "…"` would otherwise carry its value into a document that travels further than
the source file does.
"""

from __future__ import annotations

import re

SECRET_NAME = re.compile(
    r"(?i:token|secret|passw(?:or)?d|credential|authorization)"
    r"|(?:^|_)(?i:keys?)(?:$|_)"  # snake case: key, JWT_KEY, signing_key
    r"|(?<=[a-z0-9])Keys?(?:$|[A-Z0-9_])"  # camel case: apiKey, privateKeyPem
)
"""A field or variable name that says it holds a secret (`LIVEKIT_API_SECRET`, `apiKey`,
`JWT_KEY`, `signing_key`): cautious on purpose, so a `CACHE_KEY` is hidden too; hiding a
value that was no secret costs a reader little."""
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
"""A JSON Web Token: a bearer credential, whatever name it is under."""
REDACTED = "[redacted]"


def redact_tokens(text: str) -> str:
    """`text` with every JWT-shaped run replaced by `REDACTED`."""
    return JWT.sub(REDACTED, text)


VALUE_KINDS = frozenset({"constant", "variable", "field"})
"""Definitions whose head shows a value (`symbols.py` kinds)."""


def redact_assignment(name: str, kind: str, signature: str) -> str:
    """A definition's one-line head, without its value when it is a constant, variable or
    field whose `name` says it is a secret (`API_KEY = "abc"` → `API_KEY = …`), and without
    any token-shaped value."""
    if kind in VALUE_KINDS and SECRET_NAME.search(name) and "=" in signature:
        return signature.split("=", 1)[0].rstrip() + " = …"
    return redact_tokens(signature)

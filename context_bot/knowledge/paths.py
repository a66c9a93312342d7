"""What a repository path is: the one normaliser, and the one check of a path a user sent.

Every place that takes a repository-relative path (a `file` request, a `list` prefix, a
document's `filePath`, a `relatedFiles` entry) goes through here, so `./a//b` means `a/b`
everywhere and nothing can name a file outside the repository by spelling.
"""

from __future__ import annotations

import re

from context_bot.errors import InvalidPath
from context_bot.protocol import MAX_PATH_CHARS, MAX_PATH_DEPTH

_UNCLEAN = ("//", "/.", "\\")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def normalise_repo_path(raw: str) -> str | None:
    """`./a//b/` → `a/b`; None for absolute paths, `..` escapes, `~`, NUL or empty.

    Cheap for a path that is already clean (the common case, and a hot path at load)."""
    if not raw.strip() or "\0" in raw or raw.startswith(("/", "~", "\\")) or _DRIVE.match(raw):
        return None
    if not any(bad in raw for bad in _UNCLEAN) and raw[0] != "." and raw[-1] != "/":
        return raw
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def check_relative(path: object) -> str:
    """Normalise a user-given repo-relative path (`./a//b` → `a/b`) or raise InvalidPath
    saying what is wrong with it.

    Length and depth are checked first, in time independent of the path's contents, so an
    oversized path costs nothing more (issue 14: a 32,700-component path once held the
    event loop for 108 s)."""
    if not isinstance(path, str):
        raise InvalidPath("path must be a string")
    if len(path) > MAX_PATH_CHARS:
        raise InvalidPath(f"path is longer than {MAX_PATH_CHARS} characters")
    if path.count("/") + path.count("\\") >= MAX_PATH_DEPTH:
        raise InvalidPath(f"path has more than {MAX_PATH_DEPTH} components")
    norm = normalise_repo_path(path)
    if norm is not None:
        return norm
    shown = path[:200]
    if not path.strip():
        raise InvalidPath("path is empty")
    if "\0" in path:
        raise InvalidPath("path contains a NUL character")
    if path.startswith(("/", "\\", "~")) or _DRIVE.match(path):
        raise InvalidPath(f"path must be relative to the repository: {shown!r}")
    if ".." in path.replace("\\", "/").split("/"):
        raise InvalidPath(f"path must not contain '..': {shown!r}")
    raise InvalidPath(f"path names the repository itself: {shown!r}")


WRITER_TEMP_SUFFIX = ".context-bot-tmp"
"""The suffix of the temporary files our own atomic writes (`draft_writer.py`) leave for a
moment beside their target. The watcher does not reload for them and the sandbox leaves
them out of the inventory (`sandbox.DEFAULT_DENY`), so a running bot never announces a
document's half-written twin as an added file."""


def is_writer_temp(name: str) -> bool:
    """Whether the file name `name` is one of our atomic writes' temporary files."""
    return name.endswith(WRITER_TEMP_SUFFIX)

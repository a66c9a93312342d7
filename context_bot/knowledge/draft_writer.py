"""Writing drafted documents: atomically, and never outside the knowledge folder.

Each document is written to a hidden temporary file in its own folder and moved into place
with `os.replace`, so a reader (the running bot's live reload) sees the old document or the
new one, never half of one; the temporary file's suffix (`paths.WRITER_TEMP_SUFFIX`) keeps
it out of the inventory and the watcher, so a running bot never announces it. A name that
would leave the folder (`..`, an absolute path, a symlinked folder on the way, a symlinked
document) is refused with `DraftRefused` before anything is written. Folders are created
as needed, the knowledge folder included.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from context_bot.errors import DraftRefused
from context_bot.knowledge.paths import WRITER_TEMP_SUFFIX, normalise_repo_path

#: Permissions of a new document (before the umask), as `open()` would give a new file.
NEW_FILE_MODE = 0o666


def write_documents(folder: Path, documents: Iterable[tuple[str, str]]) -> list[str]:
    """Write each (name inside `folder`, text); the names written, in order. A document
    whose bytes on disk are already `text` is not written again."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder.resolve()
    umask = _umask()
    written: list[str] = []
    for name, text in documents:
        target = _target(base, name)
        data = text.encode("utf-8")
        try:
            if target.read_bytes() == data:
                continue
            mode = stat.S_IMODE(target.stat().st_mode)
        except FileNotFoundError:
            mode = NEW_FILE_MODE & ~umask
        _replace(target, data, mode)
        written.append(name)
    return written


def _target(base: Path, name: str) -> Path:
    clean = normalise_repo_path(name)
    if clean is None or clean != name or any(p.startswith(".") for p in clean.split("/")):
        raise DraftRefused(f"refusing to write a document named {name!r}: not a plain path")
    target = base / clean
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(base):
        raise DraftRefused(f"refusing to write {name!r}: a folder on its way leads outside")
    if target.is_symlink():
        raise DraftRefused(f"refusing to write {name!r}: the document is a symlink")
    return target


def _replace(target: Path, data: bytes, mode: int) -> None:
    prefix = f".{target.name}."
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=WRITER_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, mode)  # noqa: PTH101 - the temporary file by name, before the move
        Path(temp).replace(target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current

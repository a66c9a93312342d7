"""Sandboxed, asynchronous reads of repository files for remote participants.

Anyone in a room can ask for any path, so every read goes through the same gate:

1. the path as given must be repository-relative (no absolute path, `..`, `~`, NUL, empty);
2. it is resolved (symlinks followed) and must stay inside the root by `Path.is_relative_to`
   (a string prefix check lets `/repo-evil` pass for `/repo`: CVE-2025-53110);
3. the deny-list is checked on the path as given AND on the resolved path relative to the
   root, so a symlink to `.env` is `.env` (CVE-2025-53109);
4. only regular files: stat before opening, then open with O_NONBLOCK|O_NOFOLLOW and fstat
   the open descriptor, so a FIFO can never block the loop and a swapped symlink fails;
5. size cap, then binary sniffing (NUL in the first 8 KiB, or not UTF-8).

Ignored files are matched in-process by `GitIgnore`, a small matcher for the root
`.gitignore` (negation, anchoring, `**`, directory-only patterns): no subprocess per read
and no dependency (only the root `.gitignore`: nested ones and `.git/info/exclude` are not
read). Error messages carry only the path the user gave, never a host path.

The module also answers the two repository questions the knowledge loader asks: the blob
id of a working-tree file, and (through git, best-effort) the blob of a file at a commit.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiofiles
import structlog

from context_bot.errors import (
    BadRequest,
    BinaryFile,
    FileTooLarge,
    InvalidPath,
    NotAFile,
    NotFound,
    PathDenied,
)
from context_bot.knowledge.documents import git_blob_sha

log = structlog.get_logger(__name__)

#: Default cap on a file served, in bytes.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Bytes inspected for a NUL when deciding whether a file is binary.
SNIFF_BYTES = 8 * 1024
#: Total bytes of file text kept in the read cache (keyed by path, inode, mtime_ns, size).
CACHE_BYTES = 32 * 1024 * 1024
#: Working-tree files larger than this are not hashed (their document is served as stale).
MAX_HASHED_FILE_BYTES = 64 * 1024 * 1024
#: Seconds the best-effort git calls may take before we give up on them.
GIT_TIMEOUT_S = 10.0
#: Always denied, whatever `.gitignore` says (gitignore syntax, matched at any depth).
DEFAULT_DENY = (".env*", "*.pem", "*.key", "id_rsa*", "*.p12", "*.pfx", ".git")


@dataclass(frozen=True, slots=True)
class FileContent:
    """A served file: `text` is the requested line range (or all), `size`/`sha` the file's."""

    path: str
    text: str
    size: int
    sha: str
    line_count: int
    lines: tuple[int, int] | None

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "text": self.text,
            "size": self.size,
            "sha": self.sha,
            "line_count": self.line_count,
            "lines": list(self.lines) if self.lines else None,
        }


class GitIgnore:
    """Match repo-relative POSIX paths against gitignore-syntax patterns.

    As in git: the last matching pattern wins, `!` re-includes, a trailing `/` matches
    directories only, a pattern with a `/` before its end is anchored at the root, and a
    file inside an excluded directory stays excluded (no negation can bring it back)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._rules: list[tuple[re.Pattern[str], bool, bool]] = []  # (regex, negate, dir_only)
        for raw in lines:
            rule = _compile_rule(raw)
            if rule is not None:
                self._rules.append(rule)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def _match(self, path: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negate, dir_only in self._rules:
            if dir_only and not is_dir:
                continue
            if regex.fullmatch(path):
                ignored = not negate
        return ignored

    def ignores(self, path: str, *, is_dir: bool = False) -> bool:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if self._match("/".join(parts[:i]), True):
                return True
        return self._match(path, is_dir)


def _compile_rule(raw: str) -> tuple[re.Pattern[str], bool, bool] | None:
    line = raw.rstrip("\n").rstrip("\r")
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    negate = line.startswith("!")
    if negate or line.startswith(("\\!", "\\#")):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _glob_to_regex(line)
    return re.compile(body if anchored else f"(?:.*/)?{body}", re.DOTALL), negate, dir_only


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := glob.find("]", i + 2)) != -1:
            cls = glob[i + 1 : end].replace("\\", "\\\\")
            out.append("[^" + cls[1:] + "]" if cls[:1] in "!^" and cls else "[" + cls + "]")
            i = end + 1
        elif c == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def check_relative(path: object) -> str:
    """Normalise a user-given repo-relative path (`./a//b` → `a/b`) or raise InvalidPath."""
    if not isinstance(path, str):
        raise InvalidPath("path must be a string")
    shown = path[:200]
    if not path.strip():
        raise InvalidPath("path is empty")
    if "\0" in path:
        raise InvalidPath("path contains a NUL character")
    if path.startswith(("/", "\\", "~")) or re.match(r"[A-Za-z]:[\\/]", path):
        raise InvalidPath(f"path must be relative to the repository: {shown!r}")
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidPath(f"path must not contain '..': {shown!r}")
    if not parts:
        raise InvalidPath(f"path names the repository itself: {shown!r}")
    return "/".join(parts)


class RepoFiles:
    """Reads files under one repository root, refusing everything unsafe."""

    def __init__(
        self, root: Path, *, max_bytes: int = MAX_FILE_BYTES, extra_deny: Sequence[str] = ()
    ) -> None:
        self._root = root.resolve()
        self._max = max_bytes
        self._deny = GitIgnore([*DEFAULT_DENY, *extra_deny])
        self._ignore = GitIgnore([])
        self._ignore_key: tuple[int, int] | None = None
        self._cache: OrderedDict[tuple[str, int, int, int], FileContent] = OrderedDict()
        self._cached_bytes = 0

    @property
    def root(self) -> Path:
        return self._root

    def _gitignore(self) -> GitIgnore:
        """The root `.gitignore`, re-read whenever its mtime or size changes."""
        path = self._root / ".gitignore"
        try:
            st = path.stat()
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if key != self._ignore_key:
            try:
                text = path.read_text("utf-8", "replace") if key else ""
            except OSError:
                text = ""
            self._ignore, self._ignore_key = GitIgnore(text.splitlines()), key
        return self._ignore

    def denied(self, rel: str, *, is_dir: bool = False) -> bool:
        """True when a normalised repo-relative path is deny-listed or ignored."""
        return self._deny.ignores(rel, is_dir=is_dir) or self._gitignore().ignores(
            rel, is_dir=is_dir
        )

    def locate(self, path: str) -> tuple[str, Path, os.stat_result]:
        """Validate `path` and return (its normalised form, the resolved host path, its stat)."""
        rel = check_relative(path)
        if self.denied(rel):
            raise PathDenied(f"path is not served: {rel}")
        try:
            target = (self._root / rel).resolve(strict=True)
        except FileNotFoundError:
            raise NotFound(f"no such file: {rel}") from None
        except (OSError, RuntimeError):  # symlink loop, permission, name too long
            raise NotFound(f"cannot resolve path: {rel}") from None
        if not target.is_relative_to(self._root):
            raise PathDenied(f"path leads outside the repository: {rel}")
        real = target.relative_to(self._root).as_posix()
        if real == ".":
            raise NotAFile(f"not a regular file: {rel}")
        try:
            st = target.stat()
        except OSError:
            raise NotFound(f"no such file: {rel}") from None
        if self.denied(real, is_dir=stat.S_ISDIR(st.st_mode)):
            raise PathDenied(f"path is not served: {rel}")
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(f"not a regular file: {rel}")
        if st.st_size > self._max:
            raise FileTooLarge(f"file is {st.st_size} bytes; the cap is {self._max}: {rel}")
        return rel, target, st

    async def read(self, path: str, *, lines: tuple[int, int] | None = None) -> FileContent:
        """The file's text (or a 1-based inclusive line range of it); raises FileError."""
        span = _check_lines(lines)
        rel, target, st = self.locate(path)
        key = (rel, st.st_ino, st.st_mtime_ns, st.st_size)
        full = self._cache.get(key)
        if full is None:
            full = await self._load(rel, target)
            self._cache[key] = full
            self._cached_bytes += full.size
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                self._cached_bytes -= self._cache.popitem(last=False)[1].size
        else:
            self._cache.move_to_end(key)
        return full if span is None else _slice(full, span)

    async def _load(self, rel: str, target: Path) -> FileContent:
        try:
            async with aiofiles.open(target, "rb", opener=_safe_opener) as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise NotAFile(f"not a regular file: {rel}")
                data: bytes = await fh.read(self._max + 1)
        except FileNotFoundError:
            raise NotFound(f"no such file: {rel}") from None
        except OSError:  # ELOOP from O_NOFOLLOW (swapped to a symlink), permissions, ...
            raise NotFound(f"cannot open file: {rel}") from None
        if len(data) > self._max:
            raise FileTooLarge(f"file is larger than the cap of {self._max} bytes: {rel}")
        if b"\0" in data[:SNIFF_BYTES]:
            raise BinaryFile(f"file is binary: {rel}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BinaryFile(f"file is not UTF-8 text: {rel}") from None
        return FileContent(rel, text, len(data), git_blob_sha(data), _count_lines(text), None)


def _safe_opener(path: str, flags: int) -> int:
    """Open without following a final symlink and without ever blocking on a FIFO."""
    return os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))


def _count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _check_lines(lines: object) -> tuple[int, int] | None:
    if lines is None:
        return None
    if (
        not isinstance(lines, tuple | list)
        or len(lines) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in lines)
    ):
        raise BadRequest("lines must be two integers: [first, last]")
    first, last = int(lines[0]), int(lines[1])
    if first < 1 or last < first:
        raise BadRequest("lines must satisfy 1 <= first <= last")
    return first, last


def _slice(full: FileContent, span: tuple[int, int]) -> FileContent:
    first, last = span
    if first > full.line_count:
        raise BadRequest(f"lines start at {first} but the file has {full.line_count} lines")
    last = min(last, full.line_count)
    # Lines end at "\n" only, as `line_count` counts them (not at "\r" or U+2028).
    chunk = "\n".join(full.text.split("\n")[first - 1 : last])
    text = chunk + "\n" if last < full.line_count or full.text.endswith("\n") else chunk
    return FileContent(full.path, text, full.size, full.sha, full.line_count, (first, last))


# --- repository facts the knowledge loader needs (blob ids, git lookups) -----------------


def worktree_blob(root: Path, rel: str) -> str | None:
    """The blob id git would give `root/rel` now, or None when it is no regular file.

    Like git, a symlink is hashed as its target text and never followed, so hashing cannot
    read outside the repository through the last component; only regular files are
    opened (never a FIFO or device), and files over MAX_HASHED_FILE_BYTES are skipped."""
    full = os.path.join(root, rel)  # noqa: PTH118 - hot path at load, plain strings
    try:
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            return git_blob_sha(os.fsencode(os.readlink(full)))  # noqa: PTH115
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_HASHED_FILE_BYTES:
            return None
        with open(full, "rb", opener=_safe_opener) as fh:
            return git_blob_sha(fh.read(MAX_HASHED_FILE_BYTES + 1))
    except (OSError, ValueError):
        return None


def blobs_at_commits(root: Path, pairs: list[tuple[str, str]]) -> list[str | None]:
    """For each (commit-ish, path), the blob id of that path at that commit, or None.

    One `git cat-file --batch-check` for all pairs; any failure (not a git repository, git
    missing, timeout) answers None for every pair: the documents are then served as stale."""
    lines = [f"{rev}:./{path}" for rev, path in pairs]
    if any("\n" in line for line in lines):
        return [None] * len(pairs)
    out = git_output(root, ["cat-file", "--batch-check"], stdin="\n".join(lines) + "\n")
    if out is None:
        return [None] * len(pairs)
    answers = out.splitlines()
    if len(answers) != len(pairs):
        return [None] * len(pairs)
    result: list[str | None] = []
    for answer in answers:
        fields = answer.split()
        result.append(fields[0] if len(fields) == 3 and fields[1] == "blob" else None)
    return result


def git_output(root: Path, args: list[str], *, stdin: str | None = None) -> str | None:
    """Run one git command in `root`; None on any failure (git is optional)."""
    # Inherited GIT_DIR/GIT_WORK_TREE (say, from a hook) would point git at another repo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        log.debug("git_unavailable", command=args[0], returncode=proc.returncode)
        return None
    return proc.stdout.strip() if stdin is None else proc.stdout

"""Every file of the repository, documented or not: what a newcomer can list, read and search.

Which files: in a git repository, exactly what `git ls-files --cached --others
--exclude-standard` lists (tracked files, and untracked ones no ignore rule covers: nested
`.gitignore` files, `.git/info/exclude` and the global excludes file, as git itself reads
them); elsewhere, a walk of the folder with the same rules, matched by the sandbox
(`pathspec`). Either way the sandbox's deny-list (secrets, keys, `.git/`) still applies, so
the inventory never names a file a `file` request would refuse, and no symlink is followed
out of the tree.

What each file is: its size, its language (from its name, then its shebang; `identify`,
the library pre-commit uses), and whether it is text. Reading the first 8 KiB of each file
is the price of knowing text from binary and of reading shebangs; the walk runs at load,
off the event loop, and skips what it cannot read, counting why.
"""

from __future__ import annotations

import bisect
import os
import stat
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Protocol

import structlog
from identify import identify

from context_bot.knowledge.git import git_output
from context_bot.knowledge.literals import Gap, Term
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.sandbox import SNIFF_BYTES, RepoFiles, safe_opener

log = structlog.get_logger(__name__)

MAX_INVENTORY_FILES = 500_000
"""More files than this are not listed (the rest is counted as `over_limit`)."""
WALK_SKIP = frozenset({".git", ".hg", ".svn"})
"""Folders a walk never enters, whatever the ignore rules say (git's own data)."""

#: identify's tags that say what a file is, not which language it is in.
_NOT_LANGUAGES = frozenset(
    {
        "file",
        "text",
        "binary",
        "executable",
        "non-executable",
        "symlink",
        "directory",
        "socket",
        "header",
        "image",
        "audio",
        "video",
        "archive",
        "font",
    }
)
#: Names shown for identify's tags where the tag is not the usual name of the language.
_LANGUAGE_NAMES = {
    "ts": "typescript",
    "tsx": "typescript",
    "jsx": "javascript",
    "pyi": "python",
    "c++": "c++",
    "plain-text": "text",
    "shell": "shell",
    "bash": "shell",
    "zsh": "shell",
    "sh": "shell",
}


@dataclass(frozen=True)
class Inventory:
    """An immutable list of the repository's files, sorted by path, and what was left out."""

    files: tuple[RepoFile, ...]
    source: str
    """"git" when git listed the files, "walk" when the folder was walked."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Files left out, by reason: `denied`, `ignored` (tracked, yet an ignore rule covers
    it), `not_regular`, `unreadable`, `over_limit`."""
    left_out: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Each file counted in `skipped` but `over_limit`, by path: why it is left out (so
    a live reload that looks at one path again knows what it was before, `patch_inventory`)."""
    text_index: Candidates | None = field(default=None, repr=False, compare=False)
    """The index cache's trigram index over these files' texts (`textindex.TextIndex`), which
    `grep` narrows its scan with; None when the load indexed in memory."""
    by_path: InitVar[dict[str, RepoFile] | None] = None
    """The files by path, when the caller has them already (else made here: 12 ms at
    100k files, which a restart or a patch paid two and three times over)."""
    _by_path: dict[str, RepoFile] = field(init=False, repr=False, compare=False)

    def __post_init__(self, by_path: dict[str, RepoFile] | None) -> None:
        if by_path is None:
            by_path = {f.path: f for f in self.files}
        object.__setattr__(self, "_by_path", by_path)

    def with_text_index(self, text_index: Candidates | None) -> Inventory:
        """This inventory with `text_index`, sharing its lookup."""
        return Inventory(
            self.files, self.source, self.skipped, self.left_out, text_index, self._by_path
        )

    def get(self, path: str) -> RepoFile | None:
        return self._by_path.get(path)

    def __contains__(self, path: object) -> bool:
        return path in self._by_path

    def __len__(self) -> int:
        return len(self.files)

    def languages(self) -> Counter[str]:
        """Text files per language (files without a known language are not counted)."""
        return Counter(f.language for f in self.files if f.language and not f.binary)


def empty_inventory() -> Inventory:
    return Inventory((), "none")


def build_inventory(
    files: RepoFiles,
    *,
    limit: int = MAX_INVENTORY_FILES,
    known: Mapping[str, Known] | None = None,
    listing: Future[GitListing | None] | None = None,
    known_allowed: bool = False,
    tracked: Future[list[str] | None] | None = None,
) -> Inventory:
    """List and describe every file under `files.root` that the sandbox would serve.

    `known` (the index cache's facts of the last load, by path) spares reading the head
    of a file whose size and `mtime_ns` are unchanged; `listing`, git's listing started
    already (`git_listing`, in a thread while the caller reads the cache). Blocking (runs
    git, stats and reads files): call it at load or in a worker thread. `known_allowed`:
    every path of `known` passed this deny-list already (the cache was kept with it), so
    it is asked only of the others (its patterns cost microseconds a path: a second at
    100k). `tracked` (`git_tracked`, which answers from git's index at once) lets the
    tracked files be described while git still walks the tree for the untracked ones."""
    root = files.root
    vetted: Mapping[str, Known] = known if known is not None and known_allowed else {}
    early: dict[str, RepoFile | str] = {}  # described while git lists: path → as below
    ahead = tracked.result() if tracked is not None and listing is not None else None
    for rel in ahead or ():
        if listing is not None and listing.done():
            break  # git has listed: the rest is described in listing order
        denied = rel not in vetted and files.deny_listed(rel)
        early[rel] = "denied" if denied else _describe(root, rel, known=known)
    listed = listing.result() if listing is not None else _git_files(root)
    source = "git" if listed is not None else "walk"
    candidates = listed[0] if listed is not None else _walk(root, files)
    skipped: Counter[str] = Counter()
    if listed is not None and listed[1]:
        skipped["ignored"] = listed[1]
    left_out = dict.fromkeys(listed[2], "ignored") if listed is not None else {}
    found: list[RepoFile] = []
    for rel in candidates:
        reading = len(found) < limit
        described = early.get(rel) if reading else None
        if described is None:
            if rel not in vetted and files.deny_listed(rel):
                described = "denied"
            else:
                described = _describe(root, rel, read=reading, known=known)
        if described == "denied":
            skipped["denied"] += 1
            left_out[rel] = "denied"
            continue
        if isinstance(described, str):
            skipped[described] += 1
            left_out[rel] = described
        elif len(found) >= limit:
            skipped["over_limit"] += 1
        else:
            found.append(described)
    found.sort(key=lambda f: f.path)
    inventory = Inventory(tuple(found), source, dict(skipped), left_out)
    log.info("inventory_built", files=len(found), source=source, **inventory.skipped)
    return inventory


KeptInventory = tuple[
    list[str], list[int], list[int], list[str | None], bytes, dict[str, int], dict[str, str]
]
"""An inventory as a restart's snapshot keeps it (`keep_inventory`): its files as columns
(paths, sizes, `mtime_ns`, languages, binary flags), its counts, and what it left out."""


def keep_inventory(inventory: Inventory) -> KeptInventory | None:
    """`inventory` as plain columns for a restart's snapshot; None when a restart could
    not trust it (not listed by git, or cut at its file limit)."""
    if inventory.source != "git" or inventory.skipped.get("over_limit"):
        return None
    files = inventory.files
    return (
        [f.path for f in files],
        [f.size for f in files],
        [f.mtime_ns for f in files],
        [f.language for f in files],
        bytes(f.binary for f in files),
        dict(inventory.skipped),
        dict(inventory.left_out),
    )


def changes_since(
    files: RepoFiles,
    kept: KeptInventory,
    listing: Future[GitListing | None],
    moved: Future[set[str] | None],
) -> set[str] | None:
    """The paths that changed since a snapshot kept this inventory (`kept_inventory`: the
    inventory then), to look at again (`patch_inventory`): listed now and not then or the
    other way round, or whose `lstat` (a regular file's size and `mtime_ns`) moved, or
    left out as unreadable or not regular then and not for the same reason now. None
    when git does not list the tree, or its ignore rules now cover other tracked files
    (which can list or hide any path).

    `moved`: the snapshot's files whose `lstat` moved (`StatPrint.moved`, started as
    soon as the snapshot's head is read, beside git); when it answers None (`stat`
    could not be run), every file is stat-ed here. The caller has checked that the
    deny-list is the one the snapshot was kept with (so a path denied then is denied
    now). Blocking (it mostly waits on git and `stat`: run it in a thread)."""
    paths, sizes, mtimes, _, _, _, left_out = kept
    root = files.root
    changed: set[str] = set()
    join, lstat, is_reg = os.path.join, os.lstat, stat.S_ISREG

    def check(rel: str, n: int | None) -> None:
        if n is None:
            why = left_out.get(rel)
            if why is None:
                changed.add(rel)  # new
            elif why not in ("denied", "ignored") and _describe(root, rel) != why:
                changed.add(rel)  # unreadable or not regular then, not (so) now
            # (a tracked path ignore rules cover is in git's index, not in its listing:
            # whether the same ones are covered is asked of the listing below)
            return
        try:
            st = lstat(join(root, rel))
        except OSError:
            changed.add(rel)
            return
        if not is_reg(st.st_mode) or st.st_size != sizes[n] or st.st_mtime_ns != mtimes[n]:
            changed.add(rel)

    listed = listing.result()
    stat_moved = moved.result()
    if listed is None:
        return None
    candidates, _, hidden = listed
    if sorted(p for p, why in left_out.items() if why == "ignored") != hidden:
        return None
    now, then = set(candidates), set(paths)
    if stat_moved is not None:  # every file of the snapshot stat-ed (in C, beside git)
        changed.update(stat_moved)
        for rel in now - then:  # set operations, in C: the few not in the snapshot
            check(rel, None)
    else:
        at = {path: n for n, path in enumerate(paths)}
        for rel in candidates:
            check(rel, at.get(rel))
    changed.update((now ^ then).difference(left_out))  # new, or not listed any more
    changed.update(p for p, why in left_out.items() if why != "ignored" and p not in now)
    return changed


def kept_inventory(kept: KeptInventory) -> Inventory:
    """The inventory a snapshot kept (`keep_inventory`), as it was then."""
    paths, sizes, mtimes, languages, binary, skipped, left_out = kept
    restored = tuple(
        RepoFile(path, size, language, flag == 1, mtime)
        for path, size, language, flag, mtime in zip(
            paths, sizes, languages, binary, mtimes, strict=True
        )
    )
    return Inventory(restored, "git", dict(skipped), dict(left_out))


_STAT_FORMAT = "--printf=%n\\0%s\\0%.9Y\\0%F\\0"
"""coreutils `stat`: each path, its size, `mtime` (seconds, 9 decimals) and file type."""
_REGULAR = ("regular file", "regular empty file")
STAT_PROCESSES = 2
"""`stat` processes a check runs at once (tried: three or four did not end it sooner on
two cores shared with git and the load)."""
STAT_CHUNK = 256
"""Records of `stat`'s output compared at once (`StatPrint`): a chunk that differs is
read record by record, the others compared whole, in C."""


def stat_record(path: str, size: int, mtime_ns: int) -> bytes:
    """What `stat` prints (`_STAT_FORMAT`) of a regular file of that size and mtime."""
    seconds, ns = divmod(mtime_ns, 1_000_000_000)
    line = f"{path}\0{size}\0{seconds}.{ns:09d}\0{_REGULAR[size == 0]}\0"
    return line.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class StatPrint:
    """What `stat` prints of a snapshot's files while none changed, kept beside it (a
    restart runs `stat` from this alone, before the snapshot is unpickled): the paths
    `stat` is given, in STAT_PROCESSES parts, and its output, in chunks of
    STAT_CHUNK records. Bytes, as `stat` reads and prints them: nothing is decoded
    unless it differs."""

    names: tuple[bytes, ...]
    chunks: tuple[bytes, ...]

    @classmethod
    def of(cls, paths: Sequence[str], sizes: Sequence[int], mtimes: Sequence[int]) -> StatPrint:
        step = -(-len(paths) // STAT_PROCESSES) or 1
        names = tuple(
            b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths[n : n + step])
            for n in range(0, len(paths), step)
        )
        records = list(map(stat_record, paths, sizes, mtimes))
        chunks = tuple(
            b"".join(records[n : n + STAT_CHUNK]) for n in range(0, len(records), STAT_CHUNK)
        )
        return cls(names, chunks)

    def moved(self, root: Path) -> set[str] | None:
        """Which of the paths are not now a regular file of the size and `mtime_ns` they
        had (gone, another type, a link, another stat): an `lstat` each, made by
        coreutils' `stat` in two processes (100k files: 0.4 s of C, where a loop of
        `os.lstat` holds this process for a second), so this thread mostly waits.
        None when `stat` cannot be run, or prints what was not asked (then the caller
        stats in Python)."""
        env = {**os.environ, "LC_ALL": "C"}

        def run(names: bytes) -> bytes | None:
            if not names:
                return b""
            try:
                done = subprocess.run(
                    ["xargs", "-0", "stat", _STAT_FORMAT, "--"],
                    cwd=root,
                    input=names,
                    capture_output=True,
                    env=env,
                    check=False,
                )
            except OSError:
                return None
            # 123: some path could not be stat-ed (gone): the others are printed all the same.
            return done.stdout if done.returncode in (0, 123) else None

        with ThreadPoolExecutor(max_workers=STAT_PROCESSES, thread_name_prefix="stat") as pool:
            outputs = list(pool.map(run, self.names))
        if None in outputs:
            return None
        return self.compare(b"".join(o for o in outputs if o is not None))

    def compare(self, out: bytes) -> set[str] | None:
        """The paths whose record in `out` (what `stat` printed now) is not the one kept,
        or is missing; None when `out` holds what no path's record explains. Chunk by
        chunk: an equal chunk is one comparison (nothing changed: a few hundred of them,
        where splitting 100k records held the GIL for a quarter of a second)."""
        moved: set[str] = set()
        pos = 0
        for chunk in self.chunks:
            if out.startswith(chunk, pos):
                pos += len(chunk)
                continue
            fields = chunk.split(b"\0")
            for i in range(0, len(fields) - 4, 4):
                name = fields[i]
                end = out.find(b"\0", pos)
                if end < 0 or out[pos:end] != name:
                    moved.add(name.decode("utf-8", "surrogateescape"))  # not printed: gone
                    continue
                for _ in range(3):
                    end = out.find(b"\0", end + 1)
                    if end < 0:
                        return None
                if out[pos : end + 1] != b"\0".join(fields[i : i + 4]) + b"\0":
                    moved.add(name.decode("utf-8", "surrogateescape"))
                pos = end + 1
        return moved if pos == len(out) else None


def stat_changes(
    root: Path, paths: Sequence[str], sizes: Sequence[int], mtimes: Sequence[int]
) -> set[str] | None:
    """Which of `paths` (relative to `root`) are not now a regular file of that size and
    `mtime_ns` (`StatPrint.moved`)."""
    return StatPrint.of(paths, sizes, mtimes).moved(root)


def patch_inventory(
    previous: Inventory,
    files: RepoFiles,
    paths: Iterable[str],
    *,
    listing: GitListing | None = None,
) -> Inventory:
    """`previous` with each of `paths` (repository paths of files, not folders) looked at
    again as `build_inventory` would: listed or not by the same rules, described afresh.
    Every other file keeps its entry, unread. Blocking (git for those paths, stats).
    `listing`: git's whole listing made just now (a restart's, `changes_since`), which
    answers for those paths without asking git again (which reads its whole index: a
    quarter of a second at 100k files).

    Raises ValueError when the inventory cannot be patched: it was cut at the file
    limit (which file falls past it depends on them all). The caller loads in full."""
    if previous.skipped.get("over_limit"):
        raise ValueError("the inventory was cut at its file limit")
    wanted = sorted(set(paths))
    root = files.root
    if previous.source == "git":
        found = _git_files(root, wanted) if listing is None else _listed(listing, wanted)
        if found is None:
            raise ValueError("git cannot list the changed paths")
        listed, hidden = set(found[0]), set(found[2])
    else:
        listed = {p for p in wanted if _walk_lists(root, files, p)}
        hidden = set()
    entries = list(previous.files)
    keys = [f.path for f in entries]
    by_path = dict(previous._by_path)
    left_out = dict(previous.left_out)
    skipped = Counter(previous.skipped)
    for rel in wanted:
        at = bisect.bisect_left(keys, rel)
        if at < len(keys) and keys[at] == rel:
            del entries[at], keys[at], by_path[rel]
        elif rel in left_out:
            skipped[left_out.pop(rel)] -= 1
        reason: str | None = None
        if rel in hidden:
            reason = "ignored"
        elif rel not in listed:
            continue
        elif files.deny_listed(rel):
            reason = "denied"
        else:
            described = _describe(root, rel)
            if isinstance(described, str):
                reason = described
            else:
                entries.insert(at, described)
                keys.insert(at, rel)
                by_path[rel] = described
        if reason is not None:
            skipped[reason] += 1
            left_out[rel] = reason
    counts = {k: n for k, n in skipped.items() if n}
    return Inventory(tuple(entries), previous.source, counts, left_out, by_path=by_path)


def _listed(listing: GitListing, wanted: list[str]) -> GitListing:
    """What `_git_files(root, wanted)` answers, from the whole listing (`_git_files`)."""
    candidates, _, hidden = listing
    covered = set(hidden).intersection(wanted)

    def has(rel: str) -> bool:
        at = bisect.bisect_left(candidates, rel)
        return at < len(candidates) and candidates[at] == rel

    return [p for p in wanted if has(p)], len(covered), sorted(covered)


def _walk_lists(root: Path, files: RepoFiles, rel: str) -> bool:
    """Whether `_walk` lists `rel`: it is there and no folder on its way is skipped,
    denied or ignored, nor the file itself ignored."""
    if not os.path.lexists(os.path.join(root, rel)):  # noqa: PTH118
        return False
    parts = rel.split("/")
    for n in range(1, len(parts)):
        if parts[n - 1] in WALK_SKIP or files.denied("/".join(parts[:n]), is_dir=True):
            return False
    return not files.git_ignored(rel)


_UNQUOTED = ("-c", "core.quotePath=false")
GitListing = tuple[list[str], int, list[str]]
"""What git lists (sorted), how many tracked files an ignore rule covers, and those."""


def git_listing(root: Path) -> GitListing | None:
    """What git lists of the work tree at `root` (`build_inventory`'s first step), None
    when it is no git work tree: blocking on git alone, so it can run in a thread."""
    return _git_files(root)


def git_tracked(root: Path) -> list[str] | None:
    """The files git's index tracks at `root` (`ls-files --cached`: the index alone, a
    tenth of the whole listing's time at 100k), each once; None when it is no git work
    tree. Blocking on git alone: run it in a thread beside `git_listing`."""
    out = git_output(root, [*_UNQUOTED, "ls-files", "-z", "--cached"], stdin="")
    if out is None:
        return None
    return list(dict.fromkeys(path for path in out.split("\0") if path))


def _git_files(root: Path, paths: Sequence[str] = ()) -> GitListing | None:
    """What git lists for the work tree at `root`, how many tracked files an ignore rule
    covers (left out), and those; None when `root` is no git work tree (or git is
    missing). Only paths under `root` when it is a subfolder of a checkout; with `paths`,
    only those (taken literally)."""
    inside = git_output(root, ["rev-parse", "--is-inside-work-tree"])
    if inside != "true":
        return None
    spec = ["--", *(f":(literal){p}" for p in paths)] if paths else []
    listing = ["ls-files", "-z", "--cached", "--others", "--exclude-standard", *spec]
    # A tracked file that an ignore rule covers (force-added) is refused by the sandbox,
    # which applies the ignore rules to every path; so it is not listed either: `list`
    # never names a file that `file` refuses. The two listings are independent: git runs
    # them at once (two processes; each walks the tree's ignore rules, ~0.5 s at 100k).
    tracked_ignored = ["ls-files", "-z", "--cached", "--ignored", "--exclude-standard", *spec]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="git-ignored") as pool:
        covering = pool.submit(git_output, root, [*_UNQUOTED, *tracked_ignored], stdin="")
        out = git_output(root, [*_UNQUOTED, *listing], stdin="")
        covered = covering.result()
    if out is None:
        return None
    listed = {path for path in out.split("\0") if path}  # a conflicted file comes once a stage
    hidden = {path for path in (covered or "").split("\0") if path}
    return sorted(listed - hidden), len(listed & hidden), sorted(listed & hidden)


def _walk(root: Path, files: RepoFiles) -> Iterator[str]:
    """Every file under `root` that no ignore rule covers, without following symlinked
    folders, without entering ignored folders (as git does not)."""
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(root / folder if folder else root), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = f"{folder}/{entry.name}" if folder else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if entry.name not in WALK_SKIP and not files.denied(rel, is_dir=True):
                    pending.append(rel)
            elif not files.git_ignored(rel):
                yield rel  # a deny-listed file is counted by the caller


class Texts(Protocol):
    """Where `grep` reads its candidates' texts (`textindex.TextIndex`, or the read
    transaction it holds for one search, `TextIndex.reading`)."""

    def excerpt(
        self, path: str, spans: Sequence[int]
    ) -> tuple[bytes, bool, tuple[tuple[int, int], ...], tuple[int, ...]] | None:
        """The lines of the file's text that meet `spans`, "\\n"-joined, whether that is
        the whole text, where each run of them lies in it and its first line's number;
        None if not kept."""
        ...

    def data(self, path: str) -> bytes | None:
        """The file's text as the load read it through the gate, as `grep` searches it
        (UTF-8, CRLF line ends as "\\n"); None if not kept."""
        ...


class Candidates(Texts, Protocol):
    """Which files may hold a pattern's required text (`textindex.TextIndex`), and their
    texts."""

    def matching(
        self,
        terms: Sequence[Term],
        *,
        case_sensitive: bool = False,
        collapsed: Sequence[Term] | None = None,
        gaps: Sequence[Gap] = (),
    ) -> Iterator[tuple[str, tuple[int, ...] | None]] | None:
        """The files that may hold every term (as written, when `case_sensitive`), in path
        order, as they are found, each with the spans of its text where a match may be
        (None: anywhere); None when the terms narrow nothing. `gaps`: where the pattern's
        texts are apart by word characters only (`literals.word_gaps`)."""
        ...

    def reading(self) -> AbstractContextManager[Texts]:
        """The texts of one search, in one read transaction."""
        ...


class Known(Protocol):
    """What the index cache remembers of a file (`store.StoredFile`)."""

    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def language(self) -> str | None: ...
    @property
    def binary(self) -> bool: ...


def _describe(
    root: Path, rel: str, *, read: bool = True, known: Mapping[str, Known] | None = None
) -> RepoFile | str:
    """The file's facts, or the reason it is left out; `read=False` stats only (a file
    past the limit is counted, not read)."""
    full = os.path.join(root, rel)  # noqa: PTH118 - hot path: 100k files at load
    try:
        st = os.lstat(full)
    except OSError:
        return "unreadable"  # listed by git but gone (deleted, not yet committed)
    if stat.S_ISLNK(st.st_mode):
        # A link inside the tree is listed as the file it leads to; one that leads out of
        # it (or nowhere) is not listed, as a `file` request would refuse it.
        try:
            target = Path(full).resolve(strict=True)
        except (OSError, RuntimeError):
            return "not_regular"
        if not target.is_relative_to(root):
            return "not_regular"
        full = str(target)
        try:
            st = os.lstat(full)
        except OSError:
            return "unreadable"
    if not stat.S_ISREG(st.st_mode):
        return "not_regular"  # a submodule (gitlink), FIFO, socket or device
    if not read:
        return RepoFile(rel, st.st_size, None, False, st.st_mtime_ns)
    seen = known.get(rel) if known is not None else None
    if seen is not None and seen.size == st.st_size and seen.mtime_ns == st.st_mtime_ns:
        return RepoFile(rel, st.st_size, seen.language, seen.binary, st.st_mtime_ns)
    try:
        with open(full, "rb", opener=safe_opener) as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return "unreadable"
    binary = b"\0" in head
    return RepoFile(rel, st.st_size, _language(rel, head, binary), binary, st.st_mtime_ns)


def _language(rel: str, head: bytes, binary: bool) -> str | None:
    """The file's language from its name, else from its shebang; None when unknown."""
    if binary:
        return None
    tags = identify.tags_from_filename(rel.rsplit("/", 1)[-1])
    if not tags - _NOT_LANGUAGES and head.startswith(b"#!"):
        line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
        tags = identify.tags_from_interpreter(_interpreter(line))
    names = sorted(_LANGUAGE_NAMES.get(tag, tag) for tag in tags - _NOT_LANGUAGES)
    if not names:
        return None
    return "c" if names == ["c", "c++"] else names[0]  # a `.h` header: C by default


def _interpreter(shebang: str) -> str:
    """`#!/usr/bin/env python3 -u` → `python3`; `#!/bin/sh` → `sh`."""
    parts = shebang[2:].strip().split()
    if not parts:
        return ""
    if parts[0].rsplit("/", 1)[-1] == "env":
        rest = [p for p in parts[1:] if not p.startswith("-") and "=" not in p]
        return rest[0] if rest else ""
    return parts[0].rsplit("/", 1)[-1]

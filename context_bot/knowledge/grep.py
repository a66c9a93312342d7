"""Code search over every text file of the repository (`grep`), in linear time.

What is searched: the inventory's text files (`inventory.py`: what git lists, the
deny-list applied), in path order, each read through the sandbox (`RepoFiles.read_sync`,
the gate of a `file` request: resolved inside the root, regular files only, UTF-8 text,
the size cap), so a search never sees a byte a `file` request would refuse. Files the
inventory knows to be binary, files over the sandbox's size cap (2 MiB by default,
`max_file_bytes`) and files that cannot be read (gone, denied since, no longer UTF-8)
are skipped and counted by reason, never fatal.

Why RE2 (`google-re2`) and not `re`: anyone in a room can send a pattern, and Python's
backtracking `re` takes exponential time on `(a+)+$` against a line of a's while holding
the GIL, which stops every room of the process. RE2 matches in time linear in the text
(no backreferences or look-around, which a code search can do without), refuses
programs over its memory budget (`max_mem`), and releases the GIL while it matches
(measured: benchmarks/RESULTS-grep.md), so a search in a worker thread leaves the event
loop free. Literal patterns go through RE2 too (its `literal` option), so one engine has
one set of semantics: case folding is Unicode's in both modes. Globs are gitignore
patterns parsed by `pathspec` (as the sandbox's ignore rules are), whose regexes are
compiled with RE2 as well: a glob like `*a*a*a*a*b` backtracks under `re`.

Matching is per line, as `grep -n`: `never_nl` keeps a match inside one line, `(?m)`
makes `^` and `$` line anchors (a CRLF line end counts as one), and one match is
reported per line (its first).

Bounded work: the pattern's length is checked before compiling; each file costs one
linear RE2 pass over at most the size cap; a deadline is checked between files and
between matches, and a search past it answers what it found with `truncated_reason`
"deadline". File bytes are kept between requests (up to `CACHE_BYTES`), keyed by the
file's device, inode, mtime and size: a request stats each file (microseconds) and
reads through the gate again only what changed.

With the index cache (`textindex.TextIndex`), the files searched are only those that its
trigrams say may hold the text every match requires (`literals.py`), in path order as
the index finds them, their texts read from the index: a search that reaches its limit
stops asking. The index also says where in a text (the spans of 4 KiB holding the
rarest term), so a large candidate is first searched in the lines around those spans
only, and read whole only when they hold a match. The answer is
the one a full scan gives (the counts of the files left unread included); a pattern that
requires no text of three characters scans.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

import re2
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from context_bot.errors import BadRequest, BinaryFile, FileError, FileTooLarge
from context_bot.knowledge.inventory import Inventory, Texts
from context_bot.knowledge.literals import (
    Either,
    Gap,
    Term,
    collapsed_query,
    literal_query,
    word_gaps,
)
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.protocol import (
    DEFAULT_GREP_LIMIT,
    GREP_DEADLINE_S,
    MAX_GREP_CONTEXT,
    MAX_GREP_GLOB_CHARS,
    MAX_GREP_GLOBS,
    MAX_GREP_LIMIT,
    MAX_GREP_LINE_CHARS,
    MAX_GREP_PATTERN_CHARS,
)

CACHE_BYTES: Final = 256 * 1024 * 1024
"""File bytes kept between searches. A repository with more text than this is read
through the gate again on every search for the files that did not fit (no eviction: a
search reads every file in order, which would make an LRU cache miss every time)."""
SELECTIONS_KEPT: Final = 8
"""Glob selections remembered (each a tuple of the selected files)."""
RE2_MAX_MEM: Final = 8 * 1024 * 1024
"""RE2's budget for one compiled pattern (its default): its program and its DFA's cache."""
RE2_COMPILE_MEM: Final = 1024 * 1024
"""The budget a pattern's program must fit before it is compiled for the search (about
60,000 instructions; realistic patterns take tens to a few thousand). RE2's compiler
holds the GIL, so the event loop and every other participant's request, for as long as
it works, and that grows with the program: `a(.{500}){64}c`, 386 characters, compiled in
60-120 ms at RE2_MAX_MEM, and a letter class repeated 1,000 times was refused only after
35-50 ms. Compiled under this budget first, such a pattern is refused (4000) within a
few milliseconds."""
SKIP_REASONS: Final = ("binary", "too_large", "unreadable")
CALL_BUDGET_S: Final = 0.02
"""Time one RE2 call is sized for (see `_Pace`): how far past the deadline a search may run."""
WINDOW_OVERLAP: Final = 1024
"""Bytes shared by two windows of one long line (see `_scan`)."""
GAP_BYTES: Final = 4096
"""With a line filter (`_scan`): how far on the next line holding the text must be for the
search to jump to it (and search that line alone) rather than search up to it: about what
RE2 reads in the few microseconds one more call costs in Python."""
STRETCH_BYTES: Final = 256 * 1024
"""With a line filter: how far one piece reaches when lines holding the text are close."""
WAY_BYTES: Final = 256 * 1024
"""With a line filter: the bytes of files a search searches both ways before it keeps the
cheaper (`_Pace.whole_first`)."""
_Walked = tuple[int, tuple[int, ...] | None]
"""A file a search takes: its position among the selected files, and the spans of its
text where a match may be (`TextIndex.matching`; None: anywhere)."""
EXCERPT_BYTES: Final = 64 * 1024
"""A candidate larger than this whose matches the index places in spans is searched
in the lines around them (`TextIndex.excerpt`); a smaller one costs less read whole (an
excerpt's reads cost about 110 us at 100k files, four chunks and their search less)."""
PROBE_BYTES: Final = 64
"""Bytes timed before a search's first real call, to learn the pattern's rate: at the
slowest rate measured (0.4 ms a byte) the probe takes about 25 ms."""


class _Found(Protocol):
    def start(self) -> int: ...

    def end(self) -> int: ...


class _Pattern(Protocol):
    """What this module uses of a compiled RE2 pattern (google-re2 ships no types)."""

    def search(self, text: bytes, pos: int = ..., endpos: int = ...) -> _Found | None: ...

    def match(self, text: str) -> object | None: ...

    def finditer(self, text: bytes) -> Iterator[_Found]: ...

    @property
    def pattern(self) -> str: ...


#: A flag group that may turn case folding on (`(?i)`, `(?si:`): conservatively, any.
_CASE_FLAG = re.compile(r"\(\?[a-zA-Z-]*i")
#: An escape (`\S`, `\p{Lu}`, `\x41`) says nothing about the case of the text sought.
_ESCAPES = re.compile(r"\\(?:[pP]\{[^}]*\}|[pP].|x\{[^}]*\}|x..|.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class GrepQuery:
    """What to look for, as the protocol's `grep` params say it."""

    pattern: str
    regex: bool = False
    case_sensitive: bool | None = None
    """None: smart case, sensitive only when the pattern has an upper-case letter."""
    globs: tuple[str, ...] = ()
    context: int = 0
    limit: int = DEFAULT_GREP_LIMIT


@dataclass(frozen=True, slots=True)
class GrepMatch:
    path: str
    line: int
    """1-based."""
    column: int
    """1-based, in characters (code points) of the whole line."""
    text: str
    """The line, without its end; a line over MAX_GREP_LINE_CHARS is cut around the match."""
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "text": self.text,
            "before": list(self.before),
            "after": list(self.after),
        }


@dataclass(frozen=True, slots=True)
class GrepResult:
    matches: tuple[GrepMatch, ...]
    truncated: bool
    truncated_reason: str | None
    """"limit" (more matches than asked for) or "deadline" (time ran out), else None."""
    files_searched: int
    files_skipped: dict[str, int]
    """By reason: `binary`, `too_large` (over the size cap), `unreadable`."""
    files_total: int
    """Files the glob selected: searched, skipped, or not reached (deadline)."""
    case_sensitive: bool
    """How the pattern was matched (the smart-case decision, when it was not given)."""
    elapsed_ms: float = field(default=0.0, compare=False)

    def to_wire(self) -> dict[str, object]:
        return {
            "matches": [m.to_wire() for m in self.matches],
            "truncated": self.truncated,
            "truncated_reason": self.truncated_reason,
            "files_searched": self.files_searched,
            "files_skipped": dict(self.files_skipped),
            "files_total": self.files_total,
            "case_sensitive": self.case_sensitive,
        }


@dataclass
class GrepProgress:
    """What a search has done so far, filled by the searching thread and readable from
    another (appends and counter updates are atomic under the GIL)."""

    matches: list[GrepMatch] = field(default_factory=list)
    searched: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))
    total: int = 0
    case_sensitive: bool = False

    def result(self, reason: str | None, limit: int, elapsed_ms: float = 0.0) -> GrepResult:
        return GrepResult(
            tuple(self.matches[:limit]),
            reason is not None,
            reason,
            self.searched,
            dict(self.skipped),
            self.total,
            self.case_sensitive,
            elapsed_ms,
        )


@dataclass(frozen=True, slots=True)
class _Compiled:
    regex: _Pattern
    globs: tuple[tuple[_Pattern, bool], ...]
    include_by_default: bool
    case_sensitive: bool

    def selects(self, path: str) -> bool:
        """Gitignore's rule for the globs: the last one that matches decides."""
        chosen = self.include_by_default
        for pattern, include in self.globs:
            if pattern.match(path) is not None:
                chosen = include
        return chosen

    def select(self, files: tuple[RepoFile, ...]) -> tuple[RepoFile, ...]:
        """The `files` that `selects` keeps. Each glob runs once over every path, the paths
        joined by newlines (a glob never matches across one: `never_nl`), not once per
        path: the wrapper's cost per call made the first glob of each snapshot 190 ms at
        100k files, paid again after every live reload. A path holding a newline, or not
        UTF-8, is matched one by one."""
        data = _joined([f.path for f in files])
        if data is None:
            return tuple(f for f in files if self.selects(f.path))
        chosen = [self.include_by_default] * len(files)
        for pattern, include in self.globs:
            line, counted_to = 0, 0
            for match in _line_glob(pattern.pattern).finditer(data):
                start = match.start()
                line += data.count(b"\n", counted_to, start)
                counted_to = start
                chosen[line] = include
        return tuple(itertools.compress(files, chosen))


def _joined(paths: list[str]) -> bytes | None:
    """The paths joined by newlines, as UTF-8; None when one holds a newline or is not
    UTF-8 (a name git kept as bytes, escaped when read)."""
    joined = "\n".join(paths)
    if joined.count("\n") != max(len(paths) - 1, 0):
        return None
    try:
        return joined.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _line_glob(source: str) -> _Pattern:
    """A checked glob's expression (`_compile_globs`) for `_Compiled.select`: `^` at each
    line's start, nothing across a newline."""
    options = _options()
    options.never_nl = True
    options.never_capture = True
    line: _Pattern = re2.compile(("(?m)" + source).encode("utf-8"), options)
    return line


def smart_case(pattern: str, *, regex: bool) -> bool:
    """True when the pattern asks for case: it has an upper-case letter that is text
    sought, not part of an escape (`\\S`, `\\p{Lu}`) of a regular expression."""
    text = _ESCAPES.sub("", pattern) if regex else pattern
    return any(ch.isupper() for ch in text)


def check_pattern(pattern: str) -> None:
    """The pattern's bounds, before anything compiles it (BadRequest, 4000)."""
    if not pattern:
        raise BadRequest("`params.pattern` must not be empty")
    if len(pattern) > MAX_GREP_PATTERN_CHARS:
        raise BadRequest(
            f"`params.pattern` must be at most {MAX_GREP_PATTERN_CHARS} characters "
            f"(got {len(pattern)})"
        )
    if "\0" in pattern:
        raise BadRequest("`params.pattern` must not contain NUL")


def check_globs(globs: Sequence[str]) -> None:
    if len(globs) > MAX_GREP_GLOBS:
        raise BadRequest(f"`params.glob` may name at most {MAX_GREP_GLOBS} patterns")
    for glob in globs:
        if not glob or len(glob) > MAX_GREP_GLOB_CHARS or "\0" in glob:
            raise BadRequest(
                f"each `params.glob` must be 1 to {MAX_GREP_GLOB_CHARS} characters, no NUL"
            )


def compile_query(query: GrepQuery) -> _Compiled:
    """Check and compile a query; raises BadRequest (4000) saying what is wrong."""
    check_pattern(query.pattern)
    check_globs(query.globs)
    if not 0 <= query.context <= MAX_GREP_CONTEXT:
        raise BadRequest(f"`params.context` must be a whole number from 0 to {MAX_GREP_CONTEXT}")
    if not 1 <= query.limit <= MAX_GREP_LIMIT:
        raise BadRequest(f"`params.limit` must be a whole number from 1 to {MAX_GREP_LIMIT}")
    sensitive = query.case_sensitive
    if sensitive is None:
        sensitive = smart_case(query.pattern, regex=query.regex)
    options = _options()
    options.case_sensitive = sensitive
    options.never_nl = True  # a match stays within one line, as grep's
    options.never_capture = True  # only where a match is: RE2 needs no submatch engine
    if query.regex:
        source = "(?m)" + query.pattern  # ^ and $ at line ends, not only the file's
    else:
        options.literal = True
        source = query.pattern
    try:
        options.max_mem = RE2_COMPILE_MEM  # the size check, before the search's budget
        re2.compile(source.encode("utf-8"), options)
        options.max_mem = RE2_MAX_MEM
        regex = re2.compile(source.encode("utf-8"), options)
    except re2.error as exc:
        if options.max_mem == RE2_COMPILE_MEM and "too large" in str(exc):
            raise BadRequest(
                "`params.pattern` compiles to too large a program (pattern too large): "
                "use fewer or smaller repeats"
            ) from None
        raise BadRequest(
            f"`params.pattern` is not a valid RE2 expression: {_reason_as_written(exc, query)}"
        ) from None
    globs = _compile_globs(query.globs, "glob")
    # Only exclusions (`!tests/**`): everything else is searched, as rg's `-g '!x'`.
    default = not globs or not any(include for _, include in globs)
    return _Compiled(regex, globs, default, sensitive)


def _compile_globs(globs: Sequence[str], param: str) -> tuple[tuple[_Pattern, bool], ...]:
    compiled: list[tuple[_Pattern, bool]] = []
    for glob in globs:
        parsed = GitIgnoreSpecPattern(glob)
        if parsed.regex is None or parsed.include is None:
            raise BadRequest(f"`params.{param}` {glob[:64]!r} is not a path pattern")
        try:
            compiled.append((re2.compile(parsed.regex.pattern, _options()), parsed.include))
        except re2.error:
            raise BadRequest(f"`params.{param}` {glob[:64]!r} is not a path pattern") from None
    return tuple(compiled)


def path_selector(globs: Sequence[str], *, param: str = "path_glob") -> Callable[[str], bool]:
    """`grep`'s path rule (gitignore patterns, the last match decides, `!` excludes) for
    another method's `path_glob`, so one pattern means the same files everywhere. Raises
    BadRequest (4000) for too many, too long or invalid patterns."""
    if len(globs) > MAX_GREP_GLOBS:
        raise BadRequest(f"`params.{param}` may name at most {MAX_GREP_GLOBS} patterns")
    for glob in globs:
        if not glob or len(glob) > MAX_GREP_GLOB_CHARS or "\0" in glob:
            raise BadRequest(
                f"each `params.{param}` must be 1 to {MAX_GREP_GLOB_CHARS} characters, no NUL"
            )
    compiled = _compile_globs(globs, param)
    default = not compiled or not any(include for _, include in compiled)

    def selects(path: str) -> bool:
        chosen = default
        for pattern, include in compiled:
            if pattern.match(path) is not None:
                chosen = include
        return chosen

    return selects


def _options() -> Any:  # re2.Options
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False  # a refused pattern is the asker's error, not a log line
    return options


def _reason_as_written(exc: Exception, query: GrepQuery) -> str:
    """RE2's reason quotes the expression it was given, `(?m)` and all; the asker wrote
    no `(?m)`, so the reason comes from the expression as written when that fails too."""
    if query.regex:
        try:
            re2.compile(query.pattern.encode("utf-8"), _options())
        except re2.error as bare:
            return _reason(bare)
    return _reason(exc)


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text[:200] or "refused"


class _Text(NamedTuple):
    """What `Grep._bytes` read of a file: all of it (`whole`), or the lines where the
    index says a match may be, where each run of them lies in the file (`places`,
    [start, end) byte offsets: `TextIndex.excerpt`) and its first line's number."""

    data: bytes
    whole: bool
    places: tuple[tuple[int, int], ...] = ()
    lines: tuple[int, ...] = ()


@dataclass(slots=True)
class _Entry:
    key: tuple[int, int, int, int]  # (st_dev, st_ino, st_mtime_ns, st_size) when read
    data: bytes


class Grep:
    """The search engine over one repository: `search` per request, file bytes kept.

    Thread-safe: requests run it in worker threads at once; the cache is guarded."""

    def __init__(self, files: RepoFiles, *, cache_bytes: int = CACHE_BYTES) -> None:
        self._files = files
        self._root = str(files.root)
        self._cache_limit = cache_bytes
        self._cache: dict[str, _Entry] = {}
        self._refused: dict[str, tuple[tuple[int, int, int, int], str]] = {}
        """Files the gate refused for what they are (binary, too large), by stat."""
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._pruned_for: int | None = None  # id() of the inventory last pruned against
        self._selections: dict[tuple[int, tuple[str, ...]], _Selection] = {}

    def search(
        self,
        inventory: Inventory,
        query: GrepQuery,
        *,
        deadline: float | None = None,
        progress: GrepProgress | None = None,
    ) -> GrepResult:
        """Every match of `query` in the inventory's text files, in path and line order.

        Blocking (stats and reads files): run it in a worker thread. `deadline` is a
        `time.monotonic()` instant (default: GREP_DEADLINE_S from now). `progress`, when
        given, is filled as the search goes, so a caller that stops waiting can still
        answer what was found. Raises BadRequest for a query that cannot be compiled."""
        started = time.monotonic()
        if deadline is None:
            deadline = started + GREP_DEADLINE_S
        compiled = compile_query(query)
        self._prune(inventory)
        chosen = self._selection(inventory, compiled, query.globs)
        done = progress if progress is not None else GrepProgress()
        done.total, done.case_sensitive = len(chosen.files), compiled.case_sensitive
        terms = literal_query(query.pattern, regex=query.regex)
        # Every match holds the terms as written: the pattern is matched with case, and
        # no flag group (`(?i)`) turns folding on anywhere in it.
        exact = compiled.case_sensitive and not (
            query.regex and _CASE_FLAG.search(query.pattern) is not None
        )
        collapsed = collapsed_query(query.pattern, regex=query.regex)
        gaps = word_gaps(query.pattern) if query.regex else ()
        narrowed = self._candidates(inventory, terms, collapsed, gaps, chosen, exact=exact)
        lines = None
        if narrowed is not None and query.regex:
            lines = _line_filter(terms, case_sensitive=exact)
        walk: Iterator[_Walked]
        walk = ((at, None) for at in range(len(chosen.files))) if narrowed is None else narrowed
        read: list[int] = []  # the candidates taken, when the index narrowed the search
        reason: str | None = None
        stop = len(chosen.files)
        pace = _Pace()
        index = inventory.text_index
        # One read transaction for the texts this search reads (`TextIndex.reading`).
        reading = index.reading() if index is not None else contextlib.nullcontext(None)
        with reading as texts:
            try:
                for at, spans in walk:
                    entry = chosen.files[at]
                    if time.monotonic() >= deadline:
                        reason, stop = "deadline", at
                        break
                    read.append(at)
                    if entry.binary:
                        done.skipped["binary"] += 1
                        continue
                    got = self._bytes(entry.path, done.skipped, entry, texts, spans)
                    if got is not None and not got.whole:
                        # The lines where a match may be, of a large file: they hold every
                        # match of it (a match is within a line), numbered by the index's
                        # line counts (`Excerpt.lines`), so the rest is never read. With
                        # context lines asked for (they may lie outside), the file is read
                        # whole if they hold a match (asked for none, `_scan` answers
                        # "limit" at the first), and searched whole.
                        if query.context == 0:
                            done.searched += 1
                            before = len(done.matches)
                            reason = _scan(
                                entry.path, got.data, compiled.regex, 0, done.matches, query.limit,
                                deadline, pace, lines,
                            )  # fmt: skip
                            _renumber(done.matches, before, _excerpt_lines(got))
                            if reason is not None:
                                stop = at
                                break
                            continue
                        probe = _scan(
                            entry.path, got.data, compiled.regex, 0, [], 0, deadline, pace, lines
                        )
                        if probe != "limit":  # no match where one could be, or the deadline
                            done.searched += 1
                            if probe == "deadline":
                                reason, stop = probe, at
                                break
                            continue
                        got = self._bytes(entry.path, done.skipped, entry, texts)
                    if got is None:
                        continue
                    data = got.data
                    done.searched += 1
                    reason = _scan(
                        entry.path, data, compiled.regex, query.context, done.matches, query.limit,
                        deadline, pace, lines,
                    )  # fmt: skip
                    if reason is not None:
                        stop = at
                        break
            finally:
                if narrowed is not None:
                    narrowed.close()  # a lookup left early frees its connection now
        if narrowed is not None:
            _count_unread(done, chosen, read, stop)
        return done.result(reason, query.limit, (time.monotonic() - started) * 1000)

    def _selection(
        self, inventory: Inventory, compiled: _Compiled, globs: tuple[str, ...]
    ) -> _Selection:
        """The files the globs select, in path order, laid out once per inventory and
        globs (a glob costs a match per file: 100k files are worth remembering)."""
        key = (id(inventory), globs)
        with self._lock:
            found = self._selections.get(key)
            if found is not None and found.inventory is inventory:
                return found
        files = compiled.select(inventory.files) if globs else inventory.files
        found = _Selection(inventory, files)
        with self._lock:
            self._selections[key] = found
            while len(self._selections) > SELECTIONS_KEPT:
                self._selections.pop(next(iter(self._selections)))
        return found

    def _candidates(
        self,
        inventory: Inventory,
        terms: tuple[Term, ...],
        collapsed: tuple[Term, ...] | None,
        gaps: tuple[Gap, ...],
        chosen: _Selection,
        *,
        exact: bool,
    ) -> Generator[_Walked, None, None] | None:
        """Positions in `chosen` of the files the trigram index says may match, with the
        spans of their texts where a match may be (or None), in path order and as the
        index finds them (a search that stops early asks no further; `exact`: files
        holding the terms as written; `collapsed`: the terms as the indexes keep text,
        `literals.collapsed_query`; `gaps`: `literals.word_gaps`); None when there is
        no index or the pattern requires no text the index can look up."""
        index = inventory.text_index
        if index is None:
            return None
        if not terms:
            return None
        paths = index.matching(terms, case_sensitive=exact, collapsed=collapsed, gaps=gaps)
        if paths is None:
            return None
        return _positions(paths, chosen.positions())

    def _bytes(
        self,
        rel: str,
        skipped: dict[str, int],
        listed: RepoFile | None = None,
        texts: Texts | None = None,
        spans: tuple[int, ...] | None = None,
    ) -> _Text | None:
        """The file's bytes, from the cache when its stat is unchanged, else from the index
        cache's copy when the file is as the load read it (a regular file of the same size
        and `mtime_ns`, under this gate's cap), else through the gate; None (counted in
        `skipped`) when it cannot be searched. With `spans`, the index's copy of a file
        over EXCERPT_BYTES may come as the lines meeting them only (`TextIndex.excerpt`;
        `whole` False)."""
        try:
            st = os.lstat(os.path.join(self._root, rel))  # noqa: PTH118 - hot path
            if stat.S_ISLNK(st.st_mode):
                st = os.stat(os.path.join(self._root, rel))  # noqa: PTH116, PTH118
                texts = None  # a link goes through the gate: where it leads may move
        except (OSError, ValueError):
            skipped["unreadable"] += 1
            return None
        if (
            texts is not None
            and listed is not None
            and listed.mtime_ns == st.st_mtime_ns
            and listed.size == st.st_size <= self._files.max_bytes
            and stat.S_ISREG(st.st_mode)
        ):
            # Not kept in this cache: SQLite's pages (and the system's) keep the hot ones,
            # and serving memory stays bounded at 100k files.
            if spans is not None and listed.size > EXCERPT_BYTES:
                near = texts.excerpt(rel, spans)
                if near is not None:
                    return _Text(*near)
            kept = texts.data(rel)
            if kept is not None:
                return _Text(kept, whole=True)
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        entry = self._cache.get(rel)
        if entry is not None and entry.key == key:
            return _Text(entry.data, whole=True)
        refused = self._refused.get(rel)
        if refused is not None and refused[0] == key:
            skipped[refused[1]] += 1
            return None
        try:
            # The gate of a `file` request: inside the root, not denied, a regular file,
            # under the cap, UTF-8 text. The same bytes a participant could read.
            text = self._files.read_sync(rel).text
        except (FileTooLarge, BinaryFile) as exc:
            # What the bytes are, not whether they can be read now (permissions move no
            # mtime): remembered until the file's stat moves, so such a file costs a stat.
            reason = "too_large" if isinstance(exc, FileTooLarge) else "binary"
            skipped[reason] += 1
            with self._lock:
                self._refused[rel] = (key, reason)
            return None
        except FileError:
            skipped["unreadable"] += 1
            return None
        data = text.encode("utf-8")
        if b"\r\n" in data:
            # A CRLF line end is a line end: `$` matches before it, and no line or
            # column moves (the "\r" is the last byte of its line).
            data = data.replace(b"\r\n", b"\n")
        self._remember(rel, key, data)
        return _Text(data, whole=True)

    def _remember(self, rel: str, key: tuple[int, int, int, int], data: bytes) -> None:
        with self._lock:
            old = self._cache.pop(rel, None)
            if old is not None:
                self._cached_bytes -= len(old.data)
            if self._cached_bytes + len(data) <= self._cache_limit:
                self._cache[rel] = _Entry(key, data)
                self._cached_bytes += len(data)

    def _prune(self, inventory: Inventory) -> None:
        """Forget files the inventory no longer lists, and the selections of other
        inventories (once per new inventory): a replaced snapshot's selection kept its
        inventory alive, and its map of positions, 10 MB at 100k files, for up to
        SELECTIONS_KEPT live reloads."""
        if self._pruned_for == id(inventory):
            return
        with self._lock:
            for rel in [rel for rel in self._cache if rel not in inventory]:
                self._cached_bytes -= len(self._cache.pop(rel).data)
            for rel in [rel for rel in self._refused if rel not in inventory]:
                del self._refused[rel]
            for key in [k for k, v in self._selections.items() if v.inventory is not inventory]:
                del self._selections[key]
            self._pruned_for = id(inventory)

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes


class _Selection:
    """The files a search's globs select, and what a full scan would count of the files
    the trigram index lets a search skip (`_count_unread`)."""

    def __init__(self, inventory: Inventory, files: tuple[RepoFile, ...]) -> None:
        self.inventory = inventory  # kept: the key's id() must not be reused meanwhile
        self.files = files
        self._positions: dict[str, int] | None = None
        self._binary_before: list[int] | None = None

    def positions(self) -> dict[str, int]:
        if self._positions is None:
            self._positions = {e.path: n for n, e in enumerate(self.files)}
        return self._positions

    def binary_before(self, stop: int) -> int:
        """Binary files among the first `stop` files."""
        if self._binary_before is None:
            counts = [0]
            for e in self.files:
                counts.append(counts[-1] + e.binary)
            self._binary_before = counts
        return self._binary_before[stop]


def _positions(
    found: Iterator[tuple[str, tuple[int, ...] | None]], where: dict[str, int]
) -> Generator[_Walked, None, None]:
    """The positions of the selected files among those `found` (in path order: increasing)."""
    try:
        for path, spans in found:
            at = where.get(path)
            if at is not None:
                yield at, spans
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()


def _count_unread(done: GrepProgress, chosen: _Selection, read: list[int], stop: int) -> None:
    """Count the files before `stop` that the index left unread as a full scan would have:
    binary ones skipped, the others (texts the index holds: it found no literal in them)
    searched."""
    skipped_over = bisect.bisect_left(read, stop)  # candidates before the stop
    binary_read = sum(1 for at in read[:skipped_over] if chosen.files[at].binary)
    unread = stop - skipped_over
    binary_unread = chosen.binary_before(stop) - binary_read
    done.skipped["binary"] += binary_unread
    done.searched += unread - binary_unread


class _Pace:
    """How long this pattern takes per byte, learnt as the search goes.

    RE2 is linear in the text, but its constant is the pattern's: ordinary patterns run
    at a gigabyte a second, and a pattern within the length limit that defeats RE2's DFA
    (`a.{500}.{500}…c`) at a few kilobytes a second (benchmarks/RESULTS-grep.md). RE2
    cannot be stopped once called, so each call is given a piece of the text, cut at a
    line end, that this rate says fits in CALL_BUDGET_S, and a piece that would not fit
    before the deadline is not started. The rate is first learnt from a probe over
    PROBE_BYTES (a line can be megabytes: even one line is too much to try blind).

    Timed in the searching thread's CPU time (RE2 matches in the calling thread), not
    the wall clock: on a busy machine a call may wait for a core for tens of
    milliseconds, and a rate learnt from that wait (a 64-byte probe that waited 60 ms
    reads as a millisecond a byte) would end a search at once as past its deadline."""

    __slots__ = ("most", "seconds_per_byte", "tried")

    def __init__(self) -> None:
        self.seconds_per_byte: float | None = None
        self.most = PROBE_BYTES
        """The largest piece so far: a piece grows at most fourfold (a pattern's cost per
        byte can grow with the length of the line searched, so a rate learnt on a short
        piece may be too low for a long one)."""
        self.tried = [0.0, 0.0, 0]
        """With a line filter: what the files tried both ways cost searched whole first,
        then by the filter alone (seconds, thread time), and their bytes (`whole_first`)."""

    def whole_first(self, size: int) -> bool | None:
        """Whether a file searched with a line filter is first searched whole, in one call
        (`_scan`); None: both ways, to learn which costs less. That depends on the
        pattern and the candidates: at 100k files the filter text of `read\\w*rom`
        (`read`, blind to case) is on a line every 760 bytes, a call of RE2 each, where
        one call over a whole file (RE2 skips to the pattern's first letters at memory
        speed) says 636 of 657 candidates hold no match: 23.5 -> 8.7 ms. `^\\s*\\w+\\s+
        IDis\\w*` runs its automaton over every byte (1 GB/s) where its filter's `IDis`
        is rare: 17 ms filtered, 26 whole first. So the first WAY_BYTES of a search's
        files are searched both ways (the filter's answer is kept), and the way that cost
        less on them is kept. Never whole for a file one call over which may not fit in
        CALL_BUDGET_S."""
        if self.seconds_per_byte is None or not self.fits(size):
            return False
        whole_s, filtered_s, tried = self.tried
        if tried < WAY_BYTES:
            return None
        return whole_s <= filtered_s

    def tried_both(self, whole_s: float, filtered_s: float, size: int) -> None:
        """What one file cost each way (`whole_first`)."""
        self.tried[0] += whole_s
        self.tried[1] += filtered_s
        self.tried[2] += size

    def probe(self, regex: _Pattern, data: bytes, pos: int) -> None:
        """Time the pattern over the next PROBE_BYTES (its answer is not used: the probe
        may end inside a line)."""
        end = min(pos + PROBE_BYTES, len(data))
        started = time.thread_time()
        regex.search(data, pos, end)
        self.seconds_per_byte = (time.thread_time() - started) / max(end - pos, 1)

    def took(self, seconds: float, size: int) -> None:
        """Learn from one call over `size` bytes. A call over too little text to time
        (a match in the first line) teaches nothing; a slower rate is taken at once; a
        faster one is taken when measured over enough text, else halves the gap (one
        call slowed by the scheduler must not shrink every piece)."""
        if size < 1024 and seconds < 0.001:
            return
        rate = seconds / max(size, 1)
        old = self.seconds_per_byte or rate
        if rate >= old or size >= 16 * 1024:
            self.seconds_per_byte = rate
        else:
            self.seconds_per_byte = max(rate, old / 2)

    def slower(self, seconds: float, size: int) -> None:
        """Learn from a call over a whole file (`_scan`) only a slower rate (`took`): a
        pattern found slower there must size the next calls and files. A faster one is
        left: taken too, it made `^\\s*\\w+\\s+IDis\\w*`'s filtered scan 26 ms where 16
        at 100k files (the filter's short pieces are sized from the rate)."""
        if self.seconds_per_byte is None or seconds > self.seconds_per_byte * max(size, 1):
            self.took(seconds, size)

    def fits(self, size: int) -> bool:
        """Whether one call over `size` bytes is expected within CALL_BUDGET_S."""
        return size * (self.seconds_per_byte or 0.0) <= CALL_BUDGET_S

    def piece(self, budget_s: float) -> int:
        """Bytes one call may search within `budget_s`."""
        fits = int(budget_s / max(self.seconds_per_byte or 0.0, 1e-12))
        size = max(min(fits, self.most * 4), 1)
        self.most = max(self.most, size)
        return size


def _scan(
    path: str,
    data: bytes,
    regex: _Pattern,
    context: int,
    matches: list[GrepMatch],
    want: int,
    deadline: float,
    pace: _Pace,
    lines: _LineFilter | None = None,
) -> str | None:
    """Append this file's matches, one per line; "limit" or "deadline" when it stopped
    (`_scan_from`). With a line filter, the file may first be searched whole in one call
    (`_Pace.whole_first`): most candidates of a pattern whose filter text is common hold
    no match, and then that call is all they cost."""
    if lines is None:
        return _scan_from(path, data, 0, regex, context, matches, want, deadline, pace)
    size = len(data)
    whole = pace.whole_first(size)
    if whole is False:
        return _scan_from(path, data, 0, regex, context, matches, want, deadline, pace, lines)
    if time.monotonic() >= deadline:
        return "deadline"
    began = time.thread_time()
    first = regex.search(data, 0, size)
    whole_s = time.thread_time() - began
    pace.slower(whole_s, size if first is None else first.end())
    if whole:
        if first is None:
            return None
        # Leftmost first: no match starts before it, and none crosses a line (`never_nl`).
        start = data.rfind(b"\n", 0, first.start()) + 1
        return _scan_from(path, data, start, regex, context, matches, want, deadline, pace, lines)
    began = time.thread_time()  # the filter's way, timed
    reason = _scan_from(path, data, 0, regex, context, matches, want, deadline, pace, lines)
    filtered_s = time.thread_time() - began
    if reason != "deadline":
        # What each way would have cost: searched whole first, a file holding a match is
        # searched on from that match's line, which costs no more than from its start.
        pace.tried_both(whole_s + (filtered_s if first is not None else 0.0), filtered_s, size)
    return reason


def _scan_from(
    path: str,
    data: bytes,
    pos: int,
    regex: _Pattern,
    context: int,
    matches: list[GrepMatch],
    want: int,
    deadline: float,
    pace: _Pace,
    lines: _LineFilter | None = None,
) -> str | None:
    """Append this file's matches from the line starting at `pos` on, one per line;
    "limit" or "deadline" when it stopped.

    With `lines` (`_line_filter`: text every match holds), a file without that text is
    not searched, and only the stretches near lines holding it are: from a line start,
    the next such line is found at memory speed (a literal); when it is GAP_BYTES or
    more on, the search jumps to it and the pattern runs over that line alone (untimed
    when `pace` says a line that short is cheap); when nearer, the next STRETCH_BYTES
    are searched as one piece (close lines cost less in one call than one by one). A
    large generated file holding the text in a few hundred of its 50,000 lines costs a
    literal pass, not a pass of the pattern's automaton over all of it.

    The text is searched in pieces sized by `pace`, each ending at a line end
    (`never_nl`: no match crosses one, so the pieces find exactly what one call would).
    When the pattern is slow and the next line end is far (a minified file's line), the
    piece is a window of the line instead, the next one overlapping it by WINDOW_OVERLAP
    bytes: RE2 reads `^`, `$` and `\b` in the whole text's context, so what a window
    finds is a match of the line, but a match longer than the overlap that straddles two
    windows is missed (only for such patterns, on such lines)."""
    line_no = 1
    counted_to = 0  # `line_no` is the number of the line holding byte `counted_to`
    size = len(data)
    tail = size - 1 if data.endswith(b"\n") else size  # less the last line end: no line after
    bound = tail if lines is None else -1  # where the stretch searched ends (`lines`: near it)
    stretch = GAP_BYTES  # bytes searched past a line holding the text (`lines`)
    window_line, window_most = -1, 0  # the long line being searched in windows, their cap
    while pos < size:
        now = time.monotonic()
        if now >= deadline:
            return "deadline"
        if pace.seconds_per_byte is None:
            pace.probe(regex, data, pos)
            continue  # the deadline again: the probe took time
        found: _Found | None = None
        searched = False
        if lines is not None and pos > bound:  # past the stretch: where is the text next?
            hit = lines.find(data, pos, size)
            if hit < 0:
                return None  # no line further on holds the text every match holds
            start = data.rfind(b"\n", 0, hit) + 1
            # Lines without the text hold no match: skipped. Text found close again, the
            # stretch grows (one call for many close lines), else it is that line alone.
            near = start - pos < GAP_BYTES
            stretch = min(stretch * 4, STRETCH_BYTES) if near else GAP_BYTES
            pos = start
            bound = data.find(b"\n", hit + stretch if near else hit)
            bound = tail if bound < 0 else bound
            short = bound - pos <= min(pace.most, GAP_BYTES) and pace.fits(bound - pos)
            if short and not near:  # a line alone, at a rate this search has seen hold
                found, end, searched = regex.search(data, pos, bound), bound, True  # untimed
        window = False
        if not searched:
            reach = pos + pace.piece(min(CALL_BUDGET_S, deadline - now))
            end = data.find(b"\n", reach)
            if end < 0 or end > bound:
                end = bound
            window = end - reach > WINDOW_OVERLAP  # the line runs on far: a window of it
            if window:
                line_start = data.rfind(b"\n", 0, pos) + 1
                if line_start != window_line:  # a new long line: its windows start small
                    window_line, window_most = line_start, 2 * WINDOW_OVERLAP
                end = min(pos + min(max(reach - pos, 2 * WINDOW_OVERLAP), window_most), bound)
                window_most *= 2  # the cost of a byte can grow with the length searched
            rate = pace.seconds_per_byte
            if rate is not None and now + (end - pos) * rate > deadline + CALL_BUDGET_S:
                return "deadline"  # even the next line would run past the deadline
            started = time.thread_time()
            found = regex.search(data, pos, end)
            spent = time.thread_time() - started
            pace.took(spent, (end if found is None else found.end()) - pos)
        if found is None:
            pos = end - WINDOW_OVERLAP if window else end + 1
            continue
        if len(matches) >= want:
            return "limit"  # one more than asked for exists
        start = found.start()
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", start)
        if line_end < 0:
            line_end = size
        if line_start < pos and pace.fits(found.end() - line_start):
            # A window's match; one starting earlier may straddle windows, and (leftmost
            # first) it ends by this one's end: the line up to there, once, when cheap.
            earliest = regex.search(data, line_start, found.end())
            start = earliest.start() if earliest is not None else start
        line_no += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        _append(path, data, start, line_start, line_end, line_no, context, matches)
        pos = line_end + 1
    return None


def _excerpt_lines(got: _Text) -> list[tuple[int, int]]:
    """For each run of lines of an excerpt (`got`), (its first line's number in the
    excerpt, in the file), both 1-based."""
    out: list[tuple[int, int]] = []
    in_excerpt, at = 1, 0
    for (start, end), in_file in zip(got.places, got.lines, strict=True):
        out.append((in_excerpt, in_file))
        in_excerpt += got.data.count(b"\n", at, at + end - start) + 1
        at += end - start + 1
    return out


def _renumber(matches: list[GrepMatch], first: int, starts: list[tuple[int, int]]) -> None:
    """Matches[first:], numbered by lines of an excerpt, numbered by lines of the file
    (`_excerpt_lines`)."""
    excerpt_lines = [e for e, _ in starts]
    for n in range(first, len(matches)):
        match = matches[n]
        at = bisect.bisect_right(excerpt_lines, match.line) - 1
        in_excerpt, in_file = starts[at]
        matches[n] = dataclasses.replace(match, line=in_file + match.line - in_excerpt)


def _append(
    path: str,
    data: bytes,
    start: int,
    line_start: int,
    line_end: int,
    line_no: int,
    context: int,
    matches: list[GrepMatch],
) -> None:
    """The match at `start`, on the line [line_start, line_end) numbered `line_no`."""
    if line_end - line_start > 2 * MAX_GREP_LINE_CHARS:
        # A long line (a minified file's can be megabytes): the characters before the
        # match counted, not decoded, and only the part answered decoded. Decoding all
        # of it made half of `initInputToken`'s time at 100k files (two 836 KB lines).
        column = _chars(data, line_start, start) + 1
        text = _cut_long(data, line_start, line_end, start)
    else:
        column = len(data[line_start:start].decode("utf-8", "replace")) + 1
        text = _cut(data[line_start:line_end].decode("utf-8", "replace"), column - 1)
    before, after = _around(data, line_start, line_end, context) if context else ((), ())
    matches.append(GrepMatch(path, line_no, column, text, before, after))


class _LineFilter:
    """Where the next line that may hold a match is: at the next place of the longest text
    every match holds (a line without it holds no match: `never_nl` keeps a match in its
    line), found at memory speed where a pattern such as `^\\s*\\w+\\s+name` reads every
    byte through its automaton, so the trigram index's candidates that do not hold the
    text cost a literal pass only.

    Blind to case unless the whole pattern is matched with case (`_line_filter`), so it
    accepts at least what the pattern does. Matched with case, the text is found by
    `bytes.find` (a fraction of a microsecond a call, where a call of RE2 from Python
    costs a few), and where an alternation's options all hold it, only a place where it
    is part of one of them counts: `\\s+Options\\b` holds ` Options` or `\\tOptions`...,
    and a generated file's thousands of `EndpointOptions` cost a comparison each, not a
    search of their lines (at 100k files, 45,786 places of `Options` in the candidates
    of `(class|…)\\s+Options\\b`, 2,041 of them after a space)."""

    __slots__ = ("_around", "_blind", "_text")

    def __init__(
        self, text: bytes, blind: _Pattern | None, around: tuple[tuple[bytes, int], ...]
    ) -> None:
        self._text = text
        self._blind = blind
        grouped: dict[tuple[int, int], set[bytes]] = {}
        for piece, offset in around:
            grouped.setdefault((offset, len(piece)), set()).add(piece)
        self._around = tuple((o, n, frozenset(p)) for (o, n), p in grouped.items())
        """(where `text` is in the pieces, their length, the pieces): one of them must be
        at each place. Grouped so a place costs a slice and a set lookup per group: the
        options of `\\s+IDis` are four pieces of one shape, and 5,700 of the 6,744 places
        of `IDis` in its candidates at 100k files have none of them (14.1 -> 13.1 ms over
        those texts; finding the places is the rest)."""

    def find(self, data: bytes, pos: int, end: int) -> int:
        """Where the text is next in data[pos:end] (as `_LineFilter` counts), or -1."""
        if self._blind is not None:
            hit = self._blind.search(data, pos, end)
            return -1 if hit is None else hit.start()
        text, around = self._text, self._around
        while True:
            at = data.find(text, pos, end)
            if at < 0 or not around:
                return at
            for offset, length, pieces in around:
                start = at - offset
                if start >= 0 and data[start : start + length] in pieces:
                    return at
            pos = at + 1


def _line_filter(terms: tuple[Term, ...], *, case_sensitive: bool) -> _LineFilter | None:
    """The `_LineFilter` of a pattern's required terms (`literals.literal_query`), with case
    when the whole pattern is matched with case (smart case or asked for, and no `(?i)`
    flag anywhere in it); None when the pattern requires no text."""
    pieces = [t for t in terms if isinstance(t, str)]
    if not pieces:
        return None
    text = max(pieces, key=len).encode("utf-8")
    if not case_sensitive:
        options = _options()
        options.literal = True
        options.case_sensitive = False
        options.never_nl = True
        options.never_capture = True
        try:
            blind: _Pattern = re2.compile(text, options)
        except re2.error:
            return None
        return _LineFilter(text, blind, ())
    return _LineFilter(text, None, _holding(terms, text))


def _holding(terms: tuple[Term, ...], text: bytes) -> tuple[tuple[bytes, int], ...]:
    """(piece, where `text` is in it) for the first alternation of `terms` each of whose
    options has a piece holding `text`: a match holds one option's pieces whole, so
    `text` is found as part of one of those pieces at least once on its line."""
    for term in terms:
        if not isinstance(term, Either):
            continue
        around: list[tuple[bytes, int]] = []
        for option in term.options:
            held = [
                (raw, at)
                for piece in option
                for raw in [piece.encode("utf-8")]
                for at in _places(raw, text)
            ]
            if not held:
                break  # this option may match with `text` anywhere on the line
            around += held
        else:
            return tuple(around)
    return ()


def _places(piece: bytes, text: bytes) -> list[int]:
    """Every place of `text` in `piece`, overlapping ones too."""
    places: list[int] = []
    at = piece.find(text)
    while at >= 0:
        places.append(at)
        at = piece.find(text, at + 1)
    return places


def _around(
    data: bytes, line_start: int, line_end: int, context: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Up to `context` whole lines before and after the line at [line_start, line_end)."""
    before: list[str] = []
    end = line_start - 1  # the "\n" ending the previous line
    while len(before) < context and end >= 0:
        start = data.rfind(b"\n", 0, end) + 1
        before.append(_cut(data[start:end].decode("utf-8", "replace"), 0))
        end = start - 1
    before.reverse()
    after: list[str] = []
    start = line_end + 1
    while len(after) < context and start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        after.append(_cut(data[start:end].decode("utf-8", "replace"), 0))
        start = end + 1
    return tuple(before), tuple(after)


def _cut(line: str, at: int) -> str:
    """The line without its "\\r"; a long one cut to MAX_GREP_LINE_CHARS around `at`,
    with "…" where text was left out (a minified file's one line can be megabytes)."""
    line = line.removesuffix("\r")
    if len(line) <= MAX_GREP_LINE_CHARS:
        return line
    start, end = _shown(len(line), at)
    return ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")


_CUT_REACH: Final = 4 * MAX_GREP_LINE_CHARS + 8
"""Bytes each side of a match that hold more than MAX_GREP_LINE_CHARS characters however
they are written (four bytes a character at most): what `_cut_long` decodes."""
_NOT_CONTINUATION: Final = bytes(range(0x80)) + bytes(range(0xC0, 0x100))


def _cut_long(data: bytes, line_start: int, line_end: int, start: int) -> str:
    """`_cut` of the line [line_start, line_end) of `data` at the match starting at byte
    `start`, decoding _CUT_REACH bytes each side of it only. What it shows is what
    `_cut` shows of the whole line: the part shown starts MAX_GREP_LINE_CHARS // 4
    characters before the match unless the line's start or end is nearer, and both are
    within the bytes decoded when they are that near."""
    lo, hi = max(line_start, start - _CUT_REACH), min(line_end, start + _CUT_REACH)
    while lo > line_start and data[lo] & 0xC0 == 0x80:  # back to a character's start
        lo -= 1
    while hi < line_end and data[hi] & 0xC0 == 0x80:
        hi -= 1
    window = data[lo:hi].decode("utf-8", "replace")
    at = _chars(data, lo, start)
    if lo == line_start and hi == line_end:
        return _cut(window, at)
    if hi == line_end:
        window = window.removesuffix("\r")
    first, end = _shown(len(window), at)
    before = "…" if lo > line_start or first else ""
    return before + window[first:end] + ("…" if hi < line_end or end < len(window) else "")


def _chars(data: bytes, lo: int, hi: int) -> int:
    """The characters of data[lo:hi] (UTF-8, cut at characters' starts): its bytes less
    the continuation bytes, counted without making a string of them."""
    piece = data[lo:hi]
    if piece.isascii():
        return len(piece)
    return len(piece) - len(piece.translate(None, _NOT_CONTINUATION))


def _shown(length: int, at: int) -> tuple[int, int]:
    """The part of a line of `length` characters shown around character `at`."""
    start = max(0, min(at - MAX_GREP_LINE_CHARS // 4, length - MAX_GREP_LINE_CHARS))
    return start, start + MAX_GREP_LINE_CHARS

"""Code search (`grep`): the engine over repositories made here, and the protocol method."""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest

from context_bot.bot import handlers as handlers_mod
from context_bot.bot.handlers import Handlers
from context_bot.errors import BadRequest
from context_bot.knowledge import grep as grep_mod
from context_bot.knowledge.grep import Grep, GrepQuery, smart_case
from context_bot.knowledge.inventory import build_inventory
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.model import RepoFile
from context_bot.knowledge.sandbox import FileContent, RepoFiles
from context_bot.protocol import MAX_GREP_LINE_CHARS, Request
from tests.gitrepo import git

CAP = 4096  # the sandbox's size cap in these tests: a "huge" file need not be large
SLOW = "a" + ".{500}" * 8 + "c"
"""Linear for RE2 but slow: it defeats the DFA (a few hundred KB in seconds), and its
program (32,000 instructions) is under `RE2_COMPILE_MEM`; 64 repeats would be refused."""


def make_repo(root: Path, *, with_git: bool) -> Path:
    root.mkdir()
    (root / "src" / "util").mkdir(parents=True)
    (root / "src" / "app.py").write_text(
        "import os\n"
        "from client import Client\n"
        "\n"
        "def main():\n"
        "    client = Client()  # the Client\n"
        "    return client\n"
    )
    (root / "src" / "util" / "helpers.py").write_text("def helper():\n    return 'client'\n")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# Guide\n\nThe client talks to the server.\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0client\0binary")
    (root / "huge.txt").write_text("client\n" * (CAP // 7 + 10))  # over the cap
    (root / ".env").write_text("CLIENT_SECRET=never-searched\n")  # deny-listed
    (root / "src" / ".gitignore").write_text("generated/\n")  # a nested ignore file
    (root / "src" / "generated").mkdir()
    (root / "src" / "generated" / "client_pb.py").write_text("client = 'ignored'\n")
    if with_git:
        git(root, "init", "-q")
        git(root, "add", "src", "docs", "logo.png")  # the rest stays untracked
    return root


@pytest.fixture(params=[True, False], ids=["git", "no-git"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", with_git=request.param)


def ab_lines(size: int, seed: int) -> bytes:
    """Random a's and b's in lines of 10 KB: text on which RE2's DFA gives up for some
    patterns (so it runs its slower NFA), where repetitive text would not."""
    chars = random.Random(seed).choices(b"ab", k=size)  # noqa: S311 - test data
    for at in range(10_000, size, 10_000):
        chars[at] = ord("\n")
    return bytes(chars)


def search(root: Path, files: RepoFiles | None = None, **query: Any) -> grep_mod.GrepResult:
    files = files or RepoFiles(root, max_bytes=CAP)
    return Grep(files).search(build_inventory(files), GrepQuery(**query))


def where(result: grep_mod.GrepResult) -> list[tuple[str, int, int]]:
    return [(m.path, m.line, m.column) for m in result.matches]


# -- what is searched ----------------------------------------------------------------------


def test_every_text_file_is_searched_in_path_and_line_order(repo: Path) -> None:
    result = search(repo, pattern="client")

    assert where(result) == [
        ("docs/guide.md", 3, 5),
        ("src/app.py", 2, 6),
        ("src/app.py", 5, 5),  # one match per line: its first
        ("src/app.py", 6, 12),
        ("src/util/helpers.py", 2, 13),
    ]
    assert result.matches[2].text == "    client = Client()  # the Client"
    assert not result.truncated and result.truncated_reason is None
    # Binary and over the cap: skipped and counted, never fatal.
    assert result.files_skipped == {"binary": 1, "too_large": 1, "unreadable": 0}
    assert result.files_searched == 4  # app.py, helpers.py, guide.md, src/.gitignore
    assert result.files_total == 6
    # Neither the deny-listed `.env` nor what a nested `.gitignore` ignores.
    assert not any(m.path in (".env", "src/generated/client_pb.py") for m in result.matches)


def test_a_file_the_inventory_lists_but_that_changed_since_is_read_as_it_is_now(
    tmp_path: Path,
) -> None:
    root = make_repo(tmp_path / "repo", with_git=True)
    files = RepoFiles(root, max_bytes=CAP)
    inventory = build_inventory(files)
    engine = Grep(files)
    assert len(engine.search(inventory, GrepQuery("client", globs=("src/**",))).matches) == 4

    (root / "src" / "util" / "helpers.py").unlink()  # gone since the inventory
    (root / "src" / "app.py").write_text("client\n" * (CAP // 7 + 10))  # now over the cap
    (root / "docs" / "guide.md").write_text("a new client line\n")  # changed: not the cache
    result = engine.search(inventory, GrepQuery("client"))

    assert where(result) == [("docs/guide.md", 1, 7)]
    assert result.files_skipped == {"binary": 1, "too_large": 2, "unreadable": 1}


class ChangingFiles(RepoFiles):
    """Rewrites `victim` while the search reads `trigger`: a file changed mid-search."""

    def __init__(self, root: Path, trigger: str, victim: Path, text: str) -> None:
        super().__init__(root, max_bytes=CAP)
        self.trigger, self.victim, self.text = trigger, victim, text

    def read_sync(self, path: str, *, lines: tuple[int, int] | None = None) -> FileContent:
        if path == self.trigger:
            self.victim.write_text(self.text)
        return super().read_sync(path, lines=lines)


def test_a_file_changed_while_searching_is_reported_as_read(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", with_git=True)
    victim = root / "src" / "util" / "helpers.py"
    files = ChangingFiles(root, "src/app.py", victim, "x = 1\ny = 'client'\nclient()\n")

    result = search(root, files, pattern="client", globs=("src/**",))

    helpers = [(m.line, m.text) for m in result.matches if m.path == "src/util/helpers.py"]
    assert helpers == [(2, "y = 'client'"), (3, "client()")]  # the new text, consistently
    assert result.files_skipped["unreadable"] == 0


def test_without_git_the_ignore_rules_still_apply(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", with_git=False)
    (root / ".gitignore").write_text("docs/\n")

    result = search(root, pattern="client")

    assert {m.path for m in result.matches} == {"src/app.py", "src/util/helpers.py"}


# -- how it matches ------------------------------------------------------------------------


def test_smart_case_is_sensitive_only_for_an_upper_case_letter(repo: Path) -> None:
    lower = search(repo, pattern="client", globs=("src/app.py",))
    upper = search(repo, pattern="Client", globs=("src/app.py",))
    forced = search(repo, pattern="Client", globs=("src/app.py",), case_sensitive=False)
    exact = search(repo, pattern="the client", globs=("src/app.py",), case_sensitive=True)
    folded = search(repo, pattern="the client", globs=("src/app.py",))

    assert (lower.case_sensitive, upper.case_sensitive) == (False, True)
    assert [m.line for m in lower.matches] == [2, 5, 6]
    assert [(m.line, m.column) for m in upper.matches] == [(2, 20), (5, 14)]
    assert [m.line for m in forced.matches] == [2, 5, 6]
    assert exact.matches == ()
    assert [(m.line, m.column) for m in folded.matches] == [(5, 26)]


@pytest.mark.parametrize(
    ("pattern", "regex", "sensitive"),
    [
        ("client", False, False),
        ("Client", False, True),
        (r"\S+client\W", True, False),  # escapes are not text sought
        (r"\p{Lu}x", True, False),
        (r"\bClient", True, True),
        ("[A-Z]", True, True),
        ("été", False, False),
        ("Été", False, True),
    ],
)
def test_smart_case_reads_escapes_as_syntax(pattern: str, regex: bool, sensitive: bool) -> None:
    assert smart_case(pattern, regex=regex) is sensitive


def test_a_literal_is_not_a_regex_and_a_regex_is(repo: Path) -> None:
    assert search(repo, pattern="Client()").matches[0].line == 5
    assert where(search(repo, pattern="C.ient", globs=("src/**",))) == []
    assert [m.line for m in search(repo, pattern=r"^\s+\w+ = C", regex=True).matches] == [5]
    assert [m.line for m in search(repo, pattern=r"client$", regex=True).matches] == [2, 5, 6]
    exact = search(repo, pattern=r"client$", regex=True, case_sensitive=True)
    assert [m.line for m in exact.matches] == [6]


def test_unicode_case_folding_and_columns_count_characters(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "notes.txt").write_text("un été, ÉTÉ\r\nnaïve café\n")

    result = search(root, pattern="été")
    assert [(m.line, m.column, m.text) for m in result.matches] == [(1, 4, "un été, ÉTÉ")]
    assert search(root, pattern="café").matches[0].column == 7
    # "\r" of a CRLF file is not part of the line.
    assert search(root, pattern="ÉTÉ$", regex=True).matches[0].text == "un été, ÉTÉ"


def test_a_match_never_spans_lines(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("end of one\nstart of two\n")

    assert search(root, pattern=r"one\nstart", regex=True).matches == ()
    assert search(root, pattern=r"one\sstart", regex=True).matches == ()
    # `^` matches each line once, and not after the file's last line end.
    assert [m.line for m in search(root, pattern="^", regex=True).matches] == [1, 2]


def test_context_lines_stop_at_the_file_s_ends(repo: Path) -> None:
    result = search(repo, pattern="import", globs=("src/app.py",), context=2)

    first, second = result.matches
    assert (first.line, first.before, first.after) == (1, (), ("from client import Client", ""))
    assert second.line == 2
    assert second.before == ("import os",)
    assert second.after == ("", "def main():")
    last = search(repo, pattern="return client", context=5, globs=("src/app.py",)).matches[0]
    assert last.after == () and len(last.before) == 5


def test_a_long_line_is_cut_around_its_match(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "min.js").write_text("x" * 5000 + "needle" + "y" * 5000 + "\n")

    match = search(root, RepoFiles(root), pattern="needle").matches[0]

    assert match.column == 5001
    assert "needle" in match.text
    assert match.text.startswith("…") and match.text.endswith("…")
    assert len(match.text) == MAX_GREP_LINE_CHARS + 2


@pytest.mark.parametrize("end", ["\n", "\r\n", ""])
@pytest.mark.parametrize("text", ["ascii only", "non-ASCII ü"])
def test_a_long_line_is_answered_alike_whether_ascii_or_not(end: str, text: str) -> None:
    """A long ASCII line is decoded only where it is shown; the answer is the one the
    whole line decoded gives (column in characters, the cut, the "\\r" dropped)."""
    for at in (0, 10, 3_000, 9_990):
        line = "x" * at + "needle" + text + "y" * (10_000 - at)
        data = (line + end).encode("utf-8")
        matches: list[grep_mod.GrepMatch] = []
        start = data.index(b"needle")
        line_end = len(data) - (1 if end.endswith("\n") else 0)
        grep_mod._append("a.js", data, start, 0, line_end, 1, 0, matches)

        assert matches[0].column == at + 1
        assert matches[0].text == grep_mod._cut(line, at)


@pytest.mark.parametrize("seed", range(12))
def test_a_long_line_is_cut_and_numbered_as_the_whole_line_decoded_gives(seed: int) -> None:
    """A long line's answer decodes only the bytes around the match (`_cut_long`) and
    counts the characters before it without decoding them (`_chars`): against the whole
    line decoded, for lines of one- to four-byte characters, short or long in either
    count, a "\\r" before the line end or not, the match anywhere (at its ends too)."""
    rng = random.Random(seed)  # noqa: S311 - a fixed draw of test lines
    alphabets = ("ab", "aé", "é中", "中🙂", "a🙂\r", "ab é中🙂")
    for _ in range(60):
        chars = rng.choice(alphabets)
        length = rng.choice((0, 1, 100, 299, 300, 301, 400, 1_000, 3_000, 20_000))
        line = "".join(rng.choice(chars) for _ in range(length))
        if rng.random() < 0.3:
            line += "\r"
        at = rng.randint(0, len(line))
        before, after = rng.choice(("", "x\n", "前\n")), rng.choice(("", "\n", "\ny"))
        data = (before + line + after).encode("utf-8")
        line_start = len(before.encode("utf-8"))
        line_end = line_start + len(line.encode("utf-8"))
        start = line_start + len(line[:at].encode("utf-8"))
        matches: list[grep_mod.GrepMatch] = []
        grep_mod._append("a.js", data, start, line_start, line_end, 1, 0, matches)

        assert matches[0].column == at + 1, (length, at)
        assert matches[0].text == grep_mod._cut(line, at), (length, at)


# -- which files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("globs", "paths"),
    [
        (("src/**/*.py",), {"src/app.py", "src/util/helpers.py"}),
        (("*.py",), {"src/app.py", "src/util/helpers.py"}),  # any depth, as gitignore
        (("*.md",), {"docs/guide.md"}),
        (("*.py", "!src/util/**"), {"src/app.py"}),  # the last match decides
        (("!src/**",), {"docs/guide.md"}),  # only exclusions: everything else
        (("docs/",), {"docs/guide.md"}),
        (("nothing/**",), set()),
    ],
)
def test_globs_select_paths_as_gitignore_patterns_do(
    repo: Path, globs: tuple[str, ...], paths: set[str]
) -> None:
    assert {m.path for m in search(repo, pattern="client", globs=globs).matches} == paths


def test_globs_run_over_all_paths_at_once_select_what_each_path_alone_selects() -> None:
    """`_Compiled.select` runs each glob once over the paths joined by newlines: it keeps
    exactly the files the per-path rule keeps, over random trees and globs (anchored,
    any depth, folders, exclusions, classes, spaces, non-ASCII), and falls back to the
    per-path rule for a path holding a newline."""
    rng = random.Random(21)  # noqa: S311 - a fixed draw of test cases
    parts = ["a", "b", "src", "x.py", "main.go", "é", "a b", "[x]", "tests", ".hidden", "foo"]
    globs = ["*.py", "src/**", "!tests/**", "a/*", "/b", "**/foo", "main.go", "a/**/x.py",
             "é*", "[ab]", "*", "a b/", "\\[x\\]", "!*.go", "src/", "**"]  # fmt: skip
    for _ in range(1500):
        names = {"/".join(rng.choice(parts) for _ in range(rng.randint(1, 4))) for _ in range(30)}
        if rng.random() < 0.05:
            names.add("src/new\nline.py")
        files = tuple(RepoFile(p, 1, None, False, 0) for p in sorted(names))
        chosen = tuple(rng.sample(globs, rng.randint(1, 3)))
        compiled = grep_mod.compile_query(GrepQuery("x", globs=chosen))
        assert compiled.select(files) == tuple(f for f in files if compiled.selects(f.path))


def test_a_backtracking_glob_costs_nothing(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ("a" * 200)).write_text("client\n")

    started = time.monotonic()
    result = search(root, pattern="client", globs=("*a*a*a*a*a*a*a*a*a*a*a*a*b",))

    assert result.matches == () and result.files_total == 0
    assert time.monotonic() - started < 1.0  # Python's `re` on this glob: hours


# -- bounds --------------------------------------------------------------------------------


def test_the_limit_cuts_and_says_so(repo: Path) -> None:
    cut = search(repo, pattern="client", limit=2)
    exact = search(repo, pattern="client", limit=5)

    assert where(cut) == [("docs/guide.md", 3, 5), ("src/app.py", 2, 6)]
    assert (cut.truncated, cut.truncated_reason) == (True, "limit")
    assert len(exact.matches) == 5 and not exact.truncated


def test_a_hostile_regex_runs_in_linear_time(tmp_path: Path) -> None:
    """`(a+)+b` against lines of a's takes a backtracking engine time exponential in a
    line's length (Python's `re` would not finish one line of these); RE2's work grows as
    the text does. Work is measured as the searching thread's CPU time, which a busy
    machine does not inflate as it does wall time, over four times as much text: four
    times the work, give or take (a quadratic engine would take sixteen)."""
    root = tmp_path / "repo"
    root.mkdir()
    line = "a" * 999 + "\n"
    (root / "short.txt").write_text(line * 1_000)  # 1 MB
    (root / "long.txt").write_text(line * 4_000)
    files = RepoFiles(root, max_bytes=8 * 1024 * 1024)
    inventory = build_inventory(files)
    engine = Grep(files)
    engine.search(inventory, GrepQuery("zzz"))  # read and cached: time the matching only

    def work(pattern: str, path: str) -> tuple[float, grep_mod.GrepResult]:
        query = GrepQuery(pattern, regex=True, globs=(path,))
        least = float("inf")
        for _ in range(3):  # the least of three: a cache miss or a migration adds, never takes
            started = time.thread_time()
            result = engine.search(inventory, query, deadline=time.monotonic() + 600)
            least = min(least, time.thread_time() - started)
        return least, result

    short, first = work("(a+)+b", "short.txt")
    long, second = work("(a+)+b", "long.txt")
    _, nested = work("(x+x+)+y", "long.txt")
    _, anchored = work("(a+)+$", "long.txt")

    assert first.matches == second.matches == nested.matches == ()
    assert first.files_searched == second.files_searched == 1 and not second.truncated
    assert where(anchored)[:2] == [("long.txt", 1, 1), ("long.txt", 2, 1)]
    assert long < 8 * max(short, 0.001)


def test_a_pattern_slow_in_linear_time_stops_at_the_deadline(tmp_path: Path) -> None:
    """RE2 is linear, but a pattern that defeats its DFA searches a few KB a second: the
    search is cut into pieces that fit the time left, and answers by its deadline."""
    root = tmp_path / "repo"
    root.mkdir()
    for n in range(3):
        (root / f"f{n}.txt").write_bytes(ab_lines(240_000, n))
    files = RepoFiles(root)
    inventory = build_inventory(files)
    engine = Grep(files)
    engine.search(inventory, GrepQuery("zzz"))  # read and cached: time the matching only

    started = time.monotonic()
    result = engine.search(
        inventory,
        GrepQuery(SLOW, regex=True),
        deadline=started + 0.5,
    )
    took = time.monotonic() - started

    assert (result.truncated, result.truncated_reason) == (True, "deadline")
    assert took < 0.5 + 1.0, took  # one whole file: about 60 s
    assert result.files_total == 3


def test_a_call_that_waited_for_a_core_teaches_no_slow_rate() -> None:
    """The pace is learnt in the searching thread's CPU time: a first call that waited
    200 ms for a core (here: slept, as a busy machine makes it wait) must not read as a
    pattern slow enough to end the search at once as past its deadline."""
    regex = grep_mod.compile_query(GrepQuery("hello", regex=True)).regex
    calls: list[int] = []

    class Waiting:
        def search(self, text: bytes, pos: int = 0, endpos: int = -1) -> Any:
            if not calls:
                time.sleep(0.2)
            calls.append(pos)
            return regex.search(text, pos, endpos)

    data = b"x" * 40_000 + b" hello\n"  # one long line: searched in windows
    matches: list[grep_mod.GrepMatch] = []
    deadline = time.monotonic() + grep_mod.GREP_DEADLINE_S
    pace = grep_mod._Pace()
    reason = grep_mod._scan("a.txt", data, Waiting(), 0, matches, 50, deadline, pace)

    assert reason is None
    assert [(m.line, m.column) for m in matches] == [(1, 40_002)]


@pytest.mark.parametrize("whole_first", [True, None])
def test_a_file_searched_whole_first_teaches_the_pace(
    whole_first: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One call over a whole file is timed as every call is: a pattern found slower there
    makes the next calls (and whether a next file is searched whole) fit the budget."""
    regex = grep_mod.compile_query(GrepQuery("hello", regex=True)).regex
    monkeypatch.setattr(grep_mod._Pace, "whole_first", lambda self, size: whole_first)

    class Slow:
        def search(self, text: bytes, pos: int = 0, endpos: int = -1) -> Any:
            if pos == 0 and endpos == len(text):  # the whole-file call: CPU time spent
                spent = time.thread_time() + 0.05
                while time.thread_time() < spent:
                    pass
            return regex.search(text, pos, endpos)

    data = b"nothing here\n" * 5_000  # 65 KB, no match
    lines = grep_mod._line_filter(grep_mod.literal_query("hello", regex=True), case_sensitive=True)
    pace = grep_mod._Pace()
    pace.seconds_per_byte = 1e-9  # learnt on earlier files: a fast pattern
    deadline = time.monotonic() + grep_mod.GREP_DEADLINE_S
    reason = grep_mod._scan("a.txt", data, Slow(), 0, [], 50, deadline, pace, lines)

    assert reason is None
    assert pace.seconds_per_byte is not None
    assert pace.seconds_per_byte >= 0.04 / len(data)  # 50 ms over 65 KB, not 1 ns a byte
    assert not pace.fits(10 * len(data))  # a file ten times larger: not in one call


def test_a_slow_pattern_on_a_long_line_stops_at_the_deadline_too(tmp_path: Path) -> None:
    """Line-aligned pieces cannot bound a call on a line of a megabyte: windows do."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.md").write_text("short lines\nteach the pace a low rate\n" * 50)
    (root / "b.txt").write_text("a" * 1_000_000 + "\n")
    files = RepoFiles(root)
    inventory = build_inventory(files)
    engine = Grep(files)
    engine.search(inventory, GrepQuery("zzz"))

    started = time.monotonic()
    result = engine.search(inventory, GrepQuery(SLOW, regex=True), deadline=started + 0.5)

    assert result.truncated_reason == "deadline"
    assert time.monotonic() - started < 0.5 + 1.0  # one call over the line: minutes


@pytest.mark.parametrize(
    ("pattern", "found"),
    [
        ("needle", [(2, 90_002)]),
        ("^needle", []),  # a window's start is no line start
        ("^x{5}", [(2, 1)]),
        ("y$", [(2, 180_006)]),  # the line's end, in the last window
        ("x$", []),  # a window's end is no line end
        (r"\bneedle\b", [(2, 90_002)]),
        ("tail", [(3, 1)]),
    ],
)
def test_windows_of_a_long_line_find_what_one_call_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, found: list[tuple[int, int]]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("head\n" + "x" * 90_000 + " needle " + "x" * 89_997 + "y\ntail\n")
    monkeypatch.setattr(grep_mod._Pace, "piece", lambda self, budget: 100)  # a slow pattern
    calls: list[int] = []
    real = grep_mod._Pace.took
    monkeypatch.setattr(
        grep_mod._Pace, "took", lambda self, s, n: calls.append(n) or real(self, s, n)
    )

    result = search(root, RepoFiles(root), pattern=pattern, regex=True)

    assert [(m.line, m.column) for m in result.matches] == found
    if not found or found[0][1] > 10_000:
        assert len(calls) > 50  # searched in windows, not in one call


async def test_a_slow_search_is_answered_by_its_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However long RE2's call under way takes, the answer goes at the deadline (plus a
    grace), with what was found; the thread finishes its call and frees its slot."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.txt").write_text("a hit\n")
    (root / "b.txt").write_bytes(b"a" * 20_000 + b"\n" + ab_lines(200_000, 1))
    knowledge = load_knowledge(root / "knowledge", root)
    handlers = Handlers(lambda: knowledge, RepoFiles(root))
    # The whole search takes about 20 s; the deadline leaves a busy machine time to reach
    # a.txt first, and the bound still tells "at the deadline" from "when done".
    deadline = 0.8
    monkeypatch.setattr(handlers_mod, "GREP_DEADLINE_S", deadline)

    started = time.monotonic()
    result = await call(handlers, pattern="(a|hit)" + ".{500}" * 8 + "c|hit", regex=True)
    took = time.monotonic() - started

    assert took < deadline + handlers_mod.GREP_GRACE_S + 1.0, took
    assert (result["truncated"], result["truncated_reason"]) == (True, "deadline")
    assert [m["path"] for m in result["matches"]] == ["a.txt"]
    async with asyncio.timeout(30):  # the slot comes back once the thread is done
        await handlers._grep_slots.acquire()
        await handlers._grep_slots.acquire()


def test_a_refused_expression_is_quoted_as_the_asker_wrote_it(tmp_path: Path) -> None:
    """The `(?m)` put in front for line anchors is ours: naming it confuses the asker."""
    with pytest.raises(BadRequest) as refused:
        search(tmp_path, pattern="func (", regex=True)
    assert refused.value.message.endswith("missing ): func (")
    assert "(?m)" not in refused.value.message


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"pattern": "x" * 10_000}, "at most 1000 characters"),
        ({"pattern": ""}, "must not be empty"),
        ({"pattern": "(", "regex": True}, "not a valid RE2 expression"),
        ({"pattern": "a(?=b)", "regex": True}, "not a valid RE2 expression"),
        ({"pattern": r"\p{L}{1000}", "regex": True}, "pattern too large"),
        ({"pattern": "a" + ".{500}" * 64 + "c", "regex": True}, "too large a program"),
        ({"pattern": "a", "globs": ("x" * 300,)}, "each `params.glob`"),
        ({"pattern": "a", "globs": ("#comment",)}, "not a path pattern"),
        ({"pattern": "a", "context": 6}, "context"),
        ({"pattern": "a", "limit": 501}, "limit"),
    ],
)
def test_bad_queries_are_refused_with_4000(
    tmp_path: Path, query: dict[str, Any], words: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        search(tmp_path, **query)
    assert refused.value.code == 4000
    assert words in refused.value.message


def test_a_pattern_over_the_limit_is_refused_before_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[object] = []
    real = grep_mod.re2.compile
    monkeypatch.setattr(grep_mod.re2, "compile", lambda *a: compiled.append(a) or real(*a))

    search(tmp_path, pattern="x" * 1000)
    seen = len(compiled)
    assert seen == 2  # the seam is live: the size check, then the search's compile
    with pytest.raises(BadRequest):
        search(tmp_path, pattern="x" * 1001)
    assert len(compiled) == seen


def test_past_the_deadline_it_answers_what_it_found(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    for n in range(6):
        (root / f"f{n}.txt").write_text("client\n")

    class SlowFiles(RepoFiles):
        def read_sync(self, path: str, *, lines: tuple[int, int] | None = None) -> FileContent:
            time.sleep(0.1)
            return super().read_sync(path, lines=lines)

    files = SlowFiles(root)
    result = Grep(files).search(
        build_inventory(files), GrepQuery("client"), deadline=time.monotonic() + 0.25
    )

    assert (result.truncated, result.truncated_reason) == (True, "deadline")
    assert 1 <= result.files_searched < 6 and result.files_total == 6
    assert [m.path for m in result.matches] == [f"f{n}.txt" for n in range(len(result.matches))]


def test_the_cache_keeps_bytes_only_of_listed_files(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", with_git=True)
    files = RepoFiles(root, max_bytes=CAP)
    engine = Grep(files)
    engine.search(build_inventory(files), GrepQuery("client"))
    full = engine.cached_bytes
    assert full > 0

    (root / "docs" / "guide.md").unlink()
    engine.search(build_inventory(files), GrepQuery("client"))

    assert engine.cached_bytes == full - len("# Guide\n\nThe client talks to the server.\n")


# -- the protocol method -------------------------------------------------------------------


@pytest.fixture
def handlers(tmp_path: Path) -> Handlers:
    root = make_repo(tmp_path / "repo", with_git=True)
    knowledge = load_knowledge(root / "knowledge", root)  # no knowledge folder: fine
    return Handlers(lambda: knowledge, RepoFiles(root, max_bytes=CAP))


async def call(handlers: Handlers, **params: Any) -> dict[str, Any]:
    return await handlers.handle(Request(id="t", method="grep", params=params))


async def test_grep_answers_matches_in_the_wire_shape(handlers: Handlers) -> None:
    result = await call(handlers, pattern="Client", glob="src/**", context=1)

    assert result["matches"][0] == {
        "path": "src/app.py",
        "line": 2,
        "column": 20,
        "text": "from client import Client",
        "before": ["import os"],
        "after": [""],
    }
    assert result["truncated"] is False and result["truncated_reason"] is None
    assert result["files_searched"] == 3  # app.py, helpers.py, .gitignore
    assert result["files_skipped"] == {"binary": 0, "too_large": 0, "unreadable": 0}
    assert result["case_sensitive"] is True
    assert isinstance(result["knowledge_version"], str)
    assert "grep" in handlers.methods


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"pattern": 3},
        {"pattern": "x" * 10_000},
        {"pattern": "a", "regex": "yes"},
        {"pattern": "a", "case_sensitive": "no"},
        {"pattern": "a", "glob": 7},
        {"pattern": "a", "glob": ["*.py", 1]},
        {"pattern": "a", "glob": ["*"] * 17},
        {"pattern": "a", "context": -1},
        {"pattern": "a", "context": True},
        {"pattern": "a", "limit": 0},
        {"pattern": "(", "regex": True},
    ],
)
async def test_grep_refuses_bad_params_with_4000(
    handlers: Handlers, params: dict[str, Any]
) -> None:
    with pytest.raises(BadRequest) as refused:
        await call(handlers, **params)
    assert refused.value.code == 4000


async def test_a_search_waiting_past_its_deadline_answers_truncated(
    handlers: Handlers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers_mod, "GREP_DEADLINE_S", 0.2)
    for _ in range(handlers_mod.GREP_CONCURRENCY):
        await handlers._grep_slots.acquire()  # every slot busy

    started = time.monotonic()
    result = await call(handlers, pattern="client")

    assert 0.15 < time.monotonic() - started < 1.0
    assert (result["truncated"], result["truncated_reason"]) == (True, "deadline")
    assert result["matches"] == [] and result["files_searched"] == 0
    assert result["case_sensitive"] is False


async def test_the_event_loop_runs_while_a_search_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search runs in a worker thread, and RE2 lets go of the GIL while it matches:
    the loop's own steps go on during RE2's calls. Counted, not timed: each RE2 call of
    the search notes the loop's steps before and after it, and so does each call of a
    peer in the same test that holds the GIL (a sort in C), which lets the loop take
    about one step per call (when it returns and the interpreter hands the GIL over)."""
    root = tmp_path / "repo"
    root.mkdir()
    for n in range(2):
        (root / f"big{n}.txt").write_bytes(ab_lines(400_000, n))
    knowledge = load_knowledge(root / "knowledge", root)
    handlers = Handlers(lambda: knowledge, RepoFiles(root))
    await call(handlers, pattern="zzz")  # warm the cache: measure matching, not reading

    steps = 0
    calls: list[tuple[int, float]] = []  # (loop steps during the call, the call's seconds)
    searcher: list[int] = []
    real_scan = grep_mod._scan

    def counted(work: Any) -> Any:
        searcher.append(threading.get_ident())
        before, started = steps, time.monotonic()
        found = work()
        calls.append((steps - before, time.monotonic() - started))
        return found

    class Counted:
        def __init__(self, regex: Any) -> None:
            self.regex = regex

        def search(self, text: bytes, pos: int = 0, endpos: int = -1) -> Any:
            return counted(lambda: self.regex.search(text, pos, endpos))

    def scan(path: str, data: bytes, regex: Any, *rest: Any) -> Any:
        return real_scan(path, data, Counted(regex), *rest)

    async def steps_during(work: Any) -> list[int]:
        nonlocal steps
        calls.clear()
        task = asyncio.ensure_future(work)
        while not task.done():
            steps += 1
            await asyncio.sleep(0.001)
        await task
        return [during for during, took in calls if took >= 0.005]

    monkeypatch.setattr(grep_mod, "_scan", scan)
    # About 300 ms a megabyte: RE2's DFA gives up on it (benchmarks/RESULTS-grep.md).
    ours = await steps_during(call(handlers, pattern="a[ab]{20}c", regex=True))
    assert searcher and threading.get_ident() not in searcher  # a worker thread searched
    numbers = [random.random() for _ in range(50_000)]  # noqa: S311 - test data
    held = await steps_during(
        asyncio.to_thread(lambda: [counted(lambda: sorted(numbers)) for _ in range(len(ours))])
    )

    assert len(ours) >= 5 and len(held) >= 5  # both took a while, in several calls
    assert sum(ours) / len(ours) > 2 * max(sum(held) / len(held), 1)


def mixed_text(seed: int) -> bytes:
    """Lines holding `Options` far apart (kilobytes of other lines between), close
    together, on long lines, at the start and the end, some of them matches."""
    rng = random.Random(seed)  # noqa: S311 - a fixed draw of test text
    kinds = [
        b"type Options struct {}",
        b"var x = newOptions()",
        b"\tfn  Options",
        b"// Options: not a match here" + b" pad" * 2000,
        b"x" * 5000 + b" class Options " + b"y" * 3000,
        b"nothing to see",
    ]
    out: list[bytes] = []
    for _ in range(400):
        if rng.random() < 0.3:
            out += [b"filler line number %d" % n for n in range(rng.choice([1, 5, 300]))]
        out.append(rng.choice(kinds))
    return b"\n".join(out) + (b"\n" if seed % 2 else b"")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("slow", [False, True])
@pytest.mark.parametrize("whole_first", [False, None, True])
def test_a_line_filter_finds_what_a_whole_scan_finds(
    seed: int, slow: bool, whole_first: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_scan` with the text every match holds skips the lines without it, jumping to far
    ones and searching close ones in stretches; its matches (and its stop at the limit)
    are a whole scan's, also with a slow pattern's pace (windows of long lines), and
    whether the file is first searched whole in one call, or both ways (`whole_first`)."""
    if slow:
        monkeypatch.setattr(grep_mod._Pace, "piece", lambda self, budget: 700)
    monkeypatch.setattr(grep_mod._Pace, "whole_first", lambda self, size: whole_first)
    data = mixed_text(seed)
    pattern = r"(class|struct|type|fn)\s+Options\b"
    regex = grep_mod.compile_query(GrepQuery(pattern, regex=True)).regex
    terms = grep_mod.literal_query(pattern, regex=True)
    lines = grep_mod._line_filter(terms, case_sensitive=True)
    assert lines is not None
    for want in (10_000, 7):
        found: list[list[grep_mod.GrepMatch]] = [[], []]
        reasons = [
            grep_mod._scan("f", data, regex, 1, found[n], want, time.monotonic() + 60,
                           grep_mod._Pace(), filt)
            for n, filt in enumerate((None, lines))
        ]  # fmt: skip
        assert found[0] == found[1] and reasons[0] == reasons[1]
        assert len(found[0]) > 7 if want > 7 else reasons[0] == "limit"


def test_a_search_keeps_the_way_that_cost_less_once_both_were_tried() -> None:
    """With a line filter, files are searched both ways (None) until WAY_BYTES of them
    were, then whole first only while that cost less; never whole before the pattern's
    rate is known, or for a file one call over which would not fit CALL_BUDGET_S."""
    pace = grep_mod._Pace()
    assert pace.whole_first(1000) is False  # no rate yet: the filter alone
    pace.seconds_per_byte = 1e-9
    assert pace.whole_first(1000) is None
    pace.tried_both(0.001, 0.004, grep_mod.WAY_BYTES // 2)
    assert pace.whole_first(1000) is None  # not enough tried yet
    pace.tried_both(0.001, 0.004, grep_mod.WAY_BYTES // 2)
    assert pace.whole_first(1000) is True
    too_long = int(grep_mod.CALL_BUDGET_S / 1e-9) + 1
    assert pace.whole_first(too_long) is False
    slower = grep_mod._Pace()
    slower.seconds_per_byte = 1e-9
    slower.tried_both(0.009, 0.004, grep_mod.WAY_BYTES)
    assert slower.whole_first(1000) is False


def test_a_new_inventory_lets_the_old_ones_selections_go(tmp_path: Path) -> None:
    """A replaced snapshot's selections (its files, their positions) are not kept alive
    by the engine once a search has seen the new one."""
    root = make_repo(tmp_path / "repo", with_git=False)
    files = RepoFiles(root)
    engine = Grep(files)
    old = build_inventory(files)
    for globs in ((), ("src/**",)):
        engine.search(old, GrepQuery("client", False, None, globs, 0, 10))
    gone = weakref.ref(old)
    new = build_inventory(files)
    engine.search(new, GrepQuery("client", False, None, (), 0, 10))
    assert all(s.inventory is new for s in engine._selections.values())
    del old
    gc.collect()
    assert gone() is None

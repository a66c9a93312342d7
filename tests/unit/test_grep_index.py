"""`grep` narrowed by the index cache's trigram index answers exactly what a full scan
answers: the same matches, lines, columns, context, truncation and counts."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import random
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import structlog

from context_bot.knowledge import grep as grep_mod
from context_bot.knowledge import loading as loading_mod
from context_bot.knowledge import store as store_mod
from context_bot.knowledge import textindex as textindex_mod
from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.inventory import Inventory
from context_bot.knowledge.literals import (
    Either,
    Gap,
    collapsed_query,
    literal_query,
    required_literals,
    word_gaps,
)
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import (
    CHUNK_BYTES,
    SPAN_BITS,
    SPAN_BYTES,
    SPAN_OVERLAP,
    WORD_RUN,
    span_end,
    span_row,
    spans,
)
from context_bot.knowledge.textindex import (
    TextIndex,
    folds_as_re2,
    plan_rows,
    span_queries,
)
from tests.gitrepo import git

CAP = 64 * 1024  # the served size cap of these tests: big.txt is over it

FILES: dict[str, str | bytes] = {
    "src/greeter.py": (
        "import os\nfrom typing import Any\n\n\nclass Greeter:\n"
        '    """Says hello world."""\n\n'
        "    def greet(self, name: str) -> str:\n"
        '        return f"hello {name}"  # colour and color\n\n'
        "    def farewell(self) -> None:\n        foobaz = barbaz = 1\n"
    ),
    "src/util.js": "import x from './x'\nexport const KISS = 'keep it simple'\nfoo.bar(1)\n",
    "src/crlf.txt": "first line\r\nsecond line hello\r\nthird\r\n",
    "docs/unicode.md": (
        "Straße and STRASSE\n\u212aiss me (kelvin sign)\n\u017ftop with a long s\n"
        "ΣΊΣΥΦΟΣ σίσυφος\nemoji 🙂 here, ümlaut Über\n"
    ),
    "docs/quotes.txt": 'she said "quoted" and a"b and x{,3}yz and a.b\n',
    "tests/test_greeter.py": (
        "from src.greeter import Greeter\n\n\ndef test_greet():\n"
        '    assert Greeter().greet("w") == "hello w"\n'
    ),
    "min.js": "var a=1;" * 4000 + "function hello(){return 'world'}" + ";b=2" * 1000 + "\n",
    "many.txt": "".join(f"line {n} abcabcdef greeting\n" for n in range(300)),
    "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0 hello world binary",
    "big.txt": "hello world padding\n" * 5000,  # 100 KB: over the cap
    "latin1.txt": "caf\xe9 hello".encode("latin-1"),  # not UTF-8: a full scan skips it
    "empty.py": "",
    # Case: one bundle holds the name as written (once, far into a large file), others
    # only in another case; `Options` after a two-letter keyword.
    "dist/bundle.js": (
        "var INITINPUTTOKEN=1;" * 1500
        + "function initInputToken(){return 'RowSelectable'}\n"
        + "initinputtoken();\n" * 200
        + "fn  Options() {}\n  let IDisposable = 1\n"
    ),
    "dist/shout.js": "var INITINPUTTOKEN = ROWSELECTABLE;\n" * 800 + "FN OPTIONS\n",
    "dist/quiet.js": "initinputtoken(rowselectable);\n" * 800 + "fn options\n  let idisposable\n",
    # Whitespace of each kind RE2's \s matches before a name, and the name after none.
    "src/spaces.go": (
        "type\tOptions struct{}\nvar a =\x0cOptions{}\nb :=\rOptions{}\nfn\x0cOptions()\n"
        "x.Options()\n(Options)\nIOptions\nacde bcde ccde\n"
    ),
    "src/dotted.js": "x.Options()\n(Options)\nIOptions\n",
}

PATTERNS: list[tuple[str, bool]] = [
    ("Greeter", False),
    ("greeter", False),
    ("GREETER", False),
    ("hello world", False),
    ("hello", False),
    ("kiss", False),
    ("KISS", False),
    ("straße", False),
    ("STRASSE", False),
    ("stop", False),
    ("σίσυφος", False),
    ('"quoted"', False),
    ('a"b', False),
    ("x{,3}yz", False),
    ("a.b", False),
    ("zzz_not_there", False),
    ("ab", False),
    ("🙂 here", False),
    ("second line", False),
    ("line\r", False),
    ("abcabcdef", False),
    (r"def \w+\(", True),
    (r"class\s+\w+", True),
    ("(foo|bar)baz", True),
    ("hello.*world", True),
    ("^import ", True),
    ("x{,3}yz", True),
    ("(?i)kiss", True),
    ("[Gg]reeter", True),
    ("colou?r", True),
    ("Stra(ß|ss)e", True),
    ("(abc)+def", True),
    (r"greet(ing)?$", True),
    (r"\Qa.b\E", True),
    (r"\pL+ing", True),
    ("(?P<n>greet)ing", True),
    (r"hello\(\)", True),
    ("line$", True),
    (r"\x{212a}iss", True),
    ("function hello", True),
    # Alternations: every branch requires a piece, so the index asks for one OR another.
    ("greet|farewell", True),
    ("(hello|kiss) ", True),
    ("foobaz|zzz_not_there", True),
    ("(def|class) \\w+", True),
    ("keep|second line|🙂 here", True),
    ("Greeter|ab", True),  # a branch without a piece: no narrowing
    ("(?i)(straße|kelvin)", True),
    ("(colou?r|greet)ing|world", True),
    # A regex's line filter: with case when the pattern is, blind to it under any (?i).
    ("Gree\\w*er", True),
    ("(?i:gREETER)", True),
    ("x(?i)GREETER", True),
    ("K\\w*SS", True),
    ("^\\s*\\w+\\s+greet\\w*", True),
    # Case-sensitive patterns whose text other files hold in another case.
    ("initInputToken", False),
    ("INITINPUTTOKEN", False),
    ("initinputtoken", False),
    ("InitInputToken", False),
    ("(class|struct|interface|type|def|func|fn|function)\\s+Options\\b", True),
    ("fn\\s+Options", True),
    ("RowS\\w*ble", True),
    ("^\\s*\\w+\\s+IDis\\w*", True),
    ("(initInputToken|ROWSELECTABLE)", True),
    ("initInputToken(?i:X)?", True),
    # A small class next to a literal run: the run with each of its characters.
    ("\\s+Options\\b", True),
    ("\\sOptions", True),
    ("[\\s(]Options", True),
    ("fn\\s+Options", True),
    ("Options\\s", True),
    ("[ab]cde", True),
    ("[ab]+cde", True),
    ("(?i)[AB]CDE", True),
    ("x\\s*Options", True),
    ("\\s+options\\b", True),
    # Gaps of word characters between two texts (`literals.word_gaps`).
    ("class\\s+\\w+er\\b", True),
    ("Greeter\\(\\)\\.\\w+\\(", True),
    ("def\\s+\\w+\\(self", True),
    ("foo\\w*baz", True),
    ("(def|class) \\w+[Ee]r\\b", True),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Inventory, RepoFiles]:
    root = tmp_path_factory.mktemp("grep-index") / "repo"
    for rel, body in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(body, bytes):
            path.write_bytes(body)
        else:
            path.write_bytes(body.encode("utf-8"))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "corpus")
    files = RepoFiles(root, max_bytes=CAP)
    cache = tmp_path_factory.mktemp("grep-index-cache")
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    assert knowledge.inventory.text_index is not None
    return root, knowledge.inventory, files


def both(
    repo: tuple[Path, Inventory, RepoFiles], query: GrepQuery
) -> tuple[dict[str, object], dict[str, object]]:
    _, inventory, files = repo
    terms = literal_query(query.pattern, regex=query.regex)
    if terms:  # the index answers (a comparison with itself would prove nothing)
        assert inventory.text_index is not None
        assert inventory.text_index.matching(terms) is not None
    plain = dataclasses.replace(inventory, text_index=None)
    full = Grep(files).search(plain, query, deadline=None).to_wire()
    narrowed = Grep(files).search(inventory, query, deadline=None).to_wire()
    return full, narrowed


@pytest.mark.parametrize(("pattern", "regex"), PATTERNS)
def test_narrowed_grep_answers_what_a_full_scan_answers(
    repo: tuple[Path, Inventory, RepoFiles],
    pattern: str,
    regex: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pattern with gaps is also asked by them, as a common term's would be (GAP_FROM).
    for gap_from in (textindex_mod.GAP_FROM, 0) if regex and word_gaps(pattern) else (None,):
        if gap_from is not None:
            monkeypatch.setattr(textindex_mod, "GAP_FROM", gap_from)
        for case, globs, context, limit in itertools.product(
            (None, True, False),
            ((), ("*.py",), ("docs/**", "src/**"), ("!tests/**",)),
            (0, 2),
            (50, 2),
        ):
            query = GrepQuery(pattern, regex, case, globs, context, limit)
            full, narrowed = both(repo, query)
            assert narrowed == full, query


def test_the_index_narrows_a_literal_search(repo: tuple[Path, Inventory, RepoFiles]) -> None:
    _, inventory, _ = repo
    index = inventory.text_index
    assert index is not None
    found = index.candidates(["class Greeter"])
    assert found is not None
    # The file defining it, and only the files the index always reads: those it holds no
    # text of (latin1.txt, big.txt), and the one whose text folds (KELVIN SIGN, LONG S)
    # unless SQLite's trigram tokenizer folds those as RE2 does (3.40's does).
    folds = set() if folds_as_re2() else {"docs/unicode.md"}
    assert found == {"src/greeter.py", "latin1.txt", "big.txt"} | folds
    assert index.candidates(["zzz_not_there"]) == found - {"src/greeter.py"}


def test_a_case_sensitive_search_reads_only_the_files_holding_its_text_as_written(
    repo: tuple[Path, Inventory, RepoFiles],
) -> None:
    """The folded trigram index finds every bundle holding `initInputToken` in some case;
    the case-keeping one leaves the file holding it as written (and those the index
    always reads)."""
    _, inventory, _ = repo
    index = index_of(inventory)
    always = set(index.always)
    folded = index.candidates(["initInputToken"])
    exact = index.candidates(["initInputToken"], case_sensitive=True)
    assert folded == {"dist/bundle.js", "dist/shout.js", "dist/quiet.js"} | always
    assert exact == {"dist/bundle.js"} | always
    shouted = index.candidates(["INITINPUTTOKEN"], case_sensitive=True)
    assert shouted == {"dist/bundle.js", "dist/shout.js"} | always
    assert index.candidates(["InitInputToken"], case_sensitive=True) == always
    either = (Either((("initInputToken",), ("ROWSELECTABLE",))),)
    found = index.matching(either, case_sensitive=True)
    assert found is not None
    assert {path for path, _ in found} == {"dist/bundle.js", "dist/shout.js"} | always


def test_a_large_text_is_a_candidate_only_where_one_span_holds_the_text_as_written(
    tmp_path: Path,
) -> None:
    """A bundle holding `initInputToken` only in capitals, and each of its trigrams as
    written far apart from the others, holds them all, but in no one span: no candidate.
    One holding it across a span's edge is, and one changed to lose it is not after a
    reload (the contentless spans are deleted with the values they were given)."""
    filler = "x = 1;\n" * (2 * SPAN_BYTES // 7)  # two spans between the pieces
    grams = ["initInputToken"[n : n + 3] for n in range(12)]
    scattered = "INITINPUTTOKEN;\n" + "".join(f"{gram}\n{filler}" for gram in grams)
    edge = "y" * (SPAN_BYTES - 5) + "initInputToken();\n" + filler
    root = tmp_path / "repo"
    write_files(root, {"dist/scattered.js": scattered, "dist/edge.js": edge, "dist/x.js": "x\n"})
    files = RepoFiles(root)
    cache = tmp_path / "c"
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    index = index_of(knowledge.inventory)
    assert index.candidates(["initInputToken"]) == {"dist/scattered.js", "dist/edge.js"}
    exact = index.candidates(["initInputToken"], case_sensitive=True)
    assert exact == {"dist/edge.js"} | index.always
    found = same_as_a_full_scan(knowledge.inventory, files, GrepQuery("initInputToken"))
    assert [(m["path"], m["line"]) for m in found["matches"]] == [("dist/edge.js", 1)]  # type: ignore[index]

    (root / "dist/edge.js").write_text(edge.replace("initInputToken", "renamedThing00"))
    (root / "dist/x.js").write_text(scattered.replace("INITINPUTTOKEN", "initInputToken"))
    fresh = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    index = index_of(fresh.inventory)
    assert index.candidates(["initInputToken"], case_sensitive=True) == {"dist/x.js"} | index.always
    same_as_a_full_scan(fresh.inventory, files, GrepQuery("initInputToken"))
    db = sqlite3.connect(index._path)
    try:
        count = "SELECT count(*) FROM cspans WHERE cspans MATCH ?"
        # The new name is in edge.js's first span and in the second, which starts in it.
        assert db.execute(count, ('"dTh" AND "g00"',)).fetchone()[0] == 2
        # edge.js's old spans are gone: x.js's first span alone holds these now.
        assert db.execute(count, ('"tIn" AND "Tok"',)).fetchone()[0] == 1
    finally:
        db.close()


def test_a_name_after_whitespace_is_asked_for_with_it(
    repo: tuple[Path, Inventory, RepoFiles],
) -> None:
    """`(class|type|fn)\\s+Options` holds `classOptions` or `typeOptions` or `fnOptions`
    once its whitespace is gone, as the indexes keep text: a file holding `Options` only
    after other characters is no candidate (blind to case, as here, or not)."""
    _, inventory, _ = repo
    index = index_of(inventory)
    pattern = r"(class|type|fn)\s+Options\b"
    terms = literal_query(pattern, regex=True)
    found = index.matching(terms, collapsed=collapsed_query(pattern, regex=True))
    assert found is not None
    paths = {path for path, _ in found} - index.always
    assert "src/dotted.js" in (index.candidates(["Options"]) or set())
    assert paths == {"dist/bundle.js", "dist/quiet.js", "dist/shout.js", "src/spaces.go"}


def test_a_changed_file_is_found_by_the_narrowed_search_after_a_reload(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("alpha = 1\n")
    (root / "b.py").write_text("beta = 2\n")
    cache = tmp_path / "cache"
    files = RepoFiles(root)
    load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    (root / "b.py").write_text("beta = 2\nplatypus = 3\n")
    fresh = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)

    found = Grep(files).search(fresh.inventory, GrepQuery("platypus"))
    assert [(m.path, m.line) for m in found.matches] == [("b.py", 2)]
    assert fresh.inventory.text_index is not None
    assert fresh.inventory.text_index.candidates(["platypus"]) == {"b.py"}
    assert fresh.inventory.text_index.candidates(["alpha"]) == {"a.py"}


@pytest.mark.parametrize(
    ("pattern", "regex", "wanted"),
    [
        ("hello world", False, ["hello world"]),
        ("straße", False, ["stra"]),
        ("ab", False, []),
        (r"def \w+\(", True, ["def "]),
        ("(foo|bar)baz", True, ["baz"]),
        ("(abc)+defg", True, ["defg", "abc"]),
        ("x?abcd", True, ["abcd"]),
        ("(xyz)?abcd", True, ["abcd"]),
        ("(xyz)*abcd", True, ["abcd"]),
        ("[abc]def", True, ["def"]),
        (r"\Qa.b\E", True, []),
        ("(?i)Kelvin", True, ["Kelvin"]),
        ("a{,3}bcd", True, ["bcd"]),
        ("(", True, []),
    ],
)
def test_required_literals_ask_only_for_what_every_match_holds(
    pattern: str, regex: bool, wanted: list[str]
) -> None:
    assert required_literals(pattern, regex=regex) == wanted


def test_a_file_changed_since_the_load_is_read_again_not_taken_from_the_index(
    tmp_path: Path,
) -> None:
    """grep takes a file's text from the index cache only while the file is as the load
    read it; written since, the file itself is read (through the gate)."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("wombat = 1\n")
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    engine = Grep(files)
    assert [m.text for m in engine.search(knowledge.inventory, GrepQuery("wombat")).matches] == [
        "wombat = 1"
    ]
    (root / "a.py").write_text("wombat = 2\n")  # the same size: the mtime tells
    found = engine.search(knowledge.inventory, GrepQuery("wombat"))

    assert [m.text for m in found.matches] == ["wombat = 2"]


def index_of(inventory: Inventory) -> TextIndex:
    index = inventory.text_index
    assert isinstance(index, TextIndex)
    return index


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, body in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths whose texts searches read whole from now on: a search reads in one read
    transaction (`TextIndex.reading`), its texts' `data`."""
    whole: list[str] = []
    real = textindex_mod._Held.data

    def counting(self: Any, path: str) -> bytes | None:
        whole.append(path)
        return real(self, path)

    monkeypatch.setattr(textindex_mod._Held, "data", counting)
    return whole


def same_as_a_full_scan(inventory: Inventory, files: RepoFiles, query: GrepQuery) -> object:
    plain = dataclasses.replace(inventory, text_index=None)
    full = Grep(files).search(plain, query, deadline=None).to_wire()
    narrowed = Grep(files).search(inventory, query, deadline=None).to_wire()
    assert narrowed == full, query
    return narrowed


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        ("greet|farewell", (Either((("greet",), ("farewell",))),)),
        (
            "(def|class) Greeter",
            (" Greeter", Either((("def",), ("class",)))),
        ),
        ("Greeter|ab", ()),  # "ab" requires no trigram: any file may match
        ("(abc|x)def", ("def",)),
        ("(?:foo|bar)(?:baz|qux)", (Either((("foo",), ("bar",))), Either((("baz",), ("qux",))))),
        # A small class next to a run: the run with each character (RE2's \s, no \n).
        (
            "\\s+Opt\\b",
            ("Opt", Either((("\tOpt",), ("\x0cOpt",), ("\rOpt",), (" Opt",)))),
        ),
        (
            "fn[ (]",
            (Either((("fn ",), ("fn(",))),),
        ),
        ("[ab]+cde", ("cde", Either((("acde",), ("bcde",))))),
        ("x[yz]+w", ()),  # "xy" is two characters: nothing to ask for
        ("[^a]bcd|[a-z]bcd|\\dbcd", (Either((("bcd",), ("bcd",), ("bcd",))),)),
        ("\\s*Opt", ("Opt",)),  # no whitespace required
    ],
)
def test_an_alternation_asks_for_one_of_its_branches(pattern: str, wanted: tuple[object]) -> None:
    assert literal_query(pattern, regex=True) == wanted


def test_a_case_sensitive_literal_is_asked_for_in_its_places_with_its_ends() -> None:
    docs = {"Gre": 90, "ree": 12, "eet": 50, "ete": 700, "ter": 5, "Tes": 1}
    # "ter" (at 4) is rarest; "ree" (at 1) the rarest apart from it, within PLACED_SPREAD
    # times as many spans; then, overlapping allowed, "eet" (at 2); the ends ("Gre" at 0,
    # within PLACED_ENDS_SPREAD, and "ter" at 4) too: "Greet" (0 to 2) and "ter" as
    # phrases, as far apart as in the literal. A common end is left out.
    assert span_queries(("Greeter",), docs, positioned=True) == ['NEAR("Greet" "ter", 4)']
    common_end = {**docs, "Gre": 9000}
    assert span_queries(("Greeter",), common_end, positioned=True) == ['NEAR("reet" "ter", 3)']
    # An end in 180 times as many spans as the rarest: asked of a literal alone
    # (LONE_ENDS_SPREAD), not of each option of an alternation (PLACED_ENDS_SPREAD).
    far_end = {**docs, "Gre": 900}
    assert span_queries(("Greeter",), far_end, positioned=True) == ['NEAR("Greet" "ter", 4)']
    assert span_queries((Either((("Greeter",), ("Tes",))),), far_end, positioned=True) == [
        '((NEAR("reet" "ter", 3)) OR ("Tes"))'
    ]
    # A short literal: all of it, one phrase. Terms rarest first; a term in more than
    # FILTER_SPREAD times as many spans as the rarest is not asked for.
    assert span_queries(("Greeter", "Test"), docs, positioned=True) == [
        '"Test"',
        'NEAR("Greet" "ter", 4)',
    ]
    assert span_queries(("Greeter", "Test"), {**docs, "ter": 9}, positioned=True) == ['"Test"']
    either = Either((("Greeter",), ("Tes",)))
    assert span_queries((either,), docs, positioned=True) == [
        '((NEAR("Greet" "ter", 4)) OR ("Tes"))'
    ]
    assert span_queries((Either((("Greeter",), ("ab",))),), docs, positioned=True) == []
    assert span_queries(("ab",), docs, positioned=True) == []


def test_a_case_blind_literal_is_asked_for_as_its_rarest_trigrams_in_one_span() -> None:
    docs = {"gre": 10, "ree": 9000, "eet": 50, "ete": 70, "ter": 40}
    # "gre" is rarest; "ter", "eet" and "ete" within TOGETHER_SPREAD times its count.
    assert span_queries(("Greeter",), docs, positioned=False) == [
        '"gre" AND "ter" AND "eet" AND "ete"'
    ]
    assert span_queries(("::=", "123"), {"::=": 4, "123": 1}, positioned=False) == [
        '"123"',
        '"::="',
    ]


def test_a_term_inside_another_is_not_asked_for() -> None:
    """`import\\s+numpy` holds `import`, `numpy` and its chain `importnumpy`: the chain
    alone is asked (where each of the others is, it is not necessarily; where it is,
    they are). Of two terms that imply each other, one is asked."""
    docs = {"imp": 143_109, "mpo": 105_718, "por": 201_959, "ort": 275_020, "rtn": 17_456,
            "tnu": 18_281, "num": 138_956, "ump": 21_170, "mpy": 16_355}  # fmt: skip
    chain = Either((("importnumpy",),))
    asked = span_queries(("import", "numpy", chain), docs, positioned=False)
    assert len(asked) == 1 and '"rtn"' in asked[0] and '"tnu"' in asked[0]
    assert span_queries(("numpy", Either((("numpy",),))), docs, positioned=False) == [
        '"mpy" AND "ump" AND "num"'
    ]
    # Not inside: both asked, as before (`Test` is not in `Greeter`).
    assert len(span_queries(("Greeter", "Test"), {"Tes": 1, "ter": 5}, positioned=True)) == 2


def test_the_trigrams_asked_of_one_span_lie_within_its_overlap() -> None:
    """A span reaches SPAN_OVERLAP bytes into the next, so trigrams further apart in a
    literal may be in two spans: they are not asked for together."""
    literal = "Abc" + "x" * SPAN_OVERLAP + "Xyz"
    common = ["bcx", "cxx", "xxx", "xxy"]
    docs = {**dict.fromkeys(common, 1000), "abc": 1, "xyz": 2}
    assert span_queries((literal,), docs, positioned=False) == ['"abc"']
    near = "Abc" + "x" * (SPAN_OVERLAP - 6) + "Xyz"
    assert span_queries((near,), docs, positioned=False) == ['"abc" AND "xyz"']
    written = ["bcx", "cxx", "xxx", "xxX", "xXy", "Xyz"]
    placed = span_queries((literal,), {**dict.fromkeys(written, 30), "Abc": 1}, positioned=True)
    assert placed == [f'NEAR("Abcxx" "{"x" * 3}", {SPAN_OVERLAP - 3})']  # within a span


def test_spans_cover_every_stretch_of_overlap_length_whole() -> None:
    """Whatever lies within SPAN_OVERLAP bytes is whole in some span, multi-byte
    characters cut at a span's edge included."""
    body = "é" * (SPAN_BYTES // 2 - 1) + "ab" + "x" * SPAN_BYTES + "🙂Name🙂" * 40
    pieces = [text for _, text in spans(7, body)]
    rows = [row for row, _ in spans(7, body)]
    assert rows == [span_row(7, n) for n in range(len(pieces))]
    assert all(row >> SPAN_BITS == 7 for row in rows)
    data = body.encode()
    for start in range(0, len(data) - 8, 97):
        piece = data[start : start + 8].decode("utf-8", "ignore")
        if len(piece) >= 3:
            assert any(piece in text for text in pieces), start
    assert list(spans(3, "")) == [(span_row(3, 0), "")]


def test_a_search_that_reaches_its_limit_reads_no_further(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows are in path order, so the first candidates the index returns are the first
    files a full scan would search: a search with limit 5 reads 6 files of 300."""
    root = tmp_path / "repo"
    write_files(root, {f"pkg/m{n:03}.py": f"needle = {n}\nother = 1\n" for n in range(300)})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    assert index_of(knowledge.inventory).ordered
    real = grep_mod._scan
    read: list[str] = []

    def counting(path: str, *args: Any) -> str | None:
        read.append(path)
        return real(path, *args)

    monkeypatch.setattr(grep_mod, "_scan", counting)
    found = Grep(files).search(knowledge.inventory, GrepQuery("needle", limit=5))

    assert [m.path for m in found.matches] == [f"pkg/m{n:03}.py" for n in range(5)]
    assert found.truncated_reason == "limit"
    assert read == [f"pkg/m{n:03}.py" for n in range(6)]  # the sixth proves there is more
    assert found.files_searched == 6
    monkeypatch.undo()
    same_as_a_full_scan(knowledge.inventory, files, GrepQuery("needle", limit=5))


def test_files_added_later_keep_rows_in_path_order(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write_files(root, {"b.py": "token = 1\n", "d.py": "token = 2\n", "f.py": "token = 3\n"})
    files = RepoFiles(root)
    cache = tmp_path / "c"
    load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    write_files(root, {"a.py": "token\n", "c.py": "token\n", "e.py": "token\n", "z.py": "token\n"})
    (root / "d.py").unlink()
    fresh = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)

    assert index_of(fresh.inventory).ordered
    for limit in (1, 3, 50):
        found = same_as_a_full_scan(fresh.inventory, files, GrepQuery("token", limit=limit))
        assert isinstance(found, dict)
        paths = [m["path"] for m in found["matches"]]  # type: ignore[index]
        assert paths == ["a.py", "b.py", "c.py", "e.py", "f.py", "z.py"][:limit]


def test_rows_out_of_path_order_are_read_whole_and_sorted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no room left between two neighbours' rows, a new file goes last: the
    snapshot sorts its candidates instead of streaming them, and answers the same."""
    monkeypatch.setattr(textindex_mod, "ROW_GAP", 1)
    root = tmp_path / "repo"
    write_files(root, {"a.py": "token = 1\n", "c.py": "token = 2\n"})
    files = RepoFiles(root)
    cache = tmp_path / "c"
    load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    write_files(root, {"b.py": "token = 3\n"})
    fresh = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)

    assert not index_of(fresh.inventory).ordered
    for limit in (1, 2, 50):
        same_as_a_full_scan(fresh.inventory, files, GrepQuery("token", limit=limit))


def test_new_files_take_rows_between_their_neighbours() -> None:
    gap = textindex_mod.ROW_GAP
    assert plan_rows(["a", "b"], {}) == {"a": gap, "b": 2 * gap}
    assert plan_rows(["a", "b", "c", "d"], {"b": 10, "d": 20}) == {"a": 5, "c": 15}
    assert plan_rows(["a", "b", "c"], {"a": 10, "c": 11}) == {}  # no room: SQLite picks
    assert plan_rows(["a", "b"], {"a": 10}) == {"b": 10 + gap}


def test_a_few_new_paths_are_placed_as_the_whole_pass_places_them() -> None:
    """`plan_rows` told which paths may be new places them from the rows around each run
    (two scans in C): the same numbers as its pass over every path, with rows out of
    order (a file that went last), runs at both ends, and no room between neighbours."""
    rng = random.Random(16)  # noqa: S311 - a fixed draw of test cases
    for _ in range(400):
        order = [f"p{n:03d}" for n in range(rng.randint(1, 30))]
        new = set(rng.sample(order, rng.randint(0, min(len(order), 8))))
        known, row = {}, 0
        for path in order:
            if path not in new:
                row += rng.choice((1, 2, 3, 1000))
                known[path] = row if rng.random() > 0.1 else rng.randint(1, 5000)
        told = new | set(rng.sample(order, min(len(order), 2))) | {"gone"}
        whole = plan_rows(order, known)
        assert textindex_mod._plan_fresh(order, known, told) == whole, (order, known, new)
        assert plan_rows(order, known, told) == whole


def test_grep_indexes_every_text_file_past_the_search_total(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`search.MAX_INDEXED_CODE_BYTES` bounds what `search` indexes; `grep`'s index holds
    every text file under the served size cap whatever that total."""
    root = tmp_path / "repo"
    write_files(root, {f"m{n:02}.py": f"wombat_{n} = '{'x' * 100}'\n" for n in range(20)})
    real = loading_mod.index_files

    def capped(*args, **kwargs):  # type: ignore[no-untyped-def]
        return real(*args, **{**kwargs, "max_total": 300})

    monkeypatch.setattr(loading_mod, "index_files", capped)
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)

    assert knowledge.index_stats["files_read"] == 20
    assert all(index.data(f"m{n:02}.py") is not None for n in range(20))
    assert index.always == frozenset()
    found = Grep(files).search(knowledge.inventory, GrepQuery("wombat_17"))
    assert [m.path for m in found.matches] == ["m17.py"]


def reloaded_after(
    tmp_path: Path, contents: dict[str, str], *statements: str
) -> tuple[RepoFiles, Any]:
    """A repository loaded once, its cache then altered by `statements` (an older
    schema's), and loaded again: the second load must have rebuilt the cache."""
    root = tmp_path / "repo"
    write_files(root, contents)
    files = RepoFiles(root)
    cache = tmp_path / "c"
    first = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    db = sqlite3.connect(index_of(first.inventory)._path)
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()
    with structlog.testing.capture_logs() as logs:
        fresh = load_knowledge(root / "knowledge", root, files=files, cache_dir=cache)
    assert "index_cache_rebuilt" in [e["event"] for e in logs]
    return files, fresh


def test_a_cache_of_the_schema_before_is_rebuilt_in_path_order(tmp_path: Path) -> None:
    """A cache written before rows were numbered in path order (schema 2) is rebuilt: the
    rebuilt index streams its candidates in path order and answers as a full scan."""
    files, fresh = reloaded_after(
        tmp_path,
        {f"m{n}.py": "token = 1\r\n" for n in (3, 1, 2)},
        "UPDATE meta SET value='2' WHERE key='schema'",
        "UPDATE files SET id = -id",  # rows in another order, as schema 2 had
    )
    index = index_of(fresh.inventory)
    assert index.ordered
    assert index.data("m1.py") == b"token = 1\n"  # kept as grep searches it
    found = same_as_a_full_scan(fresh.inventory, files, GrepQuery("token", limit=2))
    assert [m["path"] for m in found["matches"]] == ["m1.py", "m2.py"]  # type: ignore[index]


def test_a_file_the_gate_refuses_costs_a_stat_until_it_changes(
    repo: tuple[Path, Inventory, RepoFiles], monkeypatch: pytest.MonkeyPatch
) -> None:
    """latin1.txt (not UTF-8) and big.txt (over the cap) are read by every search a full
    scan makes; the engine remembers the gate's refusal by the file's stat."""
    _, inventory, files = repo
    engine = Grep(files)
    real = files.read_sync
    asked: list[str] = []

    def counting(path: str) -> object:
        asked.append(path)
        return real(path)

    monkeypatch.setattr(files, "read_sync", counting)
    first = engine.search(inventory, GrepQuery("hello"))
    second = engine.search(inventory, GrepQuery("hello"))

    assert first.files_skipped == second.files_skipped
    assert first.files_skipped["too_large"] == 1 and first.files_skipped["binary"] >= 2
    assert sorted(asked) == ["big.txt", "latin1.txt"]  # once each, for both searches


def test_a_cache_without_case_kept_spans_is_rebuilt(tmp_path: Path) -> None:
    """A cache of schema 6 (case-kept trigrams per file, not per span) is rebuilt, and a
    case-sensitive search then reads only the file holding its text as written."""
    files, fresh = reloaded_after(
        tmp_path,
        {"a.py": "MixedCase = 1\n", "b.py": "mixedcase = 2\n"},
        "UPDATE meta SET value='6' WHERE key='schema'",
        "DROP TABLE cspans",
        "DROP TABLE cspandf",
    )
    index = index_of(fresh.inventory)
    assert index.candidates(["MixedCase"], case_sensitive=True) == {"a.py"}
    assert index.candidates(["MixedCase"]) == {"a.py", "b.py"}
    found = same_as_a_full_scan(fresh.inventory, files, GrepQuery("MixedCase"))
    assert [m["path"] for m in found["matches"]] == ["a.py"]  # type: ignore[index]


def test_a_new_cache_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """A new cache is made with PAGE_BYTES pages (a candidate's text is fewer reads); one
    made with SQLite's 4 KiB pages before is kept as it is and answers the same."""
    root = tmp_path / "repo"
    write_files(root, {f"m{n}.py": f"token_{n} = '{'y' * 30_000}'\n" for n in range(3)})
    files = RepoFiles(root)
    first = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    path = index_of(first.inventory)._path
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == store_mod.PAGE_BYTES

    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA page_size=4096")
        db.execute("VACUUM")  # the same cache as a 4 KiB one
        db.execute("PRAGMA journal_mode=WAL")
    again = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096  # kept, not rebuilt
    assert again.index_stats["files_read"] == 0
    found = same_as_a_full_scan(again.inventory, files, GrepQuery("token_2"))
    assert [m["path"] for m in found["matches"]] == ["m2.py"]  # type: ignore[index]


@pytest.mark.parametrize("positioned", [True, False])
def test_whatever_trigrams_are_picked_every_span_holding_the_literal_answers(
    positioned: bool,
) -> None:
    """However the span counts rank a literal's trigrams (which of them are asked for,
    apart or overlapping), the query finds every span holding the literal (as written,
    or in any case for the folded index): fewer or other trigrams ask for more, never
    fewer."""
    rng = random.Random(7)  # noqa: S311 - a fixed draw of test texts
    words = ["EmptyType", "emptytype", "empty_type", "typeEmpty", "greeter", "greeter00"]
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(1, 6))) for _ in range(60)]
    tokenize, detail = ("trigram case_sensitive 1", "full") if positioned else ("trigram", "none")
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        table = f"fts5(body, tokenize='{tokenize}', detail={detail})"
        db.execute(f"CREATE VIRTUAL TABLE t USING {table}")
        db.executemany("INSERT INTO t(rowid, body) VALUES (?,?)", enumerate(texts))
        for literal in ("EmptyType", "greeter", "ptyTy", "type", "eter00"):
            if positioned:
                holding = {n for n, text in enumerate(texts) if literal in text}
            else:
                holding = {n for n, text in enumerate(texts) if literal.lower() in text.lower()}
            assert holding, literal
            grams = {literal[n : n + 3] for n in range(len(literal) - 2)}
            if not positioned:
                grams = {g.lower() for g in grams}
            for _ in range(40):
                docs = {g: rng.choice([1, 2, 5, 50, 5_000, 50_000]) for g in grams}
                (expression,) = span_queries((literal,), docs, positioned=positioned)
                found = {
                    r for (r,) in db.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))
                }
                assert holding <= found, (literal, docs, expression)
                if positioned and literal == "greeter":
                    assert found == holding  # its ends in their places: "greeter00" too


def test_a_text_is_read_only_while_its_row_is_still_the_path_s(tmp_path: Path) -> None:
    """`data` reads a row's text straight from its pages, and only while the cache still
    gives that row to the path asked for (a later load may have given it to another)."""
    root = tmp_path / "repo"
    write_files(root, {"a.py": "alpha = 1\r\n", "b.py": "beta = 2\n", "empty.py": ""})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)
    assert index.data("a.py") == b"alpha = 1\n"
    assert index.text("b.py") == "beta = 2\n"
    assert index.data("gone.py") is None
    with index.reading() as texts:  # a search's reads, one statement a text
        assert texts.data("a.py") == b"alpha = 1\n"
        assert texts.data("empty.py") == index.data("empty.py") == b""  # a text without chunks
    with contextlib.closing(sqlite3.connect(index._path)) as db, db:
        db.execute("UPDATE files SET path='moved.py' WHERE path='a.py'")
    assert index.data("a.py") is None  # its row is another path's now
    assert index.data("b.py") == b"beta = 2\n"
    with index.reading() as texts:
        assert texts.data("a.py") is None
        assert texts.data("b.py") == b"beta = 2\n"


def random_text(rng: random.Random, size: int, names: list[str]) -> str:
    """Lines of code-like words (some long enough to cross several spans, some CRLF),
    with `names` and their look-alikes put in at random."""
    words = ["x", "return", "self", "OptionsX", "opts", "class", "\t", "  ", "(", ");"]
    out: list[str] = []
    total = 0
    while total < size:
        length = rng.choice((3, 8, 20, 60)) if rng.random() > 0.01 else rng.randint(2000, 9000)
        line = " ".join(rng.choice(words) for _ in range(length))
        if rng.random() < 0.05:
            at = rng.randint(0, len(line))
            name = rng.choice(names)
            line = line[:at] + rng.choice(("", " ", "class ", "fn\t", "type  ")) + name + line[at:]
        line += "\r\n" if rng.random() < 0.02 else "\n"
        out.append(line)
        total += len(line)
    return "".join(out)


@pytest.mark.parametrize("seed", range(6))
def test_large_texts_searched_near_their_spans_answer_what_a_full_scan_answers(
    tmp_path: Path, seed: int
) -> None:
    """Large candidates are searched first in the lines around the spans the case-keeping
    index gives (`TextIndex.excerpt`): matches next to a span's edge, on lines crossing
    many spans, at a text's start and end, with context and limits, are found as a full
    scan finds them."""
    rng = random.Random(seed)  # noqa: S311 - test data
    names = ["Options", "initInputToken", "RowSelectable", "IDisposable"]
    texts = {
        f"gen/f{n}.go": random_text(rng, rng.randint(20_000, 200_000), names) for n in range(8)
    }
    texts["gen/start.go"] = "Options first\n" + random_text(rng, 40_000, ["Other"]) + "Options"
    root = tmp_path / "repo"
    write_files(root, texts)
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    patterns = [
        ("(class|struct|interface|type|def|func|fn|function)\\s+Options\\b", True),
        ("initInputToken", False),
        ("^\\s*\\w+\\s+IDis\\w*", True),
        ("RowS\\w*ble", True),
        ("Options$", True),
        ("^Options", True),
        ("x Options", False),
        ("options", False),  # blind to case
        ("ret\\w*rn", True),
        ("opts\\s+self", True),
        ("(?i)rows\\w*BLE", True),
    ]
    for (pattern, regex), context, limit in itertools.product(patterns, (0, 2), (3, 500)):
        same_as_a_full_scan(
            knowledge.inventory, files, GrepQuery(pattern, regex, None, (), context, limit)
        )


@pytest.mark.parametrize("context", [0, 1])
def test_a_large_candidate_is_searched_in_the_lines_near_its_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: int
) -> None:
    """A generated file holding `Options` in many lines, none after a keyword, is
    searched in those lines only; so is one holding a definition, its match numbered from
    the index's line counts (chunks of `CHUNK_BYTES`) without reading the rest; with
    context lines asked for, that file is read whole. The answer is a full scan's."""
    filler = "".join(f"var v{n} = {n}\n" for n in range(3000))  # about 36 KB
    used = filler + "x := NewOptions()\nvar o Options\n" + filler
    defined = filler + "type Options struct{}\n" + filler
    root = tmp_path / "repo"
    write_files(root, {"a/used.go": used, "b/defined.go": defined})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)
    whole = whole_reads(monkeypatch)
    query = GrepQuery("(type|class)\\s+Options\\b", True, context=context)
    found = Grep(files).search(knowledge.inventory, query)
    assert len(defined.encode()) > 4 * CHUNK_BYTES
    assert [(m.path, m.line) for m in found.matches] == [("b/defined.go", 3001)]
    assert whole == (["b/defined.go"] if context else [])
    assert found.files_searched == 2
    near = index.excerpt("a/used.go", (len(filler) // SPAN_BYTES,))
    assert near is not None
    lines, is_whole, places, numbers = near
    assert not is_whole
    assert numbers == tuple(used.encode()[:a].count(b"\n") + 1 for a, _ in places)
    assert b"\n".join(used.encode()[a:b] for a, b in places) == lines
    assert b"var o Options" in lines
    assert len(lines) < 2 * SPAN_BYTES + 2 * SPAN_OVERLAP
    assert all(line in used.split("\n") for line in lines.decode().split("\n"))
    monkeypatch.undo()
    same_as_a_full_scan(knowledge.inventory, files, query)


def test_a_search_reads_its_texts_in_one_read_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty candidates, two connections: the lookup's and the texts' (`reading`), not
    one more per file; the answer is a full scan's."""
    root = tmp_path / "repo"
    write_files(root, {f"src/m{n:02}.py": f"def handler_{n}():\n    pass\n" for n in range(30)})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    taken: list[int] = []
    real = TextIndex._connection

    def counting(self: TextIndex) -> Any:
        taken.append(1)
        return real(self)

    monkeypatch.setattr(TextIndex, "_connection", counting)
    found = Grep(files).search(knowledge.inventory, GrepQuery("def handler_", limit=500))
    assert len(found.matches) == 30
    assert len(taken) == 3  # the trigram counts, the lookup, the texts
    monkeypatch.undo()
    same_as_a_full_scan(knowledge.inventory, files, GrepQuery("def handler_", limit=500))


def padded(text: str, upto: int) -> str:
    """`text` and lines of filler up to byte `upto` (ASCII text: a byte is a character)."""
    lines = [text]
    size, n = len(text), 0
    while size + 40 < upto:
        lines.append(f"var v{n} = {n}\n")
        size, n = size + len(lines[-1]), n + 1
    lines.append("x" * (upto - size - 1) + "\n")
    padded = "".join(lines)
    assert len(padded) == upto
    return padded


@pytest.mark.parametrize(
    "pattern", ["^y\\w* Options", "Options \\w*z$", "^y\\w* Options \\w*z$", "y\\w* Options"]
)
def test_the_lines_near_a_span_are_whole_lines(tmp_path: Path, pattern: str) -> None:
    """The term lies in one span only, its line starting in the span before (hundreds of
    bytes before, more than spans overlap) or ending in the span after: the lines
    searched first run from the line's start to its end, or `^y` and `z$` would not
    match there and the file would be passed over."""
    line = "y" + "x" * 700 + " Options " + "x" * 700 + "z\n"
    starts_before = padded("", 10 * SPAN_BYTES - 300) + line  # the term 400 B into span 10
    ends_after = padded("", 20 * SPAN_BYTES - 100 - 702) + line  # 100 B before span 20
    root = tmp_path / "repo"
    write_files(
        root,
        {
            "gen/a.go": padded(starts_before, 30 * SPAN_BYTES),
            "gen/b.go": padded(ends_after, 30 * SPAN_BYTES),
        },
    )
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    found = same_as_a_full_scan(knowledge.inventory, files, GrepQuery(pattern, True))
    assert isinstance(found, dict)
    assert [m["path"] for m in found["matches"]] == ["gen/a.go", "gen/b.go"]


@pytest.mark.parametrize("seed", range(20))
def test_an_excerpt_is_the_lines_meeting_its_spans(tmp_path: Path, seed: int) -> None:
    """`TextIndex.excerpt` against the lines worked out one by one: texts of short and
    very long lines (a minified file's), runs of whitespace that carry a span's end far
    past the next one's start (over lines too), any spans, at the text's ends too; each
    run's first line numbered as in the text."""
    rng = random.Random(seed)  # noqa: S311 - a fixed draw of test texts
    lines = []
    for _ in range(rng.randint(5, 60)):
        length = rng.choice((0, 5, 40, 300, 5000, 3 * SPAN_BYTES))
        chars = rng.choice(("ab c", "ab c", " \t", " \t\n\n\n\n"))
        lines.append("".join(rng.choice(chars) for _ in range(rng.randint(0, length))))
    text = "\n".join(lines) + rng.choice(("", "\n"))
    root = tmp_path / "repo"
    write_files(root, {"t.txt": text})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)
    data = text.encode()
    count = len(data) // SPAN_BYTES + 1
    ends = [span_end(lambda lo, hi: data[lo:hi], n, len(data)) for n in range(count)]
    for _ in range(10):
        spans = tuple(sorted(rng.sample(range(count), rng.randint(1, min(count, 6)))))
        wanted, at = [], 0
        for line in data.split(b"\n"):
            start, end = at, at + len(line)  # the line and its "\n" at `end`
            meets = any(start < ends[n] and n * SPAN_BYTES <= end for n in spans)
            if meets:
                wanted.append(line)
            at = end + 1
        got = index.excerpt("t.txt", spans)
        assert got is not None
        if got[1]:
            assert got[0] == data
        else:
            assert got[0].split(b"\n") == wanted, spans
        assert got[3] == tuple(data[:start].count(b"\n") + 1 for start, _ in got[2])


def test_a_text_is_read_back_by_range_across_its_chunks(tmp_path: Path) -> None:
    """A text kept CHUNK_BYTES a row reads back whole, and any range of it, at and across
    the rows' edges, as the bytes grep searches (multi-byte characters cut by an edge
    too); a file whose row now belongs to no text of that path reads nothing."""
    rng = random.Random(7)  # noqa: S311 - a fixed draw of test ranges
    text = "".join(rng.choice(("ab\n", "é", "🙂", "x" * 50)) for _ in range(20_000))
    root = tmp_path / "repo"
    write_files(root, {"t.txt": text})
    knowledge = load_knowledge(root / "knowledge", root, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)
    data = text.encode()
    assert len(data) > 10 * CHUNK_BYTES
    assert index.data("t.txt") == data
    edges = [n * CHUNK_BYTES + d for n in range(1, 4) for d in (-1, 0, 1)]
    ranges = [(a, b) for a in edges for b in edges if a <= b]
    ranges += [tuple(sorted(rng.sample(range(len(data) + 1), 2))) for _ in range(200)]
    ranges += [(0, len(data)), (len(data) - 1, len(data) + 100), (len(data), len(data))]
    got = index._read_text("t.txt", lambda t: [t.read(a, b) for a, b in ranges])
    assert got == [data[a:b] for a, b in ranges]
    assert index._read_text("u.txt", lambda t: t.read(0, 1)) is None


def test_texts_are_kept_compressed_and_a_chunk_that_does_not_unpack_is_read_from_disk(
    tmp_path: Path,
) -> None:
    """Code compresses (LZ4, `store.pack_chunk`): the rows hold far fewer bytes than the
    text. A row that does not unpack (a cache written by something else) makes that text
    unreadable from the index, and grep reads the file itself: the answer is a full scan's."""
    lines = [f"def handler_{n}(request):\n    return respond(request, {n})\n" for n in range(3000)]
    text = "".join(lines)
    root = tmp_path / "repo"
    write_files(root, {"app.py": text, "other.py": "x = 1\n"})
    knowledge = load_knowledge(root / "knowledge", root, cache_dir=tmp_path / "c")
    (db_path,) = (tmp_path / "c").rglob(store_mod.DB_NAME)
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        (kept,) = db.execute("SELECT sum(length(body)) FROM chunks").fetchone()
        assert kept * 4 < len(text.encode()), "the texts are not kept compressed"
        with db:
            db.execute(
                "UPDATE chunks SET body = x'00ffeedd' WHERE id = (SELECT min(id) FROM chunks)"
            )
    index = index_of(knowledge.inventory)
    assert index.data("app.py") is None
    query = GrepQuery("handler_2\\d\\(", regex=True, limit=500)
    answer = same_as_a_full_scan(knowledge.inventory, RepoFiles(root), query)
    assert isinstance(answer, dict)
    assert len(answer["matches"]) == 10  # handler_20( … handler_29(


@pytest.mark.parametrize("seed", range(6))
def test_a_large_file_is_answered_from_the_lines_around_its_spans(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large candidate whose excerpt holds a match is answered from the excerpt, its
    matches numbered by the file's lines, and not searched again whole (without context
    lines): the answers are a full scan's, at any limit, with context lines too (then it
    is searched whole)."""
    rng = random.Random(seed)  # noqa: S311 - a fixed draw of test texts
    defining = ("class Options {", "  type\tOptions = 1", "fn  Options()")
    lines = []
    for _ in range(rng.randint(1500, 3000)):
        roll = rng.random()
        if roll < 0.1:
            lines.append("the Options of a type " + "x" * rng.randint(0, 300))
        else:
            lines.append("y" * rng.randint(0, 120))
    for _ in range(rng.randint(2, 6)):
        lines.insert(rng.randrange(len(lines)), rng.choice(defining))
    root = tmp_path / "repo"
    write_files(root, {"big.txt": "\n".join(lines) + "\n", "a.txt": "class Options\n"})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    big = (root / "big.txt").stat().st_size
    assert big > grep_mod.EXCERPT_BYTES
    searched: list[int] = []
    scan = grep_mod._scan

    def recorded(path: str, data: bytes, *args: Any, **kwargs: Any) -> str | None:
        if path == "big.txt":
            searched.append(len(data))
        return scan(path, data, *args, **kwargs)

    monkeypatch.setattr(grep_mod, "_scan", recorded)
    pattern = "(class|type|fn)\\s+Options\\b"
    wanted = [n + 1 for n, line in enumerate(lines) if re.search(pattern, line)]
    plain = dataclasses.replace(knowledge.inventory, text_index=None)
    for limit, context in ((1, 0), (3, 0), (500, 0), (500, 1)):
        query = GrepQuery(pattern, True, None, (), context, limit)
        full = Grep(files).search(plain, query, deadline=None).to_wire()
        searched.clear()
        narrowed = Grep(files).search(knowledge.inventory, query, deadline=None).to_wire()
        assert narrowed == full, (limit, context)
        assert searched  # a candidate, read through its spans first
        assert (big in searched) == (context > 0)
        got = [m["line"] for m in narrowed["matches"] if m["path"] == "big.txt"]
        assert got == wanted[: max(0, limit - 1)]  # a.txt's match comes first


def test_a_line_filter_counts_the_text_only_inside_an_option_that_holds_it() -> None:
    """`\\s+Options\\b` holds ` Options` or `\\tOptions`...: with case, the filter passes
    over `EndpointOptions` and stops at `\\tOptions`; blind to case, at any `options`;
    an alternation with an option that does not hold the text checks nothing."""
    terms = literal_query(r"(class|type)\s+Options\b", regex=True)
    data = b"x EndpointOptions y\nxOptions\ntype\tOptions struct{}\n"
    exact = grep_mod._line_filter(terms, case_sensitive=True)
    assert exact is not None
    assert exact.find(data, 0, len(data)) == data.index(b"\tOptions") + 1
    assert exact.find(data, data.index(b"\tOptions") + 2, len(data)) == -1
    blind = grep_mod._line_filter(terms, case_sensitive=False)
    assert blind is not None
    assert blind.find(data.upper(), 0, len(data)) == data.index(b"Options")
    either = (Either((("abc",), ("xyz",))), "abc")
    assert grep_mod._holding(either, b"abc") == ()
    assert grep_mod._holding((Either((("zabc",), ("abcabc",))),), b"abc") == (
        (b"zabc", 1),
        (b"abcabc", 0),
        (b"abcabc", 3),
    )


@pytest.mark.parametrize(
    "pattern", ["[[:space:]]+Options", "[[:upper:]]ptions", "[^[:alpha:]]Options", "x[[:space:]]y"]
)
def test_a_posix_class_is_read_as_re2_reads_it(tmp_path: Path, pattern: str) -> None:
    """RE2 reads `[[:space:]]` as a class; Python's parser as characters and a `]` after
    it, which would make the index and the line filter ask for `]Options`: such a
    pattern asks the index for nothing, and finds what a full scan finds."""
    assert literal_query(pattern, regex=True) == ()
    root = tmp_path / "repo"
    write_files(
        root,
        {"a.go": "type Options struct{}\nvar ]Options = 1\nx y\n", "b.go": "type Options\n"},
    )
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    found = same_as_a_full_scan(knowledge.inventory, files, GrepQuery(pattern, True))
    assert isinstance(found, dict)
    assert found["matches"]


@pytest.mark.parametrize("context", [0, 2])
def test_a_search_cut_short_in_the_lines_near_the_spans_counts_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: int
) -> None:
    """At the deadline while searching a large candidate's lines near its spans (to
    answer, or, with context lines asked for, to tell whether to read it whole), the file
    is counted searched, as a full scan cut short in it counts it."""
    filler = "".join(f"var v{n} = {n}\n" for n in range(3000))
    big = filler + "var Options = 1\n" + filler
    root = tmp_path / "repo"
    write_files(root, {"a/one.go": "x\n", "b/big.go": big, "c/z.go": "y\n"})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    real = grep_mod._scan
    searched: list[int] = []

    def out_of_time(path: str, data: bytes, *rest: Any) -> str | None:
        if path != "b/big.go":
            return real(path, data, *rest)
        searched.append(len(data))
        return "deadline"

    monkeypatch.setattr(grep_mod, "_scan", out_of_time)
    found = Grep(files).search(
        knowledge.inventory, GrepQuery("Options\\s*=", True, context=context)
    )
    assert found.truncated_reason == "deadline"
    assert searched and all(n < len(big) // 4 for n in searched)  # the lines near, once
    assert found.files_searched == 2  # a/one.go (left unread: no candidate) and b/big.go


def test_a_name_after_any_run_of_whitespace_is_whole_in_one_span() -> None:
    """Spans keep text without its whitespace and reach SPAN_OVERLAP bytes that are not
    whitespace into the next: `class` and `Options` apart by thousands of spaces and
    tabs are `classOptions` in one span, wherever the run falls."""
    for before in (0, SPAN_BYTES - 3, SPAN_BYTES - 200):
        for gap in (1, 300, 3 * SPAN_BYTES):
            body = "x" * before + "class" + " \t" * gap + "Options();\n" + "y" * SPAN_BYTES
            assert any("classOptions" in text for _, text in spans(1, body)), (before, gap)


@pytest.mark.parametrize("gap", [" ", "\t\t", " " * 1000, " \t" * 3 * SPAN_BYTES])
def test_a_keyword_and_its_name_are_asked_for_together(tmp_path: Path, gap: str) -> None:
    """A generated file holding ` Options` and `class ` in every span but never one after
    the other is no candidate of `(class|fn)\\s+Options\\b`; the file defining it is,
    however much whitespace the definition holds, and, a match within WINDOW_OVERLAP
    bytes (`grep._scan` searches a long line in windows that overlap so much), both
    answer as a full scan."""
    used = "".join(f"class X{n} {{ Options o; }}\n" for n in range(3000))
    root = tmp_path / "repo"
    write_files(root, {"a/used.java": used, "b/defined.java": used + f"class{gap}Options {{}}\n"})
    files = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=files, cache_dir=tmp_path / "c")
    pattern = "(class|fn)\\s+Options\\b"
    assert case_candidates(knowledge, pattern) == {"b/defined.java"}
    if len(gap) > grep_mod.WINDOW_OVERLAP:
        return
    answer = same_as_a_full_scan(knowledge.inventory, files, GrepQuery(pattern, True))
    assert isinstance(answer, dict)
    assert [m["path"] for m in answer["matches"]] == ["b/defined.java"]


def test_a_chain_option_is_asked_with_its_common_trigrams_too(tmp_path: Path) -> None:
    """`def Options`'s rarest trigram as written, `f O`, alone lets in every `of
    Options`; the keyword's trigrams are common, more than CASE_SPREAD times as many
    spans, but a chain's option is asked alone, so they are asked too (CHAIN_SPREAD)."""
    files = {f"a/m{n:02}.py": "def x():\n    Op = 1\n" for n in range(20)}
    files["b/of.py"] = "# a list of Options\n"
    files["c/defines.py"] = "def  Options():\n    pass\n"
    root = tmp_path / "repo"
    write_files(root, files)
    knowledge = load_knowledge(root / "knowledge", root, cache_dir=tmp_path / "c")
    assert case_candidates(knowledge, "(def|fn)\\s+Options\\b") == {"c/defines.py"}


def case_candidates(knowledge: Knowledge, pattern: str) -> set[str]:
    """The files the index gives a case-sensitive regex `pattern` (less `always`)."""
    return set(case_lookup(knowledge, pattern))


def case_lookup(knowledge: Knowledge, pattern: str) -> dict[str, tuple[int, ...] | None]:
    """What the index gives a case-sensitive regex `pattern`, as `grep` asks it: each file
    (less `always`) and the spans where a match may be."""
    index = index_of(knowledge.inventory)
    found = index.matching(
        literal_query(pattern, regex=True),
        case_sensitive=True,
        collapsed=collapsed_query(pattern, regex=True),
        gaps=word_gaps(pattern),
    )
    assert found is not None
    return {path: spans for path, spans in found if path not in index.always}


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        ("class\\s+\\w+Error\\b", (Gap(("class",), ("Error",), 1, 0),)),
        ("class\\s+(\\w+)Error", (Gap(("class",), ("Error",), 1, 0),)),  # a group: its items
        (
            "public\\s+\\w+\\s+get\\w*Id\\(",
            (Gap(("public",), ("get",), 1, 0), Gap(("get",), ("Id(",), 1, 0, chained=True)),
        ),
        # Apart by something else: the same text, not the same place.
        ("foo\\w+bar.*bar\\w+baz", (Gap(("foo",), ("bar",), 1, 0), Gap(("bar",), ("baz",), 1, 0))),
        ("abc \\w+ \\w+ def", (Gap(("abc",), ("def",), 2, 0),)),  # two runs: apart by a space
        ("abc\\w{2,5}xyz", (Gap(("abc",), ("xyz",), 0, 5),)),
        ("abc[a-z0-9_]+def|x", ()),  # an alternation at the top: no sequence
        ("abc\\d+de\\w+fgh", (Gap(("abc",), ("fgh",), 2, 2),)),  # a short word inside the gap
        ("abc[a-z.]+def", ()),  # a class that is not all word characters
        ("abc.*def", ()),
        ("abc[^x]+def", ()),
        # A side may be a choice (of texts of three characters or more each).
        (
            "(class|struct)\\s+\\w+Error",
            (Gap(("class", "struct"), ("Error",), 1, 0),),
        ),
        ("(class|fn)\\s+\\w+Error", ()),  # `fn`: shorter than a trigram
        ("get\\w+[Ee]rror", (Gap(("get",), ("Error", "error"), 1, 0),)),
        ("ab\\w+Error", ()),  # a side shorter than a trigram
        ("abc\\s+def", ()),  # whitespace only: a chain (`collapsed_query`)
        ("(?i:abc)\\w+def", ()),  # a group that sets a flag is not read through
        ("ab(c\\w+Err)or", (Gap(("abc",), ("Error",), 1, 0),)),
        ("[[:alpha:]]abc\\w+def", ()),  # a POSIX class: not read as RE2 reads it
    ],
)
def test_a_gap_of_word_characters_between_two_texts_is_told_with_its_bounds(
    pattern: str, wanted: tuple[Gap, ...]
) -> None:
    assert word_gaps(pattern) == wanted


def test_a_chain_of_gaps_is_asked_in_one_span_while_it_fits() -> None:
    """`impl\\s+\\w+\\s+for\\s+\\w+Error` is asked as both gaps in one span (212
    characters at most); a chain past SPAN_OVERLAP, a gap that cannot be asked between
    two that can, or two gaps apart by something else are asked apart."""
    chain = word_gaps("impl\\s+\\w+\\s+for\\s+\\w+Error")
    assert textindex_mod._chains(chain, {}, positioned=True) == [
        f'NEAR("impl" "for", {WORD_RUN + 2}) AND NEAR("for" "Error", {WORD_RUN + 2})'
    ]
    assert (
        len(textindex_mod._chains(word_gaps("abc\\w+def\\w+ghi\\w+jkl"), {}, positioned=True)) == 2
    )
    past = word_gaps("abc\\w+def\\s\\w+\\s\\w+ghi\\w+jkl")  # the middle fits alone
    assert [g.runs for g in past] == [1, 2, 1]
    assert len(textindex_mod._chains(past, {}, positioned=True)) == 3
    too_far = word_gaps("abc\\w+def\\s\\w+\\s\\w+\\s\\w+ghi\\w+jkl")  # not even alone
    assert [g.runs for g in too_far] == [1, 3, 1]
    assert textindex_mod._chains(too_far, {}, positioned=True) == [
        f'NEAR("abc" "def", {WORD_RUN + 2})',
        f'NEAR("ghi" "jkl", {WORD_RUN + 2})',
    ]
    apart = word_gaps("foo\\w+bar.*bar\\w+baz")
    assert len(textindex_mod._chains(apart, {}, positioned=True)) == 2
    # Folded spans keep no positions: the sides' trigrams in one span.
    blind = textindex_mod._chains(word_gaps("read\\w*rom"), {}, positioned=False)
    assert blind == ['("rea" AND "ead") AND ("rom")']


def test_two_texts_far_apart_are_no_candidate_of_a_gap_between_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files holding `class` and `Error` in every span but never near each other are no
    candidates of `class\\s+\\w+Error\\b`; the file defining one is, and so is a file
    whose name between is longer than WORD_RUN (no distance holds there: it is read at
    the spans of its long runs), found where they are, as a full scan finds them."""
    monkeypatch.setattr(textindex_mod, "GAP_FROM", 0)  # asked by the gap, however few
    filler = "v, " * 60  # words far shorter than WORD_RUN, and 120 characters of them
    used = "".join(
        f"class X{n}:\n    x = [{filler}]\n    raise Error(n)\n    y = [{filler}]\n"
        for n in range(300)
    )
    long_name = "N" * (WORD_RUN + 1)
    files = {
        "a/used.py": used,
        "b/defined.py": used + "class ParseError(Exception):\n    pass\n",
        "c/edge.py": used + f"class {'M' * WORD_RUN}Error:\n",  # exactly WORD_RUN between
        "d/long.py": used + f"class {long_name}Error:\n" + used,
        "e/long_elsewhere.py": used + f"x = '{long_name}'\n",
    }
    root = tmp_path / "repo"
    write_files(root, files)
    fs = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=fs, cache_dir=tmp_path / "c")
    pattern = "class\\s+\\w+Error\\b"
    by_path = case_lookup(knowledge, pattern)
    assert set(by_path) == {
        "b/defined.py",
        "c/edge.py",
        "d/long.py",
        "e/long_elsewhere.py",  # holds a long run, and `class` and `Error`
    }
    spans_of_long = by_path["d/long.py"]
    assert spans_of_long is not None and len(spans_of_long) <= 2  # its run's, not all
    for context, limit in itertools.product((0, 2), (1, 50)):
        answer = same_as_a_full_scan(
            knowledge.inventory, fs, GrepQuery(pattern, True, None, (), context, limit)
        )
        assert isinstance(answer, dict)
        if limit == 50:
            assert [m["path"] for m in answer["matches"]] == [
                "b/defined.py",
                "c/edge.py",
                "d/long.py",
            ]


@pytest.mark.parametrize("seed", range(4))
def test_gaps_of_word_characters_answer_what_a_full_scan_answers(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random texts with names and runs of every length around WORD_RUN put between the
    two sides of a gap, across span edges, after live edits: a gap's lookup, with its
    long runs, answers as a full scan."""
    rng = random.Random(seed)  # noqa: S311 - test data
    monkeypatch.setattr(textindex_mod, "GAP_FROM", 0)

    def runs() -> str:
        return "".join(
            rng.choice(("Abc", "x" * rng.choice((1, 50, WORD_RUN - 1, WORD_RUN, WORD_RUN + 1))))
            for _ in range(rng.randint(1, 3))
        )

    def text(size: int) -> str:
        out = []
        while sum(map(len, out)) < size:
            line = random_text(rng, 200, ["Options"]).rstrip("\n")
            if rng.random() < 0.3:
                at = rng.randint(0, len(line))
                gap = rng.choice((" ", "  ", "\t", " zz "))
                piece = rng.choice(
                    (
                        f"class{gap}{runs()}Error",
                        f"public{gap}{runs()}{gap}get{runs()}Id(",
                        f"class{gap}{runs()} Error",
                        f"struct{gap}{runs()}error",
                        f"private{gap}{runs()}{gap}get{runs()}ID(",
                    )
                )
                line = line[:at] + piece + line[at:]
            out.append(line + "\n")
        return "".join(out)

    root = tmp_path / "repo"
    write_files(root, {f"g/f{n}.java": text(rng.randint(2_000, 60_000)) for n in range(6)})
    fs = RepoFiles(root)
    patterns = [
        "class\\s+\\w+Error\\b",
        "class\\s+\\w+Error",
        "public\\s+\\w+\\s+get\\w*Id\\(",
        "class\\s+x{50}\\w*Error",
        "get\\w{0,60}Id",
        "(class|struct)\\s+\\w+[Ee]rror\\b",
        "(public|private)\\s+\\w+\\s+get\\w*I[dD]\\(",
    ]
    for round_ in range(2):
        knowledge = load_knowledge(root / "knowledge", root, files=fs, cache_dir=tmp_path / "c")
        for pattern, case, context, limit in itertools.product(
            patterns, (None, False), (0, 1), (2, 500)
        ):  # with case (smart: each has an upper-case letter) and blind to it
            same_as_a_full_scan(
                knowledge.inventory, fs, GrepQuery(pattern, True, case, (), context, limit)
            )
        if round_ == 0:  # edits: long runs put in and taken out
            write_files(root, {"g/f0.java": text(30_000), "g/new.java": text(9_000)})
            (root / "g/f1.java").unlink()


def test_a_gap_as_long_as_the_longest_run_is_still_near(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name of WORD_RUN characters between `def ` and `(self` (nothing more of the run on
    either side) leaves the text without long runs, so only the distance finds it: the
    NEAR must reach that far, and no farther than a text of such runs needs."""
    monkeypatch.setattr(textindex_mod, "GAP_FROM", 0)
    far = "def x(y):\n    q = [" + "v, " * 60 + "]\n" + "z = (self)\n"  # apart by 121
    files = {
        "a/edge.py": f"def {'M' * WORD_RUN}(self):\n    q = [" + "v, " * 60 + "]\n" + far,
        "b/far.py": far,
    }
    root = tmp_path / "repo"
    write_files(root, files)
    fs = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=fs, cache_dir=tmp_path / "c")
    assert not index_of(knowledge.inventory)._runs
    pattern = "def\\s+\\w+\\(self\\)"
    assert word_gaps(pattern) == (Gap(("def",), ("(self)",), 1, 0),)
    assert case_candidates(knowledge, pattern) == {"a/edge.py"}
    answer = same_as_a_full_scan(knowledge.inventory, fs, GrepQuery(pattern, True))
    assert isinstance(answer, dict) and len(answer["matches"]) == 1


def test_a_gap_is_asked_only_where_its_sides_are_the_rarest_common_terms(
    repo: tuple[Path, Inventory, RepoFiles],
) -> None:
    """By the counts of the trigrams as written: a pattern whose terms are all rare is
    read at its rarest term's spans (GAP_FROM), and so is one with a term rarer than
    every side (`Context=` of `const\\s+\\w+Context\\s*=`); common sides with nothing
    rarer are asked by their distance."""
    index = index_of(repo[1])
    pattern = "const\\s+\\w+Context\\s*="
    kept = textindex_mod._stripped(collapsed_query(pattern, regex=True))
    gaps = word_gaps(pattern)
    assert gaps == (Gap(("const",), ("Context",), 1, 0),)
    common = dict.fromkeys(
        ["con", "ons", "nst", "Con", "ont", "nte", "tex", "ext", "xt="], 10 * textindex_mod.GAP_FROM
    )
    lookup = index._gap_lookup(kept, gaps, common)
    assert lookup is not None
    assert lookup.first == f'NEAR("const" "Context", {WORD_RUN + 2})'
    assert lookup.filters  # `Context=` is not what a side holds: asked besides
    assert index._gap_lookup(kept, gaps, {**common, "xt=": textindex_mod.GAP_FROM}) is None
    rare = dict.fromkeys(common, textindex_mod.GAP_FROM - 1)
    assert index._gap_lookup(kept, gaps, rare) is None


@pytest.mark.parametrize("pattern", ["class\\s+\\w+Error\\b", "class\\s+\\w+error\\b"])
def test_a_match_whose_sides_no_span_holds_together_is_found_by_its_long_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    """`class` at the end of one span and `Error` in the next, a name of 700 characters
    between: no span holds both sides, with case or blind to it, so only the text's long
    run (`store.WORD_RUN`) brings it in, at that run's spans."""
    monkeypatch.setattr(textindex_mod, "GAP_FROM", 0)
    body = "x = 1\n" * (SPAN_BYTES // 6) + "class " + "N" * 700 + "Error:\n" + "y = 2\n" * 900
    root = tmp_path / "repo"
    write_files(root, {"a/far.py": body, "b/none.py": "class A:\n    pass\n"})
    fs = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=fs, cache_dir=tmp_path / "c")
    index = index_of(knowledge.inventory)
    assert [index._paths[row] for row in index._runs] == ["a/far.py"]
    answer = same_as_a_full_scan(knowledge.inventory, fs, GrepQuery(pattern, True))
    assert isinstance(answer, dict) and [m["path"] for m in answer["matches"]] == ["a/far.py"]


@pytest.mark.parametrize(
    "pattern", ["(class|struct)\\s+\\w+Error\\b", "(class|struct)\\s+\\w+error\\b"]
)
def test_each_option_of_a_side_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pattern: str
) -> None:
    """A side that is a choice is asked as each of its options, with case and blind to it:
    the file holding only the second (`struct`) is found, at its span."""
    monkeypatch.setattr(textindex_mod, "GAP_FROM", 0)
    filler = "let x = 1;\n" * 3000
    files = {
        "a/only_struct.rs": filler + "struct ParseError;\n" + filler,
        "b/only_class.py": "class ValueError:\n    pass\n",
        "c/neither.rs": filler,
    }
    root = tmp_path / "repo"
    write_files(root, files)
    fs = RepoFiles(root)
    knowledge = load_knowledge(root / "knowledge", root, files=fs, cache_dir=tmp_path / "c")
    if pattern.endswith("Error\\b"):  # the spans a case-kept lookup gives
        found = case_lookup(knowledge, pattern)
        assert set(found) == {"a/only_struct.rs", "b/only_class.py"}
        assert found["a/only_struct.rs"] is not None and len(found["a/only_struct.rs"]) <= 2
    answer = same_as_a_full_scan(knowledge.inventory, fs, GrepQuery(pattern, True))
    assert isinstance(answer, dict)
    assert [m["path"] for m in answer["matches"]] == ["a/only_struct.rs", "b/only_class.py"]

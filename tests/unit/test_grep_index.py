"""`grep` narrowed by the index cache's trigram index answers exactly what a full scan
answers: the same matches, lines, columns, context, truncation and counts."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.inventory import Inventory
from context_bot.knowledge.literals import required_literals
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.sandbox import RepoFiles
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
    literals = required_literals(query.pattern, regex=query.regex)
    if literals:  # the index answers (a comparison with itself would prove nothing)
        assert inventory.text_index is not None
        assert inventory.text_index.candidates(literals) is not None
    plain = dataclasses.replace(inventory, text_index=None)
    full = Grep(files).search(plain, query, deadline=None).to_wire()
    narrowed = Grep(files).search(inventory, query, deadline=None).to_wire()
    return full, narrowed


@pytest.mark.parametrize(("pattern", "regex"), PATTERNS)
def test_narrowed_grep_answers_what_a_full_scan_answers(
    repo: tuple[Path, Inventory, RepoFiles], pattern: str, regex: bool
) -> None:
    for case, globs, context, limit in itertools.product(
        (None, True, False), ((), ("*.py",), ("docs/**", "src/**"), ("!tests/**",)), (0, 2), (50, 2)
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
    # The file defining it, and only the files the index always reads: the one whose
    # text folds (KELVIN SIGN, LONG S) and those it holds no text of (latin1.txt, big.txt).
    assert found == {"src/greeter.py", "docs/unicode.md", "latin1.txt", "big.txt"}
    assert index.candidates(["zzz_not_there"]) == found - {"src/greeter.py"}


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

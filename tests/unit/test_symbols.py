"""The symbol index (knowledge/symbols.py) on small files of each language, written here,
and the `symbols`, `outline` and `references` methods over a repository of them."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog

from context_bot import cli
from context_bot.bot.handlers import Handlers
from context_bot.config import load_settings
from context_bot.errors import BadRequest, InvalidPath, NotFound
from context_bot.knowledge import symbols as symbols_mod
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.model import Symbol
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.symbols import SymbolIndex, build_symbols
from context_bot.protocol import Request

PYTHON = '''import asyncio
from typing import overload

MAX_RETRIES = 5
"""How often to try."""


class Outer:
    """Holds things.

    More prose."""

    class Inner:
        def method(self):
            return asyncio.Lock()

    @property
    def size(self) -> int:
        return MAX_RETRIES

    @overload
    def get(self, key: int) -> int: ...
    @overload
    def get(self, key: str) -> str: ...


def helper(a, b):  # MAX_RETRIES in a comment is no use
    text = "MAX_RETRIES"
    def inner():
        pass
    return inner
'''

TYPESCRIPT = """/** Sends requests. */
export class HTTPTransport<T> {
  send(x: number): void {}
}

export interface Connection {
  open(): void;
}

export type Id = string;

function pick(a: string): string;
function pick(a: number): number;
function pick(a: any) { return a; }

export const handler = (e: Event) => new HTTPTransport();
const LIMIT = 3;
"""

JAVASCRIPT = """// Counts things.
class Counter {
  increment() { return this.n + 1; }
}
const double = (x) => x * 2;
function* ids() { yield 1; }
module.exports = { Counter, double };
"""

GO = """package server

// Server serves requests.
type Server struct {
	port int
}

type Handler interface {
	Serve()
}

// Run starts the server.
func (s *Server) Run() error {
	return nil
}

func New() *Server {
	s := &Server{}
	return s
}

const DefaultPort = 8080
"""

RUST = """/// A point on a plane.
#[derive(Debug)]
pub struct Point {
    x: i32,
}

impl<T> Point {
    pub fn new() -> Self {
        Point { x: 0 }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result { Ok(()) }
}

pub trait Shape {
    fn area(&self) -> f64;
}

const ORIGIN: i32 = 0;
"""

JAVA = """package demo;

/** The outer class. */
public class Outer {
    public static final int MAX = 10;
    private int count;

    /** Makes one. */
    public Outer() {}

    public void run() {
        new Inner().go();
    }

    class Inner {
        void go() {}
    }
}
"""


def _index(*files: tuple[str, str | None, str]) -> SymbolIndex:
    return build_symbols((path, lang, text, None) for path, lang, text in files)


def _get(index: SymbolIndex, path: str, name: str) -> list[Symbol]:
    return [s for s in index.symbols if s.path == path and s.name == name]


def _one(index: SymbolIndex, path: str, name: str) -> Symbol:
    found = _get(index, path, name)
    assert len(found) == 1, found
    return found[0]


def test_python_classes_nested_decorated_overloads_constants_and_docstrings() -> None:
    index = _index(("pkg/mod.py", "python", PYTHON))
    const = _one(index, "pkg/mod.py", "MAX_RETRIES")
    assert (const.kind, const.line, const.doc) == ("constant", 4, "How often to try.")
    outer = _one(index, "pkg/mod.py", "Outer")
    assert (outer.kind, outer.line, outer.end_line, outer.doc) == ("class", 8, 24, "Holds things.")
    inner = _one(index, "pkg/mod.py", "Inner")
    assert (inner.kind, inner.container, inner.line) == ("class", "Outer", 13)
    method = _one(index, "pkg/mod.py", "method")
    assert (method.kind, method.container, method.line) == ("method", "Outer.Inner", 14)
    size = _one(index, "pkg/mod.py", "size")  # decorated: the def line, not the decorator's
    assert (size.kind, size.line, size.signature) == ("method", 18, "def size(self) -> int")
    assert [s.line for s in _get(index, "pkg/mod.py", "get")] == [22, 24]  # both overloads
    helper = _one(index, "pkg/mod.py", "helper")
    assert helper.signature == "def helper(a, b)"  # not the comment after the colon
    assert _one(index, "pkg/mod.py", "inner").container == "helper"
    assert not _get(index, "pkg/mod.py", "text")  # a local is no definition


def test_typescript_interfaces_types_overloads_and_arrow_functions() -> None:
    index = _index(("src/net.ts", "typescript", TYPESCRIPT))
    cls = _one(index, "src/net.ts", "HTTPTransport")
    assert (cls.kind, cls.line, cls.end_line, cls.doc) == ("class", 2, 4, "Sends requests.")
    send = _one(index, "src/net.ts", "send")
    assert (send.kind, send.container, send.line) == ("method", "HTTPTransport", 3)
    assert _one(index, "src/net.ts", "Connection").kind == "interface"
    assert _one(index, "src/net.ts", "open").container == "Connection"
    assert _one(index, "src/net.ts", "Id").kind == "type"
    assert [s.line for s in _get(index, "src/net.ts", "pick")] == [12, 13, 14]
    handler = _one(index, "src/net.ts", "handler")
    assert (handler.kind, handler.line) == ("function", 16)
    assert _one(index, "src/net.ts", "LIMIT").kind == "constant"


def test_tsx_and_javascript() -> None:
    index = _index(
        ("ui/App.tsx", "typescript", "export function App() { return <div>{title}</div>; }\n"),
        ("lib/count.js", "javascript", JAVASCRIPT),
    )
    assert _one(index, "ui/App.tsx", "App").kind == "function"
    counter = _one(index, "lib/count.js", "Counter")
    assert (counter.kind, counter.doc) == ("class", "Counts things.")
    assert _one(index, "lib/count.js", "increment").container == "Counter"
    assert _one(index, "lib/count.js", "double").kind == "function"
    assert _one(index, "lib/count.js", "ids").kind == "function"


def test_go_methods_with_receivers_structs_and_interfaces() -> None:
    index = _index(("server/server.go", "go", GO))
    server = _one(index, "server/server.go", "Server")
    assert (server.kind, server.line, server.end_line) == ("struct", 4, 6)
    assert server.doc == "Server serves requests."
    assert _one(index, "server/server.go", "Handler").kind == "interface"
    run = _one(index, "server/server.go", "Run")
    assert (run.kind, run.container, run.line, run.doc) == (
        "method",
        "Server",
        13,
        "Run starts the server.",
    )
    assert run.signature == "func (s *Server) Run() error"
    assert _one(index, "server/server.go", "New").kind == "function"
    assert _one(index, "server/server.go", "DefaultPort").kind == "constant"
    assert not _get(index, "server/server.go", "s")  # a local


def test_rust_impl_blocks_traits_and_doc_comments() -> None:
    index = _index(("src/geo.rs", "rust", RUST))
    points = [(s.kind, s.line, s.doc) for s in _get(index, "src/geo.rs", "Point")]
    assert points == [("struct", 3, "A point on a plane."), ("impl", 7, None), ("impl", 13, None)]
    new = _one(index, "src/geo.rs", "new")
    assert (new.kind, new.container, new.line, new.end_line) == ("method", "Point", 8, 10)
    assert _one(index, "src/geo.rs", "fmt").container == "Point"  # `impl Display for Point`
    assert _one(index, "src/geo.rs", "Shape").kind == "trait"
    area = _one(index, "src/geo.rs", "area")
    assert (area.kind, area.container) == ("method", "Shape")
    assert _one(index, "src/geo.rs", "ORIGIN").kind == "constant"


def test_java_inner_classes_constructors_and_constants() -> None:
    index = _index(("src/demo/Outer.java", "java", JAVA))
    outer = next(s for s in _get(index, "src/demo/Outer.java", "Outer") if s.kind == "class")
    assert (outer.line, outer.end_line, outer.doc) == (4, 18, "The outer class.")
    ctor = [s for s in _get(index, "src/demo/Outer.java", "Outer") if s.kind == "constructor"]
    assert [(c.line, c.doc) for c in ctor] == [(9, "Makes one.")]
    assert _one(index, "src/demo/Outer.java", "MAX").kind == "constant"
    assert _one(index, "src/demo/Outer.java", "count").kind == "field"
    inner = _one(index, "src/demo/Outer.java", "Inner")
    assert (inner.kind, inner.container, inner.line) == ("class", "Outer", 15)
    go = _one(index, "src/demo/Outer.java", "go")
    assert (go.container, go.line) == ("Outer.Inner", 16)


def test_outline_is_a_tree_by_line_ranges() -> None:
    index = _index(("pkg/mod.py", "python", PYTHON))
    tree = [n.to_wire() for n in index.outline("pkg/mod.py")]
    assert [n["name"] for n in tree] == ["MAX_RETRIES", "Outer", "helper"]
    outer = tree[1]
    assert [c["name"] for c in outer["children"]] == ["Inner", "size", "get", "get"]
    assert outer["children"][0]["children"][0]["name"] == "method"
    assert tree[2]["children"][0]["name"] == "inner"
    assert index.outline("nowhere.py") == []


def test_find_ranks_exact_then_prefix_then_camel_humps_then_fuzzy() -> None:
    index = _index(
        ("a.ts", "typescript", TYPESCRIPT),
        ("b.py", "python", "def send(): pass\ndef sender(): pass\ndef resend(): pass\n"),
        ("c.py", "python", "def s_e_n_d(): pass\nclass HTTP: pass\ndef getUserName(): pass\n"),
    )
    found = [(m.symbol.name, m.match) for m in index.find("send")]
    assert found[:2] == [("send", "exact"), ("send", "exact")]
    assert found[2:] == [("sender", "prefix"), ("resend", "substring"), ("s_e_n_d", "fuzzy")]
    assert [(m.symbol.name, m.match) for m in index.find("HTTPTr")] == [("HTTPTransport", "prefix")]
    assert [(m.symbol.name, m.match) for m in index.find("getUN")] == [("getUserName", "camel")]
    assert [m.symbol.name for m in index.find("http")] == ["HTTP", "HTTPTransport"]
    assert [m.symbol.path for m in index.find("send", kind="method")] == ["a.ts"]
    only_py = index.find("send", selects=lambda p: p.endswith(".py"), limit=2)
    assert [m.symbol.name for m in only_py] == ["send", "sender"]
    assert index.find("   ") == []
    assert index.find("(((") == []  # the query is text, not a pattern


def test_references_are_identifiers_not_comments_strings_or_definitions() -> None:
    index = _index(
        ("pkg/mod.py", "python", PYTHON),
        ("server/server.go", "go", GO),
        ("src/net.ts", "typescript", TYPESCRIPT),
    )
    refs, total = index.references("MAX_RETRIES")
    assert [(r.path, r.line) for r in refs] == [("pkg/mod.py", 19)] and total == 1
    refs, _ = index.references("Server")
    assert [(r.path, r.line) for r in refs] == [
        ("server/server.go", 13),
        ("server/server.go", 17),
        ("server/server.go", 18),
    ]
    refs, total = index.references("Server", selects=lambda p: p.endswith(".ts"))
    assert (refs, total) == ([], 0)
    refs, total = index.references("Server", limit=1)
    assert (len(refs), total) == (1, 3)
    assert [r.line for r in index.references("HTTPTransport")[0]] == [16]


def test_most_used_ranks_a_files_top_level_names_by_uses_and_skips_common_ones() -> None:
    lib = (
        "import logging\nlog = logging.getLogger()\n\n"
        "class Engine:\n    def run(self): ...\n\n"
        "def start(): ...\n\ndef helper(): ...\n\ndef _private(): ...\n\ndef main(): ...\n"
    )
    user = (
        "from lib import Engine, start, _private\n"
        "def main():\n    Engine().run()\n    Engine()\n    start()\n    _private()\n"
    )
    users = [(f"app/u{n}.py", "python", user) for n in range(4)]
    index = _index(("lib.py", "python", lib), *users)
    # `main` is defined at the top of five files: its count would mix them all.
    assert index.most_used("lib.py") == [("Engine", 12), ("start", 8)]
    assert index.most_used("lib.py", limit=1) == [("Engine", 12)]
    assert index.most_used("missing.py") == []
    # A Go package's folder: the files directly in it, not those below. (Uses are counted
    # by line, as `references` lists them.)
    go = _index(
        ("pkg/a.go", "go", "package pkg\n\nfunc Open() {}\n"),
        ("pkg/b.go", "go", "package pkg\n\nfunc Use() {\n\tOpen()\n\tOpen()\n}\n"),
        ("pkg/sub/c.go", "go", "package sub\n\nfunc Deep() {}\n\nfunc X() { Deep() }\n"),
    )
    assert go.most_used("pkg/") == [("Open", 2)]
    # Go's `init` and `main` are called by the runtime, never by name: other things spelled
    # so (a method `r.init()`) are no uses of them.
    runtime = _index(
        ("util.go", "go", "package raft\n\nfunc init() {}\n\nfunc Max() int { return 1 }\n"),
        (
            "api.go",
            "go",
            "package raft\n\nfunc (r *R) run() {\n\tr.init()\n\tr.init()\n\tMax()\n}\n",
        ),
    )
    assert runtime.most_used("util.go") == [("Max", 1)]


def test_the_index_is_the_same_on_every_build_and_in_threads() -> None:
    """Uses were once deduplicated against the last line seen, but captures do not come in
    line order: two builds of one tree counted some names differently (and the overview,
    which names use counts, changed between restarts). Parsers are per thread, too."""
    package = Path(__file__).resolve().parents[2] / "context_bot"
    files = [(str(p), "python", p.read_text(), None) for p in sorted(package.rglob("*.py"))]

    def counts(index: SymbolIndex) -> dict[str, list[int]]:
        names = {n for _, _, text, _ in files for n in re.findall(r"[A-Za-z_]\w*", text)}
        return {name: list(index.uses_of(name)) for name in sorted(names)}

    first = counts(build_symbols(files))
    assert counts(build_symbols(files)) == first
    with ThreadPoolExecutor(3) as pool:
        assert all(counts(i) == first for i in pool.map(lambda _: build_symbols(files), range(3)))


def test_broken_files_keep_what_the_parser_recovers() -> None:
    broken = "def ok():\n    pass\n\ndef bad(:\n    x\n\nclass Still:\n    pass\n"
    index = _index(("broken.py", "python", broken))
    assert index.partial == 1
    assert {s.name: s.line for s in index.symbols}["Still"] == 7
    assert "ok" in {s.name for s in index.symbols}


def test_large_minified_unknown_and_unread_files_are_counted_not_parsed() -> None:
    minified = "var a=1;" * 500  # one 4,000-character line
    huge = "x = 1\n" * (symbols_mod.MAX_SYMBOL_FILE_BYTES // 6 + 10)
    index = build_symbols(
        [
            ("dist/app.min.js", "javascript", minified, None),
            ("gen/big.py", "python", huge, None),
            ("gen/bigger.py", "python", "", "too_large"),
            ("notes.txt", "text", "def not_code(): pass", None),
            ("main.c", "c", "int main() {}", None),
            ("ok.py", "python", "def fine(): pass\n", None),
        ]
    )
    assert index.skipped == {"minified": 1, "too_large": 2}
    assert [s.name for s in index.symbols] == ["fine"]
    assert index.files == 1


def test_a_grammar_that_fails_to_load_is_logged_once_and_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = symbols_mod._Spec("no_such_grammar_module", "language", "", "")
    monkeypatch.setitem(symbols_mod._SPECS, "go", broken)
    symbols_mod.grammar.cache_clear()
    try:
        with structlog.testing.capture_logs() as logs:
            index = _index(("a.go", "go", GO), ("b.go", "go", GO), ("c.py", "python", PYTHON))
    finally:
        symbols_mod.grammar.cache_clear()
    assert [e["event"] for e in logs].count("symbol_grammar_unavailable") == 1
    assert index.skipped == {"no_grammar": 2}
    assert {s.path for s in index.symbols} == {"c.py"}


@pytest.fixture
def handlers(tmp_path: Path) -> Handlers:
    """A repository with a file in each language, and a secret the deny-list hides."""
    for path, text in {
        "pkg/mod.py": PYTHON,
        "src/net.ts": TYPESCRIPT,
        "lib/count.js": JAVASCRIPT,
        "server/server.go": GO,
        "src/geo.rs": RUST,
        "src/demo/Outer.java": JAVA,
        "README.md": "# Demo\n\nSee `Server`.\n",
        ".env": "def leaked(): pass\n",
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    knowledge = load_knowledge(tmp_path / "knowledge", tmp_path)
    return Handlers(lambda: knowledge, RepoFiles(tmp_path))


async def call(handlers: Handlers, method: str, **params: Any) -> dict[str, Any]:
    return await handlers.handle(Request(id="t", method=method, params=params))


async def test_symbols_method_answers_ranked_definitions(handlers: Handlers) -> None:
    result = await call(handlers, "symbols", query="HTTPTr")
    assert [(s["path"], s["line"], s["kind"], s["match"]) for s in result["symbols"]] == [
        ("src/net.ts", 2, "class", "prefix")
    ]
    assert result["truncated"] is False and result["knowledge_version"]
    runs = await call(handlers, "symbols", query="run", kind="method", limit=1)
    assert len(runs["symbols"]) == 1 and runs["truncated"] is True
    go_only = await call(handlers, "symbols", query="run", path_glob="*.go")
    assert {s["path"] for s in go_only["symbols"]} == {"server/server.go"}
    assert (await call(handlers, "symbols", query="leaked"))["symbols"] == []


async def test_outline_method_answers_a_tree_or_says_the_file_is_not_parsed(
    handlers: Handlers,
) -> None:
    result = await call(handlers, "outline", path="src/demo/Outer.java")
    assert (result["language"], result["parsed"]) == ("java", True)
    outer = result["symbols"][0]
    assert (outer["name"], outer["line"], outer["end_line"]) == ("Outer", 4, 18)
    inner = next(c for c in outer["children"] if c["name"] == "Inner")
    assert [c["name"] for c in inner["children"]] == ["go"]
    readme = await call(handlers, "outline", path="README.md")
    assert (readme["parsed"], readme["symbols"]) == (False, [])
    with pytest.raises(NotFound):
        await call(handlers, "outline", path="nowhere.py")
    with pytest.raises(NotFound):
        await call(handlers, "outline", path=".env")  # denied: not in the inventory
    with pytest.raises(InvalidPath):
        await call(handlers, "outline", path="../etc/passwd")


async def test_references_method_answers_uses_by_name(handlers: Handlers) -> None:
    result = await call(handlers, "references", name="Server")
    assert [(r["path"], r["line"]) for r in result["references"]] == [
        ("server/server.go", 13),
        ("server/server.go", 17),
        ("server/server.go", 18),
    ]  # not README.md's mention, not the definition on line 4
    assert (result["total"], result["truncated"], result["resolution"]) == (3, False, "name")
    cut = await call(handlers, "references", name="Server", limit=2)
    assert (len(cut["references"]), cut["total"], cut["truncated"]) == (2, 3, True)
    none = await call(handlers, "references", name="Server", path_glob=["*", "!server/"])
    assert none["references"] == []


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("symbols", {}, "params.query` is required"),
        ("symbols", {"query": " "}, "not blank"),
        ("symbols", {"query": "x" * 129}, "1 to 128 characters"),
        ("symbols", {"query": 3}, "must be a string"),
        ("symbols", {"query": "a", "kind": "klass"}, "params.kind` must be one of"),
        ("symbols", {"query": "a", "limit": 201}, "from 1 to 200"),
        ("symbols", {"query": "a", "path_glob": 5}, "path pattern or a list"),
        ("symbols", {"query": "a", "path_glob": ["x"] * 17}, "at most 16"),
        ("references", {"name": "a\0b"}, "no NUL"),
        ("references", {"name": "a", "limit": 0}, "from 1 to 1000"),
        ("outline", {}, "params.path` is required"),
    ],
)
async def test_bad_symbol_requests_are_4000(
    handlers: Handlers, method: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequest, match=re.escape(message)) as caught:
        await call(handlers, method, **params)
    assert caught.value.code == 4000


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["symbols", "Run"],  # the same case first, then any case
            "server/server.go:13: method Server.Run  func (s *Server) Run() error\n"
            "src/demo/Outer.java:11: method Outer.run  public void run()\n",
        ),
        (
            ["symbols", "run", "--kind", "method", "--glob", "*.java"],
            "src/demo/Outer.java:11: method Outer.run  public void run()\n",
        ),
        (
            ["outline", "server/server.go"],
            "server/server.go:4: struct Server\nserver/server.go:8: interface Handler\n"
            "server/server.go:13: method Run\nserver/server.go:17: function New\n"
            "server/server.go:22: constant DefaultPort\n",
        ),
        (
            ["references", "Server"],
            "server/server.go:13\nserver/server.go:17\nserver/server.go:18\n",
        ),
        (
            ["references", "Server", "--limit", "1"],
            "server/server.go:13\n… 2 more (raise --limit)\n",
        ),
        (["references", "Nothing"], "no uses\n"),
    ],
)
def test_cli_commands_print_path_line_per_hit(
    handlers: Handlers,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    del handlers  # its fixture wrote the repository
    settings = replace(load_settings(None, {}), repo=tmp_path)
    args = cli._parser().parse_args([*argv, "--repo", str(tmp_path)])
    with structlog.testing.capture_logs():  # the loader's log lines are not the output
        assert cli._ask(settings, args) == 0
    assert capsys.readouterr().out == expected


async def test_file_carries_the_outline_only_when_asked(handlers: Handlers) -> None:
    plain = await call(handlers, "file", path="src/geo.rs")
    assert "outline" not in plain  # the answer older clients know
    with_outline = await call(handlers, "file", path="src/geo.rs", outline=True)
    assert [(n["name"], n["kind"], n["line"]) for n in with_outline["outline"]][:2] == [
        ("Point", "struct", 3),
        ("Point", "impl", 7),
    ]
    assert with_outline["outline"][1]["children"][0]["name"] == "new"
    readme = await call(handlers, "file", path="README.md", outline=True)
    assert readme["outline"] == []
    with pytest.raises(BadRequest, match="outline"):
        await call(handlers, "file", path="README.md", outline="yes")

"""Where things are defined, what a file holds, where a name is used: a symbol index.

Built at load from the texts the search index already read through the sandbox (no
second read of the repository), with tree-sitter: a real parser, so a definition inside
a string or a comment is no definition, a syntax error costs only the broken part (the
parser recovers and the rest of the file still yields its symbols), and every language
is one query, not a hand-written scanner. The grammars come as wheels from the package
registry (`tree-sitter-python`, ...): nothing is downloaded at run time, and a grammar that
fails to load is logged once and its language left out.

`references` are by name, not type-resolved: every identifier of the parse tree spelled
like the name (not in comments or strings), definitions excluded. Two unrelated `run`s are
both found; that is said in PROTOCOL.md.

Blocking and CPU-heavy (parsing): `build_symbols` runs in the loading thread. Lookups
afterwards are dictionary lookups and the per-tier structures of `symbol_names.py`.
"""

from __future__ import annotations

import functools
import importlib
import posixpath
import re
import threading
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from context_bot.knowledge.model import Symbol
from context_bot.knowledge.symbol_names import NameIndex, camel_test, skeleton
from context_bot.knowledge.symbol_store import Batch, SymbolTable

log = structlog.get_logger(__name__)

MAX_SYMBOL_FILE_BYTES = 256 * 1024
"""Larger files are not parsed (counted `too_large`): generated code and bundles."""
MINIFIED_LINE_CHARS = 1_000
"""A file whose mean line is longer than this is minified (counted `minified`)."""
MAX_SIGNATURE_CHARS = 200
MAX_DOC_CHARS = 300
AMBIGUOUS_FILES = 3
"""A name defined at the top of more files than this is too common to rank by its uses
(`SymbolIndex.most_used`): its count mixes them all."""

#: Kinds a `symbols` query may ask for.
KINDS = frozenset(
    {
        "class", "interface", "struct", "enum", "trait", "type", "impl", "module",
        "namespace", "function", "method", "constructor", "field", "constant", "variable",
        "macro",
    }
)  # fmt: skip
#: Kinds whose members are methods and whose name makes a container.
_TYPE_KINDS = frozenset({"class", "interface", "struct", "enum", "trait", "impl"})
_CALLABLE_KINDS = frozenset({"function", "method", "constructor"})

_JS_DEFS = """
(class_declaration name: (_) @name) @def.class
(function_declaration name: (_) @name) @def.function
(generator_function_declaration name: (_) @name) @def.function
(method_definition name: (_) @name) @def.method
(variable_declarator name: (identifier) @name
  value: [(arrow_function) (function_expression) (generator_function)]) @def.function
(program (lexical_declaration (variable_declarator name: (identifier) @name) @def.variable))
(program (variable_declaration (variable_declarator name: (identifier) @name) @def.variable))
(program (export_statement declaration:
  (lexical_declaration (variable_declarator name: (identifier) @name) @def.variable)))
"""
_TS_DEFS = (
    _JS_DEFS
    + """
(abstract_class_declaration name: (_) @name) @def.class
(interface_declaration name: (_) @name) @def.interface
(type_alias_declaration name: (_) @name) @def.type
(enum_declaration name: (_) @name) @def.enum
(function_signature name: (_) @name) @def.function
(method_signature name: (_) @name) @def.method
(abstract_method_signature name: (_) @name) @def.method
(internal_module name: (_) @name) @def.namespace
"""
)


@dataclass(frozen=True)
class _Spec:
    """One grammar: its wheel, the loader in it, the definitions query, the identifiers."""

    module: str
    loader: str
    defs: str
    refs: str


#: Per grammar: patterns earlier in `defs` win when two match one node (a Go struct is a
#: `type_spec` too; an arrow function in a `const` is a function, not a variable).
_SPECS: dict[str, _Spec] = {
    "python": _Spec(
        "tree_sitter_python",
        "language",
        """
(class_definition name: (identifier) @name) @def.class
(function_definition name: (identifier) @name) @def.function
(module (expression_statement (assignment left: (identifier) @name) @def.variable))
""",
        "(identifier) @ref",
    ),
    "javascript": _Spec(
        "tree_sitter_javascript",
        "language",
        _JS_DEFS,
        "[(identifier) (property_identifier) (shorthand_property_identifier)] @ref",
    ),
    "typescript": _Spec(
        "tree_sitter_typescript",
        "language_typescript",
        _TS_DEFS,
        "[(identifier) (property_identifier) (shorthand_property_identifier)"
        " (type_identifier)] @ref",
    ),
    "tsx": _Spec(
        "tree_sitter_typescript",
        "language_tsx",
        _TS_DEFS,
        "[(identifier) (property_identifier) (shorthand_property_identifier)"
        " (type_identifier)] @ref",
    ),
    "go": _Spec(
        "tree_sitter_go",
        "language",
        """
(function_declaration name: (_) @name) @def.function
(method_declaration receiver: (parameter_list (parameter_declaration type: (_) @receiver))
  name: (_) @name) @def.method
(type_spec name: (_) @name type: (struct_type)) @def.struct
(type_spec name: (_) @name type: (interface_type)) @def.interface
(type_spec name: (_) @name) @def.type
(const_spec name: (_) @name) @def.constant
(var_spec name: (_) @name) @def.variable
""",
        "[(identifier) (field_identifier) (type_identifier) (package_identifier)] @ref",
    ),
    "rust": _Spec(
        "tree_sitter_rust",
        "language",
        """
(function_item name: (_) @name) @def.function
(function_signature_item name: (_) @name) @def.function
(struct_item name: (_) @name) @def.struct
(union_item name: (_) @name) @def.struct
(enum_item name: (_) @name) @def.enum
(trait_item name: (_) @name) @def.trait
(type_item name: (_) @name) @def.type
(const_item name: (_) @name) @def.constant
(static_item name: (_) @name) @def.variable
(mod_item name: (_) @name) @def.module
(macro_definition name: (_) @name) @def.macro
(impl_item type: (_) @name) @def.impl
""",
        "[(identifier) (field_identifier) (type_identifier)] @ref",
    ),
    "java": _Spec(
        "tree_sitter_java",
        "language",
        """
(class_declaration name: (_) @name) @def.class
(interface_declaration name: (_) @name) @def.interface
(enum_declaration name: (_) @name) @def.enum
(record_declaration name: (_) @name) @def.class
(annotation_type_declaration name: (_) @name) @def.interface
(method_declaration name: (_) @name) @def.method
(constructor_declaration name: (_) @name) @def.constructor
(field_declaration declarator: (variable_declarator name: (_) @name)) @def.field
""",
        "[(identifier) (type_identifier)] @ref",
    ),
}
#: The inventory's language names (`inventory.py`) and file suffixes, to a grammar.
_BY_LANGUAGE = {"python": "python", "javascript": "javascript", "go": "go", "rust": "rust"}
_BY_LANGUAGE |= {"java": "java", "typescript": "typescript"}
_BY_SUFFIX = {".tsx": "tsx", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript"}
_BY_SUFFIX |= {".mts": "typescript", ".cts": "typescript", ".pyi": "python"}

_GO_UNNAMED = frozenset({"init", "main"})
"""Go functions the runtime calls and no code names."""
_SPACE = re.compile(r"\s+")
_COMMENT_MARKS = re.compile(r"^\s*(?:/\*\*?|\*/|\*(?!/)|///?|//!|#)?\s?", re.M)
_STRING_QUOTES = re.compile(r"^[rRbBuUfF]*(\"\"\"|'''|\"|')|(\"\"\"|'''|\"|')$")
_LEAD_NAME = re.compile(r"[A-Za-z_$][\w$]*(?:::[A-Za-z_$][\w$]*)*")
_CONSTANT = re.compile(r"[A-Z][A-Z0-9_]+")
_COMMENT_END = re.compile(r"\s*\*+/\s*$", re.M)
#: Nodes around a definition that its leading comment sits above (`export const f = ...`,
#: Go's `type X struct` inside `type_declaration`).
_WRAPPERS = frozenset(
    {
        "export_statement", "lexical_declaration", "variable_declaration",
        "type_declaration", "const_declaration", "var_declaration",
    }
)  # fmt: skip


@dataclass
class _Grammar:
    language: str
    ts_language: Any  # tree_sitter.Language (the bindings' types are loose; kept loose here)
    defs: Any  # tree_sitter.Query
    refs: Any
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def parser(self) -> Any:
        """This thread's parser. A tree-sitter parser is not safe to share between threads,
        and loads run in threads (two apps of one process, a reload beside a retrieve):
        one shared parser gave two loads of the same files different symbol counts."""
        parser = getattr(self._local, "parser", None)
        if parser is None:
            import tree_sitter as ts

            parser = self._local.parser = ts.Parser(self.ts_language)
        return parser


@functools.cache
def grammar(name: str) -> _Grammar | None:
    """The grammar `name` ready to parse, or None (logged once) when it fails to load."""
    spec = _SPECS.get(name)
    if spec is None:
        return None
    try:
        import tree_sitter as ts

        module = importlib.import_module(spec.module)
        language = ts.Language(getattr(module, spec.loader)())
        defs, refs = ts.Query(language, spec.defs), ts.Query(language, spec.refs)
        return _Grammar(name, language, defs, refs)
    except Exception as exc:  # any failure leaves only this language out
        log.warning("symbol_grammar_unavailable", language=name, error=str(exc)[:200])
        return None


def grammar_for(path: str, language: str | None) -> str | None:
    """Which grammar parses the file: by suffix where one language has two (TSX), else by
    the inventory's language; None for a language without one."""
    suffix = posixpath.splitext(path)[1].lower()
    return _BY_SUFFIX.get(suffix) or _BY_LANGUAGE.get(language or "")


@dataclass(frozen=True, slots=True)
class Reference:
    """One use of a name: the file and the 1-based line."""

    path: str
    line: int

    def to_wire(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line}


@dataclass(frozen=True, slots=True)
class OutlineNode:
    symbol: Symbol
    children: tuple[OutlineNode, ...]

    def to_wire(self) -> dict[str, object]:
        s = self.symbol
        return {
            "name": s.name,
            "kind": s.kind,
            "line": s.line,
            "end_line": s.end_line,
            "signature": s.signature,
            "doc": s.doc,
            "children": [c.to_wire() for c in self.children],
        }


@dataclass(frozen=True, slots=True)
class SymbolMatch:
    symbol: Symbol
    match: str  # exact, prefix, camel, substring, fuzzy

    def to_wire(self) -> dict[str, object]:
        return {**self.symbol.to_wire(), "match": self.match}


_LINE_BITS = 24
_LINE_MASK = (1 << _LINE_BITS) - 1
_KIND_ORDER = {k: n for n, k in enumerate(("class", "interface", "struct", "trait", "enum"))}
_KIND_NAMES = tuple(sorted(KINDS))
_KIND_CODE = {k: n for n, k in enumerate(_KIND_NAMES)}


@dataclass
class FileSymbols:
    """What one file yields: its definitions, and the names it uses with their lines."""

    symbols: list[Symbol]
    references: dict[str, list[int]]
    partial: bool  # the parse had errors; what the parser recovered is kept


@dataclass
class UsesUnknown(FileSymbols):
    """What an index held of a file when only its totals were kept, not its uses: a
    restart's overlay knows a changed file's reason or partial parse from the record of
    the last assembled index (`indexing._changed_since`), while the file's old text and
    rows are gone. An overlay with one counts the base's uses by reading them
    (`_Overlay.most_used`) instead of subtracting the file's own."""


def extract(path: str, text: str, grammar_name: str) -> FileSymbols | None:
    """Every definition and identifier use of one file; None when its grammar is out."""
    g = grammar(grammar_name)
    if g is None:
        return None
    import tree_sitter as ts

    source = text.encode("utf-8", "surrogatepass")
    tree = g.parser.parse(source)
    root = tree.root_node
    found: dict[tuple[int, int, int], tuple[int, str, Any, Any, Any]] = {}
    for pattern, caps in ts.QueryCursor(g.defs).matches(root):
        kind = next((k[4:] for k in caps if k.startswith("def.")), None)
        if kind is None or not caps.get("name"):
            continue
        node = caps[f"def.{kind}"][0]
        for name_node in caps["name"]:
            key = (node.start_byte, node.end_byte, name_node.start_byte)
            if key not in found or found[key][0] > pattern:
                receiver = caps.get("receiver", [None])[0]
                found[key] = (pattern, kind, node, name_node, receiver)
    defs = sorted(found.values(), key=lambda d: (d[2].start_byte, -d[2].end_byte))
    symbols: list[Symbol] = []
    stack: list[tuple[int, str, str]] = []  # (end byte, kind, name) of open definitions
    def_names: set[int] = set()
    for _, kind, node, name_node, receiver in defs:
        while stack and stack[-1][0] <= node.start_byte:
            stack.pop()
        name = _text(name_node)
        def_names.add(name_node.start_byte)
        if kind == "impl":
            name = _lead_name(name)
        inside_callable = any(k in _CALLABLE_KINDS for _, k, _ in stack)
        if kind in ("variable", "constant", "field") and inside_callable:
            continue  # a local, not a definition of the module
        types = [n for _, k, n in stack if k in _TYPE_KINDS]
        if kind == "function" and stack and stack[-1][1] in _TYPE_KINDS:
            kind = "method"
        if kind == "variable" and _CONSTANT.fullmatch(name):
            kind = "constant"
        if kind == "field" and _is_static_final(node):
            kind = "constant"
        container = ".".join(n for _, _, n in stack) or None
        if receiver is not None:
            container = _lead_name(_text(receiver).lstrip("*& "))
        elif types and kind in ("method", "constructor"):
            container = ".".join(n for _, _, n in stack)
        symbols.append(
            Symbol(
                name=name,
                kind=kind,
                container=container,
                path=path,
                line=node.start_point[0] + 1,
                end_line=node.end_point[0] + 1,
                signature=_signature(node, source),
                doc=_doc(node, grammar_name),
                language=grammar_name,
            )
        )
        stack.append((node.end_byte, kind, name))
    # A set per name: captures come per capture name, not in line order, so "the same line
    # as the last one" missed repeats (and the counts drifted between loads of one tree).
    # The hottest loop of a load (an identifier in every ~20 bytes of code): keyed by the
    # bytes of the source, decoded once per distinct name; rows counted from 0 until then.
    uses: dict[bytes, set[int]] = defaultdict(set)
    for nodes in ts.QueryCursor(g.refs).captures(root).values():
        for n in nodes:
            start = n.start_byte
            if start not in def_names:
                uses[source[start : n.end_byte]].add(n.start_point.row)
    refs: dict[str, list[int]] = {}
    for raw, rows in uses.items():
        lines = [row + 1 for row in sorted(rows)]
        name = raw.decode("utf-8", "replace")
        refs[name] = sorted({*refs[name], *lines}) if name in refs else lines
    return FileSymbols(symbols, refs, root.has_error)


def _text(node: Any) -> str:
    return bytes(node.text or b"").decode("utf-8", "replace")


def _lead_name(text: str) -> str:
    """`Foo<T>` → `Foo`, `fmt::Display for Foo` keeps the path's head: an impl's type."""
    if " for " in text:
        text = text.rsplit(" for ", 1)[1]
    found = _LEAD_NAME.search(text)
    return found.group(0).rsplit("::", 1)[-1] if found else text


def _is_static_final(node: Any) -> bool:
    for child in node.children:
        if child.type == "modifiers":
            words = _text(child).split()
            return "static" in words and "final" in words
    return False


def _signature(node: Any, source: bytes) -> str:
    """The definition's head on one line: up to its body, else its first line."""
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte > node.start_byte:
        end = body.start_byte
        for child in node.children:  # Python's `:` ends the head; a comment after it not
            if child.type == ":" and child.end_byte <= body.start_byte:
                end = child.start_byte
        head = source[node.start_byte : end].decode("utf-8", "replace")
    else:
        head = _text(node).split("\n", 1)[0]
    head = _SPACE.sub(" ", head).strip().rstrip("{:").rstrip()
    if len(head) > MAX_SIGNATURE_CHARS:
        head = head[: MAX_SIGNATURE_CHARS - 1] + "…"
    return head


def _doc(node: Any, language: str) -> str | None:
    """Python's docstring (or the string after a module variable, as this project
    writes them); elsewhere the comment block right above the definition."""
    if language == "python":
        return _python_doc(node)
    target = node
    while target.parent is not None and target.parent.type in _WRAPPERS:
        target = target.parent
    lines: list[str] = []
    row = target.start_point[0]
    sibling = target.prev_sibling
    while sibling is not None:
        if sibling.type in ("attribute_item", "decorator", "annotation"):
            row = sibling.start_point[0]
        elif "comment" in sibling.type and sibling.end_point[0] >= row - 1:
            lines.insert(0, _text(sibling))
            row = sibling.start_point[0]
        else:
            break
        sibling = sibling.prev_sibling
    if not lines:
        return None
    return _first_paragraph(_COMMENT_MARKS.sub("", _COMMENT_END.sub("", "\n".join(lines))))


def _python_doc(node: Any) -> str | None:
    if node.type == "assignment":
        stmt = node.parent.next_named_sibling if node.parent is not None else None
    else:
        body = node.child_by_field_name("body")
        stmt = body.named_children[0] if body is not None and body.named_children else None
    if stmt is None or stmt.type != "expression_statement" or not stmt.named_children:
        return None
    string = stmt.named_children[0]
    if string.type != "string":
        return None
    return _first_paragraph(_STRING_QUOTES.sub("", _text(string).strip()))


def _first_paragraph(text: str) -> str | None:
    para = _SPACE.sub(" ", text.strip().split("\n\n", 1)[0]).strip()
    if not para:
        return None
    return para if len(para) <= MAX_DOC_CHARS else para[: MAX_DOC_CHARS - 1] + "…"


class SymbolIndex:
    """Every definition of the repository's files in the parsed languages, and every use
    of a name; immutable once built (a reload builds a new one).

    Memory holds what ranking and filtering read on every request, as arrays (a number per
    definition: its name, kind, file, line; 17 bytes a definition, where a `Symbol` with
    its strings took some 400): the names' tier structures (`symbol_names.py`) and, per
    lower-case name and per file, where its definitions are. The rest, each definition's
    container, signature and doc, and every name's uses, is in a `SymbolTable`
    (`symbol_store.py`), read for the few definitions an answer names. A live reload
    does not change it: `patched` overlays the changed files on it."""

    def __init__(self) -> None:
        self.skipped: dict[str, int] = {}
        """Files not parsed, by reason: `too_large`, `minified`, `not_read`."""
        self.partial = 0
        """Files parsed with syntax errors (what the parser recovered is kept)."""
        self.files = 0
        self._paths: list[str] = []  # file number → path (files with or without symbols)
        self._file_no: dict[str, int] = {}
        self._file_defs = array("I", [0])  # file number → its first definition (+ the end)
        self._names: list[str] = []  # the distinct names as spelled, sorted
        self._def_name = array("I")  # per definition: its name's number in `_names`
        self._def_kind = array("B")  # its kind's number in `_KIND_NAMES`
        self._def_file = array("I")
        self._def_line = array("I")
        self._def_top = array("B")  # 1 when defined at the top of its file (no container)
        self._lower = NameIndex(())
        self._lower_defs = array("I")  # definitions by lower-case name (CSR, `_lower_at`)
        self._lower_at = array("I", [0])
        self._table: SymbolTable | None = None

    def finish(self, kept: object = None) -> SymbolIndex:
        """Lay out the lookups once, in the loading thread; `kept`: what `index_to_plain`
        kept of them for the same arrays (a restart does not lay them out again)."""
        self._file_no = {p: n for n, p in enumerate(self._paths)}
        if kept is not None:
            if not isinstance(kept, tuple) or len(kept) != 3:
                raise ValueError("not a symbol index layout")
            names_plain, lower_defs, lower_at = kept
            self._lower = NameIndex(self._names, names_plain)
            self._lower_defs, self._lower_at = array("I"), array("I")
            self._lower_defs.frombytes(lower_defs)
            self._lower_at.frombytes(lower_at)
            if len(self._lower_at) != len(self._lower.lowers) + 1:
                raise ValueError("symbol index layout does not match")
            return self
        self._lower = NameIndex(self._names)
        # Definitions grouped by lower-case name, in file order inside a group (a stable
        # sort of a million numbers: numpy, not a Python loop).
        lower_of = np.array(self._lower.numbers, dtype=np.uint32)
        if len(self):
            of_def = lower_of[np.frombuffer(self._def_name, dtype=np.uint32)]
        else:
            of_def = lower_of[:0]
        order = np.argsort(of_def, kind="stable").astype(np.uint32)
        counts = np.bincount(of_def, minlength=len(self._lower.lowers))
        self._lower_defs = array("I", order.tobytes())
        self._lower_at = array("I", [0])
        self._lower_at.extend(np.cumsum(counts).astype(np.uint32).tolist())
        self._lower.numbers = []  # not needed past this point
        return self

    def __len__(self) -> int:
        return len(self._def_name)

    @property
    def symbols(self) -> list[Symbol]:
        """Every definition, in file order: all read from the table (for tests and tools,
        not for a request)."""
        if self._table is None:
            return []
        return [Symbol(*row) for row in self._table.span(0, len(self))]  # type: ignore[arg-type]

    def paths_defining(self, test: Callable[[str], object]) -> list[str]:
        """The files (sorted) with a definition whose name passes `test`, from the arrays:
        for tools that would otherwise read every `Symbol` (benchmarks draw from it)."""
        passing = [bool(test(name)) for name in self._names]
        return sorted(
            {
                self._paths[f]
                for n, f in zip(self._def_name, self._def_file, strict=True)
                if passing[n]
            }
        )

    def has_file(self, path: str) -> bool:
        n = self._file_no.get(path)
        return n is not None and self._file_defs[n + 1] > self._file_defs[n]

    def find(
        self,
        query: str,
        *,
        kind: str | None = None,
        selects: Callable[[str], bool] | None = None,
        limit: int = 20,
    ) -> list[SymbolMatch]:
        """Definitions whose name matches `query`: exactly (case first), then as a prefix,
        then by camel humps (`HTTPTr` → `HTTPTransport`), as a substring, and as a
        subsequence; in each tier shorter names first, types before members."""
        q = query.strip()
        if not q or (kind is not None and kind not in _KIND_CODE):
            return []
        want_kind = _KIND_CODE[kind] if kind is not None else None
        order = self._order(q)
        paths, def_file, def_kind = self._paths, self._def_file, self._def_kind
        picked: list[tuple[int, str]] = []
        seen: set[int] = set()
        for _, tier, group in self._tier_groups(q):
            candidates = [d for n in group for d in self._defs_of(n)]
            candidates.sort(key=order)
            for d in candidates:
                if d in seen or (want_kind is not None and def_kind[d] != want_kind):
                    continue
                if selects is not None and not selects(paths[def_file[d]]):
                    continue
                seen.add(d)
                picked.append((d, tier))
                if len(picked) >= limit:
                    return self._matches(picked)
        return self._matches(picked)

    def _tier_groups(self, q: str) -> Iterator[tuple[tuple[int, int], str, list[int]]]:
        """`find`'s candidates, lazily, a group at a time: ((tier number, name length),
        tier, lower-case name numbers), in the order `find` looks at them (each tier's
        groups shortest names first, one group per length): what an overlay
        (`patched`) merges with another index's groups."""
        lower = q.lower()
        names = self._lower
        exact = names.find(lower)
        # Lazily, a length group at a time: a tier that is not needed is not looked at.
        tiers: list[tuple[str, Callable[[], Iterable[list[int]]]]] = [
            ("exact", lambda: [[exact]] if exact is not None else []),
            ("prefix", lambda: names.prefixed(lower)),
            ("camel", lambda: names.camel(q)),
            ("substring", lambda: names.containing(lower)),
            ("fuzzy", lambda: names.subsequence(lower)),
        ]
        lowers = names.lowers
        for number, (tier, groups_of) in enumerate(tiers):
            for group in groups_of():
                yield (number, len(lowers[group[0]])), tier, group

    def _defs_of(self, lower_no: int) -> array[int]:
        return self._lower_defs[self._lower_at[lower_no] : self._lower_at[lower_no + 1]]

    def _order(self, query: str) -> Callable[[int], tuple[object, ...]]:
        """How matches of one tier are ordered, read from the arrays: the exact spelling
        first, then shorter names, types before members, then by place."""
        names, paths = self._names, self._paths
        def_name, def_kind, def_file, def_line = (
            self._def_name, self._def_kind, self._def_file, self._def_line
        )  # fmt: skip

        def key(d: int) -> tuple[object, ...]:
            name = names[def_name[d]]
            kind = _KIND_ORDER.get(_KIND_NAMES[def_kind[d]], 9)
            return (name != query, len(name), kind, paths[def_file[d]], def_line[d])

        return key

    def _matches(self, picked: list[tuple[int, str]]) -> list[SymbolMatch]:
        found = self._symbols_of([d for d, _ in picked])
        return [SymbolMatch(found[d], tier) for d, tier in picked]

    def _symbols_of(self, defs: list[int]) -> dict[int, Symbol]:
        if not defs or self._table is None:
            return {}
        rows = self._table.details(defs)
        return {d: Symbol(*row) for d, row in rows.items()}  # type: ignore[arg-type]

    def named(self, name: str, limit: int | None = None) -> list[Symbol]:
        """Definitions named exactly `name`, in any case, in file order (the first `limit`):
        one lookup, for callers that must not pay for `find`'s fuzzier tiers (retrieval,
        on every turn). Only the definitions returned are read from the table."""
        n = self._lower.find(name.lower())
        if n is None:
            return []
        defs = list(self._defs_of(n))[:limit]
        found = self._symbols_of(defs)
        return [found[d] for d in defs]

    def defined(self, name: str, limit: int) -> list[Symbol]:
        """The definitions named exactly `name` (any case), in `find`'s order for its exact
        tier, without running its fuzzier tiers: for search's definitions first, on every
        one-word query."""
        n = self._lower.find(name.lower())
        if n is None:
            return []
        defs = sorted(self._defs_of(n), key=self._order(name))[:limit]
        found = self._symbols_of(defs)
        return [found[d] for d in defs]

    def outline(self, path: str) -> list[OutlineNode]:
        """The file's definitions as a tree by line ranges, in source order."""
        n = self._file_no.get(path)
        if n is None or self._table is None:
            return []
        rows = self._table.span(self._file_defs[n], self._file_defs[n + 1])
        return _nest([Symbol(*row) for row in rows])  # type: ignore[arg-type]

    def most_used(self, path: str, limit: int = 3) -> list[tuple[str, int]]:
        """The top-level public definitions of `path` (or of every file directly in it, for
        a Go package's folder ending in "/") that are used most, with their use counts;
        names never used are left out. Counted by name, as `references` is: a common name
        (`run`, `get`) collects the uses of every definition so spelled, which is why
        only top-level names, the ones other files import, are ranked."""
        candidates = self._top_names(self._files_at(path))
        chosen = [
            name
            for name in sorted(candidates)
            if not name.startswith("_") and len(self._top_def_files(name)) <= AMBIGUOUS_FILES
        ]
        if self._table is None:
            return []
        return _ranked(self._table.use_counts(chosen), limit)

    def _files_at(self, path: str) -> list[int]:
        """The file `path`, or every file directly in the folder `path` ending in "/"."""
        if path.endswith("/"):
            return [
                n
                for p, n in self._file_no.items()
                if p.startswith(path) and "/" not in p[len(path) :]
            ]
        return [n] if (n := self._file_no.get(path)) is not None else []

    def _top_names(self, files: Iterable[int]) -> set[str]:
        """The names of the top-level definitions (not variables) of `files`, less Go's
        `init` and `main`, which no code names (raft's `util.go` was "most used: `init`"
        for the uses of other things spelled so)."""
        variable = _KIND_CODE["variable"]
        return {
            self._names[self._def_name[d]]
            for f in files
            for d in range(self._file_defs[f], self._file_defs[f + 1])
            if self._def_top[d]
            and self._def_kind[d] != variable
            and not (
                self._paths[f].endswith(".go") and self._names[self._def_name[d]] in _GO_UNNAMED
            )
        }

    def _top_def_files(self, name: str) -> set[int]:
        """The files defining `name` (exact spelling) at their top."""
        n = self._lower.find(name.lower())
        if n is None:
            return set()
        return {
            self._def_file[d]
            for d in self._defs_of(n)
            if self._def_top[d] and self._names[self._def_name[d]] == name
        }

    def patched(self, changes: Mapping[str, tuple[Outcome, Outcome]]) -> SymbolIndex:
        """This index after a live reload of a few files (`patching.py`): `changes` is
        path → (its symbols before, now), as `indexing.reindex_files` gives them. This
        index is left as it was (a request may still be reading it, and its table file);
        the result overlays a small index of the changed files on it (`_Overlay`), or is
        this index itself when no file's symbols changed. A patch of a patch overlays
        every file changed since the full load on the same base, rebuilt; past
        `MAX_OVERLAY_FILES` of them this raises `TooManyOverlaid` and the caller loads
        in full (an overlay that only grew would slow every lookup)."""
        moved = {path: pair for path, pair in changes.items() if pair[0] != pair[1]}
        if not moved:
            return self
        return _Overlay.over(self, {}, {}, moved)

    def uses_of(self, name: str) -> array[int]:
        """Every use of `name`, packed `file number << 24 | line`, in file order."""
        packed = array("Q")
        if self._table is not None:
            packed.frombytes(self._table.uses(name))
        return packed

    def references(
        self, name: str, *, selects: Callable[[str], bool] | None = None, limit: int = 50
    ) -> tuple[list[Reference], int]:
        """Uses of the identifier `name` (exact spelling), by path and line, and how many
        there are in all (before the limit). A common name has hundreds of thousands of
        uses at 100k files: they are filtered as a numpy array, `selects` asked once per
        file."""
        packed = np.frombuffer(self._table.uses(name) if self._table else b"", dtype=np.uint64)
        if selects is not None and len(packed):
            files = packed >> np.uint64(_LINE_BITS)
            distinct = np.unique(files)
            chosen = np.array([selects(self._paths[f]) for f in distinct.tolist()], dtype=bool)
            packed = packed[chosen[np.searchsorted(distinct, files)]]
        hits = [
            Reference(self._paths[use >> _LINE_BITS], use & _LINE_MASK)
            for use in packed[:limit].tolist()
        ]
        return hits, len(packed)


MAX_OVERLAY_FILES = 512
"""Files an overlaid index (`SymbolIndex.patched`) may hold since the full load; past
it, the patch is declined and the reload loads in full (a new base)."""


class TooManyOverlaid(ValueError):
    """More files changed since the full load than an overlay holds (`MAX_OVERLAY_FILES`)."""


class _Overlay(SymbolIndex):
    """A full index (`_base`, never modified) with the files changed since it was built
    (`_now`: path → what the file gives now) answered by a small index of their own
    (`_top`), and their paths hidden from the base. Every lookup merges the two in the
    order the full index of the same files gives: files by path (the full index's file
    order), `find`'s tiers and length groups, and inside a group its sort key, ties
    broken as the full index's stable sort breaks them (by lower-case name, then by
    place in the file)."""

    def __init__(self, base: SymbolIndex, now: dict[str, Outcome], was: dict[str, Outcome]) -> None:
        super().__init__()
        self._base, self._now, self._was = base, now, was
        self._top = assemble_symbols(sorted((p, o) for p, o in now.items() if o is not None))
        self._hidden = frozenset(base._file_no[p] for p in now if p in base._file_no)
        self._hidden_array = np.array(sorted(self._hidden), dtype=np.uint64)
        hidden_defs = sum(base._file_defs[f + 1] - base._file_defs[f] for f in self._hidden)
        self._defs = len(base) - hidden_defs + len(self._top)
        self.files = base.files - len(self._hidden) + self._top.files
        gone = [o for o in was.values() if isinstance(o, FileSymbols)]
        self.partial = base.partial - sum(o.partial for o in gone) + self._top.partial
        # The base's uses in the hidden files, by name, as the base packed them (a line
        # past _LINE_MASK is not packed): `most_used` takes them from the base's counts
        # rather than reading and filtering every use of each name.
        hidden_uses: Counter[str] = Counter()
        for path, outcome in was.items():
            if isinstance(outcome, FileSymbols) and path in base._file_no:
                for ident, lines in outcome.references.items():
                    hidden_uses[ident] += sum(1 for line in lines if line <= _LINE_MASK)
        self._hidden_uses: Counter[str] | None = hidden_uses
        if any(isinstance(o, UsesUnknown) for o in was.values()):
            self._hidden_uses = None  # counted from the base's uses (`most_used`)
        skipped = Counter(base.skipped)
        skipped.subtract(o for o in was.values() if isinstance(o, str))
        skipped.update(self._top.skipped)
        self.skipped = {k: n for k, n in sorted(skipped.items()) if n > 0}

    @classmethod
    def over(
        cls,
        base: SymbolIndex,
        now: dict[str, Outcome],
        was: dict[str, Outcome],
        changes: Mapping[str, tuple[Outcome, Outcome]],
    ) -> _Overlay:
        now, was = dict(now), dict(was)
        for path, (before, after) in changes.items():
            if path not in now:
                was[path] = before  # what the base holds of it
            now[path] = after
        if len(now) > MAX_OVERLAY_FILES:
            raise TooManyOverlaid(f"{len(now)} files changed since the full load")
        return cls(base, now, was)

    def patched(self, changes: Mapping[str, tuple[Outcome, Outcome]]) -> SymbolIndex:
        moved = {path: pair for path, pair in changes.items() if pair[0] != pair[1]}
        if not moved:
            return self
        return _Overlay.over(self._base, self._now, self._was, moved)

    def _source(self, path: str) -> SymbolIndex:
        return self._top if path in self._now else self._base

    def __len__(self) -> int:
        return self._defs

    @property
    def symbols(self) -> list[Symbol]:
        kept = [s for s in self._base.symbols if s.path not in self._now]
        return sorted([*kept, *self._top.symbols], key=lambda s: s.path)  # stable

    def paths_defining(self, test: Callable[[str], object]) -> list[str]:
        kept = {p for p in self._base.paths_defining(test) if p not in self._now}
        return sorted(kept | set(self._top.paths_defining(test)))

    def has_file(self, path: str) -> bool:
        return self._source(path).has_file(path)

    def outline(self, path: str) -> list[OutlineNode]:
        return self._source(path).outline(path)

    def _base_defs(self, defs: Iterable[int]) -> list[int]:
        hidden, def_file = self._hidden, self._base._def_file
        return [d for d in defs if def_file[d] not in hidden]

    def _named_defs(self, name: str) -> tuple[list[int], list[int]]:
        """The definitions named `name` (any case): the base's shown, the overlay's."""
        base, top = self._base, self._top
        n, m = base._lower.find(name.lower()), top._lower.find(name.lower())
        return (
            self._base_defs(base._defs_of(n)) if n is not None else [],
            list(top._defs_of(m)) if m is not None else [],
        )

    def _details(self, picked: list[tuple[int, int]]) -> list[Symbol]:
        """The `Symbol`s of (source: 0 base, 1 overlay; definition) pairs, in order."""
        found = (
            self._base._symbols_of([d for s, d in picked if s == 0]),
            self._top._symbols_of([d for s, d in picked if s == 1]),
        )
        return [found[s][d] for s, d in picked]

    def named(self, name: str, limit: int | None = None) -> list[Symbol]:
        ours, theirs = self._named_defs(name)
        base, top = self._base, self._top
        merged = sorted(
            [(base._paths[base._def_file[d]], 0, d) for d in ours]
            + [(top._paths[top._def_file[d]], 1, d) for d in theirs]
        )[:limit]
        return self._details([(s, d) for _, s, d in merged])

    def defined(self, name: str, limit: int) -> list[Symbol]:
        ours, theirs = self._named_defs(name)
        order_base, order_top = self._base._order(name), self._top._order(name)
        merged = sorted(
            [(order_base(d), 0, d) for d in ours] + [(order_top(d), 1, d) for d in theirs]
        )[:limit]
        return self._details([(s, d) for _, s, d in merged])

    def find(
        self,
        query: str,
        *,
        kind: str | None = None,
        selects: Callable[[str], bool] | None = None,
        limit: int = 20,
    ) -> list[SymbolMatch]:
        q = query.strip()
        if not q or (kind is not None and kind not in _KIND_CODE):
            return []
        want_kind = _KIND_CODE[kind] if kind is not None else None
        sources = (self._base, self._top)
        orders = (self._base._order(q), self._top._order(q))
        picked: list[tuple[int, int, str]] = []
        seen: set[tuple[int, int]] = set()
        camel = camel_test(q)
        for tier, groups in _merge_groups(self._base._tier_groups(q), self._top._tier_groups(q)):
            # The lower-case names of the group, from both; in the camel tier, only those
            # spelled as the query's humps in a shown file (the base's may be so spelled
            # only in a hidden one), and then every spelling of them from both, as the
            # full index takes every definition of a lower-case name it matched.
            if tier == "camel" and camel is not None:
                wanted = self._camel_lowers(groups, *camel)
            else:
                wanted = {
                    s._lower.lowers[n] for s, g in zip(sources, groups, strict=True) for n in g
                }
            items: list[tuple[tuple[object, ...], str, int, int]] = []
            for lower in wanted:
                for s, index in enumerate(sources):
                    n = index._lower.find(lower)
                    if n is None:
                        continue
                    defs = index._defs_of(n)
                    for d in self._base_defs(defs) if s == 0 else defs:
                        items.append((orders[s](d), lower, s, d))
            items.sort()  # ties of the key: one file, so one source, in its own order
            for _, _, s, d in items:
                index = sources[s]
                if (s, d) in seen or (want_kind is not None and index._def_kind[d] != want_kind):
                    continue
                if selects is not None and not selects(index._paths[index._def_file[d]]):
                    continue
                seen.add((s, d))
                picked.append((s, d, tier))
                if len(picked) >= limit:
                    break
            if len(picked) >= limit:
                break
        found = self._details([(s, d) for s, d, _ in picked])
        return [
            SymbolMatch(symbol, tier) for symbol, (_, _, tier) in zip(found, picked, strict=True)
        ]

    def _camel_lowers(
        self, groups: tuple[list[int], list[int]], key: str, pattern: re.Pattern[str]
    ) -> set[str]:
        """The lower-case names of a camel group with a shown definition spelled as the
        query's humps (`symbol_names.camel_test`)."""
        found: set[str] = set()
        for s, (index, group) in enumerate(zip((self._base, self._top), groups, strict=True)):
            for n in group:
                defs = index._defs_of(n)
                for d in self._base_defs(defs) if s == 0 else defs:
                    name = index._names[index._def_name[d]]
                    if skeleton(name).startswith(key) and pattern.match(name):
                        found.add(index._lower.lowers[n])
                        break
        return found

    def most_used(self, path: str, limit: int = 3) -> list[tuple[str, int]]:
        base, top = self._base, self._top
        if path.endswith("/"):
            shown = [f for f in base._files_at(path) if f not in self._hidden]
            candidates = base._top_names(shown) | top._top_names(top._files_at(path))
        else:
            source = self._source(path)
            candidates = source._top_names(source._files_at(path))
        chosen = [
            name
            for name in sorted(candidates)
            if not name.startswith("_")
            and len(base._top_def_files(name) - self._hidden) + len(top._top_def_files(name))
            <= AMBIGUOUS_FILES
        ]
        if base._table is None and top._table is None:
            return []
        theirs = top._table.use_counts(chosen) if top._table is not None else {}
        hidden = self._hidden_uses
        if hidden is None:
            kept = {name: len(self._base_uses(name)) for name in chosen}
        else:
            counted = base._table.use_counts(chosen) if base._table is not None else {}
            kept = {name: counted.get(name, 0) - hidden.get(name, 0) for name in chosen}
        uses = {name: kept[name] + theirs.get(name, 0) for name in chosen}
        return _ranked(uses, limit)

    def _base_uses(self, name: str) -> npt.NDArray[np.uint64]:
        """The base's packed uses of `name` outside the overlaid files, in file order."""
        table = self._base._table
        packed = np.frombuffer(table.uses(name) if table else b"", dtype=np.uint64)
        if len(packed) and len(self._hidden_array):
            files = packed >> np.uint64(_LINE_BITS)
            packed = packed[~np.isin(files, self._hidden_array)]
        return packed

    def uses_of(self, name: str) -> array[int]:
        """As the full index numbers files: every shown path, in path order."""
        base, top = self._base, self._top
        shown = [p for n, p in enumerate(base._paths) if n not in self._hidden]
        number = {p: n for n, p in enumerate(sorted([*shown, *top._paths]))}
        renumber = []
        for index, packed in ((base, self._base_uses(name)), (top, top.uses_of(name))):
            for use in np.asarray(packed, dtype=np.uint64).tolist():
                place = number[index._paths[use >> _LINE_BITS]]
                renumber.append(place << _LINE_BITS | use & _LINE_MASK)
        return array("Q", sorted(renumber))

    def references(
        self, name: str, *, selects: Callable[[str], bool] | None = None, limit: int = 50
    ) -> tuple[list[Reference], int]:
        paths = self._base._paths
        packed = self._base_uses(name)
        if selects is not None and len(packed):
            files = packed >> np.uint64(_LINE_BITS)
            distinct = np.unique(files)
            chosen = np.array([selects(paths[f]) for f in distinct.tolist()], dtype=bool)
            packed = packed[chosen[np.searchsorted(distinct, files)]]
        ours = [
            Reference(paths[use >> _LINE_BITS], use & _LINE_MASK) for use in packed[:limit].tolist()
        ]
        theirs, count = self._top.references(name, selects=selects, limit=limit)
        # Both in path order, their paths apart: merged by path alone (`sorted` is stable).
        hits = sorted([*ours, *theirs], key=lambda r: r.path)[:limit]
        return hits, len(packed) + count


_Group = tuple[tuple[int, int], str, list[int]]


def _merge_groups(
    base: Iterator[_Group], top: Iterator[_Group]
) -> Iterator[tuple[str, tuple[list[int], list[int]]]]:
    """Two indexes' `_tier_groups` merged, lazily: per (tier, length), in order, the
    tier and the lower-case name numbers of each (empty where one has none)."""
    a, b = next(base, None), next(top, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            assert a is not None
            yield a[1], (a[2], [])
            a = next(base, None)
        elif a is None or b[0] < a[0]:
            yield b[1], ([], b[2])
            b = next(top, None)
        else:
            yield a[1], (a[2], b[2])
            a, b = next(base, None), next(top, None)


def _ranked(uses: dict[str, int], limit: int) -> list[tuple[str, int]]:
    """`most_used`'s order: most uses first, ties by name; names never used left out."""
    return sorted((item for item in uses.items() if item[1]), key=lambda i: (-i[1], i[0]))[:limit]


def _nest(symbols: list[Symbol]) -> list[OutlineNode]:
    roots: list[tuple[Symbol, list[Any]]] = []
    stack: list[tuple[Symbol, list[Any]]] = []
    for s in sorted(symbols, key=lambda s: (s.line, -s.end_line)):
        while stack and not (stack[-1][0].line <= s.line and s.end_line <= stack[-1][0].end_line):
            stack.pop()
        entry: tuple[Symbol, list[Any]] = (s, [])
        (stack[-1][1] if stack else roots).append(entry)
        stack.append(entry)

    def build(entry: tuple[Symbol, list[Any]]) -> OutlineNode:
        return OutlineNode(entry[0], tuple(build(c) for c in entry[1]))

    return [build(e) for e in roots]


def build_symbols(files: Iterable[tuple[str, str | None, str, str | None]]) -> SymbolIndex:
    """The index over `(path, language, text, why not read)` rows, the search index's read
    of every text file. Blocking and CPU-heavy: call it at load."""
    return assemble_symbols(
        (path, found)
        for path, language, text, not_read in files
        if (found := parse_file(path, language, text, not_read)) is not None
    )


def parse_file(
    path: str, language: str | None, text: str, not_read: str | None
) -> FileSymbols | str | None:
    """One file's symbols, or why it was not parsed (`too_large`, `minified`, `not_read`,
    `no_grammar`); None when no parsed language covers it."""
    name = grammar_for(path, language)
    if name is None:
        return None
    if not_read is not None:
        return "too_large" if not_read == "too_large" else "not_read"
    size = len(text)
    if size > MAX_SYMBOL_FILE_BYTES:
        return "too_large"
    if size > MINIFIED_LINE_CHARS and size / (text.count("\n") + 1) > MINIFIED_LINE_CHARS:
        return "minified"
    found = extract(path, text, name)
    return "no_grammar" if found is None else found


def assemble_symbols(
    files: Iterable[tuple[str, FileSymbols | str]], table: Path | None = None
) -> SymbolIndex:
    """The index from each file's symbols (or why it has none), in path order; the
    details and uses are written to a new `SymbolTable` at `table` (in memory if None)."""
    index = SymbolIndex()
    skipped: Counter[str] = Counter()
    first_seen: dict[str, int] = {}  # name → a provisional number, renumbered sorted below

    def batches() -> Iterator[Batch]:
        """The table's rows, `USES_BATCH_FILES` files at a time; fills the index's arrays
        as it goes, so that no list of every definition, nor every use, is held."""
        defs: list[tuple[object, ...]] = []
        refs: dict[str, array[int]] = defaultdict(_uses)
        for path, found in files:
            if isinstance(found, str):
                skipped[found] += 1
                continue
            index.files += 1
            index.partial += found.partial
            file_no = len(index._paths)
            index._paths.append(path)
            for s in found.symbols:
                index._def_name.append(first_seen.setdefault(s.name, len(first_seen)))
                index._def_kind.append(_KIND_CODE.get(s.kind, 0))
                index._def_file.append(file_no)
                index._def_line.append(min(s.line, 2**32 - 1))
                index._def_top.append(s.container is None)
                defs.append((s.name, s.kind, s.container, path, s.line, s.end_line,
                             s.signature, s.doc, s.language))  # fmt: skip
            index._file_defs.append(len(index._def_name))
            base = file_no << _LINE_BITS
            for ident, lines in found.references.items():
                refs[ident].extend(base | line for line in lines if line <= _LINE_MASK)
            if index.files % USES_BATCH_FILES == 0:
                yield "defs", defs
                yield "uses", [(name, refs[name].tobytes()) for name in sorted(refs)]
                defs, refs = [], defaultdict(_uses)
        yield "defs", defs
        yield "uses", [(name, refs[name].tobytes()) for name in sorted(refs)]

    index._table = SymbolTable.build(table, batches())
    index.skipped = dict(skipped)
    names = sorted(first_seen)
    number = {name: n for n, name in enumerate(names)}
    renumber = [0] * len(first_seen)
    for name, provisional in first_seen.items():
        renumber[provisional] = number[name]
    index._def_name = array("I", (renumber[n] for n in index._def_name))
    index._names = names
    return index.finish()


Outcome = FileSymbols | str | None
"""What one file gave the index: its symbols, why it has none (`too_large`, ...), or
None when no parsed language covers it (or it is not there)."""


USES_BATCH_FILES = 2_000
"""Files whose definitions and uses `assemble_symbols` gathers before writing them: the
uses of a whole 100k-file repository are twenty million, some 300 MB in arrays."""


def _uses() -> array[int]:
    """A name's uses, packed 8 bytes each: a list of ints costs 36 bytes a use, and uses
    outnumber definitions forty to one (12 million at 100k files)."""
    return array("Q")


def index_to_plain(index: SymbolIndex) -> object:
    """The index's arrays as plain data for the index cache (`store.py`): a restart with
    no file changed loads them in one piece (its `SymbolTable` is kept beside the cache)
    instead of assembling every file's symbols."""
    arrays = (index._file_defs, index._def_name, index._def_kind, index._def_file,
              index._def_line, index._def_top)  # fmt: skip
    layout = (index._lower.to_plain(), index._lower_defs.tobytes(), index._lower_at.tobytes())
    return (
        dict(index.skipped), index.partial, index.files, list(index._paths),
        list(index._names), tuple(a.tobytes() for a in arrays), layout,
    )  # fmt: skip


def index_from_plain(plain: object, table: SymbolTable) -> SymbolIndex:
    """The inverse of `index_to_plain`, over the table written with it; raises ValueError
    for a shape it did not write."""
    if not isinstance(plain, tuple) or len(plain) != 7 or len(plain[5]) != 6:
        raise ValueError("not a symbol index")
    skipped, partial, files, paths, names, packed, layout = plain
    index = SymbolIndex()
    index.skipped, index.partial, index.files = skipped, partial, files
    index._paths, index._names, index._table = paths, names, table
    arrays = (array("I"), array("I"), array("B"), array("I"), array("I"), array("B"))
    for into, data in zip(arrays, packed, strict=True):
        into.frombytes(data)
    (index._file_defs, index._def_name, index._def_kind, index._def_file, index._def_line,
     index._def_top) = arrays  # fmt: skip
    if len(index._file_defs) != len(paths) + 1 or len(index._def_file) != len(index._def_name):
        raise ValueError("symbol index arrays do not match")
    return index.finish(layout)


def symbols_to_plain(found: FileSymbols | str) -> object:
    """Plain tuples for the index cache (`store.py`); the path is the row's own."""
    if isinstance(found, str):
        return found
    rows = [
        (s.name, s.kind, s.container, s.line, s.end_line, s.signature, s.doc, s.language)
        for s in found.symbols
    ]
    return (rows, found.references, found.partial)


def symbols_from_plain(path: str, plain: object) -> FileSymbols | str:
    """The inverse of `symbols_to_plain`; raises ValueError for a shape it did not write."""
    if isinstance(plain, str):
        return plain
    if not isinstance(plain, tuple) or len(plain) != 3:
        raise ValueError("not a symbols row")
    rows, references, partial = plain
    symbols = [
        Symbol(name, kind, container, path, line, end, sig, doc, lang)
        for name, kind, container, line, end, sig, doc, lang in rows
    ]
    return FileSymbols(symbols, references, bool(partial))

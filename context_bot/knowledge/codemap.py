"""What the code itself says about a repository, for the overview when no document does.

A newcomer's first questions are where it starts, which files everything else leans on,
and what changed lately. Entry points come from the files that declare them
(`pyproject.toml`, `setup.cfg` and `setup.py` scripts, `package.json` bin/main/scripts,
`Cargo.toml` library and binaries, `Procfile`, `Dockerfile`, `main.go` and `cmd/`,
`Makefile` targets, `__main__.py`); central files from a simple per-language import scan (Python,
JavaScript/TypeScript, Go packages, Java classes, Rust modules, C includes) and from
git history (the files changed most often); recent activity from the last commits.

Pure over its input: the texts come from the search index's read of every text file (no
second read of the repository), the history from one `git log`. Heuristics, said as such
in the overview: an import scan is not a resolver, and misses are only missed credit.
"""

from __future__ import annotations

import configparser
import functools
import json
import posixpath
import re
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from context_bot.knowledge.generated import vendored_or_generated
from context_bot.knowledge.git import git_output
from context_bot.knowledge.testfiles import is_test

#: The central "file" naming a Go module's root package (as `doc/` names a subpackage).
ROOT_PACKAGE = "./"

#: Commits of history read for "changed most often" and recent activity.
HISTORY_COMMITS = 300
#: Central files listed at most.
CENTRAL_FILES = 25
#: Recent commits shown.
RECENT_COMMITS = 8
#: Entry-point declarations are read from files at most this many folders deep.
ENTRY_DEPTH = 2
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.M)
_PY_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+\(?([\w., \t]+)|import[ \t]+([\w., \t]+))",
    re.M,
)
_JS_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)["'](\.{1,2}/[^"'\n]+)["']"""
)
_GO_IMPORT_BLOCK = re.compile(r"^import\s*\(([^)]*)\)", re.M)
_GO_IMPORT_LINE = re.compile(r'^import\s+(?:\w+\s+)?"([^"]+)"', re.M)
_GO_QUOTED = re.compile(r'"([^"]+)"')
_C_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]+"([^"]+)"', re.M)
_RUST_USE = re.compile(
    r"^[ \t]*(?:pub(?:\([^)\n]*\))?[ \t]+)?use[ \t]+(?:::)?(\w+(?:::\w+)*)", re.M
)
# Java's and Kotlin's (no `;`, an import may be renamed `as`): one syntax for both here.
_JAVA_PACKAGE = re.compile(r"^[ \t]*package[ \t]+([\w.]+)[ \t]*(?:;|$)", re.M)
_JAVA_IMPORT = re.compile(
    r"^[ \t]*import[ \t]+(?:static[ \t]+)?([\w.]+?)(?:\.\*)?(?:[ \t]+as[ \t]+\w+)?[ \t]*(?:;|$)",
    re.M,
)
_JVM_SUFFIXES = (".java", ".kt", ".kts")
_GO_PACKAGE = re.compile(r"^package\s+(\w+)", re.M)
_ANNOTATION_TYPE = re.compile(
    r"^[ \t]*(?:(?:public|internal|private)[ \t]+)?(?:@interface|annotation[ \t]+class)[ \t]+\w+",
    re.M,
)
"""A Java or Kotlin annotation type's declaration: imported by hundreds of files (guava's
`@GwtCompatible`), a marker, not the code a newcomer should read first."""
_JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".vue", ".svelte")


@dataclass(frozen=True, slots=True)
class Central:
    path: str  # a file, or a Go package's folder ending in "/"
    imported_by: int
    changes: int
    uses: int = 0
    """Uses of the top-level names it defines, counted by name (`central_by_uses`)."""


@dataclass(frozen=True, slots=True)
class Commit:
    short: str
    date: str
    subject: str
    folders: tuple[str, ...]  # top-level folders (or root files) it touched, most first
    files: int


@dataclass(frozen=True)
class History:
    """What the code map takes from git: the most recent commits, how many were read, and
    how often each file changed. Depends on the revision (and the files there are), so a
    live reload that keeps the revision reuses it (`patching.py`)."""

    recent: tuple[Commit, ...] = ()
    commits: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    """Changes of the files the caller keeps (`read_history`); the only ones ranked."""


@dataclass(frozen=True)
class CodeMap:
    entry_points: tuple[str, ...] = ()  # Markdown list items, without the "- "
    central: tuple[Central, ...] = ()
    recent: tuple[Commit, ...] = ()
    history_commits: int = 0  # how many commits the change counts come from
    history: History = field(default_factory=History, repr=False, compare=False)


def read_history(
    root: Path,
    *,
    denied: Callable[[str], bool],
    git: bool = True,
    keep: Callable[[str], str | None] | None = None,
    commits: list[tuple[str, str, str, list[str]]] | None = None,
) -> History:
    """The history at `root` (when `git`), without the paths `denied` (the sandbox's
    gate): a `.env` or key that was committed is still never served, so the overview must
    not name it either. `keep` maps a path to the string its change count is kept under
    (the inventory's own, so 100k paths are not held twice), or None to count it only in
    its commit: a file not in the repository now is never ranked. `commits`: what
    `git_log` gave, when the caller ran it already (beside other work). Blocking (git)."""
    if commits is None or not git:
        commits = git_log(root) if git else []
    verdicts: dict[str, bool] = {}  # one verdict per path: 300 commits repeat paths

    def shown(path: str) -> bool:
        if path not in verdicts:
            verdicts[path] = not denied(path)
        return verdicts[path]

    changes: Counter[str] = Counter()
    recent: list[Commit] = []
    for short, date, subject, paths in commits:
        named = [p for p in paths if shown(p)]
        if len(recent) < RECENT_COMMITS:
            recent.append(Commit(short, date, subject, _folders(named), len(named)))
        for path in named:
            kept = path if keep is None else keep(path)
            if kept is not None:
                changes[kept] += 1
    return History(tuple(recent), len(commits), changes)


def build_codemap(
    texts: Iterable[tuple[str, str | None, str]],
    root: Path,
    *,
    denied: Callable[[str], bool],
    git: bool = True,
    history: History | None = None,
) -> CodeMap:
    """From (path, language, text) of every indexed text file, and the git history at
    `root` (`read_history`, unless given): entry points, central files, recent commits.
    Blocking (git)."""
    files = sorted(texts)
    if history is None:
        history = read_history(root, denied=denied, git=git)
    changes = history.changes
    known = {path for path, _, _ in files}
    refs = import_counts(files)
    markers = {
        p for p, _, text in files if p.endswith(_JVM_SUFFIXES) and _ANNOTATION_TYPE.search(text)
    }
    ranked = sorted(
        (
            p
            for p in set(refs) | (set(changes) & known)
            if (refs.get(p, 0) > 1 or changes[p] > 1)
            and not vendored_or_generated(p)
            and p not in markers
        ),
        key=lambda p: (-refs.get(p, 0), -changes[p], p),
    )
    central = tuple(Central(p, refs.get(p, 0), changes[p]) for p in ranked[:CENTRAL_FILES])
    return CodeMap(tuple(entry_points(files)), central, history.recent, history.commits, history)


MAX_USE_SCAN = 400
"""Files `central_by_uses` counts at most: past that, no ranking (a count per name each)."""


def central_by_uses(paths: Iterable[str], uses: Callable[[str], int]) -> tuple[Central, ...]:
    """The central files when neither imports nor history tell them: the files whose
    top-level names the others use most (`uses`: a file's count, by name). A Go library
    of one package (hashicorp/raft: its files use each other's names without importing
    anything) committed whole has no other sign of which files matter. Tests, vendored
    and generated files left out; () for more than MAX_USE_SCAN files."""
    chosen: list[str] = []
    for path in paths:
        if not is_test(path) and not vendored_or_generated(path):
            chosen.append(path)
            if len(chosen) > MAX_USE_SCAN:
                return ()  # before looking at every path of a large repository
    counted = [(n, p) for p in chosen if (n := uses(p)) > 1]
    counted.sort(key=lambda item: (-item[0], item[1]))
    return tuple(Central(p, 0, 0, n) for n, p in counted[:CENTRAL_FILES])


def excerpt(path: str, text: str) -> str:
    """What `build_codemap` reads of this file, as text it reads the same way: the whole
    text of a file that declares entry points (and `go.mod`), the import statements of a
    scanned language, else nothing. The index cache keeps this instead of every file's
    text, so a restart builds the code map without reading the repository again."""
    name = posixpath.basename(path)
    if name in _ENTRY_FILES or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
        return text
    if path.endswith((".py", ".pyi")):
        found = [m.group(0) for m in _PY_IMPORT.finditer(text)]
    elif path.endswith(_JS_EXTENSIONS):
        found = [m.group(0) for m in _JS_IMPORT.finditer(text)]
    elif path.endswith(".go"):
        package = _GO_PACKAGE.search(text)  # a library's root package is its way in
        found = [package.group(0)] if package else []
        found += [m.group(0) for m in _GO_IMPORT_BLOCK.finditer(text)]
        found += [m.group(0) for m in _GO_IMPORT_LINE.finditer(text)]
        if _go_main(package, text):
            found += ["package main", "func main("]
    elif path.endswith(_C_SUFFIXES):
        found = [m.group(0) for m in _C_INCLUDE.finditer(text)]
    elif path.endswith(".rs"):
        found = [m.group(0) for m in _RUST_USE.finditer(text)]
    elif path.endswith(_JVM_SUFFIXES):
        package = _JAVA_PACKAGE.search(text)
        found = [package.group(0)] if package else []
        found += [m.group(0) for m in _JAVA_IMPORT.finditer(text)]
        found += [m.group(0) for m in _ANNOTATION_TYPE.finditer(text)][:1]
    else:
        return ""
    return "\n".join(found)


_ENTRY_FILES = frozenset(
    {"pyproject.toml", "setup.cfg", "package.json", "Procfile", "Dockerfile", "Makefile",
     "makefile", "GNUmakefile", "go.mod", "Cargo.toml", "setup.py"}
)  # fmt: skip
_C_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp", ".m", ".mm")


# -- entry points -------------------------------------------------------------------------


def entry_points(files: list[tuple[str, str | None, str]]) -> Iterator[str]:
    """One line per declared way in, shallowest declaring file first."""
    shallow = sorted(
        (f for f in files if f[0].count("/") <= ENTRY_DEPTH), key=lambda f: (f[0].count("/"), f[0])
    )
    paths = {p for p, _, _ in files}
    # A library's import names count as declared at the top level, before any folder's
    # declarations (a `docs/Makefile` says less about the way in than `import name`).
    libraries = list(_go_library(files))
    packages = paths & {"pyproject.toml", "setup.py", "setup.cfg"}
    for path, _, text in shallow:
        if (packages or libraries) and "/" in path:
            yield from _python_packages(paths) if packages else ()
            yield from libraries
            packages, libraries = set(), []
        name = posixpath.basename(path)
        if name == "pyproject.toml":
            yield from _pyproject(path, text)
        elif name == "setup.cfg":
            yield from _setup_cfg(path, text)
        elif name == "setup.py":
            yield from _setup_py(path, text)
        elif name == "package.json":
            yield from _package_json(path, text, paths)
        elif name == "Cargo.toml":
            yield from _cargo(path, text, paths)
        elif name == "Procfile":
            for line in text.splitlines():
                if ":" in line and not line.lstrip().startswith("#"):
                    kind, command = line.split(":", 1)
                    yield f"`{path}` {kind.strip()}: `{_clip(command.strip(), 100)}`"
        elif name == "Dockerfile" or name.startswith("Dockerfile.") or name.endswith(".Dockerfile"):
            yield from _dockerfile(path, text)
        elif name in ("Makefile", "makefile", "GNUmakefile"):
            found = dict.fromkeys(_MAKE_TARGET.findall(text))
            targets = [t for t in found if not t.startswith(".")]
            if targets:
                shown = ", ".join(f"`{t}`" for t in targets[:12])
                more = f" and {len(targets) - 12} more" if len(targets) > 12 else ""
                yield f"`{path}` targets: {shown}{more}"
    go_mains = [
        p
        for p, lang, text in files
        if p.endswith(".go") and _go_main(_GO_PACKAGE.search(text), text)
    ]
    for path in sorted(go_mains, key=lambda p: (p.count("/"), p))[:12]:
        yield f"`{path}` (Go `main`)"
    if packages:
        yield from _python_packages(paths)
    yield from libraries
    for path, _, _ in files:
        if path.endswith("__main__.py") and "/" in path:
            module = posixpath.dirname(path).split("/")
            module = module[1:] if module[0] == "src" and len(module) > 1 else module
            yield f"`{path}` (`python -m {'.'.join(module)}`)"


_NOT_SHIPPED = frozenset({"tests", "test", "testing", "docs", "doc", "examples", "benchmarks"})


def _python_packages(paths: set[str]) -> Iterator[str]:
    """A Python distribution's top-level import packages (at the root or under `src/`):
    a library declares no script, and `import name` is then its way in."""
    found = []
    for path in paths:
        parts = path.split("/")
        if parts[-1] != "__init__.py":
            continue
        package = parts[1:-1] if parts[0] == "src" else parts[:-1]
        if len(package) == 1 and package[0] not in _NOT_SHIPPED and package[0].isidentifier():
            found.append(("/".join(parts[:-1]), package[0]))
    for where, name in sorted(found)[:6]:
        yield f"`{where}/` (Python package: `import {name}`)"


@functools.lru_cache(maxsize=256)
def _toml(text: str) -> dict[str, Any] | None:
    """A manifest's TOML, None when it is not TOML. Kept by text: a live reload builds the
    code map again from the same manifests (tomllib took 68 ms of a 750-ms reload for the
    21 Cargo.toml of 100k files). Callers only read what it returns."""
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return None


def _pyproject(path: str, text: str) -> Iterator[str]:
    data = _toml(text)
    if data is None:
        return
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    for table in ("scripts", "gui-scripts"):
        scripts = project.get(table) if isinstance(project, dict) else None
        if isinstance(scripts, dict):
            for name, target in sorted(scripts.items()):
                yield f"`{path}` script `{name}` → `{_clip(str(target), 100)}`"
    scripts = poetry.get("scripts") if isinstance(poetry, dict) else None
    if isinstance(scripts, dict):
        for name, target in sorted(scripts.items()):
            yield f"`{path}` script `{name}` → `{_clip(str(target), 100)}`"


def _setup_cfg(path: str, text: str) -> Iterator[str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        scripts = parser.get("options.entry_points", "console_scripts", fallback="")
    except configparser.Error:
        return
    for line in scripts.splitlines():
        name, eq, target = line.partition("=")
        if eq and name.strip():
            yield f"`{path}` script `{name.strip()}` → `{_clip(target.strip(), 100)}`"


_CONSOLE_SCRIPTS = re.compile(r"""["']console_scripts["']\s*:\s*[\[(]([^\])]*)[\])]""")
_SCRIPT_SPEC = re.compile(r"""["']\s*([\w.-]+)\s*=\s*([\w.]+(?::[\w.]+)?)\s*["']""")


def _setup_py(path: str, text: str) -> Iterator[str]:
    """`setup(entry_points={"console_scripts": ["name = module:func", …]})`, read as text:
    a setup.py is a program, never run here."""
    for block in _CONSOLE_SCRIPTS.findall(text):
        for name, target in _SCRIPT_SPEC.findall(block):
            yield f"`{path}` script `{name}` → `{_clip(target, 100)}`"


def _package_json(path: str, text: str, paths: set[str]) -> Iterator[str]:
    try:
        data = json.loads(text)
    except ValueError:
        return
    if not isinstance(data, dict):
        return
    base = posixpath.dirname(path)
    bin_ = data.get("bin")
    if isinstance(bin_, str):
        yield f"`{path}` bin `{data.get('name', '')}` → `{_join(base, bin_)}`"
    elif isinstance(bin_, dict):
        for name, target in sorted(bin_.items()):
            yield f"`{path}` bin `{name}` → `{_join(base, str(target))}`"
    if isinstance(data.get("main"), str):
        yield f"`{path}` main → `{_join(base, data['main'])}`"
    elif "exports" not in data and (index := _join(base, "index.js")) in paths:
        yield f"`{path}` main → `{index}` (Node's default)"  # as express declares none
    scripts = data.get("scripts")
    if isinstance(scripts, dict) and scripts:
        names = sorted(scripts)
        shown = ", ".join(f"`{n}`" for n in names[:12])
        more = f" and {len(names) - 12} more" if len(names) > 12 else ""
        yield f"`{path}` scripts: {shown}{more}"


def _cargo(path: str, text: str, paths: set[str]) -> Iterator[str]:
    """A crate's library and binaries: as declared (`[lib]`, `[[bin]]`), else Cargo's
    defaults (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs`) when those files exist."""
    data = _toml(text)
    if data is None:
        return
    package = data.get("package")
    crate = str(package.get("name", "")) if isinstance(package, dict) else ""
    base = posixpath.dirname(path)
    lib = data["lib"] if isinstance(data.get("lib"), dict) else {}
    lib_path = _join(base, str(lib.get("path", "src/lib.rs")))
    if lib_path in paths:
        yield f"`{path}` library `{lib.get('name', crate)}` → `{lib_path}`"
    bins = [b for b in data.get("bin", []) if isinstance(b, dict)]
    declared = set()
    for b in bins:
        name = str(b.get("name", crate))
        target = _join(base, str(b.get("path", f"src/bin/{name}.rs")))
        declared.add(target)
        yield f"`{path}` bin `{name}` → `{target}`"
    main = _join(base, "src/main.rs")
    if main in paths and main not in declared:
        yield f"`{path}` bin `{crate}` → `{main}`"
    bin_folder = _join(base, "src/bin") + "/"
    depth = bin_folder.count("/")  # `src/bin/x.rs`; `src/bin/x/mod.rs` is a module of them
    auto = sorted(
        p
        for p in paths
        if p.startswith(bin_folder)
        and p.endswith(".rs")
        and p.count("/") == depth
        and p not in declared
    )
    for target in auto[:12]:
        yield f"`{path}` bin `{posixpath.basename(target)[:-3]}` → `{target}`"


def _dockerfile(path: str, text: str) -> Iterator[str]:
    last: dict[str, str] = {}
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word.upper() in ("ENTRYPOINT", "CMD") and rest.strip():
            last[word.upper()] = rest.strip()
    for word in ("ENTRYPOINT", "CMD"):
        if word in last:
            yield f"`{path}` {word} `{_clip(last[word], 100)}`"


def _join(base: str, target: str) -> str:
    return posixpath.normpath(posixpath.join(base, target)) if base else posixpath.normpath(target)


# -- imports ------------------------------------------------------------------------------


def _go_main(package: re.Match[str] | None, text: str) -> bool:
    """Whether a Go file whose package clause is `package` is a command's `main`."""
    return package is not None and package.group(1) == "main" and "func main(" in text


def _go_library(files: list[tuple[str, str | None, str]]) -> Iterator[str]:
    """A Go module whose root holds a package other than `main` (a library: hashicorp/raft,
    cobra): importing its path is the way in."""
    module = _go_module(files)
    if module is None:
        return
    for path, _, text in files:
        if "/" not in path and path.endswith(".go") and not path.endswith("_test.go"):
            package = _GO_PACKAGE.search(text)
            if package is not None and package.group(1) != "main":
                yield f'`go.mod` (Go module: `import "{module}"`, package `{package.group(1)}`)'
                return


def import_counts(files: list[tuple[str, str | None, str]]) -> dict[str, int]:
    """Repository file (or Go package folder) → how many other files import it."""
    return {target: len(importers) for target, importers in import_graph(files).items()}


def import_graph(files: list[tuple[str, str | None, str]]) -> dict[str, set[str]]:
    """Repository file (or Go package folder, ending in "/") → the files that import it."""
    paths = {p for p, _, _ in files}
    modules = _python_modules(p for p in paths if p.endswith(".py"))
    go_module = _go_module(files)
    java_classes = _java_classes(files)
    crates = _rust_crates(files)
    crate_folders = {name: folder for folder, name in crates.items()}
    basenames: dict[str, list[str]] = defaultdict(list)
    for p in paths:
        basenames[posixpath.basename(p)].append(p)
    by: dict[str, set[str]] = defaultdict(set)
    for path, _, text in files:
        if path.endswith((".py", ".pyi")):
            targets = _python_imports(path, text, modules)
        elif path.endswith(_JS_EXTENSIONS):
            targets = _js_imports(path, text, paths)
        elif path.endswith(".go") and go_module:
            targets = _go_imports(text, go_module)
        elif path.endswith(_C_SUFFIXES):
            targets = _c_includes(path, text, paths, basenames)
        elif path.endswith(_JVM_SUFFIXES):
            targets = _java_imports(text, java_classes)
        elif path.endswith(".rs") and crates:
            targets = _rust_uses(path, text, crates, crate_folders, paths)
        else:
            continue
        for target in targets:
            own = "/" not in path if target == ROOT_PACKAGE else path.startswith(target)
            if target != path and not own:  # a package's own files
                by[target].add(path)
    return dict(by)


def _python_modules(paths: Iterable[str]) -> dict[str, str]:
    """Dotted module name → file: the name from the file's top package (the highest folder
    of an unbroken run of folders with `__init__.py`: `src/requests/api.py` is
    `requests.api`), and its full path. Not every suffix: `django/.../datetime.py` must
    not claim the standard library's `datetime`."""
    paths = sorted(paths, key=lambda p: (p.count("/"), p))
    packages = {p.rsplit("/", 1)[0] for p in paths if p.endswith("/__init__.py")}
    names: dict[str, str] = {}
    for path in paths:
        parts = path[:-3].split("/")
        start = len(parts) - 1
        while start > 0 and "/".join(parts[:start]) in packages:
            start -= 1
        if parts[-1] == "__init__":
            parts = parts[:-1]
        for first in (start, 0):
            name = ".".join(parts[first:])
            if name:
                names.setdefault(name, path)
    return names


def _python_imports(path: str, text: str, modules: dict[str, str]) -> Iterator[str]:
    package = path.rsplit("/", 1)[0].split("/") if "/" in path else []  # `.` of the file
    for m in _PY_IMPORT.finditer(text):
        source, names, plain = m.group(1), m.group(2), m.group(3)
        if plain is not None:
            for name in plain.split(","):
                found = modules.get(name.strip().split(" ")[0])
                if found:
                    yield found
            continue
        dots = len(source) - len(source.lstrip("."))
        base = source[dots:]
        if dots:
            up = package[: len(package) - (dots - 1)] if dots - 1 <= len(package) else []
            prefix = ".".join([*up, base] if base else up)
        else:
            prefix = base
        for name in names.split(","):
            leaf = name.strip().split(" ")[0]
            full = f"{prefix}.{leaf}" if prefix and leaf else prefix or leaf
            found = modules.get(full) or modules.get(prefix)
            if found:
                yield found


def _js_imports(path: str, text: str, paths: set[str]) -> Iterator[str]:
    base = posixpath.dirname(path)
    for spec in _JS_IMPORT.findall(text):
        target = posixpath.normpath(posixpath.join(base, spec))
        if target in paths:
            yield target
            continue
        stem, ext = posixpath.splitext(target)
        candidates = [target + e for e in _JS_EXTENSIONS]
        if ext in (".js", ".mjs", ".cjs", ".jsx"):
            candidates += [stem + e for e in (".ts", ".tsx", ".mts", ".cts")]
        candidates += [f"{target}/index{e}" for e in _JS_EXTENSIONS]
        found = next((c for c in candidates if c in paths), None)
        if found:
            yield found


def _go_module(files: list[tuple[str, str | None, str]]) -> str | None:
    for path, _, text in files:
        if path == "go.mod":
            m = re.search(r"^module\s+(\S+)", text, re.M)
            return m.group(1) if m else None
    return None


def _go_imports(text: str, module: str) -> Iterator[str]:
    specs = _GO_IMPORT_LINE.findall(text)
    for block in _GO_IMPORT_BLOCK.findall(text):
        specs += _GO_QUOTED.findall(block)
    for spec in specs:
        if spec == module:  # the module's root package (cobra, most small libraries)
            yield ROOT_PACKAGE
        elif spec.startswith(module + "/"):
            yield spec[len(module) + 1 :] + "/"


def _java_classes(files: list[tuple[str, str | None, str]]) -> dict[str, str]:
    """Fully qualified class name → file: a file's `package` and its name (Java's rule for
    a public class, Kotlin's convention for a file's main class: okhttp's
    `okhttp3/OkHttpClient.kt`), whatever source root (`src/main/java/`, none) holds it."""
    classes = {}
    for path, _, text in files:
        if path.endswith(_JVM_SUFFIXES) and (package := _JAVA_PACKAGE.search(text)):
            stem = posixpath.splitext(posixpath.basename(path))[0]
            classes[f"{package.group(1)}.{stem}"] = path
    return classes


def _java_imports(text: str, classes: dict[str, str]) -> Iterator[str]:
    """The files of the classes `text` imports: `import a.b.C;`, `import static a.b.C.m;`
    (the class of the member); a wildcard names a package, no one file."""
    for name in _JAVA_IMPORT.findall(text):
        if name in classes:
            yield classes[name]
        elif (owner := name.rpartition(".")[0]) in classes:
            yield classes[owner]


def _rust_crates(files: list[tuple[str, str | None, str]]) -> dict[str, str]:
    """Crate folder ("" for the root) → crate name as code writes it (`serde_json`), from
    every `Cargo.toml` with a `[package]`."""
    crates = {}
    for path, _, text in files:
        if posixpath.basename(path) == "Cargo.toml":
            data = _toml(text)
            package = data.get("package") if data is not None else None
            if isinstance(package, dict) and isinstance(package.get("name"), str):
                crates[posixpath.dirname(path)] = package["name"].replace("-", "_")
    return crates


def _rust_uses(
    path: str, text: str, crates: dict[str, str], by_name: dict[str, str], paths: set[str]
) -> Iterator[str]:
    """The module files `text` uses: `use crate::a::b::C` (its own crate) or a crate of
    this repository by name (`use serde_json::value::Value` in its tests), resolved as
    Cargo lays modules out (`src/a/b.rs` or `src/a/b/mod.rs`), the longest path that is a
    file; `self`, `super` and other crates name no file here."""
    own = max((folder for folder in crates if _inside(path, folder)), key=len, default=None)
    for spec in _RUST_USE.findall(text):
        first, *segments = spec.split("::")
        folder = own if first == "crate" else by_name.get(first)
        if folder is None or not segments:
            continue
        src = posixpath.join(folder, "src") if folder else "src"
        for n in range(len(segments), 0, -1):
            module = posixpath.join(src, *segments[:n])
            found = next((c for c in (f"{module}.rs", f"{module}/mod.rs") if c in paths), None)
            if found:
                yield found
                break


def _inside(path: str, folder: str) -> bool:
    return not folder or path.startswith(folder + "/")


def _c_includes(
    path: str, text: str, paths: set[str], basenames: dict[str, list[str]]
) -> Iterator[str]:
    base = posixpath.dirname(path)
    for spec in _C_INCLUDE.findall(text):
        near = posixpath.normpath(posixpath.join(base, spec))
        if near in paths:
            yield near
        elif spec in paths:
            yield spec
        elif len(basenames.get(posixpath.basename(spec), ())) == 1:
            yield basenames[posixpath.basename(spec)][0]


# -- history ------------------------------------------------------------------------------


def git_log(root: Path) -> list[tuple[str, str, str, list[str]]]:
    """The last HISTORY_COMMITS commits: (short id, date, subject, paths), newest first."""
    out = git_output(
        root,
        [
            "-c",
            "core.quotePath=false",
            "log",
            f"-n{HISTORY_COMMITS}",
            "--no-renames",
            "--no-merges",
            "--date=short",
            "--format=%x00%h%x09%ad%x09%s",
            "--name-only",
            "--relative",
        ],
    )
    if not out:
        return []
    commits = []
    for chunk in out.split("\0"):
        if not chunk.strip():
            continue
        head, _, rest = chunk.partition("\n")
        fields = head.split("\t", 2)
        if len(fields) != 3:
            continue
        paths = [p for p in rest.splitlines() if p.strip()]
        commits.append((fields[0], fields[1], fields[2], paths))
    return commits


def _folders(paths: list[str]) -> tuple[str, ...]:
    tops = Counter(p.split("/", 1)[0] + ("/" if "/" in p else "") for p in paths)
    return tuple(t for t, _ in sorted(tops.items(), key=lambda kv: (-kv[1], kv[0])))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

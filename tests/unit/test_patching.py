"""A live reload of a few files patches the last snapshot (`patching.py`): it must serve what
a full load of the same files serves, and load in full whenever it cannot be sure of that."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from context_bot.knowledge import indexing
from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.grep import EXCERPT_BYTES, Grep, GrepQuery
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.patching import reload_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import WORD_RUN
from context_bot.knowledge.textindex import TextIndex
from tests.gitrepo import git
from tests.unit.test_grep_index import whole_reads
from tests.unit.test_store import FILES, make_repo

QUERIES = ("greet", "Greeter", "helper", "milk", "twice", "extra", "start")
NAMES = ("Greeter", "greet", "helper", "Extra", "twice", "main", "start")


def served(k: Knowledge, root: Path) -> dict[str, object]:
    """Everything a participant can ask of a snapshot, and what a reload reports."""
    engine = Grep(RepoFiles(root))
    queries = [GrepQuery(p, context=1) for p in ("greet", "helper", "Extra", "return", "milk")]
    grep = [[m.to_wire() for m in engine.search(k.inventory, q).matches] for q in queries]
    listings = [
        k.listing(prefix, depth=depth, limit=limit).to_wire()
        for prefix, depth, limit in (("", 16, 500), ("", 1, 3), ("demo", 2, 50), ("web", 1, 50))
    ]
    symbols = k.symbols
    return {
        "version": k.version,
        "overview": k.overview,
        "revision": k.revision,
        "inventory": (k.inventory.files, k.inventory.skipped, k.inventory.source, len(k.inventory)),
        "index_stats": k.index_stats,
        "listings": listings,
        "search": [[h.to_wire() for h in k.search(q)] for q in QUERIES],
        "grep": grep,
        "find": [[m.to_wire() for m in symbols.find(n)] for n in NAMES],
        "references": [symbols.references(n) for n in NAMES],
        "outline": [[n.to_wire() for n in symbols.outline(f.path)] for f in k.inventory.files],
        "symbols": (len(symbols), symbols.files, symbols.skipped, symbols.partial),
        "most_used": [symbols.most_used(f.path) for f in k.inventory.files],
        "most_used_folders": [symbols.most_used(p, 9) for p in ("demo/", "web/", "lib/")],
        "all_symbols": [s.to_wire() for s in symbols.symbols],
        "named": [[s.to_wire() for s in symbols.named(n, 2)] for n in NAMES],
        "defined": [[s.to_wire() for s in symbols.defined(n, 2)] for n in NAMES],
        "uses": [list(symbols.uses_of(n)) for n in NAMES],
        "has_file": [symbols.has_file(f.path) for f in k.inventory.files],
        "paths_defining": symbols.paths_defining(lambda n: n[:1].isupper()),
        "find_narrowed": [
            [m.to_wire() for m in symbols.find(q, kind=kind, selects=selects, limit=limit)]
            for q in ("e", "Gr", "gre", "t", "rt")
            for kind, selects, limit in (
                (None, None, 50),
                ("function", None, 3),
                (None, lambda p: not p.startswith("demo/"), 2),
            )
        ],
        "references_narrowed": [
            symbols.references(n, selects=lambda p: p != "demo/cli.py", limit=1) for n in NAMES
        ],
        "documents": [d.to_wire() for d in k.served_documents()],
        "stats": k.stats(),
        "kept": kept(k),
    }


def kept(k: Knowledge) -> dict[str, object]:
    """What a snapshot keeps for the next patch and for `grep`, which a patch moves by the
    changed paths alone: it must be what a full load makes of the same files."""
    index = k.inventory.text_index
    assert isinstance(index, TextIndex)
    assert k.basis is not None
    return {
        "text_rows": dict(index._paths),
        "always": index.always,
        "runs": dict(index._runs),
        "ordered": index.ordered,
        "counts": k.basis.counts,
        "digests": dict(k.basis.digests),
        "excerpts": sorted(k.basis.excerpts or ()),
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return make_repo(root)


def load(root: Path, cache: Path) -> Knowledge:
    return load_knowledge(root / "knowledge", root, cache_dir=cache)


def reload_and_compare(
    root: Path, tmp_path: Path, change: Callable[[], list[str]], *, patched: bool = True
) -> tuple[Knowledge, Knowledge, list[dict[str, object]]]:
    """Load, apply `change` (it returns the repository paths it touched), then reload
    with those paths and load in full on a copy of the cache as it was: both must serve
    the same and report the same change. Returns (previous, reloaded, its logs)."""
    cache = tmp_path / "cache"
    before = load(root, cache)
    twin = tmp_path / "cache-twin"
    shutil.copytree(cache, twin)
    touched = change()
    with capture_logs() as logs:
        fresh = reload_knowledge(
            before, [str(root / p) for p in touched], root / "knowledge", root, cache_dir=cache
        )
    full = load(root, twin)
    assert served(fresh, root) == served(full, root)
    assert knowledge_change(before, fresh) == knowledge_change(before, full)
    events = [e["event"] for e in logs]
    assert ("knowledge_patched" in events) is patched, events
    return before, fresh, logs


def test_a_changed_source_file_is_patched_and_answers_the_same(repo: Path, tmp_path: Path) -> None:
    """A file in a parsed language: its symbols are overlaid on the last index
    (`SymbolIndex.patched`), which is left as it was."""

    def change() -> list[str]:
        (repo / "demo/greeter.py").write_text(
            FILES["demo/greeter.py"] + "\n    def twice(self) -> str:\n        return 'x'\n"
        )
        return ["demo/greeter.py"]

    before, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert fresh.version != before.version
    assert fresh.index_stats["files_read"] == 1
    assert [m.symbol.path for m in fresh.symbols.find("twice")] == ["demo/greeter.py"]
    assert before.symbols.find("twice") == []  # the last snapshot is left as it was


def test_a_long_run_put_in_and_taken_out_is_patched_as_a_full_load_keeps_it(
    repo: Path, tmp_path: Path
) -> None:
    """The spans of a text's long runs of word characters (`store.WORD_RUN`), which a gap
    lookup reads whatever the distance, follow a patch: added with the file's new text,
    dropped with its old one."""
    digest = "f" * (WORD_RUN + 1)

    def put_in() -> list[str]:
        (repo / "demo/greeter.py").write_text(FILES["demo/greeter.py"] + f"SHA = '{digest}'\n")
        (repo / "web/hashes.ts").write_text(f"export const A = '{digest}'\n")
        return ["demo/greeter.py", "web/hashes.ts"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, put_in)
    index = fresh.inventory.text_index
    assert isinstance(index, TextIndex)
    assert sorted(index._paths[row] for row in index._runs) == ["demo/greeter.py", "web/hashes.ts"]

    def taken_out() -> list[str]:
        (repo / "demo/greeter.py").write_text(FILES["demo/greeter.py"])
        return ["demo/greeter.py"]

    _, fresh, _ = reload_and_compare(repo, tmp_path / "again", taken_out)
    index = fresh.inventory.text_index
    assert isinstance(index, TextIndex)
    assert sorted(index._paths[row] for row in index._runs) == ["web/hashes.ts"]


def test_a_large_file_edited_above_its_match_is_numbered_as_a_full_scan_numbers_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A match in a large file is answered from the lines near its spans, numbered by the
    line ends the index counted (`texts.lines`): after lines are put in above it and the
    file is patched, its number is the new one, as a full scan has it, and the file is
    still not read whole."""
    filler = "".join(f"var v{n} = {n}\n" for n in range(6000))
    body = filler + "type Options struct{}\n" + filler
    (repo / "gen").mkdir()
    (repo / "gen/big.go").write_text(body)
    assert len(body) > EXCERPT_BYTES

    def change() -> list[str]:
        (repo / "gen/big.go").write_text("// a note\n" * 700 + body)
        return ["gen/big.go"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    whole = whole_reads(monkeypatch)
    query = GrepQuery("type\\s+Options\\b", True)
    found = Grep(RepoFiles(repo)).search(fresh.inventory, query)
    assert [(m.path, m.line) for m in found.matches] == [("gen/big.go", 6701)]
    assert whole == []
    plain = dataclasses.replace(fresh.inventory, text_index=None)
    assert (
        found.to_wire()["matches"]
        == Grep(RepoFiles(repo)).search(plain, query).to_wire()["matches"]
    )


def test_a_same_size_edit_moves_the_version_and_is_named(repo: Path, tmp_path: Path) -> None:
    """An edit that keeps the size: the version moves (content hashes) and the change
    names the path, patched or loaded in full (it named nothing before)."""
    original = (repo / "notes/todo.txt").read_text()
    edited = "remember the salt\n"
    assert len(edited) == len(original)

    def change() -> list[str]:
        (repo / "notes/todo.txt").write_text(edited)
        return ["notes/todo.txt"]

    before, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert fresh.version != before.version
    change_data = knowledge_change(before, fresh)
    assert change_data["changed"] == ["notes/todo.txt"]
    assert change_data["added"] == change_data["removed"] == []
    full = load(repo, tmp_path / "cache")  # a full load after it: the same report
    assert knowledge_change(before, full)["changed"] == ["notes/todo.txt"]


def test_an_added_file_is_listed_searched_and_its_symbols_found(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "demo/extra.py").write_text(
            "from demo.greeter import Greeter\n\n\nclass Extra(Greeter):\n    pass\n"
        )
        return ["demo/extra.py"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert "demo/extra.py" in fresh.inventory
    assert fresh.search("Extra")[0].path == "demo/extra.py"


def test_a_deleted_file_leaves_every_answer(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "web/util.ts").unlink()
        return ["web/util.ts"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert "web/util.ts" not in fresh.inventory
    assert fresh.symbols.find("helper", kind="function") == []


def test_a_renamed_file_moves_in_one_reload(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "demo/cli.py").rename(repo / "demo/main_cli.py")
        return ["demo/cli.py", "demo/main_cli.py"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert [m.symbol.path for m in fresh.symbols.find("main")] == ["demo/main_cli.py"]


@pytest.mark.parametrize("action", ["change", "add", "delete", "rename"])
def test_a_file_outside_the_parsed_languages_is_patched_in(
    repo: Path, tmp_path: Path, action: str
) -> None:
    """Text, configuration and data files change no symbol: their reload is a patch."""
    (repo / "notes/shopping.txt").write_text("milk, twice\n")
    git(repo, "add", "notes/shopping.txt")
    git(repo, "commit", "-qm", "a list")

    def change() -> list[str]:
        if action == "change":
            (repo / "notes/todo.txt").write_text("remember the milk, twice, and the extra\n")
            return ["notes/todo.txt"]
        if action == "add":
            (repo / "notes/extra.json").write_text('{"extra": "milk"}\n')
            return ["notes/extra.json"]
        if action == "delete":
            (repo / "notes/shopping.txt").unlink()
            return ["notes/shopping.txt"]
        (repo / "notes/shopping.txt").rename(repo / "notes/groceries.txt")
        return ["notes/shopping.txt", "notes/groceries.txt"]

    before, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert fresh.version != before.version
    assert fresh.symbols is before.symbols  # shared, not rebuilt


def test_the_last_file_of_a_folder_gone_lays_the_tree_out_again(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "notes/todo.txt").unlink()
        return ["notes/todo.txt"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert "notes" not in {e.path for e in fresh.listing("").entries}


def test_a_folder_without_git_is_patched_by_the_same_rules(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    make_repo(root, with_git=False)
    (root / ".gitignore").write_text("*.log\n")

    def change() -> list[str]:
        (root / "demo/extra.py").write_text("class Extra:\n    pass\n")
        (root / "demo/debug.log").write_text("ignored\n")
        (root / "web/util.ts").unlink()
        return ["demo/extra.py", "demo/debug.log", "web/util.ts"]

    _, fresh, _ = reload_and_compare(root, tmp_path, change)
    assert "demo/debug.log" not in fresh.inventory


def test_a_git_ignored_and_a_secret_file_stay_out(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore logs")

    def change() -> list[str]:
        (repo / "debug.log").write_text("ignored\n")
        (repo / ".env").write_text("TOKEN=secret\n")
        return ["debug.log", ".env"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert "debug.log" not in fresh.inventory
    assert ".env" not in fresh.inventory
    assert fresh.inventory.skipped.get("denied") == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("folder", "folder"),
        ("gitignore", "ignore_rules"),
        ("document", "documents"),
        ("many", "many_paths"),
        ("unknown", "paths_unknown"),
    ],
)
def test_what_a_patch_cannot_be_sure_of_is_loaded_in_full(
    repo: Path, tmp_path: Path, case: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    (repo / "knowledge").mkdir()
    before = load(repo, cache)
    paths: list[str] | None
    if case == "folder":
        (repo / "lib").mkdir()
        (repo / "lib/new.py").write_text("def fresh_name():\n    return 1\n")
        paths = [str(repo / "lib")]
    elif case == "gitignore":
        (repo / ".gitignore").write_text("*.txt\n")
        paths = [str(repo / ".gitignore")]
    elif case == "document":
        (repo / "knowledge/guide.md").write_text("---\ntitle: Guide\n---\nHow to greet.\n")
        paths = [str(repo / "knowledge/guide.md")]
    elif case == "many":
        monkeypatch.setattr("context_bot.knowledge.patching.MAX_PATCH_PATHS", 1)
        (repo / "web/app.ts").write_text("export const changed = 1\n")
        paths = [str(repo / "demo/cli.py"), str(repo / "web/app.ts")]
    else:
        (repo / "web/app.ts").write_text("export const changed = 1\n")
        paths = None
    with capture_logs() as logs:
        fresh = reload_knowledge(before, paths, repo / "knowledge", repo, cache_dir=cache)
    declined = [e for e in logs if e["event"] == "knowledge_patch_declined"]
    assert [e["reason"] for e in declined] == [reason]
    again = load(repo, cache)  # reads nothing: the full load before it read the change
    assert served(fresh, repo) | {"index_stats": 0} == served(again, repo) | {"index_stats": 0}
    assert fresh.version != before.version


def test_a_documented_file_is_loaded_in_full(repo: Path, tmp_path: Path) -> None:
    (repo / "knowledge").mkdir()
    (repo / "knowledge/greeter.md").write_text(
        "---\nfilePath: demo/greeter.py\nfeature: greeting\n---\nThe greeter.\n"
    )

    def change() -> list[str]:
        (repo / "demo/greeter.py").write_text(FILES["demo/greeter.py"] + "# edited\n")
        return ["demo/greeter.py"]

    _, fresh, logs = reload_and_compare(repo, tmp_path, change, patched=False)
    assert [e["reason"] for e in logs if e["event"] == "knowledge_patch_declined"] == ["documented"]
    assert fresh.document("demo/greeter.py") is not None


@pytest.fixture
def small_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """A total cap on indexed bytes that the sample repository passes."""
    for function in (indexing.index_files, indexing.reindex_files):
        defaults = dict(function.__kwdefaults__ or {}, max_total=400)
        monkeypatch.setattr(function, "__kwdefaults__", defaults)


def grow_readme(repo: Path) -> Callable[[], list[str]]:
    def change() -> list[str]:
        (repo / "README.md").write_text(FILES["README.md"] + "More words. " * 30)
        return ["README.md"]

    return change


@pytest.mark.usefixtures("small_total")
def test_a_size_that_moves_the_total_cap_reads_the_files_it_moves(
    repo: Path, tmp_path: Path
) -> None:
    before, fresh, _ = reload_and_compare(repo, tmp_path, grow_readme(repo))
    assert before.inventory.text_index is not None
    assert fresh.index_stats["files_read"] > 1  # the README, and the files it pushed out


@pytest.mark.usefixtures("small_total")
def test_a_size_that_moves_many_files_past_the_cap_is_loaded_in_full(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexing, "MAX_REFIT_FILES", 1)
    _, _, logs = reload_and_compare(repo, tmp_path, grow_readme(repo), patched=False)
    assert [e["reason"] for e in logs if e["event"] == "knowledge_patch_declined"] == ["total_cap"]


def test_a_name_in_a_changed_and_an_unchanged_file_is_ranked_as_a_full_load_ranks_it(
    repo: Path, tmp_path: Path
) -> None:
    """The overlay's definitions and the base's meet in one order: tier, then the tier's
    key (exact spelling, length, kind), then path, as the full index sorts them."""

    def change() -> list[str]:
        (repo / "demo/aaa.py").write_text(
            "def greet() -> None:\n    pass\n\n\nclass Greeter:\n    pass\n\n\n"
            "def greeter_too() -> None:\n    Greeter()\n"
        )
        (repo / "web/zzz.ts").write_text("export class Greeter {}\nexport function greet() {}\n")
        return ["demo/aaa.py", "web/zzz.ts"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change)
    found = [(m.symbol.path, m.symbol.kind, m.match) for m in fresh.symbols.find("Greeter")]
    assert found[:3] == [
        ("demo/aaa.py", "class", "exact"),
        ("demo/greeter.py", "class", "exact"),
        ("web/zzz.ts", "class", "exact"),
    ]
    assert ("demo/aaa.py", "function", "prefix") in found
    greet = [m.symbol.path for m in fresh.symbols.find("greet", kind="function")]
    assert greet[:2] == ["demo/aaa.py", "web/zzz.ts"]  # ties by path; the method after
    hits, count = fresh.symbols.references("Greeter")
    assert [h.path for h in hits][:2] == ["demo/__init__.py", "demo/aaa.py"]
    assert count == len(hits)


def test_two_stacked_patches_answer_as_a_full_load(repo: Path, tmp_path: Path) -> None:
    """A patch of a patch overlays every file changed since the full load on the same
    base (not a chain of overlays), and answers as a full load of the same files."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    (repo / "demo/extra.py").write_text(
        "class Extra:\n    def twice(self) -> int:\n        return 2\n"
    )
    (repo / "web/util.ts").write_text(
        "export function helper(): number { return twice() }\nexport function twice() {}\n"
    )
    touched = [str(repo / p) for p in ("demo/extra.py", "web/util.ts")]
    with capture_logs() as logs:
        second = reload_knowledge(first, touched, repo / "knowledge", repo, cache_dir=cache)
    twin = tmp_path / "cache-twin"
    shutil.copytree(cache, twin)
    (repo / "demo/extra.py").write_text("class Extra:\n    pass\n")
    (repo / "demo/cli.py").unlink()
    touched = [str(repo / p) for p in ("demo/extra.py", "demo/cli.py")]
    with capture_logs() as more:
        third = reload_knowledge(second, touched, repo / "knowledge", repo, cache_dir=cache)
    events = [e["event"] for e in (*logs, *more)]
    assert events.count("knowledge_patched") == 2, events
    assert served(third, repo) == served(load(repo, twin), repo)
    assert getattr(third.symbols, "_base", None) is first.symbols
    assert [m.symbol.path for m in third.symbols.find("twice")] == ["web/util.ts"]
    assert [s.path for s in second.symbols.named("twice")] == ["demo/extra.py", "web/util.ts"]
    assert [s.name for s in first.symbols.named("Extra")] == []


def test_past_the_overlay_cap_a_source_change_is_loaded_in_full(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("context_bot.knowledge.symbols.MAX_OVERLAY_FILES", 1)
    cache = tmp_path / "cache"
    first = load(repo, cache)
    (repo / "web/util.ts").write_text("export function helped(): number { return 41 }\n")
    second = reload_knowledge(
        first, [str(repo / "web/util.ts")], repo / "knowledge", repo, cache_dir=cache
    )
    assert second.symbols.find("helped")  # an overlay of one file
    (repo / "demo/cli.py").write_text("def main() -> int:\n    return 0\n")
    with capture_logs() as logs:
        third = reload_knowledge(
            second, [str(repo / "demo/cli.py")], repo / "knowledge", repo, cache_dir=cache
        )
    declined = [e["reason"] for e in logs if e["event"] == "knowledge_patch_declined"]
    assert declined == ["symbols"]
    assert not hasattr(third.symbols, "_base")  # a new full index
    again = load(repo, cache)
    assert served(third, repo) | {"index_stats": 0} == served(again, repo) | {"index_stats": 0}


def test_a_real_package_patched_three_times_answers_as_a_full_load(tmp_path: Path) -> None:
    """This project's own code (many names shared between files, every tier of `find`
    with many candidates): three stacked patches that add, change, delete and rename
    source files, each compared with a full load of the same files."""
    root = tmp_path / "real"
    shutil.copytree(Path(__file__).parents[2] / "context_bot" / "knowledge", root / "kb")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    cache = tmp_path / "cache"
    k = load(root, cache)
    steps: list[Callable[[], list[str]]] = [
        lambda: _edit(
            root, "kb/symbols.py", "def find(x):\n    return x\n\n\nclass Grep:\n    pass\n"
        ),
        lambda: [*_move(root, "kb/grep.py", "kb/agrep.py"), *_edit(root, "kb/zz.py", "run = 1\n")],
        lambda: [*_edit(root, "kb/symbols.py", "\n"), *_move(root, "kb/zz.py", "kb/aa.py")],
    ]
    queries = (
        "find",
        "Grep",
        "g",
        "load",
        "Sym",
        "paTCH",
        "a",
        "_",
        "rUn",
        "iNdex",
        "st",
        "SI",
        "gT",
        "fS",
    )
    for n, step in enumerate(steps):
        twin = tmp_path / f"twin-{n}"
        shutil.copytree(cache, twin)
        touched = step()
        k = reload_knowledge(
            k, [str(root / p) for p in touched], root / "kb-docs", root, cache_dir=cache
        )
        full = load_knowledge(root / "kb-docs", root, cache_dir=twin)
        assert hasattr(k.symbols, "_base")  # patched, not loaded in full
        for q in queries:
            for limit in (1, 7, 400):
                assert k.symbols.find(q, limit=limit) == full.symbols.find(q, limit=limit), q
            assert k.symbols.defined(q, 9) == full.symbols.defined(q, 9)
            assert k.symbols.named(q) == full.symbols.named(q)
            assert k.symbols.references(q, limit=30) == full.symbols.references(q, limit=30)
            assert list(k.symbols.uses_of(q)) == list(full.symbols.uses_of(q))
        folders = ("kb/", "kb/nothing/")
        for path in [f.path for f in full.inventory.files] + list(folders):
            assert k.symbols.most_used(path, 5) == full.symbols.most_used(path, 5), path
        assert k.symbols.symbols == full.symbols.symbols
        assert (len(k.symbols), k.symbols.files, k.symbols.skipped, k.symbols.partial) == (
            len(full.symbols),
            full.symbols.files,
            full.symbols.skipped,
            full.symbols.partial,
        )
        assert k.overview == full.overview


def _edit(root: Path, path: str, text: str) -> list[str]:
    target = root / path
    target.write_text((target.read_text() if target.exists() else "") + text)
    return [path]


def _move(root: Path, source: str, target: str) -> list[str]:
    (root / source).rename(root / target)
    return [source, target]


@pytest.mark.parametrize("action", ["remove", "add"])
def test_the_camel_tier_follows_the_spellings_a_full_load_has(
    repo: Path, tmp_path: Path, action: str
) -> None:
    """`fB` abbreviates `fooBar`, and the full index then ranks every definition of the
    lower-case `foobar` in that tier (`foobar` too): removing or adding the only camel
    spelling in a changed file moves the unchanged file's `foobar` between tiers."""
    (repo / "demo/plain.py").write_text("def foobar() -> None:\n    pass\n")
    if action == "remove":
        (repo / "demo/camel.py").write_text("def fooBar() -> None:\n    pass\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "names")

    def change() -> list[str]:
        text = (
            "def other() -> None:\n    pass\n"
            if action == "remove"
            else "def fooBar():\n    pass\n"
        )
        (repo / "demo/camel.py").write_text(text)
        return ["demo/camel.py"]

    before, fresh, _ = reload_and_compare(repo, tmp_path, change)
    tiers = {k: [(m.symbol.path, m.match) for m in k.symbols.find("fB")] for k in (before, fresh)}
    plain_tier = "fuzzy" if action == "remove" else "camel"
    assert ("demo/plain.py", plain_tier) in tiers[fresh]
    assert ("demo/plain.py", plain_tier) not in tiers[before]

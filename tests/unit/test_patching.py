"""A live reload of a few files patches the last snapshot (`patching.py`): it must serve what
a full load of the same files serves, and load in full whenever it cannot be sure of that."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from context_bot.knowledge import indexing
from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.patching import reload_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from tests.gitrepo import git
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
        "documents": [d.to_wire() for d in k.served_documents()],
        "stats": k.stats(),
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


def test_a_changed_source_file_is_loaded_in_full_and_answers_the_same(
    repo: Path, tmp_path: Path
) -> None:
    """A file in a parsed language changes the symbol index, which has no per-file update
    yet (`patching.py`): the reload declines the patch and loads in full."""

    def change() -> list[str]:
        (repo / "demo/greeter.py").write_text(
            FILES["demo/greeter.py"] + "\n    def twice(self) -> str:\n        return 'x'\n"
        )
        return ["demo/greeter.py"]

    before, fresh, logs = reload_and_compare(repo, tmp_path, change, patched=False)
    assert [e["reason"] for e in logs if e["event"] == "knowledge_patch_declined"] == ["symbols"]
    assert fresh.version != before.version
    assert fresh.index_stats["files_read"] == 1
    assert [m.symbol.path for m in fresh.symbols.find("twice")] == ["demo/greeter.py"]
    assert before.symbols.find("twice") == []  # the last snapshot is left as it was


def test_a_same_size_edit_moves_the_version(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "notes/todo.txt").write_text("remember the salt\n")
        return ["notes/todo.txt"]

    before, fresh, _ = reload_and_compare(repo, tmp_path, change)
    assert fresh.version != before.version


def test_an_added_file_is_listed_searched_and_its_symbols_found(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "demo/extra.py").write_text(
            "from demo.greeter import Greeter\n\n\nclass Extra(Greeter):\n    pass\n"
        )
        return ["demo/extra.py"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change, patched=False)
    assert "demo/extra.py" in fresh.inventory
    assert fresh.search("Extra")[0].path == "demo/extra.py"


def test_a_deleted_file_leaves_every_answer(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "web/util.ts").unlink()
        return ["web/util.ts"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change, patched=False)
    assert "web/util.ts" not in fresh.inventory
    assert fresh.symbols.find("helper", kind="function") == []


def test_a_renamed_file_moves_in_one_reload(repo: Path, tmp_path: Path) -> None:
    def change() -> list[str]:
        (repo / "demo/cli.py").rename(repo / "demo/main_cli.py")
        return ["demo/cli.py", "demo/main_cli.py"]

    _, fresh, _ = reload_and_compare(repo, tmp_path, change, patched=False)
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

    _, fresh, _ = reload_and_compare(root, tmp_path, change, patched=False)
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

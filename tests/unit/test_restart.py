"""A restart reuses what the last load kept (the index cache, the symbol index, the
inventory's facts): whatever it skips must be keyed so that no change is missed. After
each kind of change made while the bot was down, a load with the cache must serve what a
load from an empty cache serves: list, search, grep, symbols, file facts, counts, version."""

from __future__ import annotations

import gc
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs

from context_bot.knowledge import inventory as inventory_mod
from context_bot.knowledge import loading
from context_bot.knowledge.inventory import StatPrint, stat_changes, stat_record
from context_bot.knowledge.loading import (
    SNAPSHOT_FILE,
    SNAPSHOT_KEY,
    Knowledge,
    keep_restart_snapshot,
    load_knowledge,
)
from context_bot.knowledge.patching import patch_knowledge, reload_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import IndexStore, cache_folder
from tests.gitrepo import git
from tests.unit.test_patching import served
from tests.unit.test_store import make_repo


def load(root: Path, cache: Path | None, *, deny: tuple[str, ...] = ()) -> Knowledge:
    """As the bot starts: a restart after a few changes patches the snapshot kept."""
    files = RepoFiles(root, extra_deny=deny)
    return load_knowledge(
        root / "knowledge", root, cache_dir=cache, files=files, patch=patch_knowledge,
        keep_later=True,
    )  # fmt: skip


def answers(k: Knowledge, root: Path) -> dict[str, object]:
    """What a participant is served; `index_stats` (files read or reused) is how the
    load got there, which is what differs between the two loads compared."""
    out = served(k, root)
    del out["index_stats"]
    # grep's row numbers follow the cache's history (a file added between two others
    # takes a number between theirs), so a restart and a load from an empty cache number
    # rows differently; what must agree is which files have rows, in path order.
    kept = dict(cast(dict[str, Any], out["kept"]))
    kept["text_rows"] = [path for _, path in sorted(kept["text_rows"].items())]
    out["kept"] = kept
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    make_repo(root)
    (root / "knowledge").mkdir()
    (root / "knowledge/greeter.md").write_text(
        "---\nfilePath: demo/greeter.py\n---\n# Greeter\n\nSays hello to people.\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "a document")
    return root


def restart_and_compare(
    root: Path, tmp_path: Path, change: Callable[[], None], *, deny: tuple[str, ...] = ()
) -> tuple[Knowledge, Knowledge]:
    """Load twice with a cache (the second a restart with nothing changed), apply
    `change`, restart with the cache and load from an empty one: both must serve the same.
    Returns (the snapshot before the change, the restart after it)."""
    cache = tmp_path / "cache"
    before = load(root, cache)
    assert answers(load(root, cache), root) == answers(before, root)
    change()
    restarted = load(root, cache, deny=deny)
    fresh = load(root, tmp_path / f"empty-{len(list(tmp_path.iterdir()))}", deny=deny)
    assert answers(restarted, root) == answers(fresh, root)
    return before, restarted


def test_nothing_changed_reads_nothing(repo: Path, tmp_path: Path) -> None:
    before, again = restart_and_compare(repo, tmp_path, lambda: None)
    assert again.index_stats["files_read"] == 0
    assert again.version == before.version


def test_an_added_file(repo: Path, tmp_path: Path) -> None:
    def add() -> None:
        (repo / "demo/extra.py").write_text("class Extra:\n    def twice(self): return 2\n")

    before, after = restart_and_compare(repo, tmp_path, add)
    assert "demo/extra.py" in after.inventory
    assert after.version != before.version
    assert [m.symbol.path for m in after.symbols.find("Extra")] == ["demo/extra.py"]


def test_a_changed_file_of_the_same_size(repo: Path, tmp_path: Path) -> None:
    path = repo / "web/util.ts"
    old = path.read_text()

    def edit() -> None:
        path.write_text(old.replace("helper", "helpex"))
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    before, after = restart_and_compare(repo, tmp_path, edit)
    assert len(path.read_text()) == len(old)
    assert after.version != before.version
    assert after.symbols.find("helpex")
    assert not [m for m in after.symbols.find("helper") if m.symbol.name == "helper"]


def test_a_deleted_file(repo: Path, tmp_path: Path) -> None:
    before, after = restart_and_compare(repo, tmp_path, (repo / "web/util.ts").unlink)
    assert "web/util.ts" in before.inventory and "web/util.ts" not in after.inventory
    assert not [m for m in after.symbols.find("helper") if m.symbol.path == "web/util.ts"]


def test_a_renamed_file_and_folder(repo: Path, tmp_path: Path) -> None:
    def rename() -> None:
        (repo / "demo/cli.py").rename(repo / "demo/main.py")
        (repo / "web").rename(repo / "site")

    _, after = restart_and_compare(repo, tmp_path, rename)
    assert "demo/main.py" in after.inventory and "site/app.ts" in after.inventory
    assert "web/app.ts" not in after.inventory


def test_an_ignore_rule_added_and_removed(repo: Path, tmp_path: Path) -> None:
    (repo / "scratch.py").write_text("def scratch():\n    return 1\n")

    def ignore() -> None:
        (repo / ".gitignore").write_text("scratch.py\nnotes/\n")

    _, after = restart_and_compare(repo, tmp_path, ignore)
    assert "scratch.py" not in after.inventory
    assert "notes/todo.txt" not in after.inventory  # tracked, yet covered: left out
    assert after.inventory.skipped["ignored"] == 1

    def unignore() -> None:
        (repo / ".gitignore").unlink()
        (repo / ".git/info/exclude").write_text("web/\n")

    _, again = restart_and_compare(repo, tmp_path / "again", unignore)
    assert "scratch.py" in again.inventory


def test_a_branch_switch(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-qb", "other")
    (repo / "web/util.ts").write_text("export function other(): number { return 7 }\n")
    (repo / "demo/greeter.py").unlink()
    (repo / "lib").mkdir()
    (repo / "lib/only_here.go").write_text("package lib\n\nfunc OnlyHere() int { return 1 }\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "other branch")
    git(repo, "checkout", "-q", "-")

    def switch() -> None:
        git(repo, "checkout", "-q", "other")

    before, after = restart_and_compare(repo, tmp_path, switch)
    assert after.revision != before.revision
    assert [m.symbol.path for m in after.symbols.find("OnlyHere")] == ["lib/only_here.go"]
    assert after.document("demo/greeter.py").stale  # type: ignore[union-attr]


def test_a_deny_list_change(repo: Path, tmp_path: Path) -> None:
    _, after = restart_and_compare(repo, tmp_path, lambda: None, deny=("*.ts",))
    assert "web/util.ts" not in after.inventory
    assert after.inventory.skipped["denied"] == 2
    cache = tmp_path / "cache"
    assert load(repo, cache, deny=("*.ts",)).index_stats["files_read"] == 0
    back = load(repo, cache)  # the default deny-list again: the .ts files are back
    assert answers(back, repo) == answers(load(repo, tmp_path / "empty-back"), repo)
    assert "web/util.ts" in back.inventory
    narrower = load(repo, cache, deny=("*.py",))  # the cache's key moved: every path asked
    assert "demo/greeter.py" not in narrower.inventory
    assert answers(narrower, repo) == answers(load(repo, tmp_path / "e2", deny=("*.py",)), repo)


def test_a_document_added(repo: Path, tmp_path: Path) -> None:
    def document() -> None:
        (repo / "knowledge/util.md").write_text(
            "---\nfilePath: web/util.ts\n---\n# Util\n\nThe helper everyone calls.\n"
        )

    _, after = restart_and_compare(repo, tmp_path, document)
    assert after.document("web/util.ts") is not None


def test_a_change_within_the_same_mtime_second(repo: Path, tmp_path: Path) -> None:
    path = repo / "web/util.ts"
    old = path.read_text()

    def edit() -> None:
        stat = path.stat()
        path.write_text(old.replace("helper", "helpex"))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))  # a microsecond on

    before, after = restart_and_compare(repo, tmp_path, edit)
    assert after.version != before.version and after.symbols.find("helpex")


def test_a_commit(repo: Path, tmp_path: Path) -> None:
    def commit() -> None:
        (repo / "demo/extra.py").write_text("def extra():\n    return 1\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "extra")

    before, after = restart_and_compare(repo, tmp_path, commit)
    assert after.revision != before.revision and "demo/extra.py" in after.inventory


def test_git_add_alone(repo: Path, tmp_path: Path) -> None:
    """Staging moves git's index, not the tree: no file changed."""
    (repo / "demo/extra.py").write_text("def extra():\n    return 1\n")
    path = repo / "web/util.ts"
    path.write_text(path.read_text() + "export const more = 1\n")
    before, after = restart_and_compare(repo, tmp_path, lambda: git(repo, "add", "-A"))
    assert after.version == before.version and after.index_stats["files_read"] == 0


def test_a_documented_file_changed(repo: Path, tmp_path: Path) -> None:
    """Its document turns stale: the tree the snapshot kept lists it as current, so it is
    laid out again (`listing.layout_key`)."""
    path = repo / "demo/greeter.py"

    def edit() -> None:
        path.write_text(path.read_text() + "\n# and more\n")

    before, after = restart_and_compare(repo, tmp_path, edit)
    assert after.listing("demo", depth=1).to_wire() != before.listing("demo", depth=1).to_wire()


def test_the_tree_from_the_snapshot_is_the_tree_laid_out(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(repo, cache)
    again, how = how_loaded(repo, cache)
    assert how == ["snapshot"]
    fresh = load(repo, tmp_path / "empty")
    for field in ("levels", "ends", "totals", "root_totals", "folder_at", "leaf_at", "root"):
        assert getattr(again.tree, field) == getattr(fresh.tree, field), field
    assert list(again.tree.entries) == list(fresh.tree.entries)
    assert again.tree.entries[1:3] == fresh.tree.entries[1:3]


def test_a_snapshot_kept_late_is_dropped_once_a_reload_wrote(repo: Path, tmp_path: Path) -> None:
    """The snapshot is kept after the load returned: a live reload that wrote the cache
    meanwhile makes it stale, and it is not kept under the new generation."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    store, generation = _snapshot_blob(repo, cache)
    path = repo / "web/util.ts"
    path.write_text(path.read_text() + "export const more = 1\n")
    reload_knowledge(first, [str(path)], repo / "knowledge", repo, cache_dir=cache)
    try:
        assert store.generation() != int(generation)
        assert not store.keep_blob_at(SNAPSHOT_KEY, int(generation), b"stale")
        assert store.blob(SNAPSHOT_KEY, str(store.generation())) is None
        assert store.keep_blob_at(SNAPSHOT_KEY, store.generation(), b"now")
    finally:
        store.close()


def test_a_restart_patch_reads_git_listing_it_has(repo: Path, tmp_path: Path) -> None:
    """What a patch asks git of a few paths, answered from the restart's whole listing."""
    (repo / ".gitignore").write_text("notes/\nscratch.py\n")
    (repo / "scratch.py").write_text("x = 1\n")
    (repo / "demo/extra.py").write_text("x = 2\n")
    wanted = ["demo/extra.py", "notes/todo.txt", "scratch.py", "web/util.ts", "no/such.py"]
    whole = inventory_mod.git_listing(repo)
    assert whole is not None
    assert inventory_mod._listed(whole, sorted(wanted)) == inventory_mod._git_files(
        repo, sorted(wanted)
    )


def test_a_folder_without_git(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    make_repo(root, with_git=False)

    def change() -> None:
        (root / ".gitignore").write_text("notes/\n")
        (root / "demo/extra.py").write_text("def extra():\n    return 1\n")
        (root / "web/util.ts").unlink()

    _, after = restart_and_compare(root, tmp_path, change)
    assert "notes/todo.txt" not in after.inventory


def how_loaded(root: Path, cache: Path) -> tuple[Knowledge, list[str]]:
    """A restart, and how it went: `full`, `snapshot`, and `patched` when it patched the
    snapshot for paths changed since."""
    with capture_logs() as logs:
        k = load(root, cache)
    how = [str(e.get("restart")) for e in logs if e["event"] == "knowledge_loaded"]
    how += ["patched" for e in logs if e["event"] == "restart_patched"]
    return k, how


def test_a_restart_starts_from_the_snapshot_and_patches_it(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert how_loaded(repo, cache)[1] == ["full"]
    again, how = how_loaded(repo, cache)
    assert how == ["snapshot"]
    (repo / "demo/extra.py").write_text("def extra():\n    return 1\n")
    (repo / "web/util.ts").unlink()
    patched, how = how_loaded(repo, cache)
    assert how == ["snapshot", "patched"]
    assert answers(patched, repo) == answers(load(repo, tmp_path / "empty"), repo)
    assert patched.version != again.version
    restarted, how = how_loaded(repo, cache)  # from the snapshot the patched restart kept
    assert how == ["snapshot"]
    assert answers(restarted, repo) == answers(patched, repo)
    # Its symbols overlay the last whole index: a second change overlays the first's too.
    (repo / "demo/extra.py").write_text("class Extra:\n    def again(self): return 3\n")
    (repo / "demo/more.py").write_text("def more():\n    return extra()\n")
    twice, how = how_loaded(repo, cache)
    assert how == ["snapshot", "patched"]
    assert answers(twice, repo) == answers(load(repo, tmp_path / "empty-2"), repo)
    assert [m.symbol.path for m in twice.symbols.find("again")] == ["demo/extra.py"]
    assert answers(how_loaded(repo, cache)[0], repo) == answers(twice, repo)


def _snapshot_blob(root: Path, cache: Path) -> tuple[IndexStore, str]:
    loading.wait_for_kept()  # kept in a thread after the load returned
    store = IndexStore.open(cache_folder(cache, root))
    assert store is not None
    return store, str(store.generation())


@pytest.mark.parametrize("damage", ["token", "half the file", "the file gone", "another file"])
def test_a_corrupt_snapshot_is_ignored(repo: Path, tmp_path: Path, damage: str) -> None:
    """The cache holds the snapshot's token, the file the snapshot: a token that is not
    the file's (cut, or the file kept by another load), a file cut short or gone, and
    the restart is a full load, which keeps a new snapshot."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    store, generation = _snapshot_blob(repo, cache)
    token = store.blob(SNAPSHOT_KEY, generation)
    path = store.path.parent / SNAPSHOT_FILE
    kept = path.read_bytes()
    assert token is not None and kept.startswith(token)
    if damage == "token":
        store.keep_blob(SNAPSHOT_KEY, generation, token[:-1])
    elif damage == "half the file":
        path.write_bytes(kept[: len(kept) // 2])
    elif damage == "the file gone":
        path.unlink()
    else:
        path.write_bytes(token[:-1] + bytes([token[-1] ^ 1]) + kept[len(token) :])
    store.close()
    again, how = how_loaded(repo, cache)
    assert how == ["full"]
    assert answers(again, repo) == answers(first, repo)
    assert how_loaded(repo, cache)[1] == ["snapshot"]  # the full load kept a new one


def test_a_snapshot_of_another_format_is_ignored(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = load(repo, cache)
    monkeypatch.setattr(loading, "SNAPSHOT_FORMAT", loading.SNAPSHOT_FORMAT + 1)
    again, how = how_loaded(repo, cache)
    assert how == ["full"]
    assert answers(again, repo) == answers(first, repo)


def test_a_snapshot_made_by_other_code_is_ignored(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An upgrade that changes how the overview is written serves the new overview at its
    first restart, with no format bump."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    monkeypatch.setattr(loading, "code_print", lambda: "other code")
    again, how = how_loaded(repo, cache)
    assert how == ["full"]
    assert answers(again, repo) == answers(first, repo)


def test_a_live_reload_makes_the_snapshot_stale(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load(repo, cache)
    path = repo / "web/util.ts"
    path.write_text(path.read_text() + "export const more = 1\n")
    reloaded = reload_knowledge(first, [str(path)], repo / "knowledge", repo, cache_dir=cache)
    assert reloaded.basis is not None and reloaded.basis.patched_from == first.version
    (repo / "demo/extra.py").write_text("def extra():\n    return 1\n")
    # The reload wrote the cache: the snapshot of the first load is not trusted.
    restarted, how = how_loaded(repo, cache)
    assert how == ["full"]
    assert answers(restarted, repo) == answers(load(repo, tmp_path / "empty"), repo)


def test_a_snapshot_kept_after_a_live_reload_serves_the_next_restart(
    repo: Path, tmp_path: Path
) -> None:
    """What the app does after each live reload (`keep_restart_snapshot`, `watch.py`)."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    path = repo / "web/util.ts"
    path.write_text(path.read_text() + "export const more = 1\n")
    reloaded = reload_knowledge(first, [str(path)], repo / "knowledge", repo, cache_dir=cache)
    assert keep_restart_snapshot(reloaded, RepoFiles(repo), cache)
    assert not keep_restart_snapshot(reloaded, RepoFiles(repo), cache)  # kept already
    restarted, how = how_loaded(repo, cache)
    assert how == ["snapshot"]
    assert restarted.version == reloaded.version
    assert answers(restarted, repo) == answers(load(repo, tmp_path / "empty"), repo)
    (repo / "demo/extra.py").write_text("def extra():\n    return 1\n")  # and after that
    patched, how = how_loaded(repo, cache)
    assert how == ["snapshot", "patched"]
    assert answers(patched, repo) == answers(load(repo, tmp_path / "empty-2"), repo)


def test_an_exclude_rule_only_git_knows(repo: Path, tmp_path: Path) -> None:
    """`.git/info/exclude` is no file of the tree: what it hides shows in git's listing,
    which the snapshot is checked against (a tracked file it covers: a full load)."""
    (repo / "scratch.py").write_text("def scratch():\n    return 1\n")
    cache = tmp_path / "cache"
    load(repo, cache)
    (repo / ".git/info/exclude").write_text("scratch.py\n")
    hidden, how = how_loaded(repo, cache)
    assert how == ["snapshot", "patched"]
    assert "scratch.py" not in hidden.inventory
    assert answers(hidden, repo) == answers(load(repo, tmp_path / "empty"), repo)
    (repo / ".git/info/exclude").write_text("notes/\n")  # covers a tracked file
    covered, how = how_loaded(repo, cache)
    assert how == ["full"]
    assert "notes/todo.txt" not in covered.inventory and "scratch.py" in covered.inventory
    assert answers(covered, repo) == answers(load(repo, tmp_path / "empty-2"), repo)


def test_a_tracked_file_an_ignore_rule_covers_is_no_change(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / ".gitignore").write_text("notes/\n")  # covers the tracked notes/todo.txt
    cache = tmp_path / "cache"
    first = load(repo, cache)
    assert first.inventory.left_out["notes/todo.txt"] == "ignored"
    listing = loading.git_listing

    def slow(root: Path) -> object:  # as at 100k: the tracked files are stat-ed first
        time.sleep(0.5)
        return listing(root)

    monkeypatch.setattr(loading, "git_listing", slow)
    again, how = how_loaded(repo, cache)
    assert how == ["snapshot"]  # not patched: nothing changed
    assert answers(again, repo) == answers(first, repo)


def test_stat_changes_names_what_moved(tmp_path: Path) -> None:
    """The stat pass of a restart (coreutils `stat`, in C): a file of another size,
    `mtime_ns` or type, or gone, is named; the others are not, whatever their names."""
    names = ["same.py", "-dash.txt", "sp ace\nline.md", "empty", "grown.py", "touched.py"]
    names += ["gone.py", "link.py", "dir/inner.go"]
    (tmp_path / "dir").mkdir()
    for name in names:
        if name not in ("gone.py", "link.py"):
            (tmp_path / name).write_text("" if name == "empty" else f"x = '{name}'\n")
    (tmp_path / "link.py").symlink_to(tmp_path / "same.py")
    stats = [(tmp_path / n).stat() if n != "gone.py" else None for n in names]
    sizes = [s.st_size if s else 1 for s in stats]
    mtimes = [s.st_mtime_ns if s else 1 for s in stats]
    (tmp_path / "grown.py").write_text("x = 'grown, and longer'\n")
    os.utime(tmp_path / "grown.py", ns=(mtimes[4], mtimes[4]))  # only the size moved
    os.utime(tmp_path / "touched.py", ns=(mtimes[5], mtimes[5] + 1))  # only the mtime
    moved = stat_changes(tmp_path, names, sizes, mtimes)
    assert moved == {"grown.py", "touched.py", "gone.py", "link.py"}
    assert stat_changes(tmp_path, [], [], []) == set()
    regular = [n for n in names if n not in ("gone.py", "link.py")]
    now = [(tmp_path / n).stat() for n in regular]
    sizes, mtimes = [s.st_size for s in now], [s.st_mtime_ns for s in now]
    assert stat_changes(tmp_path, regular, sizes, mtimes) == set()


@pytest.mark.parametrize("chunk", [1, 2, 3, 256])
def test_stat_output_compared_chunk_by_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """`stat`'s output is compared with the one kept a chunk at a time: a change or a
    gone file at either end of a chunk, or several in one, is named; output that no
    path's record explains is not trusted (None: the caller stats in Python)."""
    monkeypatch.setattr(inventory_mod, "STAT_CHUNK", chunk)
    names = [f"f{n}.py" for n in range(7)] + ["sp ace\nline.md"]
    for name in names:
        (tmp_path / name).write_text(f"x = '{name}'\n")
    now = [(tmp_path / n).stat() for n in names]
    sizes, mtimes = [s.st_size for s in now], [s.st_mtime_ns for s in now]
    printed = StatPrint.of(names, sizes, mtimes)
    assert len(printed.chunks) == -(-len(names) // chunk)
    out = b"".join(map(stat_record, names, sizes, mtimes))
    assert printed.compare(out) == set()
    assert printed.moved(tmp_path) == set()
    for gone in ([0], [1], [0, 1], [7], [2, 3, 4], [0, 7]):
        left = [n for i, n in enumerate(names) if i not in gone]
        records = [stat_record(n, sizes[names.index(n)], mtimes[names.index(n)]) for n in left]
        assert printed.compare(b"".join(records)) == {names[i] for i in gone}
    grown = [stat_record(n, s + (i in (1, 2, 7)), m) for i, (n, s, m) in enumerate(
        zip(names, sizes, mtimes, strict=True))]  # fmt: skip
    assert printed.compare(b"".join(grown)) == {names[1], names[2], names[7]}
    assert printed.compare(out + stat_record("other.py", 1, 1)) is None
    assert printed.compare(stat_record("other.py", 1, 1) + out) is None
    assert printed.compare(out[:-1]) is None
    (tmp_path / names[3]).unlink()
    (tmp_path / names[5]).write_text("longer than it was\n")
    assert printed.moved(tmp_path) == {names[3], names[5]}


def test_what_a_load_made_is_not_left_to_the_youngest_generation(
    repo: Path, tmp_path: Path
) -> None:
    """The cyclic collector waits during a load; what it made then goes to the oldest
    generation, or the first allocation after the load would scan it all (80 ms at 100k
    files, `loading._gc_paused`)."""
    assert gc.isenabled()
    k = load(repo, tmp_path / "cache")
    assert gc.isenabled()
    made = {id(k), id(k.inventory), id(k.tree)}
    assert made <= {id(o) for o in gc.get_objects(generation=2)}


def test_a_snapshot_is_pickled_frame_by_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pickler hands each frame to Python as it is done (a thread switch may happen at
    each), where `pickle.dumps` would hold the GIL for the whole snapshot; same bytes."""
    value = {"rows": list(range(200_000)), "paths": [f"src/m{n}.py" for n in range(50_000)]}
    frames: list[int] = []
    write = loading._Frames.write

    def counted(self: Any, frame: bytes) -> None:
        frames.append(len(frame))
        write(self, frame)

    monkeypatch.setattr(loading._Frames, "write", counted)
    data = loading.pickled_in_frames(value)
    assert pickle.loads(data) == value  # noqa: S301 - made here
    assert len(frames) > 10 and max(frames) < 256 * 1024

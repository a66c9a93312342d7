"""Live reload: a burst of edits becomes one reload; a failed reload keeps serving."""

from __future__ import annotations

import asyncio
import fcntl
import os
import resource
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from context_bot.knowledge import changes, watch
from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.patching import changed_since, reload_knowledge
from context_bot.knowledge.paths import WRITER_TEMP_SUFFIX
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.watch import reload_once, watch_knowledge
from tests.gitrepo import git

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"


def make_repo(root: Path) -> Path:
    shutil.copytree(SEEDS, root / "knowledge")
    return root


async def test_a_failed_reload_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    current = load_knowledge(repo / "knowledge", repo)

    def broken() -> Knowledge:
        raise OSError("disk went away")

    served, change = await reload_once(current, broken)
    assert served is current
    assert change is None


async def test_an_unchanged_reload_announces_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    current = load_knowledge(repo / "knowledge", repo)
    served, change = await reload_once(current, lambda: load_knowledge(repo / "knowledge", repo))
    assert change is None
    assert served is current


async def test_the_change_names_added_changed_and_removed_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    before = load_knowledge(repo / "knowledge", repo)
    (repo / "knowledge" / "003_da99b4c0c1254561.txt").unlink()
    seed = repo / "knowledge" / "000_f2bb2dc735d2b115.txt"
    seed.write_text(seed.read_text().replace("## Purpose", "## Purpose\nEdited."))
    (repo / "knowledge" / "new.md").write_text("---\nfilePath: src/new.ts\n---\n## Purpose\nNew.\n")
    after = load_knowledge(repo / "knowledge", repo)
    change = knowledge_change(before, after)
    assert change["previous_version"] == before.version
    assert change["knowledge_version"] == after.version
    # A document's own file in the knowledge folder is named by its document alone.
    assert change["added"] == ["src/new.ts"]
    assert change["removed"] == ["003_da99b4c0c1254561.txt"]
    assert "src/server/api/livekit.ts" in change["changed"]
    assert not any(path.startswith("knowledge/") for path in change["changed"])


async def test_the_change_names_repository_files_added_removed_or_resized(tmp_path: Path) -> None:
    """Without any document, the repository's own files are what changes."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "old.py").write_text("old = 1\n")
    (tmp_path / "pkg" / "grows.py").write_text("x = 1\n")
    (tmp_path / "same.py").write_text("same = 1\n")
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge" / "notes.png").write_bytes(b"\0")  # in the folder, no document
    before = load_knowledge(tmp_path / "knowledge", tmp_path)
    (tmp_path / "pkg" / "old.py").unlink()
    (tmp_path / "pkg" / "grows.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "pkg" / "new.py").write_text("new = 1\n")
    (tmp_path / "knowledge" / "notes.png").write_bytes(b"\0\0")
    after = load_knowledge(tmp_path / "knowledge", tmp_path)
    change = knowledge_change(before, after)
    assert change["knowledge_version"] != change["previous_version"]
    assert change["added"] == ["pkg/new.py"]
    assert change["removed"] == ["pkg/old.py"]
    assert change["changed"] == ["knowledge/notes.png", "pkg/grows.py"]


async def test_a_half_written_document_is_never_announced(tmp_path: Path) -> None:
    """An atomic write's temporary twin is neither in the inventory nor a reason to reload."""
    (tmp_path / "knowledge").mkdir()
    before = load_knowledge(tmp_path / "knowledge", tmp_path)
    temp = tmp_path / "knowledge" / f".a.py.md.x1y2{WRITER_TEMP_SUFFIX}"
    temp.write_text("---\nfilePath: a.py\n---\n")
    after = load_knowledge(tmp_path / "knowledge", tmp_path)
    assert [f.path for f in after.inventory.files] == []
    assert knowledge_change(before, after)["added"] == []
    assert watch._ignored(temp.name)


async def test_a_change_too_large_to_name_is_cut_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(changes, "MAX_CHANGE_PATHS", 3)
    (tmp_path / "keep.py").write_text("k = 1\n")
    before = load_knowledge(tmp_path / "knowledge", tmp_path)
    for n in range(5):
        (tmp_path / f"new{n}.py").write_text("n = 1\n")
    (tmp_path / "keep.py").write_text("k = 12\n")
    change = knowledge_change(before, load_knowledge(tmp_path / "knowledge", tmp_path))
    assert change["added"] == ["new0.py", "new1.py", "new2.py"]
    assert change["changed"] == ["keep.py"]
    assert change["counts"] == {"added": 5, "changed": 1, "removed": 0}
    assert change["truncated"] is True


async def test_a_change_within_the_cap_is_whole(tmp_path: Path) -> None:
    before = load_knowledge(tmp_path / "knowledge", tmp_path)
    (tmp_path / "a.py").write_text("a = 1\n")
    change = knowledge_change(before, load_knowledge(tmp_path / "knowledge", tmp_path))
    assert change["added"] == ["a.py"]
    assert change["counts"] == {"added": 1, "changed": 0, "removed": 0}
    assert change["truncated"] is False


async def test_a_burst_of_edits_becomes_one_reload(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    state = {"knowledge": load_knowledge(repo / "knowledge", repo), "loads": 0}
    changes: list[dict[str, object]] = []

    def load() -> Knowledge:
        state["loads"] = int(state["loads"]) + 1  # type: ignore[call-overload]
        return load_knowledge(repo / "knowledge", repo)

    async def on_change(fresh: Knowledge, change: dict[str, object]) -> None:
        state["knowledge"] = fresh
        changes.append(change)

    settled: list[tuple[Knowledge, bool]] = []  # after the swap, before any next reload

    def settle(fresh: Knowledge) -> None:
        settled.append((fresh, fresh is state["knowledge"]))

    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch_knowledge(
            [repo / "knowledge"],
            lambda: state["knowledge"],
            load,
            on_change,
            stop=stop,
            settled=settle,  # type: ignore[arg-type,return-value]
        )
    )
    # Rewritten until it reloads (a fixed sleep first missed the burst on a loaded machine:
    # the watcher's process registers its folders 0.5-0.7 s after it starts there).
    async with asyncio.timeout(20):
        n = 0
        while not changes:
            n += 1
            (repo / "knowledge" / "ready.md").write_text(f"Ready {n}.\n")
            await asyncio.sleep(0.5)
    await asyncio.sleep(0.6)  # longer than the debounce: the readiness reload is over
    loads, seen = state["loads"], len(changes)
    for n in range(5):
        (repo / "knowledge" / f"burst-{n}.md").write_text(f"Guide {n}.\n")
    async with asyncio.timeout(10):
        while len(changes) == seen:  # noqa: ASYNC110 - the watcher owns no event we could await
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # longer than the debounce: a second reload would show now
    stop.set()
    await asyncio.wait_for(watcher, 5)
    assert state["loads"] == loads + 1
    assert len(changes) == seen + 1
    assert len(changes[-1]["added"]) == 5  # type: ignore[arg-type]
    assert settled[-1] == (state["knowledge"], True)  # the snapshot served by then
    assert len(settled) == len(changes)


class Reloads:
    """A real watcher on `[repo/knowledge, repo]` (as the app wires it), counting reloads."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.knowledge = load_knowledge(repo / "knowledge", repo)
        self.loads = 0
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def load(self) -> Knowledge:
        self.loads += 1
        return load_knowledge(self.repo / "knowledge", self.repo)

    async def on_change(self, fresh: Knowledge, change: dict[str, object]) -> None:
        del change
        self.knowledge = fresh

    async def __aenter__(self) -> Reloads:
        self.task = asyncio.create_task(
            watch_knowledge(
                [self.repo / "knowledge", self.repo],
                lambda: self.knowledge,
                self.load,
                self.on_change,
                stop=self.stop,
            )
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)

    async def edit_inside(self, relative: str) -> None:
        """Write a file in the tree until the watcher has reloaded for it.

        Rewriting (rather than sleeping a guessed time first) makes this the readiness
        check too: the watcher registers its folders in the background."""
        before = self.loads
        target = self.repo / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        async with asyncio.timeout(20):
            n = 0
            while self.loads == before:
                n += 1
                target.write_text(f"edit {n}\n")
                await asyncio.sleep(0.5)
        await asyncio.sleep(0.6)  # longer than the debounce: the burst's reload is over

    async def settle(self) -> None:
        """Wait well past the debounce, so a reload for earlier writes would have happened."""
        await asyncio.sleep(1.5)


async def test_writes_through_a_symlink_out_of_the_tree_do_not_reload(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (repo / "dir_out").symlink_to(outside, target_is_directory=True)
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        loads = watcher.loads
        for n in range(5):
            (outside / f"file-{n}.md").write_text("outside\n")
            (outside / "deep" / f"file-{n}.md").write_text("outside\n")
        await watcher.settle()
        assert watcher.loads == loads
        await watcher.edit_inside("src/after.py")  # and the watcher still works
        assert watcher.loads == loads + 1


async def test_a_log_in_an_ancestor_reached_through_a_symlink_does_not_reload(
    tmp_path: Path,
) -> None:
    ancestor = tmp_path / "ancestor"
    repo = make_repo(ancestor / "parent" / "repo")
    (repo / "dir_up").symlink_to("../..", target_is_directory=True)
    log_file = ancestor / "bot.log"
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        loads = watcher.loads
        with log_file.open("a") as lines:
            for n in range(20):
                lines.write(f'{{"event": "line {n}"}}\n')
                lines.flush()
                await asyncio.sleep(0.05)
        await watcher.settle()
        assert watcher.loads == loads


async def test_a_new_source_file_reloads_a_repository_without_knowledge(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "main.py").write_text("print('hi')\n")
    async with Reloads(repo) as watcher:
        assert "src/main.py" in watcher.knowledge.inventory
        await watcher.edit_inside("src/added.py")
        assert "src/added.py" in watcher.knowledge.inventory
        listed = [e.path for e in watcher.knowledge.listing("src").entries]
        assert listed == ["src/added.py", "src/main.py"]


async def test_a_folder_created_after_start_is_watched(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        (repo / "late" / "deeper").mkdir(parents=True)
        await watcher.settle()
        loads = watcher.loads
        await watcher.edit_inside("late/deeper/new.py")
        assert watcher.loads > loads


async def test_a_repository_inside_a_folder_named_like_an_ignored_one_is_watched(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "build" / "repo")  # "build" is skipped inside the tree only
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        assert watcher.loads == 1


async def test_ignored_folders_inside_the_tree_do_not_reload(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "node_modules" / "pkg").mkdir(parents=True)
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        loads = watcher.loads
        (repo / "node_modules" / "pkg" / "index.js").write_text("x\n")
        await watcher.settle()
        assert watcher.loads == loads


def test_only_a_folder_added_or_removed_lists_the_folders_again(tmp_path: Path) -> None:
    """Listing the folders walks the whole tree (a second at 100k files): a new or
    removed file does not pay it, a new, renamed or removed folder does."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "new.py").write_text("x = 1\n")
    (tmp_path / "made").mkdir()
    folders = frozenset({str(tmp_path), str(tmp_path / "src"), str(tmp_path / "gone")})
    added, deleted = watch.watchfiles.Change.added, watch.watchfiles.Change.deleted
    modified = watch.watchfiles.Change.modified
    moves = watch._may_move_folders
    assert not moves({(added, str(tmp_path / "src" / "new.py"))}, folders)
    assert not moves({(deleted, str(tmp_path / "src" / "old.py"))}, folders)
    assert not moves({(modified, str(tmp_path / "src"))}, folders)
    assert moves({(added, str(tmp_path / "made"))}, folders)
    assert moves({(deleted, str(tmp_path / "gone"))}, folders)


async def test_the_watches_are_set_up_in_a_process_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`watchfiles` registers its watches holding the GIL (1.13 s at 100,000 files): the
    serving process never builds one (here it would raise), its child does, and edits
    are still reloaded."""

    def not_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("watchfiles.watch ran in the serving process")

    monkeypatch.setattr(watch.watchfiles, "watch", not_here)
    repo = make_repo(tmp_path / "repo")
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/one.py")
        assert watcher.loads == 1


async def test_a_watcher_whose_process_ends_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Live reload is no reason to stop serving: killed, the watcher's process is started
    again (after WATCHER_RETRY_S), with a catch-up reload for what it may have missed."""
    monkeypatch.setattr(watch, "WATCHER_RETRY_S", 0.2)
    started: list[subprocess.Popen[bytes]] = []
    start = watch._ChildWatch._start

    def recorded(self: watch._ChildWatch) -> subprocess.Popen[bytes]:
        started.append(start(self))
        return started[-1]

    monkeypatch.setattr(watch._ChildWatch, "_start", recorded)
    repo = make_repo(tmp_path / "repo")
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/one.py")
        loads = watcher.loads
        started[0].kill()
        async with asyncio.timeout(10):
            while watcher.loads == loads:  # noqa: ASYNC110 - the catch-up reload
                await asyncio.sleep(0.05)
        assert len(started) == 2
        await watcher.edit_inside("src/two.py")
    assert all(process.poll() is not None for process in started)


async def test_an_edit_in_a_folder_watchfiles_would_filter_out_reloads(tmp_path: Path) -> None:
    """The serving process's filter is the rule (`_entries_of`): the child passes no
    filter of its own, whose default drops `.idea/`, `*~` and more."""
    repo = make_repo(tmp_path / "repo")
    (repo / ".idea").mkdir()
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/ready.py")
        loads = watcher.loads
        await watcher.edit_inside(".idea/workspace.xml")
        assert watcher.loads == loads + 1


async def test_the_watcher_runs_no_module_of_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m` puts the working folder first on the path: a served repository's
    `json.py`, there, must not run in the watcher's process."""
    repo = make_repo(tmp_path / "repo")
    (repo / "json.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(repo)
    async with Reloads(repo) as watcher:
        await watcher.edit_inside("src/one.py")
        assert watcher.loads == 1


def child_writing(monkeypatch: pytest.MonkeyPatch, script: str) -> watch._ChildWatch:
    """A `_ChildWatch` whose process is `python -c script` (its output as the watcher's)."""

    def start(self: watch._ChildWatch) -> subprocess.Popen[bytes]:
        self._process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        return self._process

    monkeypatch.setattr(watch._ChildWatch, "_start", start)
    return watch._ChildWatch(frozenset({"/w"}), watch._Halt(None))


def test_lines_that_came_together_are_each_answered_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two steps in one read: the second is answered from what was read, not after the
    next write (`select` cannot see a reader's buffer)."""
    child = child_writing(
        monkeypatch,
        "import sys, time; sys.stdout.write('[]\\n[[1, \"/w/a.py\"]]\\n'); sys.stdout.flush();"
        " time.sleep(30)",
    )
    threading.Timer(5, child._halt.halted.set).start()  # a hang ends as StopIteration
    try:
        assert next(child) == set()
        assert next(child) == {(watch.watchfiles.Change.added, "/w/a.py")}
    finally:
        child._halt.halted.set()
        child.close()


def test_a_pipe_numbered_past_1024_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """`select` refuses a descriptor of 1024 or more: a test worker holding ~1,000 files
    (sqlite connections of past snapshots awaiting the cycle collector) had every watcher
    end on a ValueError and each real-watcher test time out."""
    script = "import time; print('[[1, \"/w/a.py\"]]', flush=True); time.sleep(30)"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1100, hard), hard))

    def start(self: watch._ChildWatch) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        high = fcntl.fcntl(process.stdout.fileno(), fcntl.F_DUPFD_CLOEXEC, 1030)
        process.stdout.close()
        process.stdout = os.fdopen(high, "rb")
        self._process = process
        return process

    monkeypatch.setattr(watch._ChildWatch, "_start", start)
    child = watch._ChildWatch(frozenset({"/w"}), watch._Halt(None))
    try:
        assert next(child) == {(watch.watchfiles.Change.added, "/w/a.py")}
    finally:
        child.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    ("script", "raised"),
    [
        ("import sys; sys.stdout.write('[[1, \"/w/a'); sys.stdout.flush()", watch.WatcherEnded),
        ("raise SystemExit(4)", watch.WatcherEnded),
        ('print(\'{"error": "not_found"}\', flush=True)', FileNotFoundError),
    ],
)
def test_a_failed_watcher_process_is_closed_and_said(
    monkeypatch: pytest.MonkeyPatch, script: str, raised: type[Exception]
) -> None:
    """A line cut short, an early exit, a folder gone: each raises what `watch_knowledge`
    handles, with the process already closed (no zombie, no open pipe)."""
    child = child_writing(monkeypatch, script)
    with pytest.raises(raised):
        next(child)
    assert child._process is None


async def test_an_edit_made_before_the_watcher_is_registered_is_reloaded(tmp_path: Path) -> None:
    """The snapshot is read before any watcher exists (a first index of a large repository
    takes minutes): an edit made meanwhile is found once the watcher is registered
    (`patching.changed_since`) and patched in, with no further change to the file."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "app.py").write_text("def old_name():\n    return 1\n")
    (repo / "src" / "other.py").write_text("X = 1\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    cache = tmp_path / "cache"
    served = {"now": load_knowledge(repo / "knowledge", repo, cache_dir=cache)}
    (repo / "src" / "app.py").write_text("def new_and_longer_name():\n    return 2\n")
    told: list[frozenset[str] | None] = []

    def patch(previous: Knowledge, paths: frozenset[str] | None) -> Knowledge:
        told.append(paths)
        return reload_knowledge(previous, paths, repo / "knowledge", repo, cache_dir=cache)

    found = asyncio.Event()

    async def on_change(fresh: Knowledge, change: dict[str, object]) -> None:
        del change
        served["now"] = fresh
        if fresh.symbols.find("new_and_longer_name", limit=1):
            found.set()

    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_knowledge(
            [repo / "knowledge", repo],
            lambda: served["now"],
            lambda: load_knowledge(repo / "knowledge", repo, cache_dir=cache),
            on_change,
            stop=stop,
            patch=patch,
            missed=lambda previous: changed_since(previous, RepoFiles(repo)),
        )
    )
    try:
        await asyncio.wait_for(found.wait(), 20)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert told == [frozenset({str(repo / "src" / "app.py")})]


async def test_a_failed_check_for_missed_edits_reloads_in_full_and_keeps_watching(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    served = {"now": load_knowledge(repo / "knowledge", repo)}
    loads: list[frozenset[str] | None] = []
    reloaded = asyncio.Event()

    def patch(previous: Knowledge, paths: frozenset[str] | None) -> Knowledge:
        loads.append(paths)
        reloaded.set()
        return load_knowledge(repo / "knowledge", repo)

    def missed(previous: Knowledge) -> frozenset[str] | None:
        raise RuntimeError("git went away")

    async def on_change(fresh: Knowledge, change: dict[str, object]) -> None:
        served["now"] = fresh

    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_knowledge(
            [repo / "knowledge", repo],
            lambda: served["now"],
            lambda: load_knowledge(repo / "knowledge", repo),
            on_change,
            stop=stop,
            patch=patch,
            missed=missed,
        )
    )
    try:
        await asyncio.wait_for(reloaded.wait(), 20)  # the catch-up, paths unknown
        assert loads == [None]
        reloaded.clear()
        (repo / "later.txt").write_text("an edit once watching\n")
        await asyncio.wait_for(reloaded.wait(), 20)
        assert loads[-1] == frozenset({str(repo / "later.txt")})
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

"""The index cache (`store.py`, `indexing.py`): a restart reads nothing that did not change,
a changed file is read alone, and a broken or unusable cache never fails a load."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
from pathlib import Path

import pytest
import structlog

from context_bot.knowledge import indexing
from context_bot.knowledge import store as store_mod
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.store import (
    DB_NAME,
    LINES_EVERY,
    SPAN_BYTES,
    WORD_RUN,
    HeldTexts,
    IndexStore,
    cache_folder,
    default_cache_base,
    pack_lines,
    unpack_lines,
    unpack_runs,
)
from tests.gitrepo import git

FILES = {
    "README.md": "# Demo\n\nA small library that greets people.\n",
    "pyproject.toml": '[project]\nname = "demo"\n[project.scripts]\ndemo = "demo.cli:main"\n',
    "demo/__init__.py": "from demo.greeter import Greeter\n",
    "demo/greeter.py": (
        "class Greeter:\n"
        '    """Says hello."""\n\n'
        "    def greet(self, name: str) -> str:\n"
        '        return f"hello {name}"\n'
    ),
    "demo/cli.py": "from demo.greeter import Greeter\n\n\ndef main() -> None:\n"
    '    print(Greeter().greet("you"))\n',
    "web/app.ts": "import { helper } from './util'\nexport function start(): void { helper() }\n",
    "web/util.ts": "export function helper(): number { return 42 }\n",
    "notes/todo.txt": "remember the milk\n",
}


def make_repo(root: Path, *, with_git: bool = True) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (root / "big.py").write_text("x = 1\n" * 60_000)  # 360 KB: over the contents cap
    if with_git:
        git(root, "init", "-q")
        git(root, "add", "-A")
        git(root, "commit", "-qm", "first")
    return root


def load(root: Path, cache: Path | None) -> Knowledge:
    return load_knowledge(root / "knowledge", root, cache_dir=cache)


def answers(k: Knowledge) -> tuple[object, ...]:
    """Everything a load serves from the files' index, with the version taken out."""
    found = tuple(
        tuple(h.to_wire() for h in k.search(q))
        for q in ("greet", "Greeter", "helper", "milk", "big", "logo")
    )
    symbols = tuple((s.name, s.kind, s.path, s.line) for s in k.symbols.symbols)
    refs = k.symbols.references("Greeter")
    return found, symbols, refs, k.overview.replace(k.version, "V"), k.symbols.skipped


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return make_repo(root)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the indexer reads, through its reading seam."""
    seen: list[str] = []
    real = indexing.read_indexable

    def counting(files, path, max_bytes):  # type: ignore[no-untyped-def]
        seen.append(path)
        return real(files, path, max_bytes)

    monkeypatch.setattr(indexing, "read_indexable", counting)
    return seen


def test_a_restart_reads_no_file_and_serves_the_same(
    repo: Path, tmp_path: Path, reads: list[str]
) -> None:
    cache = tmp_path / "cache"
    memory = load(repo, None)
    first = load(repo, cache)
    read_first = sorted(reads)
    reads.clear()
    again = load(repo, cache)

    # Every text file under the served cap, once: big.py for `grep` (over search's cap).
    assert read_first == sorted([*FILES, "big.py"])
    assert reads == []
    assert again.index_stats == {"files_read": 0, "files_reused": len(memory.inventory)}
    assert answers(memory) == answers(first) == answers(again)
    assert first.version == again.version
    assert [h.path for h in again.search("Greeter")][:1] == ["demo/greeter.py"]
    assert again.symbols.skipped == {"too_large": 1}  # big.py, kept as a reason


def test_the_cache_lives_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    before = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*"))
    cache = tmp_path / "cache"
    load(repo, cache)

    assert sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*")) == before
    assert (cache_folder(cache, repo) / DB_NAME).is_file()
    other = tmp_path / "other"
    other.mkdir()
    assert cache_folder(cache, other) != cache_folder(cache, repo)


def test_a_changed_file_is_read_alone_and_searchable(
    repo: Path, tmp_path: Path, reads: list[str]
) -> None:
    cache = tmp_path / "cache"
    load(repo, cache)
    reads.clear()
    (repo / "demo/greeter.py").write_text(
        "class Greeter:\n    def wave(self) -> str:\n        return 'zanzibar'\n"
    )
    fresh = load(repo, cache)

    assert reads == ["demo/greeter.py"]
    assert fresh.index_stats["files_read"] == 1
    assert [h.path for h in fresh.search("zanzibar")] == ["demo/greeter.py"]
    assert "wave" in {s.name for s in fresh.symbols.symbols}
    assert "greet" not in {s.name for s in fresh.symbols.symbols if s.path == "demo/greeter.py"}
    assert answers(fresh) == answers(load(repo, None))


def test_an_edit_that_keeps_the_size_is_a_new_version(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    before = load(repo, cache)
    path = repo / "notes/todo.txt"
    stat = path.stat()
    path.write_text("remember the eggs\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert path.stat().st_size == stat.st_size
    after = load(repo, cache)

    assert after.version != before.version
    assert [h.path for h in after.search("eggs")] == ["notes/todo.txt"]
    assert after.search("milk") == []


def test_a_removed_file_leaves_the_index(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(repo, cache)
    (repo / "notes/todo.txt").unlink()
    fresh = load(repo, cache)

    assert fresh.search("milk") == []
    store = IndexStore.open(cache_folder(cache, repo))
    assert store is not None
    try:
        assert "notes/todo.txt" not in store.known()
        assert "demo/greeter.py" in store.known()
    finally:
        store.close()


def test_a_file_changed_while_indexing_is_read_again_next_time(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inventory's stat is taken before the read: a file written in between is stored
    under the older stat, so the next load sees it moved and reads it again."""
    cache = tmp_path / "cache"
    real = indexing.read_indexable
    target = repo / "web/util.ts"

    def racing(files, path, max_bytes):  # type: ignore[no-untyped-def]
        if path == "web/util.ts":
            target.write_text("export function helper(): number { return 43 } // quokka\n")
            old = target.stat()
            os.utime(target, ns=(old.st_atime_ns, old.st_mtime_ns + 5_000_000))
        return real(files, path, max_bytes)

    monkeypatch.setattr(indexing, "read_indexable", racing)
    load(repo, cache)
    monkeypatch.setattr(indexing, "read_indexable", real)
    target.write_text("export function helper(): number { return 44 } // wombat\n")
    fresh = load(repo, cache)

    assert fresh.index_stats["files_read"] == 1
    assert [h.path for h in fresh.search("wombat")] == ["web/util.ts"]
    assert fresh.search("quokka") == []


def test_a_corrupt_cache_is_rebuilt(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(repo, cache)
    db = cache_folder(cache, repo) / DB_NAME
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(b"this is no database" * 500)
    with structlog.testing.capture_logs() as logs:
        fresh = load(repo, cache)

    assert "index_cache_rebuilt" in [e["event"] for e in logs]
    assert fresh.index_stats["files_reused"] == 0
    assert answers(fresh) == answers(load(repo, None))
    assert load(repo, cache).index_stats["files_read"] == 0  # and it serves again


def test_a_cache_of_another_schema_is_rebuilt(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load(repo, cache)
    db = sqlite3.connect(cache_folder(cache, repo) / DB_NAME)
    with db:
        db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    db.close()
    with structlog.testing.capture_logs() as logs:
        fresh = load(repo, cache)

    assert "index_cache_rebuilt" in [e["event"] for e in logs]
    assert fresh.index_stats["files_reused"] == 0


def test_an_unusable_cache_folder_indexes_in_memory_and_says_so_once(
    repo: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with structlog.testing.capture_logs() as logs:
        first = load(repo, blocker)
        second = load(repo, blocker)

    warnings = [e for e in logs if e["event"] == "index_cache_unusable"]
    assert len(warnings) == 1
    assert "CONTEXT_BOT_CACHE_DIR" in warnings[0]["hint"]
    assert first.index_stats["files_reused"] == second.index_stats["files_reused"] == 0
    assert answers(second) == answers(load(repo, None))


def test_without_git_the_cache_serves_the_same(tmp_path: Path, reads: list[str]) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    make_repo(root, with_git=False)
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored/secret_words.py").write_text("tapioca = 1\n")
    cache = tmp_path / "cache"
    load(root, cache)
    reads.clear()
    again = load(root, cache)

    assert reads == []
    assert again.search("tapioca") == []
    assert answers(again) == answers(load(root, None))


def test_the_default_cache_base_follows_xdg(tmp_path: Path) -> None:
    explicit = {"CONTEXT_BOT_CACHE_DIR": str(tmp_path / "mine"), "XDG_CACHE_HOME": "/x"}
    assert default_cache_base(explicit) == tmp_path / "mine"  # the setting's variable wins
    assert default_cache_base({"XDG_CACHE_HOME": str(tmp_path)}) == (
        tmp_path / "context-bot" / "index"
    )
    assert default_cache_base({"XDG_CACHE_HOME": "relative"}).parts[-3:] == (
        ".cache",
        "context-bot",
        "index",
    )


def test_a_restart_loads_the_symbol_index_whole_and_overlays_the_files_changed_since(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart after a few edits (made while the bot was down) overlays them on the
    last assembled index rather than assemble every file's symbols again; past
    MAX_RESTART_OVERLAY files it assembles a new one, which the next restart starts from."""
    cache = tmp_path / "cache"
    assembled: list[int] = []
    real = indexing.assemble_symbols

    def counting(files, table=None):  # type: ignore[no-untyped-def]
        index = real(files, table)
        assembled.append(len(index))
        return index

    monkeypatch.setattr(indexing, "assemble_symbols", counting)
    first = load(repo, cache)
    again = load(repo, cache)
    assert len(assembled) == 1
    assert answers(again) == answers(first)
    (repo / "web/util.ts").write_text("export function helper2(): number { return 1 }\n")
    changed = load(repo, cache)

    assert len(assembled) == 1  # overlaid on the first
    assert "helper2" in {s.name for s in changed.symbols.symbols}
    assert answers(changed) == answers(load(repo, None))
    (repo / "web/util.ts").unlink()
    (repo / "demo/extra.py").write_text("def extra_two():\n    return 2\n")
    assert answers(load(repo, cache)) == answers(load(repo, None))
    assert len(assembled) == 1

    monkeypatch.setattr(indexing, "MAX_RESTART_OVERLAY", 1)
    (repo / "demo/third.py").write_text("class Third:\n    pass\n")
    many = load(repo, cache)
    assert len(assembled) == 2  # three files changed since the first: a new base
    assert answers(many) == answers(load(repo, None))
    (repo / "demo/third.py").write_text("class Third:\n    size = 1\n")
    assert answers(load(repo, cache)) == answers(load(repo, None))
    assert len(assembled) == 2  # one file changed since the new base


def test_files_over_the_total_cap_are_not_read_again_on_restart(
    repo: Path, tmp_path: Path, reads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the total of contents `search` indexes, files are found by path only; an
    unchanged one is not read again at the next load."""
    monkeypatch.setattr(indexing, "MAX_INDEXED_CODE_BYTES", 200)
    cache = tmp_path / "cache"
    real = indexing.index_files

    def capped(*args, **kwargs):  # type: ignore[no-untyped-def]
        return real(*args, **{**kwargs, "max_total": 200})

    import context_bot.knowledge.loading as loading_mod

    monkeypatch.setattr(loading_mod, "index_files", capped)
    first = load(repo, cache)
    assert first.index_stats["files_read"] > 0
    reads.clear()
    again = load(repo, cache)

    assert reads == []
    assert again.index_stats["files_read"] == 0
    assert answers(again) == answers(first)


def test_symbols_cover_the_files_past_the_search_total(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the total of contents `search` indexes, a file is still parsed for symbols
    (the text read for `grep`); a file over the symbols' own size cap is counted."""
    import context_bot.knowledge.loading as loading_mod

    real = indexing.index_files

    def capped(*args, **kwargs):  # type: ignore[no-untyped-def]
        return real(*args, **{**kwargs, "max_total": 60})

    monkeypatch.setattr(indexing, "MAX_INDEXED_CODE_BYTES", 60)
    monkeypatch.setattr(loading_mod, "index_files", capped)
    k = load(repo, tmp_path / "cache")

    db = sqlite3.connect(cache_folder(tmp_path / "cache", repo) / DB_NAME)
    past = {p for (p,) in db.execute("SELECT path FROM files WHERE skipped = 'over_total'")}
    db.close()
    assert {"demo/greeter.py", "web/util.ts"} <= past
    names = {(s.path, s.name) for s in k.symbols.symbols}
    assert {("demo/greeter.py", "Greeter"), ("web/util.ts", "helper")} <= names
    assert k.symbols.find("greet")[0].symbol.path == "demo/greeter.py"
    assert k.symbols.references("Greeter")[1] == 3  # demo/__init__.py, demo/cli.py twice
    assert k.symbols.skipped.get("too_large") == 1  # big.py, 360 KB
    again = load(repo, tmp_path / "cache")
    assert {(s.path, s.name) for s in again.symbols.symbols} == names


def test_symbol_details_and_uses_live_in_one_table_file_per_index(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each index writes its definitions' details and its names' uses to a file of its
    own; the next index deletes it, and the one still serving (a reload in progress)
    keeps answering from its open file. A missing file is rebuilt, not an error."""
    monkeypatch.setattr(indexing, "MAX_RESTART_OVERLAY", 0)  # each change: a new index
    cache = tmp_path / "cache"
    first = load(repo, cache)
    folder = cache_folder(cache, repo)
    tables = sorted(folder.glob("symbols-*.sqlite3"))
    assert len(tables) == 1
    (repo / "web/util.ts").write_text("export function helper2(): number { return 1 }\n")
    second = load(repo, cache)

    assert sorted(folder.glob("symbols-*.sqlite3")) != tables
    assert len(list(folder.glob("symbols-*.sqlite3"))) == 1
    assert not tables[0].exists()
    assert first.symbols.find("helper")[0].symbol.path == "web/util.ts"  # its own file
    assert first.symbols.references("Greeter")[1] == 3
    assert second.symbols.find("helper2")[0].symbol.signature == "function helper2(): number"
    for table in folder.glob("symbols-*.sqlite3"):
        table.unlink()
    again = load(repo, cache)
    assert answers(again) == answers(second)


def test_which_rows_hold_a_text_is_kept_up_to_date_beside_the_table(
    repo: Path, tmp_path: Path
) -> None:
    """`IndexStore.texts` answers from a blob that each write brings up to date (a scan of
    the table reads every text); after adds, edits, deletes, a folding character and a
    long run of word characters it is what a scan finds, and without the blob the scan
    answers and keeps it again."""
    cache = tmp_path / "cache"
    folder = cache_folder(cache, repo)

    def scanned() -> HeldTexts:
        db = sqlite3.connect(folder / DB_NAME)
        rows = db.execute("SELECT id, folds, runs FROM texts").fetchall()
        db.close()
        runs = {r: unpack_runs(spans) for r, _, spans in rows if spans is not None}
        return HeldTexts({r for r, _, _ in rows}, {r for r, f, _ in rows if f}, runs)

    def kept() -> HeldTexts:
        store = IndexStore.open(folder)
        assert store is not None
        try:
            return store.texts()
        finally:
            store.close()

    load(repo, cache)
    assert kept() == scanned()
    (repo / "demo/kelvin.py").write_text("TEMPERATURE = '300\u212a'\n")
    (repo / "web/util.ts").unlink()
    (repo / "notes/todo.txt").write_text("remember the milk and the \u017fugar\n")
    run = "x" * (WORD_RUN + 1)
    (repo / "notes/hash.txt").write_text("a\n" * (SPAN_BYTES // 2) + f"sha {run} end\n")
    load(repo, cache)
    texts = kept()
    assert texts == scanned() and len(texts.folds) == 2
    assert list(texts.runs.values()) == [(1,)]  # the run starts in the second span
    (repo / "demo/kelvin.py").write_text("TEMPERATURE = '300K'\n")
    (repo / "notes/hash.txt").write_text(f"sha {run[1:]} end\n")
    load(repo, cache)
    assert kept() == scanned() and len(kept().folds) == 1 and not kept().runs
    db = sqlite3.connect(folder / DB_NAME)
    with db:
        db.execute("DELETE FROM blobs WHERE key='texts-rows'")
    db.close()
    assert kept() == scanned()
    assert answers(load(repo, cache)) == answers(load(repo, tmp_path / "empty"))


def test_the_facts_of_every_file_are_read_from_a_covering_index(repo: Path, tmp_path: Path) -> None:
    """`known` runs at every load: it reads an index of the facts alone, not the rows with
    their symbols; a cache made before the index gets it when opened."""
    cache = tmp_path / "cache"
    first = load(repo, cache)
    folder = cache_folder(cache, repo)
    db = sqlite3.connect(folder / DB_NAME)
    with db:
        db.execute("DROP INDEX files_facts")
    db.close()
    store = IndexStore.open(folder)
    assert store is not None
    plan = store._db.execute(
        "EXPLAIN QUERY PLAN SELECT path, id, size, mtime_ns, language, binary, skipped, "
        "digest, excerpt FROM files"
    ).fetchall()
    assert "COVERING INDEX files_facts" in str(plan)
    assert set(store.known()) == {f.path for f in first.inventory.files}
    store.close()
    assert answers(load(repo, cache)) == answers(first)


def test_an_older_schemas_cache_is_reported_with_its_size_and_kept(
    repo: Path, tmp_path: Path
) -> None:
    from context_bot.knowledge.store import SCHEMA_VERSION

    cache = tmp_path / "cache"
    older = cache_folder(cache, repo, schema=SCHEMA_VERSION - 1)
    older.mkdir(parents=True)
    (older / DB_NAME).write_bytes(b"\0" * (3 << 20))
    other_repo = cache_folder(cache, tmp_path, schema=SCHEMA_VERSION - 1)
    other_repo.mkdir()
    with structlog.testing.capture_logs() as logs:
        load(repo, cache)
    reported = [e for e in logs if e["event"] == "index_cache_superseded"]
    assert reported == [
        {
            "event": "index_cache_superseded",
            "log_level": "info",
            "folder": str(older),
            "schema": SCHEMA_VERSION - 1,
            "mb": 3,
        }
    ]
    assert (older / DB_NAME).exists()  # a process of the older version may still read it


def merging(cache: Path) -> dict[tuple[str, str], int]:
    """The span indexes' merge settings as each table's config keeps them."""
    (db_path,) = cache.glob(f"*/{DB_NAME}")
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return {
            (table, key): value
            for table in ("cspans", "fspans")
            for key, value in db.execute(f"SELECT k, v FROM {table}_config")  # noqa: S608
            if key in ("automerge", "crisismerge")
        }


def test_a_large_load_merges_the_trigram_indexes_once_and_leaves_fts5_s_own_merging(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past OPTIMIZE_ROWS files a load writes without FTS5's merging and merges once at
    its end; after it (and after a load stopped half-way, at the next write) the tables
    merge as FTS5 does by itself, for a live reload's few rows."""
    cache = tmp_path / "cache"
    monkeypatch.setattr(store_mod, "OPTIMIZE_ROWS", 3)
    seen: list[dict[tuple[str, str], int]] = []
    real = store_mod.IndexStore.texts_ready

    def ready(self: store_mod.IndexStore, written: int) -> None:
        seen.append(merging(cache))  # as the load wrote
        real(self, written)

    monkeypatch.setattr(store_mod.IndexStore, "texts_ready", ready)
    first = load(repo, cache)
    steady = {(t, k): v for t in ("cspans", "fspans") for k, v in store_mod.STEADY_MERGING}
    bulk = {(t, k): v for t in ("cspans", "fspans") for k, v in store_mod.BULK_MERGING}
    assert seen == [bulk]
    assert merging(cache) == steady
    assert answers(first) == answers(load(repo, None))

    (repo / "demo/cli.py").write_text("def main() -> None:\n    print('again')\n")
    seen.clear()
    load(repo, cache)  # one file: FTS5's own merging
    assert seen == [steady]
    assert merging(cache) == steady


def test_the_pages_a_large_load_s_merge_frees_are_given_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load merges its many segments once at its end; the pages they took are given
    back to the file system, not left free inside the cache."""
    rng = random.Random(11)  # noqa: S311 - a fixed draw of test texts
    words = ["".join(rng.choice("abcdefghijklmnop") for _ in range(7)) for _ in range(4000)]
    root = tmp_path / "repo"
    root.mkdir()
    for n in range(40):
        (root / f"m{n}.py").write_text(" ".join(rng.choice(words) for _ in range(3000)))
    monkeypatch.setattr(store_mod, "OPTIMIZE_ROWS", 3)
    monkeypatch.setattr(store_mod, "COMMIT_ROWS", 2)  # a segment per two files
    free: list[int] = []
    real = store_mod.IndexStore.texts_ready

    def ready(self: store_mod.IndexStore, written: int) -> None:
        real(self, written)
        free.append(self._db.execute("PRAGMA freelist_count").fetchone()[0])

    monkeypatch.setattr(store_mod.IndexStore, "texts_ready", ready)
    load(root, tmp_path / "cache")
    assert free == [0]


@pytest.mark.parametrize(
    "size",
    [0, 1, LINES_EVERY - 1, LINES_EVERY, LINES_EVERY + 1, 5 * LINES_EVERY, 9 * LINES_EVERY + 7],
)
def test_a_texts_line_counts_are_those_before_each_place(size: int) -> None:
    """`texts.lines` read back is the number of line ends before every LINES_EVERY bytes
    (the first place's 0), at and around those places; a value that does not fit the
    text is a damaged row (sqlite3.DatabaseError), never a wrong line number."""
    rng = random.Random(size)  # noqa: S311 - a fixed draw of test texts
    data = bytes(rng.choice(b"ab\n") for _ in range(size))
    places = max(1, -(-size // LINES_EVERY))
    wanted = tuple(data[: n * LINES_EVERY].count(b"\n") for n in range(places))
    packed = pack_lines(data)
    assert unpack_lines(packed, size) == wanted
    assert (packed is None) == (places == 1)
    for damaged in (b"\x01", (packed or b"") + b"\0\0\0\0"):
        with pytest.raises(sqlite3.DatabaseError):
            unpack_lines(damaged, size)

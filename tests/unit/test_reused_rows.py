"""A snapshot still serving while the next load writes the index cache never answers with
another file's text: a row number freed by a file that left the inventory may be given
to a new file (rows are planned half-way between neighbours, `textindex.plan_rows`), and
the older snapshot, which maps that row to the old path, reads the shared cache."""

from __future__ import annotations

from pathlib import Path

from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import connect
from context_bot.knowledge.textindex import TextIndex
from tests.gitrepo import git


def load(root: Path, cache: Path) -> Knowledge:
    return load_knowledge(root / "knowledge", root, cache_dir=cache)


def rows(k: Knowledge) -> dict[str, int]:
    index = k.inventory.text_index
    assert isinstance(index, TextIndex)
    return {path: row for row, path in index._paths.items()}


def test_a_row_given_to_a_new_file_is_not_read_as_the_old_one(tmp_path: Path) -> None:
    """`notes/m.txt` (untracked, so an ignore rule takes it out of the inventory while it
    stays on disk, unchanged) leaves; `notes/n.txt` comes in between the same neighbours
    and takes its row. The old snapshot, still serving, must not find n's words in m
    (it may miss m's own: the cache no longer holds them, and m is leaving)."""
    root = tmp_path / "repo"
    (root / "notes").mkdir(parents=True)
    (root / "notes/a.txt").write_text("first neighbour\n")
    (root / "notes/z.txt").write_text("last neighbour\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    (root / "notes/m.txt").write_text("the middle file, kept as it is\n")
    cache = tmp_path / "cache"
    old = load(root, cache)
    assert "notes/m.txt" in old.inventory

    (root / ".gitignore").write_text("notes/m.txt\n")
    (root / "notes/n.txt").write_text("brand new words: zebrafish quokka\n")
    new = load(root, cache)
    assert "notes/m.txt" not in new.inventory
    assert rows(new)["notes/n.txt"] == rows(old)["notes/m.txt"]  # the row was given again

    engine = Grep(RepoFiles(root))
    found = engine.search(old.inventory, GrepQuery("zebrafish"))
    assert [m.path for m in found.matches] == []  # the old snapshot does not list n.txt
    assert [h.path for h in old.search("quokka")] == []
    assert [
        (m.path, m.line) for m in engine.search(new.inventory, GrepQuery("zebrafish")).matches
    ] == [("notes/n.txt", 1)]
    assert [h.path for h in new.search("quokka")] == ["notes/n.txt"]


def test_a_ranked_row_given_to_a_new_file_is_not_a_hit_of_the_old_path(tmp_path: Path) -> None:
    """Search ranks the shared cache's rows and names them by the snapshot's paths: `m`
    deleted and `n` added (taking m's row), then `m` written again before the next
    reload. The snapshot from before names no `m` hit for a word only `n` holds."""
    root = tmp_path / "repo"
    (root / "notes").mkdir(parents=True)
    (root / "notes/a.txt").write_text("first neighbour\n")
    (root / "notes/z.txt").write_text("last neighbour\n")
    (root / "notes/m.txt").write_text("the middle file\n")
    cache = tmp_path / "cache"
    old = load(root, cache)
    (root / "notes/m.txt").unlink()
    (root / "notes/n.txt").write_text("brand new words: zebrafish quokka\n")
    new = load(root, cache)
    assert rows(new)["notes/n.txt"] == rows(old)["notes/m.txt"]
    (root / "notes/m.txt").write_text("the middle file\n")  # back, for the next reload
    assert [h.path for h in old.search("quokka")] == []
    assert [h.path for h in new.search("quokka")] == ["notes/n.txt"]


def test_a_read_transaction_holds_the_snapshot_its_owner_is_checked_in(tmp_path: Path) -> None:
    """`TextIndex._read_text` checks which file owns the row, then reads the text's rows,
    inside one BEGIN: what it relies on is that a load giving the row to another file
    between the check and the reads is seen by neither (WAL, as the index cache runs)."""
    path = tmp_path / "t.sqlite3"
    reader, writer = connect(path), connect(path)
    reader.execute("PRAGMA journal_mode=WAL")
    reader.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB, path TEXT)")
    reader.execute("INSERT INTO t VALUES (1, x'0102', 'old')")
    reader.commit()
    reader.execute("BEGIN")
    assert reader.execute("SELECT path FROM t WHERE id=1").fetchone() == ("old",)
    writer.execute("UPDATE t SET path='new', body=x'0304' WHERE id=1")
    writer.commit()
    assert reader.execute("SELECT body FROM t WHERE id=1").fetchone() == (b"\x01\x02",)
    reader.rollback()
    assert reader.execute("SELECT path FROM t WHERE id=1").fetchone() == ("new",)

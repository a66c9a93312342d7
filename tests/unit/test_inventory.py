"""The inventory: every file git (or, without git, the ignore rules) would show, described."""

from __future__ import annotations

import os
from concurrent.futures import Future
from pathlib import Path

import pytest

from context_bot.knowledge.inventory import build_inventory, git_listing, git_tracked
from context_bot.knowledge.sandbox import RepoFiles
from tests.gitrepo import git


def make_tree(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "core.py").write_text("def core():\n    return 1\n")
    (root / "src" / "pkg" / "notes.log").write_text("ignored by a nested .gitignore\n")
    (root / "src" / ".gitignore").write_text("*.log\n")
    (root / "web").mkdir()
    (root / "web" / "app.ts").write_text("export const a = 1;\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0binary")
    (root / "run").write_text("#!/usr/bin/env python3\nprint('hi')\n")
    (root / ".env").write_text("SECRET=never-listed\n")
    (root / "README.md").write_text("# Demo\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("generated\n")
    (root / ".gitignore").write_text("build/\n")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("outside the repository\n")
    return folder


@pytest.mark.parametrize("with_git", [True, False], ids=["git", "no-git"])
def test_lists_what_git_would_and_describes_each_file(
    tmp_path: Path, outside: Path, with_git: bool
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    make_tree(root)
    (root / "link-out").symlink_to(outside / "secret.txt")
    (root / "link-in.ts").symlink_to(root / "web" / "app.ts")
    if with_git:
        git(root, "init", "-q")
        git(root, "add", "src", "web", "README.md")  # the rest stays untracked
        (root / ".git" / "info" / "exclude").write_text("run-local\n")
        (root / "run-local").write_text("excluded by info/exclude\n")

    inventory = build_inventory(RepoFiles(root))

    paths = [f.path for f in inventory.files]
    assert inventory.source == ("git" if with_git else "walk")
    assert paths == sorted(paths)
    assert {"src/pkg/core.py", "web/app.ts", "logo.png", "run", "README.md"} <= set(paths)
    assert "src/pkg/notes.log" not in paths  # a nested .gitignore
    assert "build/out.js" not in paths  # an ignored folder
    assert ".env" not in paths  # the deny-list, whatever git says
    assert "link-out" not in paths  # leads out of the repository
    assert "link-in.ts" in paths  # leads to a file inside it
    assert not any(p.startswith(".git/") for p in paths)
    if with_git:
        assert "run-local" not in paths
    core = inventory.get("src/pkg/core.py")
    assert core is not None and core.language == "python" and not core.binary
    assert core.size == len("def core():\n    return 1\n")
    assert inventory.get("web/app.ts").language == "typescript"  # type: ignore[union-attr]
    assert inventory.get("run").language == "python"  # type: ignore[union-attr]  # shebang
    logo = inventory.get("logo.png")
    assert logo is not None and logo.binary and logo.language is None
    assert inventory.skipped.get("denied", 0) >= 1


def test_a_tracked_file_deleted_from_the_work_tree_is_counted_not_listed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "gone.py").write_text("x = 1\n")
    (root / "kept.py").write_text("y = 2\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    (root / "gone.py").unlink()

    inventory = build_inventory(RepoFiles(root))

    assert [f.path for f in inventory.files] == ["kept.py"]
    assert inventory.skipped == {"unreadable": 1}


def test_a_fifo_is_not_opened_and_the_limit_is_counted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    os.mkfifo(root / "pipe")
    for n in range(5):
        (root / f"f{n}.txt").write_text("text\n")

    inventory = build_inventory(RepoFiles(root), limit=3)

    assert len(inventory) == 3
    assert inventory.skipped == {"not_regular": 1, "over_limit": 2}


def test_a_tracked_file_an_ignore_rule_covers_is_left_out_as_the_sandbox_refuses_it(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".gitignore").write_text("*.gen\n")
    (root / "a.gen").write_text("generated, yet committed\n")
    (root / "b.py").write_text("b = 1\n")
    git(root, "init", "-q")
    git(root, "add", "-f", ".")

    files = RepoFiles(root)
    inventory = build_inventory(files)

    assert [f.path for f in inventory.files] == [".gitignore", "b.py"]
    assert inventory.skipped == {"ignored": 1}
    assert files.denied("a.gen")  # what a `file` request would say


class _Late(Future):  # type: ignore[type-arg]
    """git's whole listing, answered, but saying it is not done yet: every tracked file is
    described ahead of it (what a large repository's walk for untracked files allows)."""

    def done(self) -> bool:
        return False


@pytest.mark.parametrize("limit", [500_000, 3])
def test_tracked_files_described_while_git_lists_give_the_same_inventory(
    tmp_path: Path, limit: int
) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    git(root, "init", "-q")
    (root / "tracked_ignored.log").write_text("force-added\n")
    (root / "gone.py").write_text("x = 1\n")
    git(root, "add", "-A")
    git(root, "add", "-f", "tracked_ignored.log")
    git(root, "commit", "-qm", "first")
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "*.log\n")
    (root / "gone.py").unlink()
    (root / "untracked.py").write_text("y = 2\n")
    files = RepoFiles(root)
    plain = build_inventory(files, limit=limit)
    whole, ahead = _Late(), Future()  # type: ignore[var-annotated]
    whole.set_result(git_listing(root))
    ahead.set_result(git_tracked(root))
    early = build_inventory(files, limit=limit, listing=whole, tracked=ahead)
    assert early == plain
    assert early.left_out == plain.left_out
    assert "untracked.py" in plain or limit == 3
    assert plain.skipped.get("denied") and plain.skipped.get("ignored")

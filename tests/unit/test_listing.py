"""The listing over the whole tree: order, counts, depth, limits, and its cost at 100k files."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from context_bot.knowledge.documents import parse_document
from context_bot.knowledge.inventory import Inventory
from context_bot.knowledge.listing import ListingIndex, build_listing_index, patch_listing_index
from context_bot.knowledge.model import RepoFile, ServedDocument
from context_bot.protocol import MAX_PATH_DEPTH


def served(path: str, *, stale: bool = False, feature: str | None = None) -> ServedDocument:
    front = f"---\nfilePath: {path}\n" + (f"feature: {feature}\n" if feature else "") + "---\n"
    doc, _ = parse_document(f"{path}.md", (front + "## Purpose\nx\n").encode())
    assert doc is not None
    kind = "file"
    return ServedDocument(
        path, kind, doc.text, stale, None, None, None, None, doc.source, (), (), (), doc
    )


def free(name: str) -> ServedDocument:
    doc, _ = parse_document(name, b"# A guide\n\nText.\n")
    assert doc is not None
    return ServedDocument(
        name, "doc", doc.text, False, None, None, None, None, name, (), (), (), doc
    )


def files(*paths: str) -> list[RepoFile]:
    return [
        RepoFile(p, 10, "python" if p.endswith(".py") else None, p.endswith(".png")) for p in paths
    ]


@pytest.fixture
def tree() -> ListingIndex:
    inventory = files(
        "z.py",
        "a.py",
        "pkg/b.py",
        "pkg/sub/c.py",
        "pkg/sub/deeper/d.py",
        "pkg/a/e.py",
        "logo.png",
        "README.md",
    )
    docs = {
        "pkg/b.py": served("pkg/b.py", feature="core"),
        "pkg/sub/c.py": served("pkg/sub/c.py", stale=True),
        "pkg/gone.py": served("pkg/gone.py", stale=True),  # its file was deleted
    }
    guides = {"README.md": free("README.md"), "guides/setup.md": free("guides/setup.md")}
    return build_listing_index(inventory, docs, guides)


def rows(tree: ListingIndex, prefix: str = "", **kw: int) -> list[tuple[str, str]]:
    listing = tree.listing(prefix, **{"depth": 2, "limit": 200, **kw})
    return [(e.path, e.kind) for e in listing.entries]


def test_folders_come_first_at_every_level_then_files_by_name(tree: ListingIndex) -> None:
    assert rows(tree, depth=16) == [
        ("guides", "dir"),
        ("guides/setup.md", "doc"),
        ("pkg", "dir"),
        ("pkg/a", "dir"),
        ("pkg/a/e.py", "file"),
        ("pkg/sub", "dir"),
        ("pkg/sub/deeper", "dir"),
        ("pkg/sub/deeper/d.py", "file"),
        ("pkg/sub/c.py", "file"),
        ("pkg/b.py", "file"),
        ("pkg/gone.py", "file"),
        ("README.md", "file"),  # the repository's README before the guide of that name
        ("README.md", "doc"),
        ("a.py", "file"),
        ("logo.png", "file"),
        ("z.py", "file"),
    ]


def test_depth_stops_at_folders_and_total_counts_what_the_depth_holds(tree: ListingIndex) -> None:
    one = tree.listing("", depth=1, limit=200)
    assert [e.path for e in one.entries] == [
        "guides", "pkg", "README.md", "README.md", "a.py", "logo.png", "z.py",
    ]  # fmt: skip
    assert (one.total, one.truncated) == (7, False)
    two = tree.listing("pkg", depth=1, limit=200)
    assert [e.path for e in two.entries] == ["pkg/a", "pkg/sub", "pkg/b.py", "pkg/gone.py"]
    assert tree.listing("", depth=2, limit=200).total == 12
    assert tree.listing("", depth=16, limit=200).total == 16
    capped = tree.listing("", depth=16, limit=3)
    assert [e.path for e in capped.entries] == ["guides", "guides/setup.md", "pkg"]
    assert (capped.total, capped.truncated) == (16, True)


def test_counts_of_folders_files_and_the_prefix(tree: ListingIndex) -> None:
    wire = {e.path: e.to_wire() for e in tree.listing("", depth=16, limit=200).entries}
    # pkg: four files in the repository (gone.py is not), two of them documented;
    # three documents (gone.py's too).
    assert wire["pkg"] == {
        "path": "pkg",
        "kind": "dir",
        "documents": 3,
        "files": 4,
        "documented": 2,
    }
    assert wire["pkg/sub"] == {
        "path": "pkg/sub", "kind": "dir", "documents": 1, "files": 2, "documented": 1,
    }  # fmt: skip
    assert wire["pkg/b.py"] == {
        "path": "pkg/b.py",
        "kind": "file",
        "stale": False,
        "feature": "core",
        "documented": True,
        "size": 10,
        "language": "python",
        "binary": False,
    }
    assert wire["pkg/gone.py"]["size"] is None and wire["pkg/gone.py"]["stale"] is True
    assert wire["logo.png"]["binary"] is True and wire["logo.png"]["documented"] is False
    assert wire["a.py"]["stale"] is None
    assert wire["guides/setup.md"] == {
        "path": "guides/setup.md", "kind": "doc", "stale": False, "feature": None,
    }  # fmt: skip
    root = tree.listing("", depth=1, limit=1)
    assert (root.files, root.documented) == (8, 2)
    assert tree.root.documents == 5
    pkg = tree.listing("pkg/", depth=1, limit=1).to_wire()
    assert (pkg["prefix"], pkg["files"], pkg["documented"]) == ("pkg", 4, 2)


def test_a_prefix_naming_a_file_lists_that_file_and_nothing_lists_nothing(
    tree: ListingIndex,
) -> None:
    assert rows(tree, "pkg/sub/c.py") == [("pkg/sub/c.py", "file")]
    assert rows(tree, "README.md") == [("README.md", "file"), ("README.md", "doc")]
    none = tree.listing("pkg/nothing", depth=2, limit=10)
    assert (none.entries, none.total, none.files) == ((), 0, 0)


def test_a_path_no_request_could_name_is_left_out() -> None:
    deep = "/".join(["d"] * (MAX_PATH_DEPTH + 1))
    tree = build_listing_index(files(deep, "ok.py"), {}, {})
    assert rows(tree, depth=16) == [("ok.py", "file")]


def test_an_empty_repository_lists_nothing() -> None:
    listing = build_listing_index([], {}, {}).listing("", depth=2, limit=10)
    assert (listing.entries, listing.total, listing.truncated) == ((), 0, False)


def corpus(n_files: int) -> list[RepoFile]:
    """A tree shaped like a monorepo of packages: 250 packages of 4 folders, 100 files each."""
    out: list[RepoFile] = []
    per_folder = 100
    for i in range(n_files // per_folder):
        package, folder = divmod(i, 4)
        base = f"packages/pkg{package:03d}/{['src', 'lib', 'tests', 'docs'][folder]}"
        names = (f"{base}/mod{j:03d}.py" for j in range(per_folder))
        out.extend(RepoFile(name, 1000, "python", False) for name in names)
    return out


def test_list_of_the_root_at_100k_files_costs_what_it_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a timed assertion (the machine is shared): prints the numbers, checks the
    shape of the answer and that a listing does not grow with the repository."""
    inventory = corpus(100_000)
    docs = {f.path: served(f.path) for f in inventory[::50]}
    started = time.perf_counter()
    tree = build_listing_index(inventory, docs, {})
    built = time.perf_counter() - started
    timings: dict[str, float] = {}
    for name, prefix, depth, limit in (
        ("root depth 2", "", 2, 200),
        ("root depth 16, limit 5000", "", 16, 5000),
        ("a folder, depth 1", "packages/pkg100", 1, 200),
    ):
        best = float("inf")
        for _ in range(20):
            started = time.perf_counter()
            listing = tree.listing(prefix, depth=depth, limit=limit)
            listing.to_wire()
            best = min(best, time.perf_counter() - started)
        timings[name] = best
    root = tree.listing("", depth=2, limit=200)
    assert [e.path for e in root.entries[:2]] == ["packages", "packages/pkg000"]
    assert (root.total, root.files, root.documented) == (251, 100_000, 2_000)
    assert tree.listing("", depth=16, limit=5000).total == 100_000 + 251 + 1000
    with capsys.disabled():
        print(f"\nlisting index of 100,000 files built in {built * 1000:.0f} ms")
        for name, seconds in timings.items():
            print(f"  list {name}: {seconds * 1000:.2f} ms (best of 20, to_wire included)")


def test_the_repository_itself_lists_its_tracked_files() -> None:
    """On this repository: every file git lists is in the listing, folders first."""
    from context_bot.knowledge.inventory import build_inventory
    from context_bot.knowledge.sandbox import RepoFiles

    root = Path(__file__).resolve().parents[2]
    inventory = build_inventory(RepoFiles(root))
    tree = build_listing_index(inventory.files, {}, {})
    listed = tree.listing("", depth=16, limit=5000)
    paths = {e.path for e in listed.entries if e.kind == "file"}
    assert {f.path for f in inventory.files if f.path.count("/") < 16} <= paths
    assert "context_bot/knowledge/listing.py" in paths
    kinds = [e.kind for e in tree.listing("", depth=1, limit=5000).entries]
    assert kinds == sorted(kinds, key=lambda kind: kind != "dir")  # folders first


def _same_tree(patched: ListingIndex, laid_out: ListingIndex) -> None:
    for field in ("levels", "ends", "totals", "root_totals", "folder_at", "leaf_at", "root"):
        assert getattr(patched, field) == getattr(laid_out, field), field
    assert list(patched.entries) == list(laid_out.entries)


@pytest.mark.parametrize("seed", range(200))
def test_a_patched_tree_is_the_tree_laid_out_again(seed: int) -> None:
    """Files added, removed and changed in one patch, anywhere: first or last in a
    folder, beside a removed one, before a folder's namesake guide, in the root, in a
    folder whose last file goes while another comes; the patched tree is, field by field,
    the one laid out from the files after the change."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw of files, no secret
    folders = ["", "a", "a/b", "a/b/c", "a/d", "e", "e/f", "guides"]
    names = ["a.py", "b.py", "c.ts", "d.md", "m.py", "setup.md", "z.py", "zz.png"]
    every = sorted({f"{f}/{n}" if f else n for f in folders for n in names})
    before_paths = sorted(rng.sample(every, 24))
    docs = {p: served(p, stale=rng.random() < 0.5) for p in rng.sample(before_paths, 3)}
    guides = {"guides/setup.md": free("guides/setup.md"), "d.md": free("d.md")}
    before = Inventory(tuple(files(*before_paths)), "git")
    tree = build_listing_index(before.files, docs, guides, before.get)
    undocumented = [p for p in before_paths if p not in docs]
    gone = set(rng.sample(undocumented, rng.randint(0, 4)))
    new = set(rng.sample([p for p in every if p not in before_paths], rng.randint(0, 4)))
    changed = set(rng.sample(before_paths, 3)) - gone
    after_files = [
        RepoFile(f.path, f.size + (f.path in changed), f.language, f.binary)
        for f in before.files
        if f.path not in gone
    ] + files(*new)
    after = Inventory(tuple(sorted(after_files, key=lambda f: f.path)), "git")
    patched = patch_listing_index(tree, before, after, gone | new | changed, docs, guides)
    _same_tree(patched, build_listing_index(after.files, docs, guides, after.get))
    assert list(tree.entries) == list(build_listing_index(before.files, docs, guides).entries)

"""`context-bot draft` and `check --stale` on repositories made here, in several languages."""

from __future__ import annotations

import io
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from context_bot.commands import check, draft
from context_bot.config import Settings
from context_bot.errors import ConfigError, DraftRefused
from context_bot.knowledge.documents import parse_document
from context_bot.knowledge.draft_plan import is_source, plan_drafts
from context_bot.knowledge.draft_writer import write_documents
from context_bot.knowledge.drafting import FileFacts, gotchas_text, leading_text, purpose_text
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.model import RepoFile
from tests.gitrepo import git

STAMP = "2026-11-27T10:00:00.000Z"

FILES = {
    "pyproject.toml": '[project]\nname = "shop"\n[project.scripts]\nshop = "shop.cli:main"\n',
    "shop/__init__.py": "",
    "shop/cli.py": (
        '"""The command line: parse the arguments and run the shop."""\n\n'
        "from shop.orders import place_order\n\n\n"
        "def main() -> int:\n"
        '    """Run it."""\n'
        "    place_order('book')\n"
        "    return 0\n"
    ),
    "shop/orders.py": (
        '"""Orders: placing one, and what it costs.\n\nPrices come from the catalogue."""\n\n'
        "from shop import pricing\n\n\n"
        "class Order:\n"
        '    """One order of one item."""\n\n'
        "    def total(self) -> int:\n"
        "        # TODO: taxes are not counted yet\n"
        "        return pricing.price(self)\n\n\n"
        "def place_order(item: str) -> Order:\n"
        '    """Place an order for `item`."""\n'
        "    return Order()\n\n\n"
        "def _helper() -> None:\n"
        "    pass\n"
    ),
    "shop/pricing.py": "def price(order: object) -> int:\n    return 1\n",
    "web/src/api.ts": (
        "// Copyright 2026 Shop Inc. All rights reserved.\n\n"
        "/**\n * The HTTP client of the shop's API.\n */\n"
        "import { format } from './format';\n\n"
        "export function fetchOrders(): string {\n  return format('x');\n}\n"
    ),
    "web/src/format.ts": (
        "/** @deprecated use Intl.NumberFormat */\nexport function format(s: string): string {\n"
        "  return s; // FIXME: locale\n}\n"
    ),
    "svc/main.go": (
        "// Package main serves the shop over HTTP.\npackage main\n\n"
        'import "fmt"\n\nfunc main() {\n\tfmt.Println("shop")\n}\n'
    ),
    "scripts/deploy.sh": "#!/bin/sh\n# Deploy the shop to production.\nset -eu\necho deploy\n",
    "README.md": "# Shop\n",
    "package-lock.json": "{}\n",
    "assets/logo.png": "\x89PNG\r\n\x1a\n\0\0\0",
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A git repository in Python, TypeScript, Go and shell, with no knowledge folder."""
    root = tmp_path / "shop"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(text.encode("latin-1" if rel.endswith(".png") else "utf-8"))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def run_draft(root: Path, *paths: str, dry_run: bool = False) -> str:
    out = io.StringIO()
    assert draft(Settings(repo=root), list(paths), out, dry_run=dry_run, llm=False) == 0
    return out.getvalue()


def run_check(root: Path, *, max_missing: int = 0) -> tuple[int, str]:
    out = io.StringIO()
    code = check(root / "knowledge", root, out, stale=True, max_missing=max_missing)
    return code, out.getvalue()


def documents(root: Path) -> dict[str, str]:
    folder = root / "knowledge"
    return {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*.md")}


def test_every_source_file_gets_a_document_that_check_accepts(shop: Path) -> None:
    out = run_draft(shop)
    docs = documents(shop)
    assert set(docs) == {
        "pyproject.toml.md",
        "shop/cli.py.md",
        "shop/orders.py.md",
        "shop/pricing.py.md",
        "web/src/api.ts.md",
        "web/src/format.ts.md",
        "svc/main.go.md",
        "scripts/deploy.sh.md",
    }  # no README, lock file, image or empty __init__.py
    assert "wrote 8 documents (8 new, 0 rewritten, 0 refreshed)" in out
    knowledge = load_knowledge(shop / "knowledge", shop)
    assert knowledge.diagnostics == []
    code, report = run_check(shop)
    assert code == 0, report
    assert "fresh: 8 documented, 0 stale, 0 missing" in report
    for name, text in docs.items():
        doc, problems = parse_document(name, text.encode())
        assert doc is not None and problems == []
        path = name.removesuffix(".md")
        assert doc.file_path == path
        assert doc.file_version == git(shop, "hash-object", path)
        assert not doc.human_verified and doc.user_flows == ()
        assert doc.extracted_by is not None and doc.extracted_by.startswith("context-bot-draft@")
        assert knowledge.document(path) is not None and not knowledge.document(path).stale  # type: ignore[union-attr]


def test_a_document_says_what_the_code_states_and_nothing_more(shop: Path) -> None:
    run_draft(shop)
    orders, _ = parse_document("o", (shop / "knowledge/shop/orders.py.md").read_bytes())
    assert orders is not None
    purpose = orders.section("Purpose")
    assert purpose is not None
    assert purpose.body.strip() == (
        "Orders: placing one, and what it costs.\n\nPrices come from the catalogue."
    )
    context = orders.section("Architecture Context")
    assert context is not None
    assert "- `class Order` (line 8): One order of one item." in context.body
    assert "  - `def total(self) -> int` (line 11)" in context.body
    assert "`def place_order(item: str) -> Order` (line 16): Place an order for `item`." in (
        context.body
    )
    assert "_helper" not in context.body  # private
    assert "Depends on: `shop/pricing.py`." in context.body
    assert "Used by: `shop/cli.py`." in context.body
    gotchas = orders.section("Gotchas")
    assert gotchas is not None and gotchas.body.strip() == (
        "- Line 12: `TODO: taxes are not counted yet`"
    )
    assert orders.section("Problem") is None  # never invented
    assert orders.related_files == ("shop/pricing.py", "shop/cli.py")
    assert orders.feature == "shop" and orders.feature_role == "service"
    assert orders.extra["guessed"] == ["importance", "feature", "featureRole"]

    cli, _ = parse_document("c", (shop / "knowledge/shop/cli.py.md").read_bytes())
    assert cli is not None and cli.feature_role == "entry_point" and cli.importance == "high"
    assert "`pyproject.toml` script `shop` → `shop.cli:main`" in cli.text

    api, _ = parse_document("a", (shop / "knowledge/web/src/api.ts.md").read_bytes())
    assert api is not None and api.section("Purpose") is not None
    assert api.section("Purpose").body.strip() == "The HTTP client of the shop's API."  # type: ignore[union-attr]
    assert api.related_files == ("web/src/format.ts",)
    assert api.tags == ("web", "src", "typescript")
    fmt = (shop / "knowledge/web/src/format.ts.md").read_text()
    assert "- Line 1: `deprecated: /** @deprecated use Intl.NumberFormat */`" in fmt
    assert "- Line 3: `FIXME: locale`" in fmt
    go = (shop / "knowledge/svc/main.go.md").read_text()
    assert "## Purpose\nPackage main serves the shop over HTTP.\n" in go
    assert "entry_point" in go  # a Go main
    shell = (shop / "knowledge/scripts/deploy.sh.md").read_text()
    assert "## Purpose\nDeploy the shop to production.\n" in shell
    pricing = (shop / "knowledge/shop/pricing.py.md").read_text()
    assert "## Purpose\nDefines the function `price`.\n" in pricing


def test_a_second_run_writes_nothing(shop: Path) -> None:
    run_draft(shop)
    before = {p: p.stat().st_mtime_ns for p in (shop / "knowledge").rglob("*.md")}
    out = run_draft(shop)
    assert "wrote 0 documents" in out and "8 current" in out
    assert {p: p.stat().st_mtime_ns for p in (shop / "knowledge").rglob("*.md")} == before


def test_a_stale_draft_is_rewritten_and_a_verified_document_is_kept(shop: Path) -> None:
    run_draft(shop)
    verified = shop / "knowledge/shop/cli.py.md"
    verified.write_text(verified.read_text().replace("humanVerified: false", "humanVerified: true"))
    kept = verified.read_text()
    (shop / "shop/cli.py").write_text((shop / "shop/cli.py").read_text() + "# more\n")
    pricing_py = '"""Prices."""\n\n\ndef price(o: object) -> int:\n    return 2\n'
    (shop / "shop/pricing.py").write_text(pricing_py)
    code, report = run_check(shop)
    assert code == 1 and "stale: shop/cli.py" in report and "stale: shop/pricing.py" in report

    out = run_draft(shop)
    assert "wrote 1 documents (0 new, 1 rewritten, 0 refreshed)" in out
    assert "kept (humanVerified): knowledge/shop/cli.py.md is stale for shop/cli.py" in out
    assert verified.read_text() == kept
    pricing = (shop / "knowledge/shop/pricing.py.md").read_text()
    assert "## Purpose\nPrices.\n" in pricing
    assert git(shop, "hash-object", "shop/pricing.py") in pricing
    code, report = run_check(shop)
    assert code == 1 and "stale: shop/cli.py" in report  # a person must look again


def test_a_hand_written_stale_document_is_refreshed_not_wiped(shop: Path) -> None:
    (shop / "knowledge/notes").mkdir(parents=True)
    hand = shop / "knowledge/notes/orders.md"
    hand.write_text(
        "---\nfilePath: shop/orders.py\nfileVersion: '0000000000000000000000000000000000000000'\n"
        "lastUpdated: '2025-01-01T00:00:00Z'\nupdatedBy: alice\nextractedBy: hand-written\n"
        "humanVerified: false\nfeature: checkout\ntags:\n  - money\nuserFlows:\n"
        "  - A customer can place an order\nteamOwner: payments\n---\n"
        "## Purpose\nWhere orders are born.\n\n## Architecture Context\nAlice's words.\n\n"
        "## Outline\nan old outline\n"
    )
    out = run_draft(shop, "shop/orders.py")
    assert "wrote 1 documents (0 new, 0 rewritten, 1 refreshed)" in out
    assert not (shop / "knowledge/shop/orders.py.md").exists()  # refreshed in place
    doc, problems = parse_document("n", hand.read_bytes())
    assert doc is not None and problems == []
    assert doc.file_version == git(shop, "hash-object", "shop/orders.py")
    assert doc.updated_by is not None and doc.updated_by.startswith("context-bot draft")
    assert doc.extracted_by == "hand-written" and doc.feature == "checkout"
    assert doc.user_flows == ("A customer can place an order",)
    assert doc.extra["teamOwner"] == "payments"
    assert doc.tags[0] == "money" and "python" in doc.tags
    assert [s.heading for s in doc.sections] == ["Purpose", "Architecture Context", "Outline"]
    assert doc.section("Purpose").body.strip() == "Where orders are born."  # type: ignore[union-attr]
    assert doc.section("Architecture Context").body.strip() == "Alice's words."  # type: ignore[union-attr]
    outline = doc.section("Outline").body  # type: ignore[union-attr]
    assert "an old outline" not in outline and "`class Order` (line 8)" in outline
    assert "wrote 0 documents" in run_draft(shop, "shop/orders.py")


def test_dry_run_prints_a_diff_and_writes_nothing(shop: Path) -> None:
    out = run_draft(shop, "shop", dry_run=True)
    assert not (shop / "knowledge").exists()
    assert "--- /dev/null\n+++ b/knowledge/shop/orders.py.md\n" in out
    assert "+filePath: shop/orders.py\n" in out
    assert "would write 3 documents (3 new" in out
    run_draft(shop, "shop")
    (shop / "shop/pricing.py").write_text("def price(o: object) -> int:\n    return 3\n")
    before = documents(shop)
    out = run_draft(shop, dry_run=True)
    assert "--- a/knowledge/shop/pricing.py.md\n+++ b/knowledge/shop/pricing.py.md\n" in out
    assert documents(shop) == before


def test_check_stale_counts_missing_documents_against_a_threshold(shop: Path) -> None:
    code, report = run_check(shop)
    assert code == 1 and "NOT fresh: 0 documented, 0 stale, 8 missing (at most 0 allowed)" in report
    run_draft(shop, "shop")
    code, report = run_check(shop, max_missing=5)
    assert code == 0, report
    assert "web/src  " in report and "missing a document: web/src/api.ts" in report
    code, _ = run_check(shop, max_missing=4)
    assert code == 1


def test_bad_paths_and_folders_are_refused_with_the_setting_named(shop: Path) -> None:
    with pytest.raises(ConfigError, match="repository-relative"):
        run_draft(shop, "../etc")
    (shop / "knowledge").write_text("a file, not a folder\n")
    with pytest.raises(ConfigError, match=r"knowledge.dir \(CONTEXT_BOT_KNOWLEDGE_DIR\)"):
        run_draft(shop)


def test_without_git_the_version_is_the_blob_git_would_give(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "util.py").write_bytes(b'"""Utilities."""\r\nX = 1\n')
    plan = plan_drafts(root, root / "knowledge", STAMP)
    [change] = plan.changes
    expected = subprocess.run(
        ["git", "hash-object", "--no-filters", str(root / "lib" / "util.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert change.facts.blob == expected
    assert f"fileVersion: '{expected}'" in change.new


def test_a_secret_constants_value_stays_out_of_its_document(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "app").mkdir(parents=True)
    (root / "app" / "settings.py").write_text(
        '"""Settings."""\nAPI_KEY = "sk-live-0123456789"\nRETRIES = 3\n'
    )
    [change] = plan_drafts(root, root / "knowledge", STAMP).changes
    assert "sk-live-0123456789" not in change.new
    assert "`API_KEY = …`" in change.new
    assert "`RETRIES = 3`" in change.new


def test_the_writer_never_leaves_the_knowledge_folder(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    outside = tmp_path / "outside"
    outside.mkdir()
    assert write_documents(folder, [("a/b.md", "x\n")]) == ["a/b.md"]
    assert write_documents(folder, [("a/b.md", "x\n")]) == []  # same bytes: not rewritten
    (folder / "link").symlink_to(outside, target_is_directory=True)
    for name in ("../escape.md", "/abs.md", "link/c.md", ".hidden.md"):
        with pytest.raises(DraftRefused):
            write_documents(folder, [(name, "y\n")])
    (folder / "doc.md").symlink_to(outside / "target.md")
    with pytest.raises(DraftRefused):
        write_documents(folder, [("doc.md", "y\n")])
    assert list(outside.iterdir()) == [] and not (tmp_path / "escape.md").exists()
    assert sorted(p.name for p in (folder / "a").iterdir()) == ["b.md"]  # no temp file left


def test_which_files_are_source_files() -> None:
    def f(path: str, language: str | None = "python", size: int = 10) -> RepoFile:
        return RepoFile(path, size, language, False)

    assert is_source(f("app/x.py"), "knowledge")
    assert not is_source(f("knowledge/x.py"), "knowledge")
    assert not is_source(f("README.md", "markdown"), None)
    assert not is_source(f("node_modules/a/index.js", "javascript"), None)
    assert not is_source(f("static/app.min.js", "javascript"), None)
    assert not is_source(f("yarn.lock", "yaml"), None)
    assert not is_source(f("a/__init__.py", size=0), None)
    assert not is_source(f("big.py", size=10_000_000), None)
    assert not is_source(RepoFile("a.py", 10, None, True), None)


def test_leading_text_skips_licences_and_code() -> None:
    assert leading_text("#!/bin/sh\n# Build it.\n# Twice.\nmake\n", "shell") == "Build it.\nTwice."
    assert leading_text("/* SPDX-License-Identifier: MIT */\n// Reads.\nint x;\n", "c") == "Reads."
    assert leading_text("#include <x.h>\nint x;\n", "c") is None
    assert leading_text("import os\n", "python") is None
    assert leading_text('# coding: utf-8\n"""Doc.\n\n    Indented."""\n', "python") == (
        "Doc.\n\nIndented."
    )


def test_docstrings_cannot_open_sections_and_unknown_prose_is_left_out() -> None:
    facts = FileFacts(
        "a.py", "python", '"""Title.\n\n## Not a heading\n```\nunclosed\n"""\n', "0" * 40
    )
    purpose = purpose_text(facts)
    assert purpose is not None and "\\## Not a heading" in purpose and "\\```" in purpose
    empty = FileFacts("b.py", "python", "x = compute()\n", "1" * 40)
    assert purpose_text(empty) is None and gotchas_text(empty) is None
    text = "def todo_list(): pass  # a TODOS file\nurl = 'http://x'  # not a hack\n"
    assert gotchas_text(replace(empty, text=text)) is None

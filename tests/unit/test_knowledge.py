"""Loading a knowledge folder: version choice against a real git repository, links, listings."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from context_bot.errors import BadRequest, ConfigError, InvalidPath
from context_bot.knowledge.loading import load_knowledge
from tests.gitrepo import git

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
TARGET = "src/server/api/livekit.ts"
SOURCE = "export function setupLiveKitRoutes() {}\n"


def seed_text(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text()


def with_version(text: str, version: str) -> str:
    return re.sub(r"(?m)^fileVersion: .*$", f"fileVersion: {version}", text, count=1)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real git repository holding the seeds' file, committed once."""
    root = tmp_path / "repo"
    (root / "src/server/api").mkdir(parents=True)
    (root / TARGET).write_text(SOURCE)
    (root / "src/config").mkdir()
    (root / "src/config/loader.ts").write_text("export const load = () => ({})\n")
    (root / "README.md").write_text("# Demo\n\nDemo serves onboarding rooms with context.\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "knowledge").mkdir()
    return root


def write_seeds(repo: Path, **versions: str) -> None:
    """Copy seeds 000-004 into the knowledge folder, replacing fileVersion where asked."""
    for prefix in ("000", "001", "002", "003", "004"):
        text = seed_text(prefix)
        if prefix in versions:
            text = with_version(text, versions[prefix])
        (repo / "knowledge" / f"{prefix}.md").write_text(text)


def test_the_version_whose_file_version_is_the_working_tree_blob_is_served(repo: Path) -> None:
    blob = git(repo, "hash-object", TARGET)
    write_seeds(repo, **{"001": blob})
    knowledge = load_knowledge(repo / "knowledge", repo)
    doc = knowledge.document(TARGET)
    assert doc is not None
    assert doc.source == "001.md"
    assert doc.stale is False
    assert doc.version_match == "blob"
    assert doc.file_version == blob
    assert doc.text == (repo / "knowledge/001.md").read_text()
    assert [h.source for h in doc.history] == ["000.md", "002.md"]  # newest first
    assert knowledge.diagnostics == []


def test_a_file_version_that_is_the_commit_of_the_file_is_served_as_current(repo: Path) -> None:
    commit = git(repo, "log", "--format=%H", "--", TARGET)
    write_seeds(repo, **{"002": commit})
    doc = load_knowledge(repo / "knowledge", repo).document(TARGET)
    assert doc is not None
    assert (doc.source, doc.stale, doc.version_match) == ("002.md", False, "commit")


def test_a_commit_version_goes_stale_once_the_file_changes_after_it(repo: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD")
    write_seeds(repo, **{"002": commit})
    (repo / TARGET).write_text(SOURCE + "// edited\n")
    doc = load_knowledge(repo / "knowledge", repo).document(TARGET)
    assert doc is not None
    assert doc.stale is True
    assert doc.stale_reason == "no_matching_version"
    assert doc.source == "000.md"  # newest lastUpdated


def test_a_head_commit_from_after_the_file_changed_still_matches(repo: Path) -> None:
    (repo / "other.txt").write_text("unrelated\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "second")
    write_seeds(repo, **{"001": git(repo, "rev-parse", "HEAD")})
    doc = load_knowledge(repo / "knowledge", repo).document(TARGET)
    assert doc is not None and doc.source == "001.md" and doc.version_match == "commit"


def test_without_a_matching_version_the_newest_is_served_and_marked_stale(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    doc = knowledge.document(TARGET)
    assert doc is not None
    assert doc.source == "000.md"
    assert doc.stale is True and doc.stale_reason == "no_matching_version"
    assert doc.last_updated == "2026-01-12T04:20:22.723Z"
    assert {h.source for h in doc.history} == {"001.md", "002.md"}


def test_a_document_for_a_missing_file_is_stale_with_that_reason(repo: Path) -> None:
    write_seeds(repo)
    (repo / TARGET).unlink()
    doc = load_knowledge(repo / "knowledge", repo).document(TARGET)
    assert doc is not None and doc.stale_reason == "file_missing"


def test_blob_matching_works_outside_a_git_repository(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "src/server/api").mkdir(parents=True)
    (root / TARGET).write_text(SOURCE)
    (root / "knowledge").mkdir()
    blob = subprocess.run(
        ["git", "hash-object", str(root / TARGET)], capture_output=True, text=True, check=True
    ).stdout.strip()
    write_seeds(root, **{"002": blob})
    knowledge = load_knowledge(root / "knowledge", root)
    doc = knowledge.document(TARGET)
    assert doc is not None and doc.source == "002.md" and not doc.stale
    assert knowledge.revision is None


def test_history_versions_stay_reachable_by_version_and_by_name(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    old = knowledge.document(TARGET, version="58f84348b1e49d79670af734ad811a0504f9e922")
    assert old is not None and old.source == "001.md" and old.stale_reason == "older_version"
    by_name = knowledge.document(TARGET, version="002.md")
    assert (
        by_name is not None and by_name.file_version == "9674f2f871b9b2558c7acd2b813bcfa34f2cea42"
    )
    assert knowledge.document(TARGET, version="ffffffff") is None


@pytest.mark.parametrize(
    "path",
    ["./src/server/api/livekit.ts", "src//server/api/livekit.ts", "src/server/api/livekit.ts/"],
)
def test_document_paths_are_normalised(repo: Path, path: str) -> None:
    write_seeds(repo)
    doc = load_knowledge(repo / "knowledge", repo).document(path)
    assert doc is not None and doc.path == TARGET


@pytest.mark.parametrize("path", ["src/nothing.ts", "../x", "/src/server/api/livekit.ts", ""])
def test_unknown_or_invalid_paths_have_no_document(repo: Path, path: str) -> None:
    write_seeds(repo)
    assert load_knowledge(repo / "knowledge", repo).document(path) is None


def test_free_documents_are_served_by_their_name(repo: Path) -> None:
    write_seeds(repo)
    doc = load_knowledge(repo / "knowledge", repo).document("003.md")
    assert doc is not None and doc.kind == "doc" and doc.stale is False
    assert doc.text.startswith("Generates a LiveKit JWT token")


def test_related_files_resolve_against_the_document_folder_and_keep_backlinks(repo: Path) -> None:
    blob = git(repo, "hash-object", TARGET)
    write_seeds(repo, **{"001": blob})
    (repo / "knowledge/loader.md").write_text(
        "---\nfilePath: src/config/loader.ts\nrelatedFiles:\n"
        "  - src/server/api/livekit.ts\n---\n## Purpose\nLoads config.\n"
    )
    knowledge = load_knowledge(repo / "knowledge", repo)
    doc = knowledge.document(TARGET)
    assert doc is not None
    assert doc.related[0].raw == "../../config/loader.js"
    assert doc.related[0].path == "src/config/loader.ts"  # the .ts source of the .js name
    assert doc.related[0].has_document is True
    loader = knowledge.document("src/config/loader.ts")
    assert loader is not None
    assert loader.backlinks == (TARGET,)
    assert loader.related[0].path == TARGET  # from the repo root, as the folder has no such file
    assert doc.backlinks == ("src/config/loader.ts",)


def test_an_unresolvable_related_file_is_kept_unresolved(repo: Path) -> None:
    write_seeds(repo)
    doc = load_knowledge(repo / "knowledge", repo).document(TARGET)
    assert doc is not None
    assert doc.related[0].path == "src/server/api/livekit-server-sdk.ts"
    assert doc.related[0].exists is False


def test_bad_documents_become_diagnostics_and_the_rest_still_load(repo: Path) -> None:
    write_seeds(repo)
    k = repo / "knowledge"
    (k / "broken.md").write_text("---\nfilePath: a.ts\ntags: [x\n---\n")
    (k / "empty.md").write_text("")
    (k / "latin.txt").write_bytes(b"caf\xe9")
    (k / "dup.md").write_text(seed_text("000"))
    (k / "nested").mkdir()
    (k / "nested/ok.md").write_text("---\nfilePath: src/config/loader.ts\n---\n## Purpose\nok\n")
    (k / "image.png").write_bytes(b"\x89PNG")
    (k / ".hidden").mkdir()
    (k / ".hidden/x.md").write_text("---\nbroken: [\n---\n")
    knowledge = load_knowledge(k, repo)
    files = sorted({d.file for d in knowledge.diagnostics})
    assert files == ["broken.md", "dup.md", "empty.md", "latin.txt"]
    assert knowledge.document("src/config/loader.ts") is not None
    assert knowledge.document(TARGET) is not None
    assert knowledge.stats()["files"] == 2


def test_a_symlinked_document_pointing_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    write_seeds(repo)
    outside = tmp_path / "outside.md"
    outside.write_text("---\nfilePath: x.ts\n---\nsecret\n")
    (repo / "knowledge/link.md").symlink_to(outside)
    knowledge = load_knowledge(repo / "knowledge", repo)
    assert [d.file for d in knowledge.diagnostics] == ["link.md"]
    assert knowledge.document("x.ts") is None


def test_a_symlinked_document_pointing_at_a_repository_secret_is_refused(repo: Path) -> None:
    (repo / ".env").write_text("API_KEY=hunter2\n")
    (repo / "knowledge/env.md").symlink_to(repo / ".env")
    (repo / "knowledge/alias.md").symlink_to(repo / "knowledge/003.md")
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    assert [d.file for d in knowledge.diagnostics] == ["env.md"]
    assert knowledge.search("hunter2") == []
    assert knowledge.document("alias.md") is not None


def test_a_knowledge_folder_that_is_a_file_is_a_config_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    target = tmp_path / "knowledge"
    target.write_text("x")
    with pytest.raises(ConfigError, match=r"knowledge\.dir \(CONTEXT_BOT_KNOWLEDGE_DIR\)"):
        load_knowledge(target, tmp_path)


def test_without_a_knowledge_folder_the_repository_is_still_served(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Widget\n\nA widget library.\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "widget.py").write_text("class Widget:\n    pass\n")

    knowledge = load_knowledge(tmp_path / "knowledge", tmp_path)

    assert knowledge.diagnostics == []
    assert knowledge.served_documents() == ()
    assert [f.path for f in knowledge.inventory.files] == ["README.md", "src/widget.py"]
    assert "Widget" in knowledge.overview


def test_a_file_added_to_the_repository_is_a_new_knowledge_version(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    before = load_knowledge(tmp_path / "knowledge", tmp_path)
    (tmp_path / "b.py").write_text("b = 2\n")
    after = load_knowledge(tmp_path / "knowledge", tmp_path)
    assert after.version != before.version
    assert after.inventory.get("b.py") is not None


def test_the_version_is_stable_and_changes_only_when_served_knowledge_changes(repo: Path) -> None:
    write_seeds(repo)
    k = repo / "knowledge"
    first = load_knowledge(k, repo).version
    assert load_knowledge(k, repo).version == first
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    (k / "002.md").write_text(seed_text("002") + "\n## More\nextra\n")
    second = load_knowledge(k, repo).version
    assert second != first
    (k / "001.md").write_text(with_version(seed_text("001"), git(repo, "hash-object", TARGET)))
    third = load_knowledge(k, repo).version
    assert third not in (first, second)
    (repo / TARGET).write_text("changed\n")  # the served choice flips back to stale
    assert load_knowledge(k, repo).version not in (first, second, third)


def test_a_readme_change_or_a_new_commit_changes_the_version(repo: Path) -> None:
    write_seeds(repo)
    k = repo / "knowledge"
    first = load_knowledge(k, repo).version
    (repo / "README.md").write_text("# Demo\n\nNow it does more.\n")
    second = load_knowledge(k, repo).version
    assert second != first
    git(repo, "commit", "-q", "-am", "readme")
    assert load_knowledge(k, repo).version not in (first, second)


def test_a_fifo_in_the_knowledge_folder_is_reported_without_blocking(repo: Path) -> None:
    write_seeds(repo)
    os.mkfifo(repo / "knowledge" / "pipe.md")
    knowledge = load_knowledge(repo / "knowledge", repo)
    assert [(d.file, d.reason) for d in knowledge.diagnostics] == [
        ("pipe.md", "not a regular file")
    ]


def test_feature_roles_are_recognised_in_their_usual_spellings(repo: Path) -> None:
    k = repo / "knowledge"
    for i, role in enumerate(["entry-point", "Entry Point", "service", "model"]):
        (k / f"r{i}.md").write_text(
            f"---\nfilePath: src/r{i}.ts\nfeature: f\nfeatureRole: {role}\n---\nx\n"
        )
    [feature] = load_knowledge(k, repo).features()
    assert feature.entry_points == ("src/r0.ts", "src/r1.ts")
    assert feature.services == ("src/r2.ts",)
    assert [f.role for f in feature.files] == ["entry-point", "Entry Point", "service", "model"]


def test_a_symlinked_working_tree_file_is_hashed_as_git_does(repo: Path) -> None:
    (repo / "src/link.ts").symlink_to("config/loader.ts")
    git(repo, "add", "src/link.ts")
    blob = git(repo, "ls-files", "-s", "src/link.ts").split()[1]
    (repo / "knowledge/link.md").write_text(
        f"---\nfilePath: src/link.ts\nfileVersion: {blob}\n---\nx\n"
    )
    doc = load_knowledge(repo / "knowledge", repo).document("src/link.ts")
    assert doc is not None and doc.stale is False and doc.version_match == "blob"


def test_listing_shows_folders_first_then_every_file_documented_or_not(repo: Path) -> None:
    write_seeds(repo)
    (repo / "knowledge/loader.md").write_text("---\nfilePath: src/config/loader.ts\n---\nx\n")
    (repo / "src/config/plain.ts").write_text("export const plain = 1\n")  # undocumented
    knowledge = load_knowledge(repo / "knowledge", repo)
    top = knowledge.listing()
    # Depth first, each folder's subfolders before its files; the knowledge folder is
    # part of the repository too; free documents are listed by their names.
    assert [(e.path, e.kind) for e in top.entries] == [
        ("knowledge", "dir"),
        ("knowledge/000.md", "file"),
        ("knowledge/001.md", "file"),
        ("knowledge/002.md", "file"),
        ("knowledge/003.md", "file"),
        ("knowledge/004.md", "file"),
        ("knowledge/loader.md", "file"),
        ("src", "dir"),
        ("src/config", "dir"),
        ("src/server", "dir"),
        ("003.md", "doc"),
        ("004.md", "doc"),
        ("README.md", "file"),
    ]
    src = top.entries[7].to_wire()
    assert src == {"path": "src", "kind": "dir", "documents": 2, "files": 3, "documented": 2}
    assert (top.total, top.files, top.documented) == (13, 10, 2)
    deep = {e.path: e.to_wire() for e in knowledge.listing("src/", depth=3).entries}
    assert list(deep) == [
        "src/config",
        "src/config/loader.ts",
        "src/config/plain.ts",
        "src/server",
        "src/server/api",
        "src/server/api/livekit.ts",
    ]
    assert deep["src/config/plain.ts"] == {
        "path": "src/config/plain.ts",
        "kind": "file",
        "stale": None,
        "feature": None,
        "documented": False,
        "size": 23,
        "language": "typescript",
        "binary": False,
    }
    assert deep["src/config/loader.ts"]["documented"] is True
    one = knowledge.listing("src/server/api/livekit.ts")
    assert [e.path for e in one.entries] == [TARGET]
    assert one.entries[0].stale is True and (one.files, one.documented) == (1, 1)
    capped = knowledge.listing(depth=3, limit=2)
    assert capped.truncated is True and len(capped.entries) == 2 and capped.total == 16
    assert knowledge.listing(depth=1).total == 5
    assert knowledge.listing("nothing/here").entries == ()
    json.dumps(knowledge.listing("src/", depth=3).to_wire())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"depth": 0}, BadRequest),
        ({"limit": 0}, BadRequest),
        ({"prefix": "../x"}, InvalidPath),
        ({"depth": True}, BadRequest),
    ],
)
def test_listing_rejects_bad_arguments(
    repo: Path, kwargs: dict[str, object], error: type[Exception]
) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    with pytest.raises(error):
        knowledge.listing(**kwargs)  # type: ignore[arg-type]


def test_features_group_served_files_with_roles_and_flows(repo: Path) -> None:
    blob = git(repo, "hash-object", TARGET)
    write_seeds(repo, **{"001": blob})
    (repo / "knowledge/loader.md").write_text(
        "---\nfilePath: src/config/loader.ts\nfeature: livekit-integration\n"
        "featureRole: service\nuserFlows: [Loads settings]\n---\nx\n"
    )
    knowledge = load_knowledge(repo / "knowledge", repo)
    [feature] = knowledge.features()
    assert feature.name == "livekit-integration"
    assert feature.entry_points == (TARGET,)
    assert feature.services == ("src/config/loader.ts",)
    assert "Loads settings" in feature.user_flows
    assert knowledge.feature("livekit-integration") is feature
    assert knowledge.feature("nope") is None
    json.dumps(feature.to_wire())


def test_wire_forms_are_json_serialisable(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    doc = knowledge.document(TARGET)
    assert doc is not None
    wire = json.loads(json.dumps(doc.to_wire()))
    assert wire["path"] == TARGET and wire["stale"] is True and len(wire["history"]) == 2
    hits = knowledge.search("token")
    assert hits
    json.dumps([h.to_wire() for h in hits])
    json.dumps([d.to_wire() for d in knowledge.diagnostics])


def test_the_overview_is_built_at_load_with_the_git_revision(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo, overview_budget=4_000)
    assert git(repo, "rev-parse", "HEAD")[:12] in knowledge.overview
    assert "Demo serves onboarding rooms with context." in knowledge.overview
    assert len(knowledge.overview.encode()) <= 4_000


def test_the_snapshot_cannot_be_changed(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        knowledge.version = "other"  # type: ignore[misc]
    doc = knowledge.document(TARGET)
    assert doc is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        doc.stale = False  # type: ignore[misc]


def test_one_snapshot_serves_many_threads_at_once(repo: Path) -> None:
    write_seeds(repo)
    knowledge = load_knowledge(repo / "knowledge", repo)
    queries = ["token", "room creation", "livekit", "tenant auth_id", "credits"] * 40
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: [h.path for h in knowledge.search(q)], queries))
    assert results == [[h.path for h in knowledge.search(q)] for q in queries]
    assert all(results)


# --- issue 14, item 3: what the product reads on its own takes the `file` gate ----------

SECRET = "hunter2-do-not-serve"


def _overview_and_search(repo: Path) -> str:
    knowledge = load_knowledge(repo / "knowledge", repo)
    hits = knowledge.search("hunter2", limit=50)
    texts = [d.text for d in (*knowledge.served_documents(), *knowledge.free_documents())]
    return "\n".join([knowledge.overview, *texts, *(h.snippet for h in hits)])


@pytest.mark.parametrize("target", [".env", "config/.ENV.production", "private/notes.md"])
def test_a_readme_linked_to_a_denied_or_ignored_file_is_never_quoted(
    repo: Path, target: str
) -> None:
    (repo / ".gitignore").write_text("private/\n")
    secret = repo / target
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text(f"# Secret\n\nTOKEN={SECRET} is what this product does.\n")
    (repo / "README.md").unlink()
    (repo / "README.md").symlink_to(target)
    assert SECRET not in _overview_and_search(repo)


def test_a_git_ignored_readme_is_never_quoted(repo: Path) -> None:
    (repo / ".gitignore").write_text("README.md\n")
    (repo / "README.md").write_text(f"# Demo\n\nTOKEN={SECRET} is what this product does.\n")
    assert SECRET not in _overview_and_search(repo)


def test_a_knowledge_document_the_gate_refuses_is_a_diagnostic_not_served(repo: Path) -> None:
    (repo / ".gitignore").write_text("knowledge/drafts/\n")
    (repo / "knowledge" / "drafts").mkdir()
    (repo / "knowledge" / "drafts" / "guide.md").write_text(f"# Draft\n\n{SECRET} here.\n")
    (repo / "knowledge" / "id_ed25519.md").write_text(f"# Key\n\n{SECRET} here.\n")
    (repo / "knowledge" / "fine.md").write_text("# Fine\n\nServed as a guide.\n")
    knowledge = load_knowledge(repo / "knowledge", repo)
    assert SECRET not in _overview_and_search(repo)
    refused = {d.file for d in knowledge.diagnostics if d.reason.startswith("not read")}
    assert refused == {"drafts/guide.md", "id_ed25519.md"}
    assert [d.source for d in knowledge.free_documents()] == ["fine.md"]

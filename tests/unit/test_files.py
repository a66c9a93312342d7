"""RepoFiles: what a remote participant can and cannot read from the repository."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from context_bot.errors import (
    BadRequest,
    BinaryFile,
    FileError,
    FileTooLarge,
    InvalidPath,
    NotAFile,
    NotFound,
    PathDenied,
)
from context_bot.knowledge.paths import check_relative
from context_bot.knowledge.sandbox import GitIgnore, RepoFiles


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "server").mkdir(parents=True)
    (root / "src" / "server" / "app.ts").write_text("line 1\nline 2\nline 3\n")
    (root / "README.md").write_text("# Demo\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".gitignore").write_text("build/\n*.tmp\n!keep.tmp\n/secrets.txt\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("compiled\n")
    (root / "debug.tmp").write_text("log\n")
    (root / "keep.tmp").write_text("kept\n")
    (root / "secrets.txt").write_text("ignored at the root only\n")
    (root / "src" / "secrets.txt").write_text("not ignored here\n")
    return root


@pytest.fixture
def files(repo: Path) -> RepoFiles:
    return RepoFiles(repo)


async def test_reading_a_file_returns_its_text_size_blob_sha_and_line_count(
    files: RepoFiles, repo: Path
) -> None:
    got = await files.read("src/server/app.ts")
    assert got.path == "src/server/app.ts"
    assert got.text == "line 1\nline 2\nline 3\n"
    assert got.size == 21
    blob = subprocess.run(  # noqa: ASYNC221 - a test fixture step, not the code under test
        ["git", "hash-object", str(repo / "src/server/app.ts")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert got.sha == blob
    assert got.line_count == 3
    assert got.lines is None
    assert got.to_wire()["sha"] == blob


async def test_dot_segments_and_double_slashes_are_normalised(files: RepoFiles) -> None:
    got = await files.read("./src//server/./app.ts")
    assert got.path == "src/server/app.ts"


async def test_a_line_range_serves_only_those_lines_and_reports_the_range(files: RepoFiles) -> None:
    got = await files.read("src/server/app.ts", lines=(2, 3))
    assert got.text == "line 2\nline 3\n"
    assert got.lines == (2, 3)
    assert got.line_count == 3


async def test_a_line_range_past_the_end_is_clamped_to_the_last_line(files: RepoFiles) -> None:
    got = await files.read("src/server/app.ts", lines=(3, 99))
    assert got.text == "line 3\n"
    assert got.lines == (3, 3)


@pytest.mark.parametrize("lines", [(0, 1), (3, 2), (-1, 2), (True, 2), (1.0, 2), (1, 2, 3), "1-2"])
async def test_malformed_line_ranges_are_bad_requests(files: RepoFiles, lines: object) -> None:
    with pytest.raises(BadRequest):
        await files.read("src/server/app.ts", lines=lines)  # type: ignore[arg-type]


async def test_a_range_starting_after_the_last_line_is_a_bad_request(files: RepoFiles) -> None:
    with pytest.raises(BadRequest, match="has 3 lines"):
        await files.read("src/server/app.ts", lines=(4, 5))


@pytest.mark.parametrize(
    "path",
    [
        "",
        "   ",
        "/etc/passwd",
        "../outside.txt",
        "src/../../outside.txt",
        "~/x",
        "~root/.ssh",
        "a\0b",
        "\\etc",
        "C:/x",
        ".",
    ],
)
async def test_path_tricks_are_invalid_paths(files: RepoFiles, path: str) -> None:
    with pytest.raises(InvalidPath):
        await files.read(path)


async def test_an_absolute_path_error_does_not_echo_a_host_path_of_ours(
    files: RepoFiles, repo: Path
) -> None:
    with pytest.raises(InvalidPath) as caught:
        await files.read(str(repo / "README.md"))
    assert "relative" in caught.value.message
    with pytest.raises(NotFound) as missing:
        await files.read("src/nope.ts")
    assert str(repo) not in missing.value.message
    assert "src/nope.ts" in missing.value.message


async def test_a_sibling_directory_sharing_the_root_prefix_is_outside(
    tmp_path: Path, repo: Path
) -> None:
    evil = tmp_path / "repo-evil"
    evil.mkdir()
    (evil / "loot.txt").write_text("loot\n")
    (repo / "sneaky").symlink_to(evil)
    (repo / "sneaky-file.txt").symlink_to(evil / "loot.txt")
    files = RepoFiles(repo)
    with pytest.raises(PathDenied) as caught:
        await files.read("sneaky/loot.txt")
    assert str(tmp_path) not in caught.value.message
    with pytest.raises(PathDenied):
        await files.read("sneaky-file.txt")


async def test_a_symlink_out_of_the_repository_is_denied(tmp_path: Path, repo: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    (repo / "link.txt").symlink_to(outside)
    with pytest.raises(PathDenied):
        await RepoFiles(repo).read("link.txt")


async def test_a_symlink_inside_the_repository_is_followed(repo: Path) -> None:
    (repo / "alias.ts").symlink_to(repo / "src" / "server" / "app.ts")
    got = await RepoFiles(repo).read("alias.ts")
    assert got.text.startswith("line 1")
    assert got.path == "alias.ts"


async def test_a_symlink_to_a_denied_file_is_denied_like_the_file(repo: Path) -> None:
    (repo / "harmless.txt").symlink_to(repo / ".env")
    with pytest.raises(PathDenied):
        await RepoFiles(repo).read("harmless.txt")


@pytest.mark.parametrize(
    "name",
    [
        ".env",
        ".env.local",
        "config/.env.production",
        ".envrc",  # direnv: `export AWS_SECRET_ACCESS_KEY=...` (served before: on express)
        "deploy/.env-production",
        ".netrc.bak",
        "_netrc-old",
        "certs/server.pem",
        "tls.key",
        "id_rsa",
        "id_rsa.pub",
        "a.p12",
        "b.pfx",
    ],
)
async def test_secret_looking_files_are_denied_even_when_they_exist(repo: Path, name: str) -> None:
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("secret\n")
    with pytest.raises(PathDenied):
        await RepoFiles(repo).read(name)


async def test_the_git_directory_is_denied(repo: Path) -> None:
    (repo / ".git").mkdir()
    (repo / ".git" / "config").write_text("[core]\n")
    with pytest.raises(PathDenied):
        await RepoFiles(repo).read(".git/config")


@pytest.mark.parametrize("path", ["build/out.js", "debug.tmp", "secrets.txt"])
async def test_gitignored_files_are_denied(files: RepoFiles, path: str) -> None:
    with pytest.raises(PathDenied):
        await files.read(path)


@pytest.mark.parametrize("path", ["keep.tmp", "src/secrets.txt"])
async def test_negated_and_unanchored_gitignore_cases_are_served(
    files: RepoFiles, path: str
) -> None:
    assert (await files.read(path)).size > 0


async def test_extra_deny_patterns_are_applied(repo: Path) -> None:
    files = RepoFiles(repo, extra_deny=["src/server/"])
    with pytest.raises(PathDenied):
        await files.read("src/server/app.ts")
    assert (await files.read("README.md")).text == "# Demo\n"


async def test_a_directory_is_not_a_file(files: RepoFiles) -> None:
    with pytest.raises(NotAFile):
        await files.read("src/server")


@pytest.mark.timeout(10)
async def test_a_fifo_is_refused_without_blocking(repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    with pytest.raises(NotAFile):
        await RepoFiles(repo).read("pipe")


async def test_a_missing_file_is_not_found(files: RepoFiles) -> None:
    with pytest.raises(NotFound):
        await files.read("src/missing.ts")


async def test_a_file_over_the_cap_is_too_large(repo: Path) -> None:
    (repo / "big.txt").write_bytes(b"a" * 2049)
    with pytest.raises(FileTooLarge):
        await RepoFiles(repo, max_bytes=2048).read("big.txt")
    assert (await RepoFiles(repo, max_bytes=2049).read("big.txt")).size == 2049


async def test_the_default_cap_is_two_mebibytes(repo: Path) -> None:
    (repo / "huge.txt").write_bytes(b"a" * (2 * 1024 * 1024 + 1))
    with pytest.raises(FileTooLarge):
        await RepoFiles(repo).read("huge.txt")


async def test_a_file_with_a_nul_byte_is_binary(repo: Path) -> None:
    (repo / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    with pytest.raises(BinaryFile):
        await RepoFiles(repo).read("image.png")


async def test_a_file_that_is_not_utf8_is_binary(repo: Path) -> None:
    (repo / "latin1.txt").write_bytes("café".encode("latin-1"))
    with pytest.raises(BinaryFile):
        await RepoFiles(repo).read("latin1.txt")


async def test_the_cache_serves_a_changed_file_fresh(repo: Path) -> None:
    files = RepoFiles(repo)
    target = repo / "src" / "server" / "app.ts"
    first = await files.read("src/server/app.ts")
    target.write_text("changed and longer\n")
    second = await files.read("src/server/app.ts")
    assert first.text != second.text
    assert second.text == "changed and longer\n"


async def test_a_cached_read_is_the_same_object(files: RepoFiles) -> None:
    first = await files.read("README.md")
    assert await files.read("README.md") is first


def test_gitignore_matcher_follows_git_rules() -> None:
    ignore = GitIgnore(
        [
            "# comment",
            "*.tmp",
            "/dist",
            "docs/**/draft.md",
            "logs/",
            "!logs/keep.txt",
            "a?c",
            "[xy].bin",
        ]
    )
    assert ignore.ignores("x.tmp") and ignore.ignores("deep/down/x.tmp")
    assert ignore.ignores("dist/app.js") and not ignore.ignores("src/dist/app.js")
    assert ignore.ignores("docs/draft.md") and ignore.ignores("docs/a/b/draft.md")
    assert ignore.ignores("logs/keep.txt")  # a file in an excluded folder cannot be re-included
    assert ignore.ignores("abc") and not ignore.ignores("abbc")
    assert ignore.ignores("x.bin") and not ignore.ignores("z.bin")
    assert not ignore.ignores("logs", is_dir=False)
    assert not ignore.ignores("src/app.ts")


def test_check_relative_normalises_and_rejects() -> None:
    assert check_relative("./a//b/") == "a/b"
    with pytest.raises(InvalidPath):
        check_relative(42)


async def test_a_symlink_loop_is_not_found(repo: Path) -> None:
    (repo / "loop-a").symlink_to(repo / "loop-b")
    (repo / "loop-b").symlink_to(repo / "loop-a")
    with pytest.raises(NotFound):
        await RepoFiles(repo).read("loop-a")


async def test_no_refusal_ever_names_a_host_path(tmp_path: Path, repo: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("x\n")
    (repo / "out-link").symlink_to(outside)
    (repo / "big.txt").write_bytes(b"a" * 100)
    (repo / "bin.dat").write_bytes(b"\0\1")
    os.mkfifo(repo / "fifo")
    files = RepoFiles(repo, max_bytes=50)
    for path in ["out-link", ".env", "big.txt", "bin.dat", "fifo", "src", "nope", "../x", "/etc"]:
        with pytest.raises(FileError) as caught:
            await files.read(path)
        assert str(tmp_path) not in caught.value.message, path
        assert str(repo) not in str(caught.value.to_wire()), path


# --- issue 14: bounded paths, every ignore source, a maintained deny-list ---------------


def test_the_reported_hostile_path_is_invalid_before_any_matching(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from context_bot.knowledge import sandbox as files_mod

    def no_matching(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the matcher ran on a path past the bounds")

    monkeypatch.setattr(files_mod, "ignored", no_matching, raising=False)
    hostile = "/".join(["a"] * 32_700)  # 65 KB: what froze the old bot for 108 s
    with pytest.raises(InvalidPath) as caught:
        check_relative(hostile)
    assert caught.value.code == 4100
    assert len(caught.value.message) < 100


def test_paths_are_bounded_in_length_and_depth() -> None:
    from context_bot.protocol import MAX_PATH_CHARS, MAX_PATH_DEPTH

    for path in ("a" * (MAX_PATH_CHARS + 1), "/".join(["a"] * (MAX_PATH_DEPTH + 1))):
        with pytest.raises(InvalidPath):
            check_relative(path)
    assert check_relative("a" * MAX_PATH_CHARS) == "a" * MAX_PATH_CHARS
    assert check_relative("/".join(["a"] * MAX_PATH_DEPTH)).count("/") == MAX_PATH_DEPTH - 1


async def test_a_hostile_path_is_refused_by_read_without_touching_the_matcher(
    files: RepoFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    from context_bot.knowledge import sandbox as files_mod

    def no_matching(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the matcher ran on a path past the bounds")

    monkeypatch.setattr(files_mod, "ignored", no_matching)
    with pytest.raises(InvalidPath):
        await files.read("/".join(["a"] * 32_700))


def test_a_deep_path_is_matched_with_a_bounded_number_of_matcher_calls(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from context_bot.knowledge import sandbox as files_mod
    from context_bot.protocol import MAX_PATH_DEPTH

    calls = {"passes": 0, "checks": 0}
    candidates, check_file = files_mod.GitIgnore.candidates, files_mod.GitIgnoreSpec.check_file

    def counted_candidates(self: GitIgnore, subject: str) -> object:
        calls["passes"] += 1
        return candidates(self, subject)

    def counted_check(self: object, file: str) -> object:
        calls["checks"] += 1
        return check_file(self, file)  # type: ignore[arg-type]

    monkeypatch.setattr(files_mod.GitIgnore, "candidates", counted_candidates)
    monkeypatch.setattr(files_mod.GitIgnoreSpec, "check_file", counted_check)
    # Every folder level matches a rule and its negation, so no level ends the walk early.
    ignore = GitIgnore(["*.tmp", "!keep.tmp", *[f"unrelated-{i}/" for i in range(200)]])
    depth = MAX_PATH_DEPTH
    path = "/".join(["keep.tmp"] * (depth - 1) + ["last.tmp"])
    assert ignore.ignores(path)
    assert calls["passes"] == 1  # one regex pass over the whole path per source
    assert calls["checks"] <= depth  # then one check per level, with the few candidates


def test_a_nested_gitignore_applies_below_its_folder_and_overrides_the_root(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".gitignore").write_text("*.txt\n")
    (root / "sub" / ".gitignore").write_text("local.md\n!notes.txt\n")
    (root / "sub" / "deeper" / "local.md").write_text("ignored by sub/.gitignore\n")
    (root / "local.md").write_text("served: the rule lives in sub/\n")
    (root / "sub" / "notes.txt").write_text("re-included by the deeper file\n")
    (root / "sub" / "other.txt").write_text("ignored by the root\n")
    files = RepoFiles(root)
    assert files.denied("sub/deeper/local.md")
    assert not files.denied("local.md")
    assert not files.denied("sub/notes.txt")
    assert files.denied("sub/other.txt")


def test_nothing_inside_an_excluded_folder_is_re_included(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "logs").mkdir(parents=True)
    (root / ".gitignore").write_text("logs/\n!logs/keep.txt\n")
    (root / "logs" / ".gitignore").write_text("!*\n")  # git never reads it: logs/ is out
    (root / "logs" / "keep.txt").write_text("x\n")
    assert RepoFiles(root).denied("logs/keep.txt")


async def test_git_info_exclude_and_the_global_excludes_file_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)  # noqa: ASYNC221 - fixture
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text("excluded.txt\n")
    config = tmp_path / "config"
    (config / "git").mkdir(parents=True)
    (config / "git" / "ignore").write_text("global.txt\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("excluded.txt", "global.txt", "served.txt"):
        (root / name).write_text(f"{name}\n")
    files = RepoFiles(root)
    for name in ("excluded.txt", "global.txt"):
        with pytest.raises(PathDenied):
            await files.read(name)
    assert (await files.read("served.txt")).text == "served.txt\n"


@pytest.mark.parametrize(
    "name",
    [
        "id_ed25519",
        "keys/id_ecdsa",
        "id_dsa",
        "deploy_rsa",
        ".netrc",
        "_netrc",
        ".git-credentials",
        ".npmrc",
        ".pypirc",
        ".aws/credentials",
        ".ENV",
        ".Env.Local",
        "prod.env",
        "cert.PEM",
        "TLS.KEY",
        "store.P12",
        "app.jks",
        "release.keystore",
        ".htpasswd",
        ".ssh/known_hosts",
        "ID_ED25519",
        "db.kdbx",
        ".docker/config.json",
        "putty.ppk",
        ".git/HEAD",
    ],
)
async def test_secret_files_the_old_list_missed_are_denied_in_any_case(
    repo: Path, name: str
) -> None:
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("secret\n")
    with pytest.raises(PathDenied):
        await RepoFiles(repo).read(name)


@pytest.mark.parametrize("name", ["src/history/index.ts", "src/env/config.ts", "profile.md"])
async def test_ordinary_sources_with_secret_sounding_names_are_served(
    repo: Path, name: str
) -> None:
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("code\n")
    assert (await RepoFiles(repo).read(name)).text == "code\n"


async def test_reads_run_off_the_event_loop(files: RepoFiles) -> None:
    import threading

    loop_thread = threading.get_ident()
    seen: list[int] = []
    locate = files.locate

    def spying_locate(path: str) -> object:
        seen.append(threading.get_ident())
        return locate(path)

    files.locate = spying_locate  # type: ignore[method-assign,assignment]
    await files.read("src/server/app.ts")
    assert seen and all(ident != loop_thread for ident in seen)


async def test_an_unchanged_file_is_served_again_without_a_worker_thread(
    files: RepoFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hop to a thread costs more than a small file's whole answer: a file whose last
    full check still holds is served from the event loop."""
    from context_bot.knowledge import sandbox

    first = await files.read("src/server/app.ts")
    hops: list[object] = []
    real = asyncio.to_thread

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(sandbox.asyncio, "to_thread", counted)
    assert await files.read("src/server/app.ts") is first
    part = await files.read("src/server/app.ts", lines=(2, 2))
    assert (part.text, part.size, part.lines) == ("line 2\n", first.size, (2, 2))
    assert hops == []
    (files.root / "src" / "server" / "app.ts").write_text("edited\n")
    assert (await files.read("src/server/app.ts")).text == "edited\n"
    assert len(hops) == 1, "a changed file is checked again in a thread"


@pytest.mark.parametrize("gitignore", [".gitignore", "src/.gitignore", "src/server/.gitignore"])
async def test_a_file_ignored_since_its_last_read_is_refused(
    files: RepoFiles, gitignore: str
) -> None:
    """An edited or new ignore file anywhere above the file is noticed at once."""
    await files.read("src/server/app.ts")
    rules = files.root / gitignore
    previous = rules.read_text() if rules.exists() else ""
    rules.write_text(previous + "app.ts\n")
    with pytest.raises(PathDenied):
        await files.read("src/server/app.ts")


async def test_a_file_swapped_for_a_symlink_to_a_secret_is_refused(files: RepoFiles) -> None:
    await files.read("README.md")
    (files.root / "README.md").unlink()
    (files.root / "README.md").symlink_to(files.root / ".env")
    with pytest.raises(PathDenied):
        await files.read("README.md")


async def test_read_sync_serves_an_unchanged_file_without_the_full_gate(
    files: RepoFiles,
) -> None:
    """Search and retrieve read their hits with `read_sync` in a thread: a file whose last
    full check still holds is served as `read` serves it, and any change to it or to an
    ignore file above it sends it through the gate again."""
    first = files.read_sync("src/server/app.ts")
    located: list[str] = []
    locate = files.locate

    def spying_locate(path: str) -> object:
        located.append(path)
        return locate(path)

    files.locate = spying_locate  # type: ignore[method-assign,assignment]
    assert files.read_sync("src/server/app.ts") is first
    assert files.read_sync("./src/server/app.ts", lines=(2, 2)).text == "line 2\n"
    assert located == []
    (files.root / "src" / "server" / "app.ts").write_text("edited\n")
    assert files.read_sync("src/server/app.ts").text == "edited\n"
    assert located == ["src/server/app.ts"], "a changed file is checked again"
    (files.root / "src" / ".gitignore").write_text("app.ts\n")
    with pytest.raises(PathDenied):
        files.read_sync("src/server/app.ts")
    (files.root / "src" / ".gitignore").unlink()
    files.read_sync("README.md")
    (files.root / "README.md").unlink()
    (files.root / "README.md").symlink_to(files.root / ".env")
    with pytest.raises(PathDenied):
        files.read_sync("README.md")

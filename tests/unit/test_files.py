"""RepoFiles: what a remote participant can and cannot read from the repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
from context_bot.knowledge.sandbox import GitIgnore, RepoFiles, check_relative


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src" / "server").mkdir(parents=True)
    (root / "src" / "server" / "app.ts").write_text("line 1\nline 2\nline 3\n")
    (root / "README.md").write_text("# Demo\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / ".gitignore").write_text("build/\n*.log\n!keep.log\n/secrets.txt\n")
    (root / "build").mkdir()
    (root / "build" / "out.js").write_text("compiled\n")
    (root / "debug.log").write_text("log\n")
    (root / "keep.log").write_text("kept\n")
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


@pytest.mark.parametrize("path", ["build/out.js", "debug.log", "secrets.txt"])
async def test_gitignored_files_are_denied(files: RepoFiles, path: str) -> None:
    with pytest.raises(PathDenied):
        await files.read(path)


@pytest.mark.parametrize("path", ["keep.log", "src/secrets.txt"])
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

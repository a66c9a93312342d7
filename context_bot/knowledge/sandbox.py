"""Sandboxed, asynchronous reads of repository files for remote participants.

Anyone in a room can ask for any path, so every read goes through the same gate:

1. the path as given must be repository-relative (no absolute path, `..`, `~`, NUL, empty)
   and within MAX_PATH_CHARS and MAX_PATH_DEPTH (protocol.py), checked before anything
   else looks at it: every later step costs time in the path's length;
2. it is resolved (symlinks followed) and must stay inside the root by `Path.is_relative_to`
   (a string prefix check lets `/repo-evil` pass for `/repo`: CVE-2025-53110);
3. the deny-list and the ignore rules are checked on the path as given AND on the resolved
   path relative to the root, so a symlink to `.env` is `.env` (CVE-2025-53109);
4. only regular files: stat before opening, then open with O_NONBLOCK|O_NOFOLLOW and fstat
   the open descriptor, so a FIFO can never block and a swapped symlink fails;
5. size cap, then binary sniffing (NUL in the first 8 KiB, or not UTF-8).

Steps 2–5 touch the disk (and hash up to 2 MiB), so a request runs them in a worker thread
(`asyncio.to_thread`): a slow disk or a large file never holds the event loop. The product's
own reads (the README, knowledge documents) take the same gate through `read_sync`.

Ignore rules are every source git honours, in git's order of precedence: the global
excludes file (`core.excludesFile`, default `$XDG_CONFIG_HOME/git/ignore`), the
repository's `info/exclude`, and each `.gitignore` from the root down to the file's folder.
Patterns are matched by `pathspec` (its `GitIgnoreSpec`), with git's rule that nothing
inside an excluded folder can be re-included applied folder by folder (`ignored`). The
deny-list is matched the same way but without regard to case: on a case-insensitive file
system `.ENV` opens `.env`. Error messages carry only the path the user gave, never a host
path.

The module also gives the blob id git would give a working-tree file (`worktree_blob`),
read with the same care; asking git itself is `git.py`'s.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import re2
import structlog
from pathspec import GitIgnoreSpec
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from context_bot.errors import (
    BadRequest,
    BinaryFile,
    FileTooLarge,
    NotAFile,
    NotFound,
    PathDenied,
)
from context_bot.knowledge.documents import git_blob_sha
from context_bot.knowledge.git import git_output
from context_bot.knowledge.paths import WRITER_TEMP_SUFFIX, check_relative
from context_bot.protocol import line_range

log = structlog.get_logger(__name__)

#: Default cap on a file served, in bytes.
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Bytes inspected for a NUL when deciding whether a file is binary.
SNIFF_BYTES = 8 * 1024
#: Total bytes of file text kept in the read cache (keyed by path, inode, mtime_ns, size).
CACHE_BYTES = 32 * 1024 * 1024
SERVED_MEMO_ENTRIES = 4096
"""Paths whose last full check `read` remembers, to serve them again without a thread."""
#: Working-tree files larger than this are not hashed (their document is served as stale).
MAX_HASHED_FILE_BYTES = 64 * 1024 * 1024
#: Bytes of one ignore file read (git itself reads any size; a larger one is cut here).
MAX_IGNORE_FILE_BYTES = 1024 * 1024
#: Parsed `.gitignore` files kept, by folder (each re-read when its stat changes).
IGNORE_CACHE_ENTRIES = 1024

#: Secret files, from shhgit's signatures (github.com/eth0izzle/shhgit, `config.yaml` at
#: commit 3ce4418 of 2020-12-29; they grew out of gitrob's `core/signatures.go`, v2.0.0-beta),
#: every filename, extension and path signature written as a gitignore pattern. Left out on
#: purpose: names of ordinary source and configuration a walkthrough needs (`settings.py`,
#: `database.yml`, `mongoid.yml`, `config.php`, `LocalSettings.php`, `carrierwave.rb`,
#: `omniauth.rb`, `knife.rb`, `salesforce.js`, `journal.txt`, `*.sql`), and the dotless
#: forms of generic words (`history`, `profile`, `aliases`, `env`, `trc`, `tugboat`): as
#: gitignore patterns they would deny whole source folders of those names.
SHHGIT_SECRET_FILES = (
    "*.pem", "*.log", "*.pkcs12", "*.p12", "*.pfx", "*.asc", "otr.private_key", "*.ovpn",
    "*.cscfg", "*.rdp", "*.mdf", "*.sdf", "*.sqlite", "*.sqlite3", "*.bek", "*.tpm", "*.fve",
    "*.jks", "*.psafe3", "secret_token.rb", "*.agilekeychain", "*.keychain", "*.pcap",
    "*.gnucash", "jenkins.plugins.publish_over_ssh.BapSshPublisherPlugin.xml",
    "credentials.xml", "*.kwallet", "*.tblk", "Favorites.plist", "configuration.user.xpl",
    "*.dayone", "proftpdpasswd", "robomongo.json", "filezilla.xml", "recentservers.xml",
    "ventrilo_srv.ini", "terraform.tfvars", ".exports", ".functions", ".extra",
    "*_rsa", "*_dsa", "*_ed25519", "*_ecdsa", "**/.ssh/config", "**/ssh/config",
    "*.key", "*.keypair", ".history", ".bash_history", "bash_history", ".zsh_history",
    "zsh_history", ".sh_history", "sh_history", ".zhistory", "zhistory", ".mysql_history",
    "mysql_history", ".psql_history", "psql_history", ".pgpass", "pgpass", ".irb_history",
    "irb_history", "**/.purple/accounts.xml", "**/purple/accounts.xml", "servlist.conf",
    "servlist_.conf", "**/.irssi/config", "**/irssi/config", "**/.recon-ng/keys.db",
    "**/recon-ng/keys.db", ".dbeaver-data-sources.xml", "dbeaver-data-sources.xml",
    ".muttrc", "muttrc", ".s3cfg", "s3cfg", "**/.aws/credentials", "**/aws/credentials",
    "sftp-config", "sftp-config.json", ".trc", ".gitrobrc", "gitrobrc", ".bashrc", "bashrc",
    ".zshrc", "zshrc", ".cshrc", "cshrc", ".profile", ".bash_profile", "bash_profile",
    ".zsh_profile", "zsh_profile", ".aliases", ".bash_aliases", "bash_aliases",
    ".zsh_aliases", "zsh_aliases", "*.keystore", "*.keyring", "*.kdb", "*.kdbx",
    "*.sqldump", ".htpasswd", "htpasswd", ".netrc", "_netrc", "netrc", "*.netrc",
    "**/.gem/credentials", "**/gem/credentials", ".tugboat", "**/doctl/config.yaml",
    ".git-credentials", "git-credentials", "**/config/hub", ".gitconfig", "gitconfig",
    "**/etc/shadow", "**/etc/passwd", ".dockercfg", "dockercfg", ".npmrc", "npmrc", ".env",
    "*.ppk", "heroku.json", "dump.sql", "id_rsa_pub", "*remote-sync.json", "*esmtprc",
    "deployment-config.json", "*ftpconfig", "**/.idea/WebServers.xml",
    "**/.vscode/sftp.json", "**/web/ruby/secrets.yml", "**/.docker/config.json",
    "**/ruby/config/master.key", "**/.mozilla/firefox/logins.json",
)  # fmt: skip
#: Always denied, whatever the ignore files say (gitignore syntax, any depth, any case):
#: shhgit's list, plus what it misses: git's own folder (or worktree file), every `.env`
#: variant (`.env-production`, direnv's `.envrc`: both hold exported secrets), every
#: netrc copy (`.netrc.bak`), every ssh key pair file, `.pypirc`, and the folders of ssh,
#: GnuPG and kubectl.
DEFAULT_DENY = (
    *SHHGIT_SECRET_FILES,
    ".git", ".env*", "*.env", ".netrc*", "_netrc*",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".pypirc",
    ".ssh/", ".gnupg/", "**/.kube/config",
    f"*{WRITER_TEMP_SUFFIX}",  # not a secret: our own writes' half-written files
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FileContent:
    """A served file: `text` is the requested line range (or all), `size`/`sha` the file's."""

    path: str
    text: str
    size: int
    sha: str
    line_count: int
    lines: tuple[int, int] | None

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "text": self.text,
            "size": self.size,
            "sha": self.sha,
            "line_count": self.line_count,
            "lines": list(self.lines) if self.lines else None,
        }


class GitIgnore:
    """One source of gitignore-syntax patterns (a file, or the deny-list), by `pathspec`.

    `ignores` answers as git does for this source alone; `ignored` combines sources. With
    `fold_case` both the patterns and the paths are lower-cased before matching."""

    def __init__(self, lines: Iterable[str], *, fold_case: bool = False) -> None:
        self._fold = fold_case
        texts = [line.lower() if fold_case else line for line in lines]
        self.patterns: tuple[GitIgnoreSpecPattern, ...] = tuple(
            p for p in GitIgnoreSpec.from_lines(texts).patterns if p.include is not None
        )
        self._any = _any_of(self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def subject(self, path: str) -> str:
        return path.lower() if self._fold else path

    def candidates(self, subject: str) -> GitIgnoreSpec | None:
        """The patterns that can decide anything about `subject` or a folder above it.

        `pathspec` compiles each pattern to a regex matched from the start of the path that
        also matches everything below what the pattern names, so a pattern that matches a
        folder of `subject` matches `subject` itself: one pass over the patterns finds all
        that can matter. None when none matches."""
        # Most paths: one pass says no pattern matches. Not for a path with a line end:
        # Python's `$` also matches before a final "\n", RE2's does not.
        if self._any is not None and "\n" not in subject and self._any.match(subject) is None:
            return None
        hits = [p for p in self.patterns if p.regex is not None and p.regex.match(subject)]
        return GitIgnoreSpec(hits) if hits else None

    def ignores(self, path: str, *, is_dir: bool = False) -> bool:
        return ignored([("", self)], path, is_dir=is_dir)


_re2_compile = re2.compile  # bound once: a test's seam on `re2.compile` counts grep's alone
ANY_OF_MAX_MEM = 64 * 1024 * 1024
"""RE2's budget for the deny-list's patterns combined (their DFA; about 1 MB measured)."""
_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


class _Matcher(Protocol):
    def match(self, text: str) -> object | None: ...


def _any_of(patterns: Sequence[GitIgnoreSpecPattern]) -> _Matcher | None:
    """One regex matching where any of the patterns' regexes matches (their named groups
    made plain, so the alternation compiles), compiled by RE2 (one DFA pass; Python's
    `re` tries the alternatives in turn, 0.1 ms a path): the deny-list's 150-odd patterns
    were tried one by one on every path at load, 1.5 s at 7k files. None when they cannot
    be combined (a back-reference, a construct RE2 lacks): then each is tried."""
    sources = [p.regex.pattern for p in patterns if p.regex is not None]
    if (
        not sources
        or any("(?P=" in src for src in sources)
        or any(p.regex is not None and p.regex.flags & ~re.UNICODE for p in patterns)
    ):
        return None
    options = re2.Options()
    options.max_mem = ANY_OF_MAX_MEM
    options.never_capture = True
    options.log_errors = False
    try:
        combined = "|".join(f"(?:{_NAMED_GROUP.sub('(?:', src)})" for src in sources)
        return cast(_Matcher, _re2_compile(combined, options))
    except re2.error:
        return None


def ignored(sources: Sequence[tuple[str, GitIgnore]], path: str, *, is_dir: bool) -> bool:
    """Whether git would ignore the repo-relative `path` under these sources.

    `sources` are (folder prefix, rules) pairs, lowest precedence first, each folder prefix
    `""` or ending in `/`: its rules see paths relative to that folder. As git walks the
    tree: each folder above `path`, from the top, is checked as a folder, and an excluded
    one ends the walk (nothing below it can be re-included); at each step the
    highest-precedence source with a matching pattern decides, its last match winning.

    Cost: one regex pass per source over the whole path to find the few patterns that can
    decide anything, then one check per folder level with only those; the path's length
    and depth are bounded before it gets here (`check_relative`)."""
    full = path + "/" if is_dir else path
    live: list[tuple[str, GitIgnore, GitIgnoreSpec]] = []
    for base, rules in sources:
        if base and not full.startswith(base):
            continue
        spec = rules.candidates(rules.subject(full[len(base) :]))
        if spec is not None:
            live.append((base, rules, spec))
    if not any(p.include for _, _, spec in live for p in spec.patterns):
        return False  # negations alone never ignore anything
    start = 0
    while (cut := path.find("/", start)) != -1:
        if _decide(live, path[: cut + 1]):
            return True
        start = cut + 1
    return _decide(live, full) is True


def _decide(live: list[tuple[str, GitIgnore, GitIgnoreSpec]], subject: str) -> bool | None:
    for base, rules, spec in reversed(live):
        if len(subject) <= len(base) or not subject.startswith(base):
            continue
        verdict = spec.check_file(rules.subject(subject[len(base) :])).include
        if verdict is not None:
            return verdict
    return None


@dataclass(frozen=True, slots=True)
class _IgnoreFile:
    key: tuple[int, int, int]  # (inode, mtime_ns, size) when read
    rules: GitIgnore


class RepoFiles:
    """Reads files under one repository root, refusing everything unsafe.

    `read` is for requests (its disk work runs in a thread); `locate` and `read_sync`
    block, for code already off the event loop (the knowledge loader)."""

    def __init__(
        self, root: Path, *, max_bytes: int = MAX_FILE_BYTES, extra_deny: Sequence[str] = ()
    ) -> None:
        self._root = root.resolve()
        self._root_name = str(self._root)
        self._max = max_bytes
        self._deny = GitIgnore([*DEFAULT_DENY, *extra_deny], fold_case=True)
        rules = "\n".join([*DEFAULT_DENY, *extra_deny]).encode()
        self.deny_key = hashlib.sha256(rules).hexdigest()[:16]
        """Names the deny-list: what a cache of the paths it let through is keyed by."""
        self._lock = threading.Lock()  # the caches below, shared by worker threads
        self._ignore_files: OrderedDict[str, _IgnoreFile | None] = OrderedDict()
        self._git_facts: tuple[Path | None, Path | None, bool] | None = None
        self._cache: OrderedDict[tuple[str, int, int, int], FileContent] = OrderedDict()
        self._cached_bytes = 0
        self._served: OrderedDict[str, _Served] = OrderedDict()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def max_bytes(self) -> int:
        """The largest file served (`knowledge.max_file_bytes`)."""
        return self._max

    # -- ignore rules -------------------------------------------------------------------

    def _facts(self) -> tuple[Path | None, Path | None, bool]:
        """(global excludes file, info/exclude, core.ignoreCase), asked of git once.

        Without git (or outside a repository) the global file is git's default,
        `$XDG_CONFIG_HOME/git/ignore`, and `.git/info/exclude` is read if present."""
        if self._git_facts is None:
            root = self._root
            configured = git_output(root, ["config", "--type=path", "--get", "core.excludesFile"])
            if configured:
                excludes: Path | None = Path(configured)
            else:
                xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
                excludes = Path(xdg) / "git" / "ignore"
            info = git_output(root, ["rev-parse", "--git-path", "info/exclude"])
            exclude = root / info if info else root / ".git" / "info" / "exclude"
            fold = git_output(root, ["config", "--type=bool", "--get", "core.ignoreCase"])
            self._git_facts = (excludes, exclude, fold == "true")
        return self._git_facts

    def _ignore_file(self, host: Path, *, fold_case: bool) -> GitIgnore | None:
        """The parsed ignore file at `host`, re-read whenever its inode, mtime or size
        changes; None when there is none. A symlinked ignore file is not read (as git)."""
        name = str(host)
        try:
            st = os.lstat(name)
        except OSError:
            st = None
        key = (st.st_ino, st.st_mtime_ns, st.st_size) if st and stat.S_ISREG(st.st_mode) else None
        with self._lock:
            known = self._ignore_files.get(name)
            if known is not None and known.key == key:
                self._ignore_files.move_to_end(name)
                return known.rules
        if key is None:
            return None
        try:
            with open(name, "rb", opener=safe_opener) as fh:
                text = fh.read(MAX_IGNORE_FILE_BYTES).decode("utf-8", "replace")
        except OSError:
            return None
        rules = GitIgnore(text.splitlines(), fold_case=fold_case)
        with self._lock:
            self._ignore_files[name] = _IgnoreFile(key, rules)
            self._ignore_files.move_to_end(name)
            while len(self._ignore_files) > IGNORE_CACHE_ENTRIES:
                self._ignore_files.popitem(last=False)
        return rules

    def _ignore_sources(self, rel: str) -> list[tuple[str, GitIgnore]]:
        """Every ignore source that applies to `rel`, lowest precedence first."""
        excludes, exclude, fold = self._facts()
        sources: list[tuple[str, GitIgnore]] = []
        for host in (excludes, exclude):
            rules = self._ignore_file(host, fold_case=fold) if host else None
            if rules:
                sources.append(("", rules))
        folder = ""
        for part in ["", *rel.split("/")[:-1]]:
            folder = f"{folder}{part}/" if part else ""
            rules = self._ignore_file(self._root / folder / ".gitignore", fold_case=fold)
            if rules:
                sources.append((folder, rules))
        return sources

    def deny_listed(self, rel: str, *, is_dir: bool = False) -> bool:
        """True when a normalised path matches the deny-list (no disk access)."""
        return ignored([("", self._deny)], rel, is_dir=is_dir)

    def git_ignored(self, rel: str, *, is_dir: bool = False) -> bool:
        """True when git would ignore a normalised repo-relative path (every ignore source).

        Blocking (reads ignore files): call it off the event loop."""
        return ignored(self._ignore_sources(rel), rel, is_dir=is_dir)

    def denied(self, rel: str, *, is_dir: bool = False) -> bool:
        """True when a normalised repo-relative path is deny-listed or git-ignored.

        Blocking (reads ignore files): call it off the event loop."""
        return self.deny_listed(rel, is_dir=is_dir) or self.git_ignored(rel, is_dir=is_dir)

    # -- reading ------------------------------------------------------------------------

    def locate(self, path: str) -> tuple[str, Path, os.stat_result]:
        """Validate `path` and return (its normalised form, the resolved host path, its stat).

        Blocking: resolves, stats and reads ignore files."""
        rel = check_relative(path)
        if self.denied(rel):
            raise PathDenied(f"path is not served: {rel}")
        try:
            target = (self._root / rel).resolve(strict=True)
        except FileNotFoundError:
            raise NotFound(f"no such file: {rel}") from None
        except (OSError, RuntimeError):  # symlink loop, permission, name too long
            raise NotFound(f"cannot resolve path: {rel}") from None
        if not target.is_relative_to(self._root):
            raise PathDenied(f"path leads outside the repository: {rel}")
        real = target.relative_to(self._root).as_posix()
        if real == ".":
            raise NotAFile(f"not a regular file: {rel}")
        try:
            st = target.stat()
        except OSError:
            raise NotFound(f"no such file: {rel}") from None
        is_dir = stat.S_ISDIR(st.st_mode)
        if (real != rel or is_dir) and self.denied(real, is_dir=is_dir):
            raise PathDenied(f"path is not served: {rel}")
        if not stat.S_ISREG(st.st_mode):
            raise NotAFile(f"not a regular file: {rel}")
        if st.st_size > self._max:
            raise FileTooLarge(f"file is {st.st_size} bytes; the cap is {self._max}: {rel}")
        return rel, target, st

    async def read(self, path: str, *, lines: tuple[int, int] | None = None) -> FileContent:
        """The file's text (or a 1-based inclusive line range of it); raises FileError.

        The path's shape is checked here, the rest in a worker thread."""
        span = line_range(lines)
        rel = check_relative(path)
        full = self._unchanged(rel)
        if full is None:
            return await asyncio.to_thread(self._checked, rel, span)
        return full if span is None else _slice(full, span)

    def _unchanged(self, rel: str) -> FileContent | None:
        """The cached contents of `rel` when nothing its last full check saw has changed:
        the same file (device, inode, mtime, size, through any symlink) and the same
        ignore files (each one's inode, mtime, size, or absence). Else None: `read_sync`
        checks again in a thread.

        Why on the event loop: a request's hop to a worker thread and back cost 0.5-2 ms
        on a busy 2-core machine, more than the rest of a small file's answer
        (benchmarks/RESULTS.md, room protocol). This costs a `stat` of the file and an
        `lstat` per ignore file that applies (the folders above it, plus two): tens of
        microseconds on a local disk, no reads. Same inode and size means the very file
        once checked, wherever a symlink now points, so nothing unchecked is served; a
        changed ignore file, a file swapped or edited, sends the request the slow way."""
        with self._lock:
            served = self._served.get(rel)
        if served is None:
            return None
        try:
            st = os.stat(os.path.join(self._root_name, rel))  # noqa: PTH116,PTH118 - hot path
        except OSError:
            return None
        if (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size) != served.file:
            return None
        if self._ignore_keys(rel) != served.ignores:
            return None
        with self._lock:
            return self._cache.get((rel, st.st_ino, st.st_mtime_ns, st.st_size))

    def _ignore_keys(self, rel: str) -> tuple[tuple[int, int, int] | None, ...] | None:
        """What every ignore file that applies to `rel` is now (`_ignore_file`'s keys);
        None before git was asked where they are (the first full check asks)."""
        facts = self._git_facts
        if facts is None:
            return None
        excludes, exclude, _ = facts
        hosts = [str(h) for h in (excludes, exclude) if h]
        # Strings, not `Path`s: this runs for every read of a file already checked.
        folder = self._root_name
        hosts.append(f"{folder}/.gitignore")
        for part in rel.split("/")[:-1]:
            folder = f"{folder}/{part}"
            hosts.append(f"{folder}/.gitignore")
        return tuple(_stat_key(host) for host in hosts)

    def read_sync(self, path: str, *, lines: tuple[int, int] | None = None) -> FileContent:
        """`read`, blocking: for code that already runs off the event loop (search's and
        retrieve's hits, grep, the overview's README).

        Like `read`, a file whose last full check still holds (`_unchanged`) is served
        without the check again: a search reads each of its code hits and a retrieve
        its shown files, 15 or so reads, and the full gate (resolving, the deny-list,
        every ignore file's rules) cost 90 µs of CPU a file against 22 µs for
        `_unchanged`'s stats (benchmarks/RESULTS-retrieval.md, 2026-11-27)."""
        span = line_range(lines)
        rel = check_relative(path)
        full = self._unchanged(rel)
        if full is None:
            return self._checked(rel, span)
        return full if span is None else _slice(full, span)

    def _checked(self, path: str, span: tuple[int, int] | None) -> FileContent:
        """The full gate (`locate`), then the contents, from the cache when the file is
        the one cached; remembered for `_unchanged`."""
        self._facts()  # asks git once where the ignore files are, for `_ignore_keys`
        ignores = self._ignore_keys(check_relative(path))  # before the check: see below
        rel, target, st = self.locate(path)
        key = (rel, st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            full = self._cache.get(key)
            if full is not None:
                self._cache.move_to_end(key)
        if full is None:
            full = self._load(rel, target)
            with self._lock:
                if key not in self._cache:
                    self._cache[key] = full
                    self._cached_bytes += full.size
                while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                    self._cached_bytes -= self._cache.popitem(last=False)[1].size
        if ignores is not None:
            self._remember_served(rel, st, ignores)
        return full if span is None else _slice(full, span)

    def _remember_served(
        self, rel: str, st: os.stat_result, ignores: tuple[tuple[int, int, int] | None, ...]
    ) -> None:
        """After a full check passed: what `_unchanged` compares against. The ignore
        keys were taken before the check, so an ignore file changed during it only
        costs a needless slow read later, never a skipped check."""
        served = _Served((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size), ignores)
        with self._lock:
            self._served[rel] = served
            self._served.move_to_end(rel)
            while len(self._served) > SERVED_MEMO_ENTRIES:
                self._served.popitem(last=False)

    def _load(self, rel: str, target: Path) -> FileContent:
        try:
            with open(target, "rb", opener=safe_opener) as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise NotAFile(f"not a regular file: {rel}")
                data = fh.read(self._max + 1)
        except FileNotFoundError:
            raise NotFound(f"no such file: {rel}") from None
        except OSError:  # ELOOP from O_NOFOLLOW (swapped to a symlink), permissions, ...
            raise NotFound(f"cannot open file: {rel}") from None
        if len(data) > self._max:
            raise FileTooLarge(f"file is larger than the cap of {self._max} bytes: {rel}")
        if b"\0" in data[:SNIFF_BYTES]:
            raise BinaryFile(f"file is binary: {rel}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BinaryFile(f"file is not UTF-8 text: {rel}") from None
        return FileContent(rel, text, len(data), git_blob_sha(data), _count_lines(text), None)


@dataclass(frozen=True, slots=True)
class _Served:
    """A path's last full check: its file, and the ignore files that applied."""

    file: tuple[int, int, int, int]
    ignores: tuple[tuple[int, int, int] | None, ...]


def _stat_key(host: str) -> tuple[int, int, int] | None:
    """An ignore file's key as `RepoFiles._ignore_file` takes it (None: none there)."""
    try:
        st = os.lstat(host)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None


def safe_opener(path: str, flags: int) -> int:
    """Open without following a final symlink and without ever blocking on a FIFO."""
    return os.open(path, flags | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))


def _count_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def _slice(full: FileContent, span: tuple[int, int]) -> FileContent:
    first, last = span
    if first > full.line_count:
        raise BadRequest(f"lines start at {first} but the file has {full.line_count} lines")
    last = min(last, full.line_count)
    # Lines end at "\n" only, as `line_count` counts them (not at "\r" or U+2028).
    chunk = "\n".join(full.text.split("\n")[first - 1 : last])
    text = chunk + "\n" if last < full.line_count or full.text.endswith("\n") else chunk
    return FileContent(full.path, text, full.size, full.sha, full.line_count, (first, last))


# --- the blob id of a working-tree file (git's, without git) ------------------------------


def worktree_blob(root: Path, rel: str) -> str | None:
    """The blob id git would give `root/rel` now, or None when it is no regular file.

    Like git, a symlink is hashed as its target text and never followed, so hashing cannot
    read outside the repository through the last component; only regular files are
    opened (never a FIFO or device), and files over MAX_HASHED_FILE_BYTES are skipped."""
    full = os.path.join(root, rel)  # noqa: PTH118 - hot path at load, plain strings
    try:
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            return git_blob_sha(os.fsencode(os.readlink(full)))  # noqa: PTH115
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_HASHED_FILE_BYTES:
            return None
        with open(full, "rb", opener=safe_opener) as fh:
            return git_blob_sha(fh.read(MAX_HASHED_FILE_BYTES + 1))
    except (OSError, ValueError):
        return None

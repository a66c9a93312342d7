"""What the overview counts over every file of the repository, kept between reloads.

The overview's layout (files per folder), language mix and documentation coverage are
counts over the whole inventory: a third of a second at 100,000 files. A load counts
them once (`count_files`) and keeps the counts; a live reload of a few files moves them
by those files alone (`FileCounts.patched`), so the overview it writes again costs what
its text costs, not a pass over the repository. The counts are the same whichever way
they were made (tests compare a patched snapshot's overview with a full load's).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from context_bot.knowledge.model import RepoFile

#: Depth of the folder tree shown (1 = top-level folders only).
TREE_DEPTH = 3
#: Languages that are prose, data or configuration, not source: not counted in coverage.
NOT_SOURCE = frozenset(
    {"markdown", "rst", "text", "json", "yaml", "toml", "xml", "csv", "svg", "ini", "html"}
    | {"asciidoc", "plain-text", "json5", "jsonnet", "lock", "dotenv", "gitignore", "pem"}
    | {"pyproject", "setup-cfg", "editorconfig", "gitattributes", "gitmodules", "tsv"}
)


@dataclass(frozen=True)
class FileCounts:
    """The inventory's counts the overview shows. Immutable: `patched` makes new ones."""

    folders: Mapping[str, int]
    """Folder (down to TREE_DEPTH) → files under it: the repository's and the documented
    paths together, each path once."""
    documented: Mapping[str, int]
    """Folder → documented paths under it."""
    languages: Mapping[str, int]
    """Language → text files in it."""
    sizes: Mapping[str, int]
    """Language → bytes of its text files."""
    files: int
    source: int
    """Files in a source language (not NOT_SOURCE)."""
    covered: int
    """Source files that have a document."""
    binary: int
    has_documents: bool

    def tree(self) -> list[tuple[str, tuple[int, int | None]]]:
        """Folders with their file counts and how many are documented (None when nothing
        is, or the repository's files are not known), shallowest first: a cut keeps the
        whole top of the tree."""
        show = self.has_documents and self.files > 0
        return sorted(
            (
                (k, (n, self.documented.get(k, 0) if show else None))
                for k, n in self.folders.items()
            ),
            key=lambda kv: (kv[0].count("/"), kv[0]),
        )

    def language_lines(self) -> list[tuple[str, int, int]]:
        """(language, files, bytes), most files first."""
        return [
            (lang, n, self.sizes[lang])
            for lang, n in sorted(self.languages.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def patched(
        self, before: Iterable[RepoFile], after: Iterable[RepoFile], documented: Iterable[str]
    ) -> FileCounts:
        """These counts with the files `before` taken out and `after` put in (a live
        reload's changed paths as the last snapshot and the new one list them).
        `documented` must be the paths with a document among them: a patch declines a
        documented path, so it is only checked, never counted (ValueError)."""
        olds, news = list(before), list(after)
        doc_paths = set(documented)
        if any(f.path in doc_paths for f in (*olds, *news)):
            raise ValueError("a documented path moves the documented counts")
        folders = dict(self.folders)
        languages, sizes = dict(self.languages), dict(self.sizes)
        files, source, binary = self.files, self.source, self.binary
        for sign, group in ((-1, olds), (1, news)):
            for f in group:
                for folder in _folders(f.path):
                    _add(folders, folder, sign)
                files += sign
                source += sign if _is_source(f) else 0
                binary += sign if f.binary else 0
                if f.language and not f.binary:
                    _add(languages, f.language, sign)
                    _add(sizes, f.language, sign * f.size, keep=f.language in languages)
        return FileCounts(
            folders, self.documented, languages, sizes, files, source, self.covered, binary,
            self.has_documents,
        )  # fmt: skip


def count_files(inventory: Iterable[RepoFile], documented: Iterable[str]) -> FileCounts:
    """The counts of `inventory` (every file of the repository) and the `documented` paths
    (served file documents, whether their file exists or not)."""
    doc_paths = set(documented)
    folders: Counter[str] = Counter()
    in_docs: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    listed: set[str] = set()
    files = source = covered = binary = 0
    for f in inventory:
        listed.add(f.path)
        files += 1
        if f.binary:
            binary += 1
        elif f.language:
            languages[f.language] += 1
            sizes[f.language] += f.size
        if _is_source(f):
            source += 1
            covered += f.path in doc_paths
    # Counted in no order (the tree is sorted when shown), each path once.
    for path in (*listed, *(doc_paths - listed)):
        documented_path = path in doc_paths
        for folder in _folders(path):
            folders[folder] += 1
            if documented_path:
                in_docs[folder] += 1
    return FileCounts(
        dict(folders), dict(in_docs), dict(languages), dict(sizes), files, source, covered,
        binary, bool(doc_paths),
    )  # fmt: skip


def _is_source(f: RepoFile) -> bool:
    return bool(f.language) and f.language not in NOT_SOURCE


def _folders(path: str) -> Iterable[str]:
    """The folders above `path`, down to TREE_DEPTH."""
    cut = path.find("/")
    depth = 0
    while cut != -1 and depth < TREE_DEPTH:
        yield path[:cut]
        cut = path.find("/", cut + 1)
        depth += 1


def _add(counts: dict[str, int], key: str, n: int, *, keep: bool = False) -> None:
    """Move a count by `n`, dropping it at zero (a full count has no zero entries) unless
    `keep` (a language of empty files still has its line)."""
    now = counts.get(key, 0) + n
    if now or keep:
        counts[key] = now
    else:
        counts.pop(key, None)

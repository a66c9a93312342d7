"""What changed between two knowledge snapshots, in the words clients refresh by.

Pure: compares the documents each snapshot serves (file documents by repository path,
free documents by name) by their text and staleness, so a file edited on disk that turns
its document stale counts as a change to that path too; and the repository's files
(the inventory) by path, size and, when both snapshots were indexed with the index
cache, the start of their content hash (`LoadBasis.digests`), so a file added, removed,
grown or edited in place is reported whether a document describes it or not (without
the cache an edit that keeps the size moves no version either, and is seen only through
its document, if any). A document's own file in the knowledge folder is left to the
document: an edit is named once, by the path it describes (a file there that is no
document, or fails to parse, is named as a file).

A snapshot patched from the other (`patching.py`) differs from it only at the paths the
patch looked at again (documents decline a patch), so only those are compared: the same
answer as the comparison of every file, without a pass over 100,000 of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from context_bot.knowledge.loading import Knowledge


def _digests(old: Knowledge, new: Knowledge) -> tuple[Mapping[str, int], Mapping[str, int]]:
    """Both snapshots' content hashes when both have them (else none: a load without the
    cache next to one with it must not name every file)."""
    if old.basis is None or new.basis is None or not old.basis.digests or not new.basis.digests:
        return {}, {}
    return old.basis.digests, new.basis.digests


def _document_prints(knowledge: Knowledge) -> dict[str, str]:
    prints: dict[str, str] = {}
    for doc in (*knowledge.served_documents(), *knowledge.free_documents()):
        digest = hashlib.sha1(doc.text.encode("utf-8"), usedforsecurity=False).hexdigest()
        prints[doc.path] = f"{digest}:{int(doc.stale)}"
    return prints


def _fingerprints(knowledge: Knowledge, digests: Mapping[str, int]) -> dict[str, str]:
    prints = _document_prints(knowledge)
    # A document's own file in the knowledge folder is named by its document alone.
    folder = knowledge.knowledge_folder
    documents = (*knowledge.served_documents(), *knowledge.free_documents())
    sources = (
        {f"{folder}/{d.source}" if folder else d.source for d in documents}
        if folder is not None
        else set()
    )
    for repo_file in knowledge.inventory.files:
        path = repo_file.path
        if path not in sources:
            prints[path] = f"{prints.get(path, '')}|{repo_file.size}|{digests.get(path, '')}"
    return prints


def _path_prints(
    knowledge: Knowledge, paths: Iterable[str], digests: Mapping[str, int]
) -> dict[str, str]:
    """`_fingerprints` of these paths alone, for paths a patch looked at: never a
    document's own file (the knowledge folder declines a patch)."""
    prints: dict[str, str] = {}
    for path in paths:
        doc = None
        for found in (knowledge._served.get(path), knowledge._free.get(path)):
            doc = found or doc  # as in `_fingerprints`: a free document's print is the last
        head = ""
        if doc is not None:
            digest = hashlib.sha1(doc.text.encode("utf-8"), usedforsecurity=False).hexdigest()
            head = f"{digest}:{int(doc.stale)}"
        repo_file = knowledge.inventory.get(path)
        if repo_file is not None:
            prints[path] = f"{head}|{repo_file.size}|{digests.get(path, '')}"
        elif doc is not None:
            prints[path] = head
    return prints


MAX_CHANGE_PATHS = 1_000
"""Paths named per list of one `knowledge_changed`. A branch switch can change every file
of the repository, and each push goes to every participant of every room: past this, the
lists are cut (in path order), `truncated` is true and `counts` says how many there were,
which tells a client to refresh everything rather than path by path."""


def knowledge_change(old: Knowledge, new: Knowledge) -> dict[str, Any]:
    """The `knowledge_changed` push's data: versions, the paths added, changed, removed
    (at most `MAX_CHANGE_PATHS` each), how many there were, and whether any list was cut.
    Blocking at 100k files unless `new` was patched from `old`: call it off the loop."""
    old_digests, new_digests = _digests(old, new)
    basis = new.basis
    if basis is not None and basis.patched_from is not None and basis.patched_from == old.version:
        before = _path_prints(old, basis.patched_paths, old_digests)
        after = _path_prints(new, basis.patched_paths, new_digests)
    else:
        before, after = _fingerprints(old, old_digests), _fingerprints(new, new_digests)
    lists = {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": sorted(p for p in before.keys() & after.keys() if before[p] != after[p]),
    }
    return {
        "knowledge_version": new.version,
        "previous_version": old.version,
        **{name: paths[:MAX_CHANGE_PATHS] for name, paths in lists.items()},
        "counts": {name: len(paths) for name, paths in lists.items()},
        "truncated": any(len(paths) > MAX_CHANGE_PATHS for paths in lists.values()),
    }

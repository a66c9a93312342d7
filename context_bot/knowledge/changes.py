"""What changed between two knowledge snapshots, in the words clients refresh by.

Pure: compares the documents each snapshot serves (file documents by repository path,
free documents by name) by their text and staleness, so a file edited on disk that turns
its document stale counts as a change to that path too; and the repository's files
(the inventory) by path and size, so a file added, removed or grown is reported whether a
document describes it or not (an edit that keeps the size is seen only through its
document, if any: the inventory holds no content hash). A document's own file in the
knowledge folder is left to the document: an edit is named once, by the path it
describes (a file there that is no document, or fails to parse, is named as a file).
"""

from __future__ import annotations

import hashlib
from typing import Any

from context_bot.knowledge.loading import Knowledge


def _fingerprints(knowledge: Knowledge) -> dict[str, str]:
    prints: dict[str, str] = {}
    for doc in (*knowledge.served_documents(), *knowledge.free_documents()):
        digest = hashlib.sha1(doc.text.encode("utf-8"), usedforsecurity=False).hexdigest()
        prints[doc.path] = f"{digest}:{int(doc.stale)}"
    # A document's own file in the knowledge folder is named by its document alone.
    folder = knowledge.knowledge_folder
    documents = (*knowledge.served_documents(), *knowledge.free_documents())
    sources = (
        {f"{folder}/{d.source}" if folder else d.source for d in documents}
        if folder is not None
        else set()
    )
    for repo_file in knowledge.inventory.files:
        if repo_file.path not in sources:
            prints[repo_file.path] = f"{prints.get(repo_file.path, '')}|{repo_file.size}"
    return prints


MAX_CHANGE_PATHS = 1_000
"""Paths named per list of one `knowledge_changed`. A branch switch can change every file
of the repository, and each push goes to every participant of every room: past this, the
lists are cut (in path order), `truncated` is true and `counts` says how many there were,
which tells a client to refresh everything rather than path by path."""


def knowledge_change(old: Knowledge, new: Knowledge) -> dict[str, Any]:
    """The `knowledge_changed` push's data: versions, the paths added, changed, removed
    (at most `MAX_CHANGE_PATHS` each), how many there were, and whether any list was cut."""
    before, after = _fingerprints(old), _fingerprints(new)
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

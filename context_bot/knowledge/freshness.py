"""How fresh the knowledge is: documented, stale and missing files, by folder.

What `context-bot check --stale` reports and gates on, so a team can put it in CI: a
document is stale as the loader decides it (its `fileVersion` matches neither the working
tree blob nor a commit holding it, or its file is gone), and a file is missing a document
when it is a source file (`draft_plan.is_source`, the same rule `draft` follows) and no
document describes it. Pure over a loaded `Knowledge`.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field

from context_bot.knowledge.draft_plan import is_source
from context_bot.knowledge.loading import Knowledge

#: Folders are summarised this many levels deep (`context_bot/knowledge`).
FOLDER_DEPTH = 2
#: Stale documents and missing files named one by one, at most each.
LISTED = 20


@dataclass
class FolderCounts:
    documented: int = 0
    stale: int = 0
    missing: int = 0


@dataclass
class Freshness:
    folders: dict[str, FolderCounts] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    """Files whose serving document is stale (gone files included), by path."""
    missing: list[str] = field(default_factory=list)
    """Source files without a document, by path."""

    @property
    def documented(self) -> int:
        return sum(c.documented for c in self.folders.values())

    def passes(self, max_missing: int) -> bool:
        return not self.stale and len(self.missing) <= max_missing

    def render(self, max_missing: int) -> str:
        width = max([len("folder"), *(len(f) for f in self.folders)])
        lines = [f"{'folder':<{width}}  documented  stale  missing"]
        for name in sorted(self.folders):
            c = self.folders[name]
            lines.append(f"{name:<{width}}  {c.documented:>10}  {c.stale:>5}  {c.missing:>7}")
        for label, paths in (("stale", self.stale), ("missing a document", self.missing)):
            for path in paths[:LISTED]:
                lines.append(f"{label}: {path}")
            if len(paths) > LISTED:
                lines.append(f"{label}: … and {len(paths) - LISTED} more")
        verdict = "fresh" if self.passes(max_missing) else "NOT fresh"
        lines.append(
            f"{verdict}: {self.documented} documented, {len(self.stale)} stale, "
            f"{len(self.missing)} missing (at most {max_missing} allowed); "
            "`context-bot draft` writes the missing and refreshes the stale"
        )
        return "\n".join(lines)


def freshness(knowledge: Knowledge) -> Freshness:
    out = Freshness()
    counts: dict[str, FolderCounts] = defaultdict(FolderCounts)
    for doc in knowledge.served_documents():
        c = counts[_folder(doc.path)]
        c.documented += 1
        if doc.stale:
            c.stale += 1
            out.stale.append(doc.path)
    served = {d.path for d in knowledge.served_documents()}
    folder = knowledge.knowledge_folder
    for f in knowledge.inventory.files:
        if f.path not in served and is_source(f, folder):
            counts[_folder(f.path)].missing += 1
            out.missing.append(f.path)
    out.folders = dict(counts)
    return out


def _folder(path: str) -> str:
    parent = posixpath.dirname(path)
    return "/".join(parent.split("/")[:FOLDER_DEPTH]) if parent else "."

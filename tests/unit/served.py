"""A tiny knowledge folder served by real `Handlers`, whose version a test can move on."""

from __future__ import annotations

import shutil
from pathlib import Path

from context_bot.bot.handlers import Handlers
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.sandbox import RepoFiles

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"


class Served:
    """The seed documents in `root/knowledge`; `change()` edits one and reloads."""

    def __init__(self, root: Path) -> None:
        self._root = root
        shutil.copytree(SEEDS, root / "knowledge")
        self.knowledge: Knowledge = load_knowledge(root / "knowledge", root)
        self.handlers = Handlers(lambda: self.knowledge, RepoFiles(root))

    @property
    def version(self) -> str:
        return self.knowledge.version

    def change(self) -> str:
        """A new knowledge version (one document gains a line); returns it."""
        document = sorted((self._root / "knowledge").iterdir())[0]
        document.write_text(document.read_text() + "\nOne more line.\n")
        self.knowledge = load_knowledge(self._root / "knowledge", self._root)
        return self.version

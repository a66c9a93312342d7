"""Asking git, best-effort: git is optional, so every answer may be "don't know" (None).

One subprocess per question, with a deadline, in the repository's own folder and without
any inherited `GIT_*` variable (a hook's `GIT_DIR` would point git at another repository).
Blocking: callers run it at load or in a worker thread, never on the event loop.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

GIT_TIMEOUT_S = 10.0
"""Seconds one git call may take before we give up on it."""


def blobs_at_commits(root: Path, pairs: list[tuple[str, str]]) -> list[str | None]:
    """For each (commit-ish, path), the blob id of that path at that commit, or None.

    One `git cat-file --batch-check` for all pairs; any failure (not a git repository, git
    missing, timeout) answers None for every pair: the documents are then served as stale."""
    lines = [f"{rev}:./{path}" for rev, path in pairs]
    if any("\n" in line for line in lines):
        return [None] * len(pairs)
    out = git_output(root, ["cat-file", "--batch-check"], stdin="\n".join(lines) + "\n")
    if out is None:
        return [None] * len(pairs)
    answers = out.splitlines()
    if len(answers) != len(pairs):
        return [None] * len(pairs)
    result: list[str | None] = []
    for answer in answers:
        fields = answer.split()
        result.append(fields[0] if len(fields) == 3 and fields[1] == "blob" else None)
    return result


def git_output(root: Path, args: list[str], *, stdin: str | None = None) -> str | None:
    """Run one git command in `root`; None on any failure (git is optional)."""
    # Inherited GIT_DIR/GIT_WORK_TREE (say, from a hook) would point git at another repo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env |= {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        log.debug("git_unavailable", command=args[0], returncode=proc.returncode)
        return None
    return proc.stdout.strip() if stdin is None else proc.stdout

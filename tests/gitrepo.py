"""Git for tests that build repositories of their own: one command, one environment.

The environment drops every inherited `GIT_*` variable (a hook's `GIT_DIR` would point git
at another repository), ignores the system configuration, and names an author, so
`commit` works on a machine with no git identity configured.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str) -> str:
    """Run `git -C root ARGS`; its output, stripped; raises when git fails."""
    out = subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    )
    return out.stdout.strip()

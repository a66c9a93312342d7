"""Which paths hold vendored or generated code: one rule for every part that asks.

A repository often carries code nobody here wrote or edits by hand: dependencies copied in
(`vendor/`, `node_modules/`, `third_party/`), build outputs (`dist/`, `build/`: a package
from a registry ships its `dist/cjs`, `dist/esm` and `dist/esm5` copies of every source
file) and generated files (`*.min.js`, protobuf's `_pb2.py` and `.pb.go`). `draft` writes
them no document, and the overview's central files leave them out: rxjs's list was three
build copies of each central source file.
"""

from __future__ import annotations

import posixpath
import re

#: Folders of vendored or generated code, at any depth.
VENDORED_FOLDERS = frozenset(
    [
        "node_modules",
        "vendor",
        "third_party",
        "third-party",
        "dist",
        "build",
        "__pycache__",
        ".venv",
        "venv",
        "site-packages",
        "bower_components",
        "generated",
        "__generated__",
    ]
)
GENERATED_NAME = re.compile(r"\.min\.(js|css)$|_pb2(_grpc)?\.pyi?$|\.pb\.go$|\.generated\.")


def vendored_or_generated(path: str) -> bool:
    """Whether `path` (a file, or a folder ending in "/") is in a vendored or generated
    folder at any depth, or is a file named as generated."""
    parts = path.rstrip("/").split("/")
    folders = parts if path.endswith("/") else parts[:-1]
    if any(part in VENDORED_FOLDERS for part in folders):
        return True
    return not path.endswith("/") and bool(GENERATED_NAME.search(posixpath.basename(path)))

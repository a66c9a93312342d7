"""The package's import graph has no cycle, and the layer contracts hold.

A cycle between modules means neither can be understood, tested or moved without the
other; the layered layout (README, "Where things are") exists to prevent them. The
graph is read statically by grimp (import-linter's engine), so imports made only for
type checking count too: they couple modules just the same.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that reach each other (size > 1 is a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph("context_bot", cache_dir=None)
    # A package's __init__ re-exporting nothing is no dependency; modules only.
    return {
        module: {
            imported
            for imported in graph.find_modules_directly_imported_by(module)
            if imported.startswith("context_bot")
        }
        for module in graph.modules
    }


def test_strongly_connected_finds_a_cycle_and_only_a_cycle() -> None:
    groups = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert sorted(g for g in groups if len(g) > 1) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycle() -> None:
    cycles = [g for g in strongly_connected(import_graph()) if len(g) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_the_layer_contracts_hold() -> None:
    """`lint-imports` with the contracts in pyproject.toml (also run by scripts/test)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe is not None, "import-linter is a dev dependency"
    proc = subprocess.run(
        [exe, "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout

"""A live reload of one changed source file: the patched reload against a full load.

    python benchmarks/reload_bench.py TREE [--rounds N] [--work DIR]

TREE (a Django-size checkout, e.g. the corpus's `pypi/Django-4.2.7`) is copied to
`--work` and committed to a git repository of its own, then loaded once with an index
cache. Each round appends a new function to one `.py` file (a different file each
round, so the symbol overlay grows as a day of edits would) and times
`reload_knowledge` with that path, which patches the last snapshot (`patching.py`:
the symbol index by `SymbolIndex.patched`). Peer, in the same round: `load_knowledge`
of the same files on a copy of the cache as it was before the edit, which is what a
reload was for a source file before the symbol overlay (it reads the one changed file
too). Each round checks that both find the new function and give the same `symbols`,
`references` answers for a few names, then prints the timings. Last, the cost of
the overlay to lookups: `find` (limit 20) and `references` for names drawn (seeded) from
the index, on the last patched snapshot and on its full-load peer.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.patching import reload_knowledge

NAMES = ("get", "Model", "render", "reload_probe_0", "QuerySet", "as_view")


def answers(k: Knowledge) -> list[object]:
    s = k.symbols
    out: list[object] = [len(s), s.files, s.skipped, s.partial]
    for name in NAMES:
        out += [s.find(name, limit=20), s.references(name, limit=20), s.defined(name, 5)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="symbols-patch-reload-"))
    root = work / "repo"
    if not root.exists():
        shutil.copytree(args.tree, root, symlinks=True)
        for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "tree"]):
            subprocess.run(["git", "-C", str(root), *command], check=True)
    knowledge = root / "knowledge"
    cache = work / "cache"
    started = time.perf_counter()
    k = load_knowledge(knowledge, root, cache_dir=cache)
    print(f"first load (index built): {time.perf_counter() - started:.2f} s, "
          f"{len(k.inventory)} files, {len(k.symbols)} definitions")  # fmt: skip
    sources = sorted(
        f.path for f in k.inventory.files if f.path.endswith(".py") and 2_000 < f.size < 40_000
    )[:: max(1, len(k.inventory) // 97)]
    patched_ms: list[float] = []
    full_ms: list[float] = []
    for n in range(args.rounds):
        twin = work / f"twin-{n}"
        shutil.rmtree(twin, ignore_errors=True)
        shutil.copytree(cache, twin)
        path = sources[n % len(sources)]
        with (root / path).open("a") as out:
            out.write(f"\n\ndef reload_probe_{n}(model):\n    return model.get()\n")
        started = time.perf_counter()
        k = reload_knowledge(k, [str(root / path)], knowledge, root, cache_dir=cache)
        patched_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        full = load_knowledge(knowledge, root, cache_dir=twin)
        full_ms.append((time.perf_counter() - started) * 1000)
        shutil.rmtree(twin, ignore_errors=True)
        if not hasattr(k.symbols, "_base"):
            sys.exit(f"round {n}: the reload was not a patch")
        if [m.symbol.path for m in k.symbols.find(f"reload_probe_{n}")] != [path]:
            sys.exit(f"round {n}: the new function is not found")
        if answers(k) != answers(full):
            sys.exit(f"round {n}: the patched snapshot answers differently from a full load")
        print(f"round {n}: {path}: patched {patched_ms[-1]:.0f} ms, full {full_ms[-1]:.0f} ms")
    drawn = random.Random(17)  # noqa: S311 - a seeded draw, not a secret
    names = drawn.sample(sorted({s.name for s in full.symbols.symbols}), 200)
    queries = [q for name in names for q in (name, name[:4], name[:2] + name[-1])]
    lookups: list[tuple[str, list[float], list[float]]] = []
    for label, ask in (
        ("find", lambda k, q: k.symbols.find(q)),
        ("references", lambda k, q: k.symbols.references(q)),
    ):
        times: tuple[list[float], list[float]] = ([], [])
        for q in queries:
            for at, snapshot in enumerate((k, full)):
                started = time.perf_counter()
                ask(snapshot, q)
                times[at].append((time.perf_counter() - started) * 1000)
        lookups.append((label, *times))
    print("| one .py file changed | patched reload | full load (peer) |")
    print("|---|---|---|")
    for label, pick in (("median", statistics.median), ("max", max), ("min", min)):
        print(f"| {label} of {args.rounds} | {pick(patched_ms):.0f} ms | {pick(full_ms):.0f} ms |")
    print(f"| lookups ({len(queries)} queries) | overlay of {args.rounds} files | full index |")
    print("|---|---|---|")
    for label, ours, theirs in lookups:
        for p, cut in (("p50", 49), ("p95", 94)):
            a, b = statistics.quantiles(ours, n=100)[cut], statistics.quantiles(theirs, n=100)[cut]
            print(f"| {label} {p} | {a:.2f} ms | {b:.2f} ms |")


if __name__ == "__main__":
    main()

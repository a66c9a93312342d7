"""Symbols alone, over any trees: extraction speed, index size, and the three lookups,
beside Universal Ctags over the same files.

    python benchmarks/symbols_bench.py ROOT [ROOT ...] [--max-files N] [--no-ctags]

Every file under the roots in a parsed language (by suffix) is read, parsed with
`symbols.parse_file` (files/s per core: CPU time around the parse alone) and assembled
(`assemble_symbols`, writing its `SymbolTable` under --table-dir) in one pass; the
growth of this process's RSS is measured, and the serving cost of the kept index in a
fresh process that loads it as a restart does. Queries are
drawn (seeded) from identifiers in the files' text, not from our index, so two versions of
the code get the same queries: a third are whole names, a third 5-character prefixes, a
third camel humps (`w[:2]` + two upper-case letters), as `scale100k_bench.py` draws them.
Peer: `ctags -L` over the same file list (wall time, files/s), and `readtags -i -p` for
the same symbol queries (a process per query, as a shell would run it).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import marshal
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from context_bot.knowledge import symbols as sym

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{5,40}")
SUFFIXES = {
    ".py": "python", ".pyi": "python", ".go": "go", ".rs": "rust", ".java": "java",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "typescript",
}  # fmt: skip
SYMBOLS_LIMIT = 21  # what scale100k_bench.py asks (the handler's limit + 1)
REFS_LIMIT = 100


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def walk(roots: list[Path], max_files: int) -> list[tuple[str, str]]:
    """(path, language) of every file in a parsed language under the roots, in order."""
    found: list[tuple[str, str]] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                language = SUFFIXES.get(Path(name).suffix.lower())
                if language is not None:
                    found.append((str(Path(dirpath, name)), language))
                    if len(found) >= max_files:
                        return found
    return found


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


CPU_MS: dict[int, list[float]] = {}
"""Per `timed` series: this thread's CPU time of each call (ms). On a shared machine the
wall time also counts the time others had the cores; both are printed."""


def timed(calls: list, runs: int) -> tuple[list[float], list[object]]:
    times, results, cpu = [], [], []
    for _ in range(runs):
        for call in calls:
            c, t = time.thread_time(), time.perf_counter()
            results.append(call())
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.thread_time() - c) * 1000)
    CPU_MS[id(times)] = cpu
    return times, results


def spread(ms: list[float]) -> str:
    cpu = CPU_MS.get(id(ms), [])
    return (
        f"wall p50 / p95 {statistics.median(ms):.2f} / {pct(ms, 0.95):.2f} ms, "
        f"CPU p50 / p95 {statistics.median(cpu):.2f} / {pct(cpu, 0.95):.2f} ms"
    )


def child_load(plain: Path, table: Path) -> None:
    """Load a kept index as a restart does and print what it costs this process."""
    from context_bot.knowledge.symbol_store import SymbolTable

    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    opened = SymbolTable.open(table)
    assert opened is not None
    index = sym.index_from_plain(marshal.loads(plain.read_bytes()), opened)  # noqa: S302 - ours
    took = time.perf_counter() - t
    gc.collect()
    print(f"RSS +{rss_mb() - before:,.0f} MB for {len(index):,} definitions, {took:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("roots", nargs="+", type=Path)
    ap.add_argument("--max-files", type=int, default=10**9)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-ctags", action="store_true")
    ap.add_argument("--table-dir", type=Path, default=Path("/tmp/scale-symbols-cache"))  # noqa: S108
    ap.add_argument("--child-load", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_load:
        child_load(*args.child_load)
        return

    files = walk(args.roots, args.max_files)
    print(f"code: {sym.__file__}")
    # Read, parse and assemble in one pass, as a first load does: no list of every text
    # or every file's symbols is held. Parse CPU is timed around `parse_file` alone.
    stats = {"cpu": 0.0, "bytes": 0}
    idents: set[str] = set()

    def parsed() -> Iterator[tuple[str, object]]:
        for n, (path, language) in enumerate(files):
            try:
                text = Path(path).read_text("utf-8", errors="replace")
            except OSError:
                continue
            stats["bytes"] += len(text)
            if n % 20 == 0:  # the query draw: identifiers of every twentieth file
                idents.update(IDENT.findall(text[:20_000]))
            t = time.process_time()
            found = sym.parse_file(path, language, text, None)
            stats["cpu"] += time.process_time() - t
            if found is not None:
                yield path, found

    args.table_dir.mkdir(parents=True, exist_ok=True)
    table = args.table_dir / "symbols-bench.sqlite3"
    gc.collect()
    rss0, wall, all_cpu = rss_mb(), time.perf_counter(), time.process_time()
    with_table = "table" in inspect.signature(sym.assemble_symbols).parameters
    # (main's code before the table: no table argument, and nothing kept to reload)
    index = sym.assemble_symbols(parsed(), table) if with_table else sym.assemble_symbols(parsed())
    wall, all_cpu = time.perf_counter() - wall, time.process_time() - all_cpu
    gc.collect()
    growth, peak = rss_mb() - rss0, peak_mb() - rss0
    n, cpu, total_bytes = index.files, stats["cpu"], stats["bytes"]
    print(f"files: {len(files):,} ({total_bytes / 1e6:,.1f} MB)")
    print(
        f"read + extract + assemble: {wall:.1f} s wall, {all_cpu:.1f} s CPU; "
        f"parse {cpu:.1f} s CPU for {n:,} parsed files "
        f"({n / cpu:,.0f} files/s/core, {total_bytes / 1e6 / cpu:.2f} MB/s/core); "
        f"skipped {index.skipped}"
    )
    print(
        f"index: {len(index):,} definitions; RSS growth {growth:,.0f} MB "
        f"(peak above the start {peak:,.0f} MB)"
    )
    if with_table:
        plain = args.table_dir / "bench-plain.marshal"
        plain.write_bytes(marshal.dumps(sym.index_to_plain(index)))
        served = subprocess.run(
            [sys.executable, __file__, "--child-load", str(plain), str(table), "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(
            f"serving: {served} (a fresh process loading the kept index); "
            f"table file {table.stat().st_size / 1e6:,.0f} MB"
        )

    rng = random.Random(16)  # noqa: S311 - a fixed draw of queries
    drawn = sorted(idents)
    picked = rng.sample(drawn, min(len(drawn), 2 * args.queries))
    queries = []
    for i, w in enumerate(picked[: args.queries]):
        humps = "".join(c for c in w if c.isupper())
        queries.append(w if i % 3 == 0 else w[:5] if i % 3 == 1 else (w[:2] + humps[1:3]))
    ref_names = picked[args.queries :]
    paths = sorted({p for p, _ in files})
    outline_paths = rng.sample(paths, min(len(paths), args.queries))

    s_ms, s_found = timed(
        [lambda q=q: index.find(q, limit=SYMBOLS_LIMIT) for q in queries], args.runs
    )
    o_ms, _ = timed([lambda p=p: index.outline(p) for p in outline_paths], args.runs)
    r_ms, r_found = timed(
        [lambda x=x: index.references(x, limit=REFS_LIMIT) for x in ref_names], args.runs
    )
    hits = sum(1 for f in s_found[: len(queries)] if f)
    uses = sum(total for _, total in r_found[: len(ref_names)])  # type: ignore[misc]
    print(f"symbols {spread(s_ms)}; max {max(s_ms):.2f} ms ({hits}/{len(queries)} found)")
    print(f"outline {spread(o_ms)}")
    print(f"references {spread(r_ms)} ({uses:,} uses of {len(ref_names)} names)")
    if args.no_ctags:
        return
    with tempfile.TemporaryDirectory() as work:
        listing, tags = Path(work, "files"), Path(work, "tags")
        listing.write_text("".join(f"{p}\n" for p, _ in files))
        t = time.perf_counter()
        subprocess.run(
            ["ctags", "-L", str(listing), "-f", str(tags), "--fields=+n"],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        cw = time.perf_counter() - t
        rt = []
        for q in queries:
            t = time.perf_counter()
            subprocess.run(
                ["readtags", "-t", str(tags), "-i", "-p", "-", q], capture_output=True, check=False
            )
            rt.append((time.perf_counter() - t) * 1000)
        print(
            f"ctags: {cw:.1f} s for {len(files):,} files ({len(files) / cw:,.0f} files/s, "
            f"{total_bytes / 1e6 / cw:.1f} MB/s); tags {tags.stat().st_size / 1e6:,.0f} MB; "
            f"readtags p50 / p95 {statistics.median(rt):.1f} / {pct(rt, 0.95):.1f} ms"
        )


if __name__ == "__main__":
    sys.exit(main())

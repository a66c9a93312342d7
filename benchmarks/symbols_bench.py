"""Symbols alone, over any trees: extraction speed, index size, and the three lookups,
beside Universal Ctags over the same files.

    python benchmarks/symbols_bench.py ROOT [ROOT ...] [--max-files N] [--workers 2]

Every file under the roots in a parsed language (by suffix) is read, then parsed with
`symbols.parse_file` in this process (files/s per core: wall time and CPU time of one
core) and, with `--workers`, again over a process pool as a first load can. The index is
assembled (`assemble_symbols`) and the growth of this process's RSS measured. Queries are
drawn (seeded) from identifiers in the files' text, not from our index, so two versions of
the code get the same queries: a third are whole names, a third 5-character prefixes, a
third camel humps (`w[:2]` + two upper-case letters), as `scale100k_bench.py` draws them.
Peer: `ctags -L` over the same file list (wall time, files/s), and `readtags -i -p` for
the same symbol queries (a process per query, as a shell would run it).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
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


def collect(roots: list[Path], max_files: int) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d != ".git")
            for name in sorted(filenames):
                language = SUFFIXES.get(Path(name).suffix.lower())
                if language is None:
                    continue
                path = str(Path(dirpath, name))
                try:
                    text = Path(path).read_text("utf-8", errors="replace")
                except OSError:
                    continue
                found.append((path, language, text))
                if len(found) >= max_files:
                    return found
    return found


def _parse_chunk(chunk: list[tuple[str, str, str]]) -> list[tuple[str, object]]:
    out = []
    for path, language, text in chunk:
        found = sym.parse_file(path, language, text, None)
        if found is not None:
            out.append((path, found))
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def timed(calls: list, runs: int) -> tuple[list[float], list[object]]:
    times, results = [], []
    for _ in range(runs):
        for call in calls:
            t = time.perf_counter()
            results.append(call())
            times.append((time.perf_counter() - t) * 1000)
    return times, results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("roots", nargs="+", type=Path)
    ap.add_argument("--max-files", type=int, default=10**9)
    ap.add_argument("--workers", type=int, default=0, help="also parse over N processes")
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-ctags", action="store_true")
    args = ap.parse_args()

    files = collect(args.roots, args.max_files)
    total_bytes = sum(len(t) for _, _, t in files)
    print(f"code: {sym.__file__}")
    print(f"files: {len(files):,} ({total_bytes / 1e6:,.1f} MB)")

    gc.collect()
    rss0 = rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    parsed = [(p, f) for p, lang, text in files if (f := sym.parse_file(p, lang, text, None))]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    t = time.perf_counter()
    index = sym.assemble_symbols(parsed)
    assemble_s = time.perf_counter() - t
    del parsed
    gc.collect()
    growth = rss_mb() - rss0
    n = index.files
    print(
        f"extract: {wall:.1f} s wall, {cpu:.1f} s CPU for {n:,} parsed files "
        f"({n / wall:,.0f} files/s, {n / cpu:,.0f} files/s/core CPU, "
        f"{total_bytes / 1e6 / wall:.2f} MB/s); skipped {index.skipped}"
    )
    print(f"assemble: {assemble_s:.1f} s; {len(index):,} definitions; RSS growth {growth:,.0f} MB")
    if args.workers:
        chunks = [files[i :: args.workers * 8] for i in range(args.workers * 8)]
        t = time.perf_counter()
        with ProcessPoolExecutor(args.workers) as pool:
            got = sum(len(c) for c in pool.map(_parse_chunk, chunks))
        pw = time.perf_counter() - t
        print(f"extract over {args.workers} processes: {pw:.1f} s ({got / pw:,.0f} files/s)")

    rng = random.Random(16)  # noqa: S311 - a fixed draw of queries
    idents = sorted({m for _, _, text in files for m in IDENT.findall(text[:20_000])})
    picked = rng.sample(idents, min(len(idents), 2 * args.queries))
    queries = []
    for i, w in enumerate(picked[: args.queries]):
        humps = "".join(c for c in w if c.isupper())
        queries.append(w if i % 3 == 0 else w[:5] if i % 3 == 1 else (w[:2] + humps[1:3]))
    ref_names = picked[args.queries :]
    paths = sorted({p for p, _, _ in files})
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
    print(
        f"symbols p50 / p95 / max: {statistics.median(s_ms):.2f} / {pct(s_ms, 0.95):.2f} / "
        f"{max(s_ms):.2f} ms ({hits}/{len(queries)} found)"
    )
    print(f"outline p50: {statistics.median(o_ms):.3f} ms")
    print(
        f"references p50 / p95: {statistics.median(r_ms):.2f} / {pct(r_ms, 0.95):.2f} ms "
        f"({uses:,} uses of {len(ref_names)} names)"
    )
    if args.no_ctags:
        return
    with tempfile.TemporaryDirectory() as work:
        listing, tags = Path(work, "files"), Path(work, "tags")
        listing.write_text("".join(f"{p}\n" for p, _, _ in files))
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

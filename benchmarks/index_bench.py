"""The persistent index at scale: first index, restart, one changed file, grep and search.

    python benchmarks/index_bench.py REPO --cache DIR [--fresh] [--queries 40] [--runs 3]

REPO is a git work tree (every figure is over what `git ls-files` lists); DIR the base
folder of the index cache (`knowledge.cache_dir`), emptied first with `--fresh`. Each load
runs in a child process of its own (this script with `--child`), which reports its time
and memory (VmHWM peak, VmRSS serving): the first (index built, unless DIR holds one), a
restart (index present), and in the first child one changed file (written, reloaded
through `load_knowledge` as the live reload does, then searched for by `grep`, `search`
and `symbols`). Queries are identifiers drawn (seeded) from the repository's Python
files: literal `grep`, regex `grep`, ranked `search`; beside them `rg` and `git grep` over
the same files and patterns, as subprocesses (their figures include a process start,
as at a terminal). Not a test: it prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MARK = "@@"
IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{7,30}\b")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def status() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) // 1024  # MiB
    return out


def emit(**data: Any) -> None:
    print(MARK + json.dumps(data), flush=True)


def queries(repo: Path, count: int) -> tuple[list[str], list[str], list[str]]:
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "*.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    listed = [p for p in listed if p]
    rng = random.Random(16)  # noqa: S311 - a seeded sample, not a secret
    names: list[str] = []
    for rel in rng.sample(listed, min(len(listed), count * 4)):
        try:
            found = IDENT.findall((repo / rel).read_text("utf-8", "replace")[:20_000])
        except OSError:
            continue
        if found:
            names.append(rng.choice(found))
        if len(names) >= count:
            break
    literal = names
    regex = [rf"def {n[:6]}\w*\(" if i % 2 else rf"{n[:5]}\w+{n[-3:]}" for i, n in enumerate(names)]
    search = [re.sub(r"_+", " ", n).strip() or n for n in names]
    return literal, regex, search


def child(args: argparse.Namespace) -> None:
    from context_bot.knowledge.grep import Grep, GrepQuery
    from context_bot.knowledge.loading import load_knowledge
    from context_bot.knowledge.sandbox import RepoFiles

    repo, cache = Path(args.repo), Path(args.cache)
    files = RepoFiles(repo)
    started = time.perf_counter()
    knowledge = load_knowledge(repo / "knowledge", repo, files=files, cache_dir=cache)
    load_s = time.perf_counter() - started
    emit(kind="load", seconds=load_s, stats=knowledge.index_stats, **status())
    if args.child == "restart":
        return
    literal, regex, search = queries(repo, args.queries)
    grep = Grep(files)

    def timed(fn: Any) -> tuple[float, Any]:
        t = time.perf_counter()
        out = fn()
        return (time.perf_counter() - t) * 1000, out

    results: dict[str, list[float]] = {"literal": [], "regex": [], "search": [], "list": []}
    matches: dict[str, list[int]] = {"literal": [], "regex": []}
    for run in range(args.runs):
        for kind, pats in (("literal", literal), ("regex", regex)):
            for p in pats:
                ms, out = timed(lambda p=p, kind=kind: grep.search(
                    knowledge.inventory, GrepQuery(p, regex=kind == "regex", limit=500)
                ))  # fmt: skip
                results[kind].append(ms)
                if run == 0:
                    matches[kind].append(len(out.matches))
        for q in search if run == 0 else ():  # `search` remembers answers: once each
            ms, _ = timed(lambda q=q: knowledge.search(q))
            results["search"].append(ms)
        ms, _ = timed(lambda: knowledge.listing("", depth=1, limit=200))
        results["list"].append(ms)
    emit(kind="queries", results=results, matches=matches, **status())
    # One changed file: written, reloaded (what the live reload runs), then found.
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "*.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    target = (
        repo / sorted(p for p in listed if p)[0]
    )  # a file the inventory lists (no ignore rule covers)
    original = target.read_bytes()
    token = f"zq{random.Random().randrange(10**9):09d}"  # noqa: S311
    try:
        written = time.perf_counter()
        target.write_bytes(original + f"\n\ndef {token}_fn():\n    return 1\n".encode())
        fresh = load_knowledge(repo / "knowledge", repo, files=files, cache_dir=cache)
        reload_s = time.perf_counter() - written
        found_grep = grep.search(fresh.inventory, GrepQuery(token)).matches
        found_search = fresh.search(f"{token}_fn")
        found_symbol = [s for s in fresh.symbols.symbols if s.name == f"{token}_fn"]
        until_s = time.perf_counter() - written
        emit(
            kind="change",
            reload_s=reload_s,
            searchable_s=until_s,
            grep=len(found_grep),
            search=len(found_search),
            symbol=len(found_symbol),
            stats=fresh.index_stats,
            **status(),
        )
    finally:
        target.write_bytes(original)
    started = time.perf_counter()
    load_knowledge(repo / "knowledge", repo, files=files, cache_dir=cache)  # restore


def run_child(args: argparse.Namespace, mode: str, code: Path) -> list[dict[str, Any]]:
    cmd = [sys.executable, __file__, args.repo, "--cache", args.cache, "--child", mode]
    cmd += ["--queries", str(args.queries), "--runs", str(args.runs)]
    env = {**os.environ, "PYTHONPATH": str(code), "CONTEXT_BOT_LOG_LEVEL": "warning"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    out = [
        json.loads(line[len(MARK) :]) for line in proc.stdout.splitlines() if line.startswith(MARK)
    ]
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"child {mode} failed")
    return out


def peers(repo: Path, pats: list[str], regex: bool, runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"rg": [], "git grep": []}
    for _ in range(runs):
        for p in pats:
            for name, cmd in (
                ("rg", ["rg", "-n", "--no-heading", "-S", *([] if regex else ["-F"]), p]),
                ("git grep", ["git", "grep", "-n", "-I", *(["-P"] if regex else ["-F"]), p]),
            ):
                t = time.perf_counter()
                subprocess.run(cmd, cwd=repo, capture_output=True, check=False)
                times[name].append((time.perf_counter() - t) * 1000)
    return times


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("repo")
    parser.add_argument("--cache", required=True)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--child", default=None)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=1)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    repo, code = Path(args.repo), Path(__file__).resolve().parent.parent
    if args.fresh:
        shutil.rmtree(args.cache, ignore_errors=True)
    first = run_child(args, "first", code)
    restart = run_child(args, "restart", code)
    load, q, change = first[0], first[1], first[2]
    literal, regex, _ = queries(repo, args.queries)
    peer_lit = peers(repo, literal, False, args.peer_runs)
    peer_re = peers(repo, regex, True, args.peer_runs)
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.split(b"\0")
    text_bytes = 0
    for rel in listed:
        if rel:
            try:
                head = (repo / rel.decode()).read_bytes()
            except OSError:
                continue
            if b"\0" not in head[:8192]:
                text_bytes += len(head)
    index_bytes = du(Path(args.cache))
    r = q["results"]

    def ms(values: list[float]) -> str:
        return f"{pct(values, 0.5):.1f} / {pct(values, 0.95):.1f} ms"

    stats = load["stats"]
    found = f"grep {change['grep']}, search {change['search']}, symbol {change['symbol']}"
    rows = [
        (
            f"load ({'first index' if args.fresh else 'as found'})",
            f"{load['seconds']:.1f} s (read {stats.get('files_read')}, "
            f"reused {stats.get('files_reused')})",
        ),
        ("peak memory of that load (VmHWM)", f"{load['VmHWM']} MiB"),
        (
            "index on disk",
            f"{index_bytes / 2**20:.0f} MiB ({index_bytes / max(text_bytes, 1):.2f}x the text)",
        ),
        (
            "restart, index present",
            f"{restart[0]['seconds']:.2f} s, peak {restart[0]['VmHWM']} MiB",
        ),
        ("serving memory after queries (VmRSS)", f"{q['VmRSS']} MiB"),
        (
            f"one changed file: reload / searchable ({found})",
            f"{change['reload_s']:.2f} / {change['searchable_s']:.2f} s",
        ),
        ("literal grep p50 / p95", ms(r["literal"]), ms(peer_lit["rg"]), ms(peer_lit["git grep"])),
        ("regex grep p50 / p95", ms(r["regex"]), ms(peer_re["rg"]), ms(peer_re["git grep"])),
        ("ranked search p50 / p95", ms(r["search"])),
        ("list of the root p50 / p95", ms(r["list"])),
    ]
    print(f"files: {len(listed) - 1}, text: {text_bytes / 2**20:.0f} MiB")
    print("| measure | context-bot | rg | git grep |")
    print("|---|---|---|---|")
    for cells in rows:
        print("| " + " | ".join([*cells, "", ""][:4]) + " |")
    mean_lit = statistics.mean(q["matches"]["literal"] or [0])
    mean_re = statistics.mean(q["matches"]["regex"] or [0])
    print(f"matches (limit 500): literal {mean_lit:.0f} mean, regex {mean_re:.0f} mean")
    print(json.dumps({"first": first, "restart": restart}, default=str)[:2000], file=sys.stderr)


if __name__ == "__main__":
    main()

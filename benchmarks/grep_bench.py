"""`grep` beside ripgrep and `git grep`: the same files, the same queries, p50 and p95.

    .venv/bin/python benchmarks/grep_bench.py [REPO ...] [--runs 30]

For each repository (default: this one), and each query (literal and regular
expression), it times:

- `engine`: `Grep.search` in this process with its file cache warm (what a request
  costs the bot once the repository has been searched once);
- `handler`: the protocol method through `Handlers.handle` (the worker thread, the
  search slot, the result's wire form), warm;
- `rg`: `rg -n --no-heading` as a subprocess (ripgrep reads the same ignore rules);
- `git grep`: `git grep -n -I` as a subprocess (tracked files only);

and once per repository the first, cold search (every file read through the sandbox).
The subprocesses include their start (a few ms), as a user at a terminal pays it; our
figures do not include a room's round trip (the room benchmarks measure that). Smart
case for us and rg (`-S`); `git grep -i` where the query is lower case.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from context_bot.bot.handlers import Handlers
from context_bot.knowledge.grep import Grep, GrepQuery
from context_bot.knowledge.inventory import build_inventory
from context_bot.knowledge.loading import load_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.protocol import Request

ROOT = Path(__file__).resolve().parents[1]
QUERIES: list[tuple[str, str, bool]] = [
    ("literal, rare", "ContextClient", False),
    ("literal, common, smart case", "return", False),
    ("literal, absent", "zqxjkv_never_there", False),
    ("regex, definitions", r"def \w+_param\(|class \w+Error", True),
    ("regex, anchored", r"^\s*import \w+$", True),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(runs: int, call: object) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def run_cmd(args: list[str], cwd: Path) -> int:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    return proc.stdout.count(b"\n")


def bench(repo: Path, runs: int) -> None:
    files = RepoFiles(repo)
    started = time.perf_counter()
    inventory = build_inventory(files)
    inventory_ms = (time.perf_counter() - started) * 1000
    text = sum(f.size for f in inventory.files if not f.binary)
    print(
        f"\n## {repo.name}: {len(inventory):,} files ({text / 1e6:.1f} MB of text), "
        f"inventory {inventory_ms:.0f} ms"
    )
    engine = Grep(files)
    started = time.perf_counter()
    first = engine.search(inventory, GrepQuery("zqxjkv_never_there"))  # every file read
    cold_ms = (time.perf_counter() - started) * 1000
    print(
        f"first (cold) search: {cold_ms:.0f} ms, {first.files_searched:,} files searched, "
        f"skipped {first.files_skipped}; cache {engine.cached_bytes / 1e6:.1f} MB"
    )
    knowledge = load_knowledge(repo / "knowledge", repo, files=files)
    handlers = Handlers(lambda: knowledge, files)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(handlers.handle(Request("w", "grep", {"pattern": "warm"})))
    rg = shutil.which("rg")
    git = (repo / ".git").exists()
    print(
        "\n| query | matches (ours / rg / git grep) | engine p50 / p95 | handler p50 / p95 "
        "| rg p50 / p95 | git grep p50 / p95 |"
    )
    print("|---|---|---|---|---|---|")
    for name, pattern, regex in QUERIES:
        query = GrepQuery(pattern, regex=regex, limit=500)
        ours = engine.search(inventory, query)
        engine_ms = timed(runs, lambda q=query: engine.search(inventory, q))
        params = {"pattern": pattern, "regex": regex, "limit": 500}
        handler_ms = timed(
            runs,
            lambda p=params: loop.run_until_complete(handlers.handle(Request("b", "grep", p))),
        )
        flag = [] if regex else ["-F"]
        rg_args = [rg or "rg", "-n", "--no-heading", "-S", *flag, "-e", pattern]
        case = [] if ours.case_sensitive else ["-i"]
        git_args = ["git", "grep", "-n", "-I", *case, "-E" if regex else "-F", "-e", pattern]
        rg_count = run_cmd(rg_args, repo) if rg else 0
        rg_ms = timed(runs, lambda a=rg_args: run_cmd(a, repo)) if rg else [0.0]
        git_count = run_cmd(git_args, repo) if git else 0
        git_ms = timed(runs, lambda a=git_args: run_cmd(a, repo)) if git else [0.0]
        shown = f"{len(ours.matches)}{'+' if ours.truncated else ''} / {rg_count} / {git_count}"
        cells = [
            f"{pct(v, 0.5):.1f} / {pct(v, 0.95):.1f} ms"
            for v in (engine_ms, handler_ms, rg_ms, git_ms)
        ]
        print(f"| {name} `{pattern}` | {shown} | " + " | ".join(cells) + " |")
    loop.close()


def gil() -> None:
    """Does RE2 let go of the GIL while it matches? An event loop ticks every 1 ms while
    a worker thread runs (a) nothing (a sleep), (b) RE2 calls of ~200 ms each, (c)
    Python's `re` backtracking on `(x+x+)+y`: the worst gap between ticks says."""
    import re

    import re2

    options = re2.Options()
    slow = re2.compile(b"(a+)+$", options)  # with captures: ~200 ms over 2 MB of a's
    data = b"a" * 2_000_000

    def re2_calls() -> None:
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            slow.search(data)

    def backtracking() -> None:
        re.search(r"(x+x+)+y", "x" * 23)  # exponential: about 400 ms

    async def probe(work: object) -> tuple[int, float, float]:
        loop = asyncio.get_running_loop()
        started = tick = time.perf_counter()
        # Starting the thread is a gap too: a thread that takes the GIL at once holds it.
        future = loop.run_in_executor(None, work)  # type: ignore[arg-type]
        gaps: list[float] = [(time.perf_counter() - tick) * 1000]
        while not future.done():
            tick = time.perf_counter()
            await asyncio.sleep(0.001)
            gaps.append((time.perf_counter() - tick) * 1000)
        await future
        return len(gaps), (time.perf_counter() - started) * 1000, max(gaps)

    print("\n## Does the event loop run while a worker thread matches?\n")
    print("| work in the thread | took | loop ticks | worst gap |")
    print("|---|---|---|---|")
    works = [
        ("nothing (sleep 1 s)", lambda: time.sleep(1.0)),
        ("RE2 `(a+)+$` over 2 MB, ~200 ms a call, 1 s", re2_calls),
        ("Python `re` `(x+x+)+y` on 23 x's (backtracking)", backtracking),
    ]
    for name, work in works:
        ticks, took, worst = asyncio.run(probe(work))
        print(f"| {name} | {took:.0f} ms | {ticks} | {worst:.1f} ms |")


def re2_costs() -> None:
    """RE2 is linear, but at what rate: ms per MB of text for patterns that defeat its DFA,
    by compiled program size, on random a/b text (in lines of 10 KB) and on source code."""
    import random

    import re2

    rng = random.Random(1)  # noqa: S311 - test data
    ab = bytearray(rng.choices(b"ab", k=200_000))
    for at in range(10_000, len(ab), 10_000):
        ab[at] = ord("\n")
    code = (ROOT / "context_bot" / "knowledge" / "sandbox.py").read_bytes()
    options = re2.Options()
    options.log_errors = False
    options.never_nl = True
    options.never_capture = True
    print("\n## RE2's rate by pattern (never_nl, never_capture, as grep compiles)\n")
    print("| pattern | program size | ms per MB, a/b text | ms per MB, source code |")
    print("|---|---|---|---|")
    for pattern in [
        "ContextClient",
        r"def \w+_param\(",
        "a[ab]{20}c",
        "a[ab]{200}c",
        "a.{50}c",
        "a.{500}c",
        "a" + ".{500}" * 16 + "c",
    ]:
        regex = re2.compile(("(?m)" + pattern).encode(), options)
        rates = []
        for text in (bytes(ab), code):
            started = time.perf_counter()
            regex.search(text)
            rates.append((time.perf_counter() - started) * 1000 / (len(text) / 1e6))
        size = regex._regexp.ProgramSize()
        shown = pattern if len(pattern) < 40 else pattern[:30] + "…"
        print(f"| `{shown}` | {size:,} | {rates[0]:,.1f} | {rates[1]:,.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repos", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    rg = subprocess.run(["rg", "--version"], capture_output=True, text=True, check=False)
    print(
        f"# grep bench: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{rg.stdout.splitlines()[0] if rg.stdout else 'no rg'}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; runs {args.runs}"
    )
    for repo in args.repos:
        bench(repo.resolve(), args.runs)
    gil()
    re2_costs()


if __name__ == "__main__":
    main()

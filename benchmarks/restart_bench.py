"""Restart with the index present: nothing changed, and after a few files changed while the
bot was down (issue 16: restart <= 2 s at 100k files).

    python benchmarks/restart_bench.py REPO --cache DIR [--code CHECKOUT] [--runs 3]

REPO must be a git checkout with its index already in DIR (a first load builds it: minutes
at 100k). Each restart is a process of its own (`load_knowledge`, as the bot's start), so
imports are not counted and nothing is warm but the OS's page cache. The rounds change
files and put them back (`git checkout`, the new files removed) whatever happens: on the
shared 100k corpus, run under `flock /tmp/bench100k.lock`. Printed beside ours, measured
in the same run: the floor any restart pays, git's own listing of the same tree
(`git ls-files --cached --others --exclude-standard`, which stats nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import json, sys, time
from pathlib import Path
import logging, structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
import context_bot
from context_bot.knowledge.loading import load_knowledge
import inspect
repo = Path(sys.argv[1])
extra = {}
if "patch" in inspect.signature(load_knowledge).parameters:  # as the bot starts (app.py)
    from context_bot.knowledge.patching import patch_knowledge
    extra["patch"] = patch_knowledge
if "keep_later" in inspect.signature(load_knowledge).parameters:  # as app.py starts too
    extra["keep_later"] = True
started = time.perf_counter()
k = load_knowledge(repo / "knowledge", repo, cache_dir=Path(sys.argv[2]), **extra)
took = time.perf_counter() - started
def memory():
    status = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
    )
    return [int(status[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")]
rss, hwm = memory()
import context_bot.knowledge.loading as loading
if hasattr(loading, "wait_for_kept"):  # the snapshot kept in a thread after the load
    loading.wait_for_kept()
kept_rss, kept_hwm = memory()
print(json.dumps({
    "s": took, "code": context_bot.__file__, "files": len(k.inventory),
    "symbols": len(k.symbols), "version": k.version, "stats": k.index_stats,
    "rss_mb": rss, "hwm_mb": hwm, "kept_rss_mb": kept_rss, "kept_hwm_mb": kept_hwm,
}))
"""
PARSED = (".py", ".go", ".rs", ".ts", ".js")


def restart(args: argparse.Namespace) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(args.code)}
    out = subprocess.run(
        [args.python, "-c", CHILD, str(args.repo), str(args.cache)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def pick(repo: Path, count: int) -> list[str]:
    """`count` tracked files in the parsed languages, spread over the tree (fixed draw)."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, text=True, check=True
    ).stdout.split("\0")
    parsed = [p for p in listed if p.endswith(PARSED)]
    step = max(1, len(parsed) // (count + 1))
    return [parsed[step * (n + 1)] for n in range(count)]


def change(repo: Path, edit: list[str], gone: str, new: list[str], n: int) -> None:
    """Edits appended to `edit` (a definition each), `gone` deleted, `new` written."""
    for rel in [*edit, *new]:
        line = {
            ".py": f"\n\ndef restart_probe_{n}():\n    return {n}\n",
            ".go": f"\nfunc RestartProbe{n}() int {{ return {n} }}\n",
            ".rs": f"\nfn restart_probe_{n}() -> i32 {{ {n} }}\n",
        }.get(Path(rel).suffix, f"\nexport function restartProbe{n}() {{ return {n} }}\n")
        path = repo / rel
        if rel in new:
            head = "package probe\n" if rel.endswith(".go") else ""
            path.write_text(head + line)
        else:
            with path.open("a") as fh:
                fh.write(line)
    (repo / gone).unlink()


def floor(repo: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--cache", type=Path, required=True, help="the index's base folder")
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--edits", type=int, default=4, help="files edited each round")
    args = parser.parse_args()
    repo = args.repo.resolve()
    picked = pick(repo, args.edits + 1)
    edit, gone = picked[:-1], picked[-1]
    new = [str(Path(p).parent / f"restart_probe{Path(p).suffix}") for p in picked[:2]]

    def put_back() -> None:
        subprocess.run(["git", "-C", str(repo), "checkout", "-q", "--", *picked], check=True)
        for rel in new:
            (repo / rel).unlink(missing_ok=True)

    first = restart(args)
    print(f"# restart_bench on {repo}: {first['files']:,} files; code {first['code']}")
    print(f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores")
    rows: dict[str, list[dict[str, object]]] = {"nothing changed": [], "changed": []}
    rows["restored"] = []
    try:
        # One round first: a cache built by other code keeps no base for the overlay.
        change(repo, edit, gone, new, 0)
        restart(args)
        put_back()
        restart(args)
        for _ in range(args.runs):
            rows["nothing changed"].append(restart(args))
        for n in range(1, args.runs + 1):
            change(repo, edit, gone, new, n)
            rows["changed"].append(restart(args))
            put_back()
            rows["restored"].append(restart(args))
    finally:
        put_back()
    floors = [floor(repo) for _ in range(args.runs)]
    touched = len(edit) + 1 + len(new)
    print(
        f"\n| restart ({touched} files changed a round) | runs (s) | median | RSS / peak MB |",
        end="",
    )
    print(" after the snapshot is kept: RSS / peak MB |\n|---|---|---|---|---|")
    for name, runs in rows.items():
        times = [float(str(r["s"])) for r in runs]
        mem, kept = (
            f"{max(int(str(r[a])) for r in runs)} / {max(int(str(r[b])) for r in runs)}"
            for a, b in (("rss_mb", "hwm_mb"), ("kept_rss_mb", "kept_hwm_mb"))
        )
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"| {name} | {shown} | {statistics.median(times):.2f} | {mem} | {kept} |")
    shown = ", ".join(f"{t:.2f}" for t in floors)
    print(f"| floor: git ls-files (no stat) | {shown} | {statistics.median(floors):.2f} | | |")
    print("\nfiles read by the changed restarts:", [r["stats"] for r in rows["changed"]])
    for name, runs in rows.items():
        print(f"versions, {name}:", [r["version"] for r in runs])


if __name__ == "__main__":
    main()

"""Issues 16 and 17 at scale: the ~100k-file corpus, beside rg, git grep and Universal Ctags.

    python benchmarks/scale100k_bench.py [CORPUS] [--code ROOT] [--index-dir DIR] [--quick]

CORPUS defaults to the tree `benchmarks/corpus.py` builds (`~/.cache/context-bot/
corpus-100k/tree`); `--code` is the checkout whose `context_bot` is measured (default:
this one), so the same harness measures another branch's work tree; `--index-dir` names
the folder a persistent index writes (emptied before the first load, measured after;
without it the index is reported "in memory"). `--quick` measures a subset (one
package, fewer queries and runs) to smoke-run the harness in a minute or two.
`--keep-index` starts from the index `--index-dir` holds (the first load is then a
restart); `--only-reload` measures no query and runs no peer: the load, one changed file
and one new file until found, memory, and the restart.

How: this process imports nothing of `context_bot`. It starts a serving child (this
script with `--child`, `PYTHONPATH=--code`), which loads the knowledge through the public
API (`load_knowledge`, timing each phase by wrapping the loader's own steps), starts the
live-reload watcher the bot runs (`watch_knowledge`), and draws the query sets from the
corpus deterministically (names of its definitions, seeded). With the child idle, this
process runs the peers over the same files and queries: `rg`, `git grep`, `ctags -R`,
`readtags`. Then the child times each method in-process (`Grep.search` with the bot's
2 s deadline and default limit, `Knowledge.search`, `listing`, `symbols.find`,
`outline`, `references`): no room round trip in any figure, and the peers' figures
include their process start, as at a terminal. Then one changed file (and one new file)
is written and the child polls until `grep`, `search` and `symbols` find them through
the watcher's reload. Memory is the child's own (VmRSS serving, VmHWM peak). A second
child measures the restart: a new process loading with the index of the first present.
Last, a table with each target and pass/fail.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path.home() / ".cache" / "context-bot" / "corpus-100k" / "tree"
QUICK_SUBTREE = "pypi/Django-4.2.7"
MARK = "@@"  # prefix of the child's result lines on stdout
CHANGE_TIMEOUT_S = 900.0
PEER_TIMEOUT_S = 20.0
SETTLE_S = 10.0  # after the last reload, how long the change test still polls
WATCH_SETTLE_S = 15.0  # code without the `missed` hook: the time its watcher takes to register
WATCH_READY_S = 120.0  # the longest the queries wait for the watcher's first answer
PATCH_STEPS = (
    "patch_inventory",
    "reindex_files",
    "git_output",
    "read_readme",
    "text_index_of",
    "_text_index",
    "codemap_of",
    "_counts",
    "overview_text",
    "patch_listing_index",
    "load_knowledge",
)
"""The steps of a patched reload (`patching.py`) the change test times, where they exist
(`load_knowledge`: a reload the patch declined)."""
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{5,40}")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM in MB, and VmRSS's parts: RssAnon (the process's own memory) and
    RssFile (pages of mapped files: the interpreter, its libraries)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) // 1024
    return out


def children_rss_mb() -> int:
    """VmRSS in MB of this process's child processes (the live-reload watcher's), which
    the serving figure leaves out and the table shows beside it."""
    total = 0
    for task in Path("/proc/self/task").iterdir():
        for pid in (task / "children").read_text().split():
            with contextlib.suppress(OSError, KeyError):
                total += proc_status(pid)["VmRSS"]
    return total


# ---------------------------------------------------------------------------- the child

SOURCE_LANGUAGES = frozenset(
    {"python", "go", "javascript", "typescript", "java", "rust", "c", "c++", "kotlin", "scala"}
)
DEFINITION = re.compile(
    rb"\b(?:def|class|func|fn|function|struct|interface|enum|trait|type)\s+"
    rb"(?:\([^)\n]*\)\s*)?([A-Za-z_][A-Za-z0-9_]{5,40})\b"
)


APPENDED = {
    ".go": '\nfunc {0}_fn() string {{ return "{0}" }}\n',
    ".py": "\n\ndef {0}_fn():\n    return '{0}'\n",
}


def change_target(files: Any) -> str:
    """The file the change test edits: a small Go file early in path order (inside the
    first 64 MB that the in-memory code index reads), a Python file when there is none."""
    for suffix in APPENDED:
        found = [f.path for f in files if f.path.endswith(suffix) and 2_000 <= f.size <= 20_000]
        if found:
            first = found[:200]
            return first[len(first) // 2]
    raise SystemExit("no Go or Python file to change")


def draw_names(repo: Path, files: Any, rng: random.Random, count: int) -> list[str]:
    """`count` distinct names, each defined in a source file drawn at random (seeded) from
    the inventory: the mix of languages and packages follows the corpus's."""
    sources = [
        f.path
        for f in files
        if not f.binary and f.language in SOURCE_LANGUAGES and 1_000 <= f.size <= 256_000
    ]
    names: list[str] = []
    for path in rng.sample(sources, min(len(sources), 20 * count)):
        found = sorted({m.decode() for m in DEFINITION.findall((repo / path).read_bytes())})
        fresh = [x for x in found if x not in names]
        if fresh:
            names.append(rng.choice(fresh))
        if len(names) >= count:
            break
    return names


def emit(kind: str, **data: Any) -> None:
    print(MARK + json.dumps({"kind": kind, **data}), flush=True)


class Keeper:
    """The measured code's page-cache keeper, started as `app.py` starts it (its period
    the code's default `knowledge.keep_warm`, or `--keep-warm`), with what its passes
    cost: the bench reports it beside the queries it keeps warm."""

    def __init__(self, pagecache: Any, folder: Path, period: int) -> None:
        self.period = period
        self.passes: list[Any] = []
        self.started = time.monotonic()
        self.keeper = pagecache.PageCacheKeeper(folder, period, on_pass=self.passes.append)
        self.keeper.start()

    def report(self) -> dict[str, Any]:
        done = [p for p in self.passes if not p.skipped]
        return {
            "period_s": self.period,
            "running_s": time.monotonic() - self.started,
            "passes": len(done),
            "skipped": [getattr(p, "why", "") or p.skipped for p in self.passes if p.skipped][:1],
            "gb": sum(p.bytes for p in done) / 1e9,
            "cpu_s": sum(p.cpu_seconds for p in done),
            "pass_s": [round(p.seconds, 2) for p in done][:3],
        }

    def stop(self) -> None:
        self.keeper.stop()


def start_keeper(args: argparse.Namespace, extra: dict[str, Any], repo: Path) -> Keeper | None:
    """A `Keeper` where the measured code has one and the index is on disk, else None."""
    import importlib

    try:
        pagecache = importlib.import_module("context_bot.knowledge.pagecache")
        store = importlib.import_module("context_bot.knowledge.store")
        config = importlib.import_module("context_bot.config")
    except ImportError:
        return None
    period = config.Settings().keep_warm_s if args.keep_warm is None else args.keep_warm
    if not extra.get("cache_dir") or not period:
        return None
    return Keeper(pagecache, store.cache_folder(extra["cache_dir"], repo), period)


def resident_mb(cache_dir: Path | None) -> dict[str, int] | None:
    """MB of the index's files in the page cache (util-linux `fincore`), as the queries
    start: what a query will not read from the disk."""
    if cache_dir is None or shutil.which("fincore") is None:
        return None
    files = [str(p) for p in Path(cache_dir).glob("*/*") if p.is_file()]
    got = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    pairs = [line.split() for line in got.stdout.splitlines() if len(line.split()) == 2]
    return {
        "resident": sum(int(res) for res, _ in pairs) >> 20,
        "size": sum(int(size) for _, size in pairs) >> 20,
    }


def child(args: argparse.Namespace) -> None:
    import asyncio
    import importlib
    import inspect

    # As `context-bot run` starts, where the measured code does: one C heap for the
    # process's threads (heap.py), set before anything starts a thread (numpy's import
    # starts its BLAS's).
    heap = importlib.import_module("context_bot.knowledge.heap")
    if hasattr(heap, "one_heap"):
        heap.one_heap()

    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    import context_bot
    from context_bot.knowledge import loading
    from context_bot.knowledge.grep import Grep, GrepQuery
    from context_bot.knowledge.sandbox import RepoFiles
    from context_bot.knowledge.watch import watch_knowledge
    from context_bot.protocol import DEFAULT_GREP_LIMIT
    from context_bot.protocol import DEFAULT_REFERENCES_LIMIT as REFS_LIMIT

    # As the server runs (`ContextBotApp.serve`): its GIL switch interval, where the
    # measured code sets one (its requests share the GIL with reloads and snapshots).
    interval = getattr(importlib.import_module("context_bot.app"), "SWITCH_INTERVAL_S", None)
    if interval is not None:
        sys.setswitchinterval(interval)
    repo = Path(args.repo)
    phases: dict[str, float] = {}
    rss: dict[str, int] = {}

    def timed_phase(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            before = proc_status()["VmRSS"]
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phases[name] = phases.get(name, 0.0) + ms_since(started)
                rss[name] = proc_status()["VmRSS"] - before

        return wrapper

    # The loader's own steps, wrapped where it looks them up: timing only, same calls. A
    # persistent index (`cache_dir`) indexes the files in `indexing.py` (`_index_code`).
    try:
        indexing: Any = importlib.import_module("context_bot.knowledge.indexing")
    except ImportError:
        indexing = None
    steps = (
        "build_inventory",
        "code_rows",
        "SearchIndex",
        "build_symbols",
        "build_codemap",
    )
    for module in (loading, indexing):
        for name in (*steps, "_index_code"):
            if module is not None and hasattr(module, name):
                setattr(module, name, timed_phase(name, getattr(module, name)))
    persistent = "cache_dir" in inspect.signature(loading.load_knowledge).parameters
    extra: dict[str, Any] = (
        {"cache_dir": Path(args.index_dir)} if persistent and args.index_dir else {}
    )
    if extra and "patch" in inspect.signature(loading.load_knowledge).parameters:
        # As the bot starts: a restart after a few changes patches the snapshot it kept.
        extra["patch"] = importlib.import_module("context_bot.knowledge.patching").patch_knowledge
    if (
        args.restart_only
        and extra
        and "keep_later" in inspect.signature(loading.load_knowledge).parameters
    ):
        extra["keep_later"] = True  # as app.py starts: the next snapshot kept once it serves
    loading.overview_mod.build_overview = timed_phase(
        "build_overview", loading.overview_mod.build_overview
    )

    def load() -> Any:
        return loading.load_knowledge(repo / "knowledge", repo, **extra)

    started = time.perf_counter()
    knowledge = load()
    load_ms = ms_since(started)
    status = proc_status()
    emit(
        "loaded",
        code=str(Path(context_bot.__file__).parent),
        persistent=bool(extra),
        index_stats=getattr(knowledge, "index_stats", None),
        load_ms=load_ms,
        phases=dict(phases),
        phase_rss_mb=dict(rss),
        rss_mb=status["VmRSS"],
        hwm_mb=status["VmHWM"],
        inventory=len(knowledge.inventory),
        inventory_skipped=knowledge.inventory.skipped,
        text_bytes=sum(f.size for f in knowledge.inventory.files if not f.binary),
        symbols=len(knowledge.symbols),
        symbol_files=knowledge.symbols.files,
        symbols_skipped=knowledge.symbols.skipped,
    )
    if args.restart_only:
        return

    # The query sets: names defined in source files drawn from the whole inventory (seeded),
    # not from our symbol index, so every code version measured gets the same queries.
    rng = random.Random(16)  # noqa: S311 - a fixed draw of queries, not a secret
    # Files defining an identifier-shaped name, for `outline`. An index that keeps its
    # details on disk answers from its arrays: reading every `Symbol` would take seconds
    # and leave hundreds of MB in the RSS measured below.
    paths_defining = getattr(knowledge.symbols, "paths_defining", None)
    if paths_defining is not None:
        paths = paths_defining(IDENT.fullmatch)
    else:
        paths = sorted({s.path for s in knowledge.symbols.symbols if IDENT.fullmatch(s.name)})
    n = args.queries
    picked = draw_names(repo, knowledge.inventory.files, rng, 4 * n)
    names = sorted(set(picked))
    literal = picked[:n]
    r = picked[n : 2 * n]
    templates = [
        r"{0}\s*\(",
        r"(class|struct|interface|type|def|func|fn|function)\s+{0}\b",
        r"\b{0}\.\w+",
        r"^\s*\w+\s+{1}\w*",
        r"{1}\w*{2}",
    ]
    regexes = [templates[i % len(templates)].format(w, w[:4], w[-3:]) for i, w in enumerate(r)]
    camel = [re.sub(r"([a-z])([A-Z])", r"\1 \2", w).replace("_", " ").lower() for w in picked]
    searches = [c.strip() for c in camel[2 * n : 3 * n]]
    sym_queries = []
    for i, w in enumerate(picked[3 * n : 4 * n]):
        humps = "".join(c for c in w if c.isupper())
        sym_queries.append(w if i % 3 == 0 else w[:5] if i % 3 == 1 else (w[:2] + humps[1:3]))
    outline_paths = rng.sample(paths, min(len(paths), n))
    ref_names = rng.sample(names, min(len(names), n))
    emit(
        "queries",
        literal=literal,
        regex=regexes,
        search=searches,
        symbols=sym_queries,
        outline=outline_paths,
        references=ref_names,
    )

    state = {"k": knowledge}
    reloads: list[float] = []
    reload_started: list[float] = []
    patch_steps: dict[str, float] = {}

    def timed_step(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                patch_steps[name] = patch_steps.get(name, 0.0) + ms_since(started)

        return wrapper

    async def main() -> None:
        stop = asyncio.Event()

        async def changed(fresh: Any, change: dict[str, object]) -> None:
            del change
            state["k"] = fresh
            reloads.append(time.perf_counter())

        def timed_load() -> Any:
            started = time.perf_counter()
            try:
                return load()
            finally:
                reload_ms.append(ms_since(started))

        reload_ms: list[float] = []
        # A live reload told the changed paths patches the snapshot where the code has it
        # (`patching.py`), as the bot does; else each reload is a whole load.
        told: dict[str, Any] = {}
        cache_only = {k: v for k, v in extra.items() if k == "cache_dir"}
        if "patch" in inspect.signature(watch_knowledge).parameters:
            patching: Any = importlib.import_module("context_bot.knowledge.patching")

            # The patch's own steps, wrapped where it looks them up (timing only): the
            # split of a reload's time, summed over the reloads of the change test.
            for name in PATCH_STEPS:
                if hasattr(patching, name):
                    setattr(patching, name, timed_step(name, getattr(patching, name)))
            watch_mod: Any = importlib.import_module("context_bot.knowledge.watch")
            watch_mod.knowledge_change = timed_step("knowledge_change", watch_mod.knowledge_change)

            def timed_patch(previous: Any, paths: Any) -> Any:
                started = time.perf_counter()
                reload_started.append(started)
                try:
                    return patching.reload_knowledge(
                        previous, paths, repo / "knowledge", repo, **cache_only
                    )
                finally:
                    reload_ms.append(ms_since(started))

            told["patch"] = timed_patch
            keep = getattr(loading, "keep_restart_snapshot", None)
            if keep is not None and extra:  # as the app does after each live reload

                def settled(fresh: Any) -> None:
                    keep(fresh, RepoFiles(repo), extra["cache_dir"])

                told["settled"] = settled
        # As the app does: once the watcher is registered (its first answer), the changes
        # made since the snapshot was read are asked for. The queries wait for that: they
        # measure a server serving, not one whose watcher still walks 100k files' folders
        # (its registration beside the queries made them up to twice as slow).
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        changed_since = getattr(patching, "changed_since", None) if told else None
        if changed_since is not None and "missed" in inspect.signature(watch_knowledge).parameters:

            def missed(previous: Any) -> Any:
                try:
                    return changed_since(previous, RepoFiles(repo))
                finally:
                    loop.call_soon_threadsafe(ready.set)

            told["missed"] = missed
        else:
            loop.call_later(WATCH_SETTLE_S, ready.set)
        keeper = start_keeper(args, extra, repo)
        watcher = asyncio.create_task(
            watch_knowledge(
                [repo / "knowledge", repo],
                lambda: state["k"],
                timed_load,
                changed,
                stop=stop,
                **told,
            )
        )
        await asyncio.to_thread(sys.stdin.readline)  # the parent's peers run meanwhile
        waited = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), WATCH_READY_S)
        watcher_ready_s = time.perf_counter() - waited
        rss_ready = proc_status()["VmRSS"]
        resident = resident_mb(extra.get("cache_dir"))
        results: dict[str, Any] = {} if args.only_reload else await asyncio.to_thread(measure)
        emit(
            "measured",
            **results,
            index_resident_mb=resident,
            keep_warm=keeper.report() if keeper is not None else None,
            watcher_wait_s=watcher_ready_s,
            rss_ready_mb=rss_ready,
            rss_mb=proc_status()["VmRSS"],
            rss_parts_mb={k: proc_status()[k] for k in ("RssAnon", "RssFile")},
            hwm_mb=proc_status()["VmHWM"],
            children_rss_mb=children_rss_mb(),
        )
        emit("change", **await change_test(reload_ms))
        status = proc_status()
        emit("memory", rss_mb=status["VmRSS"], hwm_mb=status["VmHWM"])
        stop.set()
        watcher.cancel()
        if keeper is not None:
            keeper.stop()

    files = RepoFiles(repo)
    engine = Grep(files)

    def grep(pattern: str, regex: bool, globs: tuple[str, ...] = ()) -> Any:
        # As the handler does: default limit, the 2 s deadline from the call.
        query = GrepQuery(pattern, regex, None, globs, 0, DEFAULT_GREP_LIMIT)
        return engine.search(state["k"].inventory, query)

    def series(calls: list[Any], runs: int) -> tuple[list[float], list[Any]]:
        times, outs = [], []
        for _ in range(runs):
            for call in calls:
                started = time.perf_counter()
                outs.append(call())
                times.append(ms_since(started))
        return times, outs

    def measure() -> dict[str, Any]:
        k = state["k"]
        out: dict[str, Any] = {}
        started = time.perf_counter()
        first = grep("zqxjkv_never_there", False)
        out["grep_first_ms"] = ms_since(started)
        out["grep_first_searched"] = first.files_searched
        out["grep_first_total"] = first.files_total
        out["grep_first_truncated"] = first.truncated_reason
        for kind, pats, regex in (
            ("literal", literal, False),
            ("regex", regexes, True),
        ):
            times, found = series([lambda p=p, x=regex: grep(p, x) for p in pats], args.runs)
            out[kind] = {
                "ms": times,
                "deadline": sum(1 for f in found if f.truncated_reason == "deadline"),
                "limit": sum(1 for f in found if f.truncated_reason == "limit"),
                "complete": sum(1 for f in found if f.truncated_reason is None),
                "searched_mean": statistics.mean(f.files_searched for f in found),
                "total": found[0].files_total if found else 0,
            }
        out["cache_mb"] = engine.cached_bytes / 1e6
        # Once each: the index keeps the answers of recent queries, so a second run of the
        # set would time the cache (measured: p50 0.0 ms) rather than the search.
        times, found = series([lambda q=q: k.search(q, limit=10) for q in searches], 1)
        out["search"] = {"ms": times, "hits": sum(1 for f in found if f)}
        times, _ = series([lambda: k.listing("", depth=2, limit=200)], max(10, args.runs * 5))
        out["list"] = {"ms": times}
        times, found = series(
            [lambda q=q: k.symbols.find(q, limit=21) for q in sym_queries], args.runs
        )
        out["symbols"] = {"ms": times, "hits": sum(1 for f in found if f)}
        times, found = series([lambda p=p: k.symbols.outline(p) for p in outline_paths], args.runs)
        out["outline"] = {"ms": times, "hits": sum(1 for f in found if f)}
        refs = [lambda x=x: k.symbols.references(x, limit=REFS_LIMIT) for x in ref_names]
        times, found = series(refs, args.runs)
        out["references"] = {"ms": times, "hits": sum(1 for f in found if f[1])}
        out["overview_chars"] = len(k.overview)  # its build is timed at load (phases)
        return out

    async def change_test(reload_ms: list[float]) -> dict[str, Any]:
        """One existing indexed file changed, one new file: until each method finds it.

        Each method polls in a thread of its own and sleeps 20 ms between rounds, as
        requests from a room would (each a worker thread's call): the polling never holds
        the event loop, where the watcher hands its batches to the reload, and one
        method's cost never delays another's finding (`checks`)."""
        k = state["k"]
        token = f"zqbench{int(time.time())}"
        target = change_target(k.inventory.files)
        host = repo / target
        original = host.read_bytes()
        tmp = host.with_name(".bench-change.tmp")
        tmp.write_bytes(original + APPENDED[Path(target).suffix].format(token).encode())
        new_rel = str(Path(target).parent / f"{token}_new.py")
        reloads.clear()
        reload_started.clear()
        patch_steps.clear()
        reload_ms.clear()
        seen: dict[str, float] = {}
        started = time.perf_counter()

        def checks() -> dict[str, Any]:
            """Each method's two checks (the changed file, the new file), asked of the
            snapshot served at that moment. `grep` twice: with a glob naming the file (a
            participant narrowing to it; the first such grep of a snapshot matches the
            glob against every path) and without (the trigram index alone)."""

            def grep_glob() -> dict[str, bool]:
                return {
                    "grep_glob_changed": any(
                        m.path == target for m in grep(token + "_fn", False, (target,)).matches
                    ),
                    "grep_glob_new": bool(grep(token + "_new", False, (new_rel,)).matches),
                }

            def grep_plain() -> dict[str, bool]:
                return {
                    "grep_changed": any(
                        m.path == target for m in grep(token + "_fn", False).matches
                    ),
                    "grep_new": any(m.path == new_rel for m in grep(token + "_new", False).matches),
                }

            def search() -> dict[str, bool]:
                now = state["k"]
                return {
                    "search_changed": any(h.path == target for h in now.search(token, limit=10)),
                    "search_new": any(
                        h.path == new_rel for h in now.search(token + "_new", limit=10)
                    ),
                }

            def symbols() -> dict[str, bool]:
                now = state["k"]
                return {
                    "symbols_changed": bool(now.symbols.find(token + "_fn", limit=1)),
                    "symbols_new": bool(now.symbols.find(token + "_new", limit=1)),
                }

            return {
                "grep_glob": grep_glob,
                "grep": grep_plain,
                "search": search,
                "symbols": symbols,
            }

        def poll(check: Any) -> None:
            """One method's checks, in a thread of its own (requests from a room run in
            worker threads side by side), until both answer or the reloads settle."""
            deadline = started + args.change_timeout
            while time.perf_counter() < deadline:
                for key, found in check().items():
                    if found and key not in seen:
                        seen[key] = ms_since(started)
                if all(key in seen for key in check_keys[check]):
                    return
                if reloads and time.perf_counter() - reloads[-1] > SETTLE_S:
                    return  # reloaded, and no further reload since: what is unseen stays unseen
                time.sleep(0.02)

        tmp.replace(host)  # a new inode: the corpus's hard-linked source stays untouched
        (repo / new_rel).write_text(f"def {token}_new():\n    return 1\n")
        written_ms = ms_since(started)
        methods = checks()
        check_keys = {fn: [f"{name}_changed", f"{name}_new"] for name, fn in methods.items()}
        await asyncio.gather(*(asyncio.to_thread(poll, fn) for fn in methods.values()))
        return {
            "file": target,
            "new_file": new_rel,
            "written_ms": written_ms,
            "seen_ms": seen,
            "reload_ms": list(reload_ms),
            "reload_started_at_ms": [(t - started) * 1000 for t in reload_started],
            "swapped_at_ms": [(t - started) * 1000 for t in reloads],
            "first_reload_at_ms": (reloads[0] - started) * 1000 if reloads else None,
            "patch_steps_ms": dict(patch_steps),
            "version_changed": state["k"] is not k,
        }

    asyncio.run(main())


# --------------------------------------------------------------------------- the parent


class Child:
    def __init__(self, args: argparse.Namespace, repo: Path, log: Path, restart: bool) -> None:
        env = dict(os.environ, PYTHONPATH=str(args.code))
        cmd = [
            args.python,
            str(Path(__file__).resolve()),
            "--child",
            "--repo",
            str(repo),
            "--runs",
            str(args.runs),
            "--queries",
            str(args.queries),
            "--change-timeout",
            str(args.change_timeout),
            "--index-dir",
            str(args.index_dir),
        ]
        if restart:
            cmd.append("--restart-only")
        if args.only_reload:
            cmd.append("--only-reload")
        if args.keep_warm is not None:
            cmd += ["--keep-warm", str(args.keep_warm)]
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.started = time.perf_counter()

    def read(self, kind: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                data: dict[str, Any] = json.loads(line[len(MARK) :])
                if data["kind"] == kind:
                    return data
        raise RuntimeError(f"the child ended before {kind!r} (exit {self.proc.wait()})")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> int:
        if self.proc.stdin:
            self.proc.stdin.close()
        code = self.proc.wait()
        self.log.close()
        return code


def run_peer(args: list[str], cwd: Path) -> tuple[float, int]:
    """Milliseconds and lines printed; a run past PEER_TIMEOUT_S counts as that long (and
    -1 lines): `git grep -E -i` with `\\w` goes through glibc's regex, minutes at 1.7 GB."""
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            args, cwd=cwd, capture_output=True, check=False, timeout=PEER_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return PEER_TIMEOUT_S * 1000, -1
    return ms_since(started), proc.stdout.count(b"\n")


def peers_grep(repo: Path, pats: list[str], regex: bool, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("rg", "git grep"):
        times, lines = [], []
        for _ in range(runs):
            for p in pats:
                lower = p == p.lower()
                if name == "rg":
                    cmd = [
                        "rg",
                        "-n",
                        "--no-heading",
                        "-S",
                        *([] if regex else ["-F"]),
                        "-e",
                        p,
                    ]
                else:
                    case = ["-i"] if lower else []
                    cmd = [
                        "git",
                        "grep",
                        "-n",
                        "-I",
                        *case,
                        "-E" if regex else "-F",
                        "-e",
                        p,
                    ]
                ms, count = run_peer(cmd, repo)
                times.append(ms)
                lines.append(count)
        done = [x for x in lines if x >= 0]
        out[name] = {
            "ms": times,
            "lines_mean": statistics.mean(done) if done else 0,
            "timeouts": len(lines) - len(done),
        }
    return out


def ctags_peer(repo: Path, sym_queries: list[str], runs: int, workdir: Path) -> dict[str, Any]:
    tags = workdir / "tags"
    tags.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.run(
        ["ctags", "-R", "--totals=yes", "-f", str(tags), "--exclude=.git", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    took = ms_since(started)
    totals = (proc.stdout + proc.stderr).strip().splitlines()
    files = next((int(m.group(1)) for t in totals if (m := re.search(r"(\d+) files?", t))), 0)
    times = []
    for _ in range(runs):
        for q in sym_queries:
            ms, _ = run_peer(["readtags", "-t", str(tags), "-i", "-p", "-", q], repo)
            times.append(ms)
    size = tags.stat().st_size if tags.exists() else 0
    tags.unlink(missing_ok=True)  # 1.8 GB at 100k files: not left in every run's folder
    return {
        "ms": took,
        "files": files,
        "totals": " ".join(totals)[-300:],
        "tags_bytes": size,
        "readtags_ms": times,
    }


def du(path: Path) -> int:
    total = 0
    for root, _, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, n)).st_size  # noqa: PTH118
    return total


def slowest(patterns: list[str], times: list[float], count: int = 3) -> str:
    """The `count` patterns whose slowest asking was slowest, each with its askings in
    order (`series` asks the whole set, then again): a first asking that reads the
    index from the disk shows apart from the ones after it."""
    n = len(patterns)
    asked = {p: times[i::n] for i, p in enumerate(patterns)} if n else {}
    worst = sorted(asked, key=lambda p: -max(asked[p]))[:count]
    return ", ".join(f"`{p}` " + " / ".join(f"{t:.1f}" for t in asked[p]) + " ms" for p in worst)


def fmt(values: list[float]) -> str:
    return f"{pct(values, 0.5):.1f} / {pct(values, 0.95):.1f} ms"


def peer_cell(peer: dict[str, Any]) -> str:
    return f"rg {fmt(peer['rg']['ms'])}; git grep {fmt(peer['git grep']['ms'])}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def parent(args: argparse.Namespace) -> None:
    repo = args.corpus.expanduser().resolve()
    if args.quick:
        sub = repo / QUICK_SUBTREE
        repo = sub if sub.is_dir() else repo
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    started_all = time.perf_counter()
    lscpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    rg_v = subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    git_v = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    ct_v = subprocess.run(["ctags", "--version"], capture_output=True, text=True).stdout
    print(f"# scale100k_bench on {repo}")
    print(
        f"machine: {lscpu} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{rg_v}, {git_v}, {ct_v.splitlines()[0] if ct_v else 'no ctags'}; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; code {args.code}"
    )
    git_files = int(
        subprocess.run(
            ["sh", "-c", "git ls-files | wc -l"],
            cwd=repo,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    args.index_dir = args.index_dir or str(work / "index")
    if not args.keep_index:
        shutil.rmtree(args.index_dir, ignore_errors=True)  # the first load starts with none

    first = Child(args, repo, work / "child-1.log", restart=False)
    loaded = first.read("loaded")
    print(f"code measured: {loaded['code']}; persistent index: {loaded['persistent']}")
    print(
        f"first load: {loaded['load_ms'] / 1000:.1f} s; inventory {loaded['inventory']:,} files "
        f"(git ls-files {git_files:,}), text {loaded['text_bytes'] / 1e6:,.0f} MB; "
        f"RSS {loaded['rss_mb']} MB, peak {loaded['hwm_mb']} MB"
    )
    phases = loaded["phases"].items()
    print("load phases (s): " + ", ".join(f"{k} {v / 1000:.1f}" for k, v in phases))
    grown = loaded["phase_rss_mb"].items()
    print("RSS growth per phase (MB): " + ", ".join(f"{k} {v}" for k, v in grown))
    print(f"inventory skipped: {loaded['inventory_skipped']}")
    print(
        f"symbols: {loaded['symbols']:,} definitions from {loaded['symbol_files']:,} files; "
        f"not parsed: {loaded['symbols_skipped']}"
    )
    queries = first.read("queries")
    print("queries:", json.dumps(queries)[:600], "...")

    peers: dict[str, Any] = {}
    if args.only_reload:
        pass  # no query is measured: no peer either
    elif args.peers_from:  # another run's peers over the same corpus and query set
        peers = json.loads(Path(args.peers_from).read_text())
        shared = ("literal", "regex", "symbols")  # what the peers ran (outline: ours only)
        if any(peers["queries"][k] != queries[k] for k in shared):
            sys.exit("--peers-from: that run drew other queries; measure the peers again")
        print(f"peers: from {args.peers_from} (measured {peers['when']})")
    else:
        peers["literal"] = peers_grep(repo, queries["literal"], False, args.peer_runs)
        peers["regex"] = peers_grep(repo, queries["regex"], True, args.peer_runs)
        rg_files = subprocess.run(
            ["sh", "-c", "rg --files | wc -l"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        peers["ctags"] = ctags_peer(repo, queries["symbols"], args.peer_runs, work)
        peers["queries"], peers["when"] = (
            queries,
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        )
        (work / "peers.json").write_text(json.dumps(peers))
        print(
            f"peers done; rg lists {rg_files.stdout.strip()} files; saved in {work / 'peers.json'}"
        )
    for kind in ("literal", "regex") if peers else ():
        for name in ("rg", "git grep"):
            if peers[kind][name]["timeouts"]:
                over = peers[kind][name]["timeouts"]
                print(f"{kind} {name}: {over} runs stopped at {PEER_TIMEOUT_S:.0f} s")

    first.go()
    measured = first.read("measured")
    change = first.read("change")
    memory = first.read("memory")
    first.close()
    subprocess.run(["git", "checkout", "-q", "--", change["file"]], cwd=repo, check=False)
    (repo / change["new_file"]).unlink(missing_ok=True)

    index_bytes = du(Path(args.index_dir)) if loaded["persistent"] else None
    restarted: dict[str, Any] = {}
    if not args.no_restart:
        second = Child(args, repo, work / "child-2.log", restart=True)
        restarted = second.read("loaded")
        second.close()
        print(
            f"restart: {restarted['load_ms'] / 1000:.1f} s, phases {restarted['phases']}, "
            f"index stats {restarted['index_stats']}"
        )

    raw = {"loaded": loaded, "queries": queries, "measured": measured, "change": change}
    raw |= {"memory": memory, "restarted": restarted, "index_bytes": index_bytes}
    (work / "results.json").write_text(json.dumps(raw))
    if args.only_reload:
        print(f"one changed file and one new file: seen after (ms) {change['seen_ms']}")
        print(f"reloads (ms): {change['reload_ms']}")
        if "reload_started_at_ms" in change:
            print(
                f"timeline (ms after the write began): written {change['written_ms']:.0f}, "
                f"reloads started {[round(t) for t in change['reload_started_at_ms']]}, "
                f"snapshots swapped {[round(t) for t in change['swapped_at_ms']]}"
            )
            steps = sorted(change["patch_steps_ms"].items(), key=lambda kv: -kv[1])
            print("patch steps (ms, all reloads): " + ", ".join(f"{k} {v:.0f}" for k, v in steps))
        print(f"serving memory: RSS {memory['rss_mb']} MB, peak {memory['hwm_mb']} MB")
        if restarted:
            print(f"restart: {restarted['load_ms'] / 1000:.2f} s, RSS {restarted['rss_mb']} MB")
        return
    text = loaded["text_bytes"]
    seen = change["seen_ms"]
    lit, rgx = measured["literal"], measured["regex"]
    srch, sym, outl, refs = (
        measured[k]["ms"] for k in ("search", "symbols", "outline", "references")
    )
    ph = loaded["phases"]
    extract_s = ph.get("build_symbols", 0) / 1000
    ctags = peers["ctags"]

    print("\n## grep detail")
    if "watcher_wait_s" in measured:
        print(
            f"queries started once the watcher answered: {measured['watcher_wait_s']:.1f} s, "
            f"RSS then {measured['rss_ready_mb']} MB"
        )
    print(
        f"first grep (cold cache): {measured['grep_first_ms']:.0f} ms, searched "
        f"{measured['grep_first_searched']:,} of {measured['grep_first_total']:,} files, "
        f"truncated: {measured['grep_first_truncated']}; file cache {measured['cache_mb']:.0f} MB"
    )
    for kind in ("literal", "regex"):
        m = measured[kind]
        print(
            f"{kind}: {len(m['ms'])} searches: complete {m['complete']}, stopped at the limit "
            f"{m['limit']}, at the 2 s deadline {m['deadline']}; files searched (mean) "
            f"{m['searched_mean']:,.0f} of {m['total']:,}; rg lines (mean) "
            f"{peers[kind]['rg']['lines_mean']:,.0f}, "
            f"git grep {peers[kind]['git grep']['lines_mean']:,.0f}"
        )
        print(f"  slowest (each asking in order): {slowest(queries[kind], m['ms'])}")
    if measured.get("index_resident_mb"):
        held = measured["index_resident_mb"]
        print(
            "index in the page cache as the queries began: "
            f"{held['resident']:,} of {held['size']:,} MB"
        )
    warm = measured.get("keep_warm")
    print(
        "page-cache keeper: off"
        if not warm
        else f"page-cache keeper: a pass every {warm['period_s']} s, {warm['passes']} passes in "
        f"{warm['running_s']:.0f} s ({warm['pass_s']} s each), {warm['gb']:.1f} GB read, "
        f"{warm['cpu_s']:.1f} s of CPU ({100 * warm['cpu_s'] / warm['running_s']:.1f}% of one "
        f"core); skipped: {warm['skipped'] or 'never'}"
    )
    print(
        f"search hits: {measured['search']['hits']}/{len(srch)}; symbols hits "
        f"{measured['symbols']['hits']}/{len(sym)}; outline non-empty "
        f"{measured['outline']['hits']}/{len(outl)}; references non-empty "
        f"{measured['references']['hits']}/{len(refs)}"
    )
    print(f"change test: {json.dumps(change)}")
    print(f"ctags: {ctags['totals']}")

    rows: list[tuple[str, str, str, str, bool | None]] = [
        (
            "first index (load) time",
            f"{loaded['load_ms'] / 1000:.1f} s",
            "—",
            "—",
            None,
        ),
        (
            "index size on disk",
            "in memory"
            if index_bytes is None
            else f"{index_bytes / 1e6:,.0f} MB ({index_bytes / text:.2f}× text)",
            f"text {text / 1e6:,.0f} MB",
            "≤ 4× text",
            None if index_bytes is None else index_bytes <= 4 * text,
        ),
        (
            "peak memory (VmHWM, load + serve + reload)",
            f"{memory['hwm_mb']:,} MB",
            "—",
            "—",
            None,
        ),
        (
            "serving memory (VmRSS after queries)",
            f"{measured['rss_mb']:,} MB"
            + (
                " ({RssAnon:,} anon, {RssFile:,} mapped files)".format(**measured["rss_parts_mb"])
                if "rss_parts_mb" in measured
                else ""
            ),
            f"the watcher's process: {measured.get('children_rss_mb', 0):,} MB more",
            "≤ 500 MB",
            measured["rss_mb"] <= 500,
        ),
        (
            "restart with index present",
            f"{restarted['load_ms'] / 1000:.1f} s",
            "—",
            "≤ 2 s",
            restarted["load_ms"] <= 2000,
        ),
        (
            "one changed file searchable (grep / search / symbols)",
            " / ".join(
                f"{seen[k] / 1000:.1f} s" if k in seen else "never"
                for k in ("grep_changed", "search_changed", "symbols_changed")
            ),
            "rg, git grep: 0 (no index)",
            "≤ 1 s",
            all(k in seen and seen[k] <= 1000 for k in ("grep_changed", "search_changed")),
        ),
        (
            "one new file found by grep",
            f"{seen['grep_new'] / 1000:.1f} s" if "grep_new" in seen else "never",
            "rg, git grep: 0",
            "≤ 1 s",
            "grep_new" in seen and seen["grep_new"] <= 1000,
        ),
        (
            "literal grep p50 / p95",
            fmt(lit["ms"]),
            peer_cell(peers["literal"]),
            "p50 ≤ 5, p95 ≤ 20 ms",
            pct(lit["ms"], 0.5) <= 5 and pct(lit["ms"], 0.95) <= 20,
        ),
        (
            "regex grep p50 / p95",
            fmt(rgx["ms"]),
            peer_cell(peers["regex"]),
            "p95 ≤ 50 ms",
            pct(rgx["ms"], 0.95) <= 50,
        ),
        ("ranked search p50 / p95", fmt(srch), "—", "—", None),
        ("list of the root p50 / p95", fmt(measured["list"]["ms"]), "—", "—", None),
        (
            "overview build (codemap + overview)",
            f"{(ph.get('build_codemap', 0) + ph.get('build_overview', 0)) / 1000:.2f} s",
            "—",
            "—",
            None,
        ),
        (
            "symbol extraction",
            f"{extract_s:.1f} s, {loaded['symbol_files']:,} files, "
            f"{loaded['symbol_files'] / extract_s if extract_s else 0:,.0f} files/s/core",
            f"ctags -R {ctags['ms'] / 1000:.1f} s, {ctags['files']:,} files, "
            f"{ctags['files'] / (ctags['ms'] / 1000) if ctags['ms'] else 0:,.0f} files/s",
            "—",
            None,
        ),
        (
            "symbol index growth (RSS during build_symbols)",
            f"{loaded['phase_rss_mb'].get('build_symbols', 0):,} MB",
            f"tags file {ctags['tags_bytes'] / 1e6:,.0f} MB",
            "—",
            None,
        ),
        (
            "symbols p50 / p95",
            fmt(sym),
            f"readtags {fmt(ctags['readtags_ms'])}",
            "p50 ≤ 2 ms",
            pct(sym, 0.5) <= 2,
        ),
        ("outline p50", f"{pct(outl, 0.5):.2f} ms", "—", "—", None),
        (
            "references p95",
            f"{pct(refs, 0.95):.1f} ms",
            "—",
            "≤ 50 ms",
            pct(refs, 0.95) <= 50,
        ),
    ]
    print("\n| measure | ours | peer (same run) | target | verdict |")
    print("|---|---|---|---|---|")
    for name, ours, peer, target, ok in rows:
        print(f"| {name} | {ours} | {peer} | {target} | {verdict(ok)} |")
    print(
        f"\nwall time of the whole run: {(time.perf_counter() - started_all) / 60:.1f} min; "
        f"logs in {work}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--code", type=Path, default=HERE.parent, help="checkout to measure")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the child")
    parser.add_argument("--index-dir", default=None, help="where a persistent index is written")
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK_SUBTREE}, fewer runs")
    parser.add_argument(
        "--keep-index",
        action="store_true",
        help="keep what --index-dir holds (the first load is then a restart: re-measure the "
        "queries of another code version on an index already built, same schema)",
    )
    parser.add_argument("--runs", type=int, default=2, help="runs of each query (ours)")
    parser.add_argument("--peer-runs", type=int, default=1, help="runs of each query (peers)")
    parser.add_argument("--peers-from", help="peers.json of an earlier run (same corpus, queries)")
    parser.add_argument("--queries", type=int, default=15, help="queries of each kind")
    parser.add_argument("--change-timeout", type=float, default=CHANGE_TIMEOUT_S)
    parser.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "scale100k-bench"))
    parser.add_argument(
        "--only-reload", action="store_true", help="no query nor peer: the change and restart"
    )
    parser.add_argument(
        "--no-restart",
        action="store_true",
        help="--only-reload without the restart after the change (a shorter hold of the corpus)",
    )
    parser.add_argument(
        "--keep-warm",
        type=int,
        default=None,
        help="seconds between the page-cache keeper's passes (0: off; default: the code's)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--restart-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.runs, args.queries = min(args.runs, 2), min(args.queries, 6)
        args.change_timeout = min(args.change_timeout, 120.0)
    parent(args)


if __name__ == "__main__":
    main()

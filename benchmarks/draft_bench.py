"""Benchmark `context-bot draft` (deterministic) on real repositories, beside `check`.

    python benchmarks/draft_bench.py                    # both corpora
    python benchmarks/draft_bench.py --corpus django    # one

The corpora are real code from published distributions, fetched once with `pip download`
into ~/.cache/context-bot/draft-corpus/ (never into the clone) and unpacked there:

- `django`: Django 5.1.4 without its `locale/` folders: 1,029 files (Python, HTML
  templates, JavaScript, CSS);
- `homeassistant`: Home Assistant 2024.3.3 without its `translations/` folders: 9,297
  files (6,725 Python, 2,262 JSON, 285 YAML).

Each run copies the tree to a temporary git repository and measures, each in a fresh
child process so peak memory (ru_maxrss) belongs to that step alone: the first `draft`
(every source file gets a document), `check` on the result (the peer: loading the
knowledge the draft wrote, as the bot does), `check --stale`, and a second `draft` (which
writes nothing). Wall and CPU seconds are both shown: the machine is shared, and a step
that waits on the disk or on other processes shows more wall than CPU time.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CACHE = Path.home() / ".cache" / "context-bot" / "draft-corpus"
CORPORA = {
    "django": ("django==5.1.4", "Django-5.1.4-py3-none-any.whl", "/locale/"),
    "homeassistant": (
        "homeassistant==2024.3.3",
        "homeassistant-2024.3.3-py3-none-any.whl",
        "/translations/",
    ),
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin:/usr/local/bin",
    "HOME": str(Path.home()),
}


def tree(name: str) -> Path:
    """The unpacked corpus, fetched and unpacked once."""
    spec, wheel, skip = CORPORA[name]
    target = CACHE / name
    if (target / ".unpacked").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / wheel).exists():
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        subprocess.run([*pip, "--only-binary", ":all:", spec, "-d", str(CACHE)], check=True)
    with zipfile.ZipFile(CACHE / wheel) as archive:
        for member in archive.namelist():
            if ".dist-info/" in member or skip in member or member.endswith("/"):
                continue
            out = target / member
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.read(member))
    (target / ".unpacked").write_text("")
    return target


def child(step: str, repo: Path) -> None:
    """One measured step, in this process; prints a JSON line."""
    from context_bot.commands import check, draft
    from context_bot.config import Settings

    out = io.StringIO()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if step == "draft":
        draft(Settings(repo=repo), [], out, dry_run=False, llm=False)
    else:
        check(repo / "knowledge", repo, out, stale=step == "check-stale")
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime - before.ru_utime + usage.ru_stime - before.ru_stime
    peak = usage.ru_maxrss / 1024
    tail = out.getvalue()[-400:]
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak, "tail": tail}))


def measure(step: str, repo: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, str(repo)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench(name: str) -> None:
    source = tree(name)
    with tempfile.TemporaryDirectory(prefix=f"draft-bench-{name}-") as tmp:
        repo = Path(tmp) / name
        shutil.copytree(source, repo, ignore=shutil.ignore_patterns(".unpacked"))
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True, env=GIT_ENV)
        files = len(subprocess.run(
            ["git", "-C", str(repo), "ls-files"], capture_output=True, text=True, check=True
        ).stdout.splitlines())  # fmt: skip
        first = measure("draft", repo)
        documents = sum(1 for _ in (repo / "knowledge").rglob("*.md"))
        checked = measure("check", repo)
        stale = measure("check-stale", repo)
        second = measure("draft", repo)
        print(f"\n{name}: {files} files in the repository, {documents} documents drafted")
        print(f"  last line of draft: {str(first['tail']).strip().splitlines()[-1]}")
        print(f"  last line of 2nd draft: {str(second['tail']).strip().splitlines()[-1]}")
        print(f"  check: {str(checked['tail']).strip().splitlines()[-2]}")
        print("| step | wall s | CPU s | files/s (wall) | peak MB |")
        print("|---|---:|---:|---:|---:|")
        for label, r in (
            ("draft (first: writes every document)", first),
            ("check (loads the result: the peer)", checked),
            ("check --stale", stale),
            ("draft (second: writes nothing)", second),
        ):
            secs = float(str(r["seconds"]))
            rate = files / secs
            cpu, peak = float(str(r["cpu"])), float(str(r["peak_mb"]))
            print(f"| {label} | {secs:.2f} | {cpu:.2f} | {rate:,.0f} | {peak:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", choices=sorted(CORPORA), action="append")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "REPO"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    for name in args.corpus or sorted(CORPORA):
        bench(name)


if __name__ == "__main__":
    main()

"""Retrieval quality: does `search` / `retrieve` put the file that answers a question on top?

    python benchmarks/retrieval_eval.py                 # every repository and mode
    python benchmarks/retrieval_eval.py --show-misses   # each question whose answer ranked > 5

Question sets live in benchmarks/questions/ (YAML): questions a newcomer would ask, each
with the files any of which answers it. Two repositories:

- this one, with its knowledge documents, and code only (a copy of the tracked files
  without `knowledge/`: an empty knowledge folder);
- click 8.1.7, which nobody here wrote: its source distribution, fetched once with
  `pip download` into ~/.cache/context-bot/eval-repos/ and unpacked there (code only: it
  has no knowledge documents); and a second, smaller click set (click-later.yaml)
  written after the retrieval's weights were set and never tuned against;
- express 4.18.2 (JavaScript, `npm pack`), cobra 1.8.0 (Go, `go mod download`),
  serde_json 1.0.108 (Rust, `cargo fetch`) and Gson 2.10.1 (Java, its sources jar by
  `mvn dependency:get`): more repositories nobody here wrote, in other languages, whose
  question sets were written before any ranking was run on them and never tuned against
  (code only).

For each (repository, mode, method) it prints recall@1 and recall@5 (the share of
questions with an answer file among the first 1 or 5 files, each file counted once at its
first place) and MRR (the mean of 1 / the first answer's place, 0 when not in the first
10), and for `retrieve` how many questions got a block at all and how many small-talk
turns (questions/small-talk.yaml) were rightly given none.

Targets (issue 19): recall@5 >= 0.85 with documents, >= 0.7 on code alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.retrieval import retrieve
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.search import sandbox_reader

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUESTIONS = HERE / "questions"
CACHE = Path.home() / ".cache" / "context-bot" / "eval-repos"
CLICK = ("click", "8.1.7")
EXPRESS = ("express", "4.18.2")
COBRA = ("github.com/spf13/cobra", "1.8.0")
SERDE_JSON = ("serde_json", "1.0.108")
GSON = ("com.google.code.gson", "gson", "2.10.1")
DEPTH = 10
QUOTING = ("benchmarks/questions/", "benchmarks/RESULTS-retrieval.md")
"""What the evaluation leaves out of this repository: the question sets and their results."""


@dataclass
class Score:
    r1: float
    r5: float
    mrr: float
    answered: int
    misses: list[tuple[str, list[str]]]


def fetch_sdist(name: str, version: str) -> Path:
    """The unpacked source distribution, downloaded once with pip."""
    root = CACHE / f"{name}-{version}"
    if root.is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            f"{name}=={version}",
            "-d",
            str(CACHE),
        ],
        check=True,
    )
    with tarfile.open(CACHE / f"{name}-{version}.tar.gz") as archive:
        archive.extractall(CACHE, filter="data")
    return root


def fetch_npm(name: str, version: str) -> Path:
    """The npm package's published files, fetched once with `npm pack`."""
    root = CACHE / f"{name}-{version}"
    if root.is_dir():
        return root
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=CACHE, check=True)
    with (
        tempfile.TemporaryDirectory(dir=CACHE) as tmp,
        tarfile.open(CACHE / f"{name}-{version}.tgz") as archive,
    ):
        archive.extractall(tmp, filter="data")
        (Path(tmp) / "package").rename(root)
    return root


def fetch_go_module(path: str, version: str) -> Path:
    """The Go module's source, fetched once with `go mod download` and copied out of the
    module cache (its files are read-only there)."""
    root = CACHE / f"{path.rsplit('/', 1)[-1]}-{version}"
    if root.is_dir():
        return root
    listed = subprocess.run(
        ["go", "mod", "download", "-json", f"{path}@v{version}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shutil.copytree(json.loads(listed)["Dir"], root, copy_function=shutil.copyfile)
    return root


def fetch_crate(name: str, version: str) -> Path:
    """The crate as published, fetched once by `cargo fetch` for a throwaway package that
    depends on exactly that version, and copied out of cargo's registry sources."""
    root = CACHE / f"{name}-{version}"
    if root.is_dir():
        return root
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "src").mkdir()
        (Path(tmp) / "src" / "lib.rs").write_text("")
        (Path(tmp) / "Cargo.toml").write_text(
            f'[package]\nname = "eval-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
            f'[dependencies]\n{name} = "={version}"\n'
        )
        subprocess.run(["cargo", "fetch", "--quiet"], cwd=tmp, check=True)
        listed = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--quiet"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    package = next(
        p for p in json.loads(listed)["packages"] if (p["name"], p["version"]) == (name, version)
    )
    shutil.copytree(Path(package["manifest_path"]).parent, root)
    return root


def fetch_maven_sources(group: str, artifact: str, version: str) -> Path:
    """The artifact's sources jar, fetched once by `mvn dependency:get` into the local
    Maven repository and unpacked."""
    root = CACHE / f"{artifact}-{version}"
    if root.is_dir():
        return root
    coordinate = f"{group}:{artifact}:{version}:jar:sources"
    subprocess.run(["mvn", "-q", "-B", "dependency:get", f"-Dartifact={coordinate}"], check=True)
    local = Path.home() / ".m2" / "repository" / Path(*group.split(".")) / artifact / version
    part = CACHE / f"{artifact}-{version}.part"
    shutil.rmtree(part, ignore_errors=True)
    with zipfile.ZipFile(local / f"{artifact}-{version}-sources.jar") as jar:
        jar.extractall(part)  # noqa: S202 (zipfile drops absolute paths and `..` parts)
    part.rename(root)
    return root


def repo_copy(into: Path, *, documents: bool) -> Path:
    """This repository's tracked files, without the files that quote the question sets
    (they name the answers) and, for code only, without its knowledge folder."""
    listed = subprocess.run(
        ["git", "ls-files"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for rel in listed:
        skip = (*QUOTING, *(() if documents else ("knowledge/",)))
        if rel.startswith(skip) or not (REPO / rel).is_file():
            continue
        (into / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, into / rel)
    return into


def load(root: Path) -> tuple[Knowledge, Any]:
    files = RepoFiles(root)
    return load_knowledge(root / "knowledge", root, files=files), sandbox_reader(files)


def ranked_search(knowledge: Knowledge, question: str, _read: Any) -> list[str] | None:
    return list(dict.fromkeys(h.path for h in knowledge.search(question, limit=DEPTH)))


def ranked_retrieve(knowledge: Knowledge, question: str, read: Any) -> list[str] | None:
    found = retrieve(knowledge, question, read=read)
    return [h.path for h in found.hits] if found.text else None


def score(knowledge: Knowledge, read: Any, questions: list[dict[str, Any]], method: Any) -> Score:
    r1 = r5 = rr = 0.0
    answered = 0
    misses = []
    for item in questions:
        paths = method(knowledge, item["q"], read)
        answered += paths is not None
        paths = paths or []
        places = [n for n, p in enumerate(paths[:DEPTH], 1) if p in item["files"]]
        first = places[0] if places else None
        r1 += first == 1
        r5 += first is not None and first <= 5
        rr += 1 / first if first else 0.0
        if first is None or first > 5:
            misses.append((item["q"], paths[:5]))
    n = len(questions)
    return Score(r1 / n, r5 / n, rr / n, answered, misses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    ours = yaml.safe_load((QUESTIONS / "context-bot.yaml").read_text())["questions"]
    theirs = yaml.safe_load((QUESTIONS / "click.yaml").read_text())["questions"]
    later = yaml.safe_load((QUESTIONS / "click-later.yaml").read_text())["questions"]
    express = yaml.safe_load((QUESTIONS / "express.yaml").read_text())["questions"]
    cobra = yaml.safe_load((QUESTIONS / "cobra.yaml").read_text())["questions"]
    serde_json = yaml.safe_load((QUESTIONS / "serde_json.yaml").read_text())["questions"]
    gson = yaml.safe_load((QUESTIONS / "gson.yaml").read_text())["questions"]
    talk = yaml.safe_load((QUESTIONS / "small-talk.yaml").read_text())["turns"]
    with tempfile.TemporaryDirectory() as tmp:
        cases = [
            ("context-bot", "documents", repo_copy(Path(tmp) / "d", documents=True), ours),
            ("context-bot", "code only", repo_copy(Path(tmp) / "c", documents=False), ours),
            (f"{CLICK[0]} {CLICK[1]}", "code only", fetch_sdist(*CLICK), theirs),
            (
                f"{CLICK[0]} {CLICK[1]}, written after tuning",
                "code only",
                fetch_sdist(*CLICK),
                later,
            ),
            (f"{EXPRESS[0]} {EXPRESS[1]}", "code only", fetch_npm(*EXPRESS), express),
            (f"cobra {COBRA[1]}", "code only", fetch_go_module(*COBRA), cobra),
            (" ".join(SERDE_JSON), "code only", fetch_crate(*SERDE_JSON), serde_json),
            (f"gson {GSON[2]}", "code only", fetch_maven_sources(*GSON), gson),
        ]
        print(
            "| repository | mode | method | questions | recall@1 | recall@5 | MRR "
            "| block given | small talk left out |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, mode, root, questions in cases:
            knowledge, read = load(root)
            quiet = sum(1 for t in talk if not retrieve(knowledge, t, read=read).text)
            for label, method in (("search", ranked_search), ("retrieve", ranked_retrieve)):
                s = score(knowledge, read, questions, method)
                given = f"{s.answered}/{len(questions)}" if label == "retrieve" else "–"
                left = f"{quiet}/{len(talk)}" if label == "retrieve" else "–"
                print(
                    f"| {name} | {mode} | {label} | {len(questions)} | {s.r1:.2f} | {s.r5:.2f} "
                    f"| {s.mrr:.2f} | {given} | {left} |"
                )
                if args.show_misses:
                    for q, paths in s.misses:
                        print(f"    miss: {q} -> {paths}", file=sys.stderr)


if __name__ == "__main__":
    main()

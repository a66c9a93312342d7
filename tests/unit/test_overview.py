"""The onboarding overview: what a newcomer reads first, within its byte budget."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.overview import (
    OverviewInput,
    build_features,
    build_overview,
    first_paragraph,
)

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
README = (
    "# Shop\n\n[![ci](badge.svg)](ci)\n\nShop sells tea online and ships it the same day.\n"
    "It has a web shop and an admin.\n\n## Install\n\nnpm i\n"
)


def write(folder: Path, name: str, fm: str, body: str = "## Purpose\nDoes a thing.\n") -> None:
    (folder / name).write_text(f"---\n{fm}\n---\n{body}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    (root / "knowledge").mkdir(parents=True)
    (root / "README.md").write_text(README)
    (root / "src/web").mkdir(parents=True)
    (root / "src/web/cart.ts").write_text("export const cart = 1\n")
    k = root / "knowledge"
    blob = subprocess.run(
        ["git", "hash-object", str(root / "src/web/cart.ts")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    write(
        k,
        "cart.md",
        f"filePath: src/web/cart.ts\nfileVersion: {blob}\nimportance: critical\n"
        f"feature: checkout\nfeatureRole: entry_point\n"
        "userFlows:\n  - User can pay for tea\nrelatedFiles:\n  - ../pay/stripe.ts",
        "## Purpose\nHolds the cart.\n\n## Gotchas\n- Prices are in cents.\n"
        "- Never trust the client total.\n- Third gotcha.\n",
    )
    write(
        k,
        "stripe.md",
        "filePath: src/pay/stripe.ts\nimportance: high\nfeature: checkout\n"
        "featureRole: service\nuserFlows:\n  - User can pay for tea",
        "## Purpose\nTalks to Stripe.\n",
    )
    write(
        k, "util.md", "filePath: src/lib/deep/er/util.ts\nimportance: low", "## Purpose\nHelpers.\n"
    )
    write(
        k,
        "admin.md",
        "filePath: src/admin/page.ts\nimportance: high\nfeature: admin\nfeatureRole: entry_point",
    )
    (k / "guide.md").write_text("# Deploying\n\nRun the deploy script.\n")
    return root


@pytest.fixture
def knowledge(repo: Path) -> Knowledge:
    return load_knowledge(repo / "knowledge", repo)


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_it_names_the_repository_and_says_when_there_is_no_git_revision(
    knowledge: Knowledge,
) -> None:
    assert knowledge.overview.startswith("# Shop: onboarding overview\n")  # the README heading
    assert "Revision unknown (not a git checkout)" in knowledge.overview
    assert f"knowledge `{knowledge.version}`" in knowledge.overview


def test_what_the_product_does_comes_from_the_readme_first_paragraph(knowledge: Knowledge) -> None:
    product = section(knowledge.overview, "What this product does")
    assert (
        "Shop sells tea online and ships it the same day. It has a web shop and an admin."
        in product
    )
    assert "npm i" not in product and "badge" not in product


def test_without_a_readme_the_product_comes_from_a_free_document(repo: Path) -> None:
    (repo / "README.md").unlink()
    text = load_knowledge(repo / "knowledge", repo).overview
    assert "From `guide.md`: Run the deploy script." in section(text, "What this product does")


def test_a_readme_symlinked_out_of_the_repository_is_not_shown(repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    secret.write_text("Top secret plans.\n")
    (repo / "README.md").unlink()
    (repo / "README.md").symlink_to(secret)
    text = load_knowledge(repo / "knowledge", repo).overview
    assert "Top secret" not in text
    assert "From `guide.md`" in text


def test_features_list_their_entry_points_and_services(knowledge: Knowledge) -> None:
    features = section(knowledge.overview, "Features")
    assert (
        "- **checkout** (2 files); entry points `src/web/cart.ts`; services `src/pay/stripe.ts`"
        in features
    )
    assert "- **admin** (1 file); entry points `src/admin/page.ts`" in features
    assert features.index("checkout") < features.index("admin")


def test_user_flows_are_mapped_to_their_files(knowledge: Knowledge) -> None:
    flows = section(knowledge.overview, "User flows")
    assert "- User can pay for tea → `src/pay/stripe.ts`, `src/web/cart.ts`" in flows


def test_important_files_are_ranked_by_importance_then_backlinks(knowledge: Knowledge) -> None:
    lines = [
        line for line in section(knowledge.overview, "Most important files").splitlines() if line
    ]
    assert [re.search(r"`([^`]+)`", line).group(1) for line in lines] == [  # type: ignore[union-attr]
        "src/web/cart.ts",
        "src/pay/stripe.ts",  # high with one backlink (from the cart)
        "src/admin/page.ts",  # high, no backlinks
        "src/lib/deep/er/util.ts",
    ]
    assert "(high, 1 backlink) — Talks to Stripe." in lines[1]


def test_the_tree_is_capped_in_depth(knowledge: Knowledge) -> None:
    tree = section(knowledge.overview, "Layout")
    assert "- src/ (4 files, 4 documented)" in tree  # documents and the files on disk
    assert "    - deep/ (1 file, 1 documented)" in tree
    assert "er/" not in tree


def test_gotchas_show_at_most_two_per_file(knowledge: Knowledge) -> None:
    gotchas = section(knowledge.overview, "Gotchas")
    assert "- `src/web/cart.ts`\n  - Prices are in cents.\n  - Never trust" in gotchas
    assert "Never trust the client total." in gotchas
    assert "Third gotcha" not in gotchas


def test_freshness_counts_stale_documents(knowledge: Knowledge) -> None:
    fresh = section(knowledge.overview, "Freshness")
    assert (
        "1 of 4 file documents match the working tree (1 by blob id, 0 by commit); "
        "3 stale (3 for files that no longer exist)"
    ) in fresh
    assert (
        "Stale, most important first: "
        "`src/pay/stripe.ts`, `src/admin/page.ts`, `src/lib/deep/er/util.ts`"
    ) in fresh


def test_it_ends_with_how_to_ask_for_more_using_the_protocol_names(knowledge: Knowledge) -> None:
    ask = section(knowledge.overview, "Asking for more")
    for name in ("overview", "file", "search", "list", "feature"):
        assert f"`{name}`" in ask


def test_guides_are_listed(knowledge: Knowledge) -> None:
    assert "- `guide.md` — Deploying" in section(knowledge.overview, "Guides and API notes")


def test_nothing_is_left_out_when_everything_fits(knowledge: Knowledge) -> None:
    assert "Left out" not in knowledge.overview


@pytest.mark.parametrize("budget", [300, 1_000, 2_000, 4_000, 32_000])
def test_the_overview_fits_its_byte_budget(repo: Path, budget: int) -> None:
    k = repo / "knowledge"
    for i in range(300):
        write(
            k,
            f"gen{i:03d}.md",
            f"filePath: src/gen/é{i:03d}.ts\nimportance: medium\nfeature: f{i % 7}\n"
            f"userFlows:\n  - Flow ünïcode {i}",
            "## Purpose\nGenerated — ünïcode text.\n## Gotchas\n- Watch out.\n",
        )
    text = load_knowledge(k, repo, overview_budget=budget).overview
    assert len(text.encode("utf-8")) <= budget
    if budget >= 2_000:
        assert "_Left out to fit" in text
        assert "## Asking for more" in text


def test_a_cut_tree_keeps_every_top_level_folder_before_going_deeper(repo: Path) -> None:
    k = repo / "knowledge"
    # Six folders: a line with its documented count is longer, so fewer fit in 3,000 bytes.
    for top in "abcdef":
        for sub in range(12):
            write(k, f"{top}{sub}.md", f"filePath: {top}dir/sub{sub:02d}/x.ts")
    text = load_knowledge(k, repo, overview_budget=3_000).overview
    tree = section(text, "Layout")
    assert all(f"- {top}dir/ (12 files, 12 documented)" in tree for top in "abcdef")
    assert "  - sub11/ (1 file, 1 documented)" not in tree
    assert "layout entries" in text


def test_a_large_budget_leaves_nothing_out_of_a_large_folder(repo: Path) -> None:
    k = repo / "knowledge"
    for i in range(50):
        write(k, f"gen{i:03d}.md", f"filePath: src/gen/{i:03d}.ts")
    text = load_knowledge(k, repo, overview_budget=200_000).overview
    assert "_Left out" not in text
    assert "`src/gen/049.ts`" in text


def test_the_same_input_in_any_order_gives_the_same_text(knowledge: Knowledge) -> None:
    served, free = knowledge.served_documents(), knowledge.free_documents()
    data = OverviewInput("shop", "abc", README, served, free, knowledge.features(), "v1", 0)
    shuffled = dataclasses.replace(
        data, files=tuple(reversed(served)), features=build_features(reversed(served))
    )
    assert build_overview(data) == build_overview(shuffled)
    assert "Revision `abc`" in build_overview(data)


def test_the_revision_is_the_git_head(repo: Path) -> None:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "x"], check=True, env=env)
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert f"Revision `{head[:12]}`" in load_knowledge(repo / "knowledge", repo).overview


def test_first_paragraph_skips_front_matter_headings_and_code() -> None:
    text = "---\na: b\n---\n# T\n```\ncode\n```\n<img>\nFirst line\nsecond line\n\nNext.\n"
    assert first_paragraph(text) == "First line second line"


def test_an_rst_opening_keeps_a_wrapped_link_and_shows_links_as_their_text() -> None:
    """As python-lz4's README.rst opens: the link's target wrapped onto a line of its own
    once ended the paragraph mid-sentence."""
    text = (
        "Introduction\n============\n"
        "This package provides python bindings for the `LZ4 compression library\n"
        "<https://lz4.github.io/lz4/>`_, see ``lz4.frame``.\n\nNext.\n"
    )
    assert first_paragraph(text) == (
        "This package provides python bindings for the LZ4 compression library, see `lz4.frame`."
    )
    html = '<p align="center">\n<!-- x -->\n</p>\n<img src=a.png/>\nProse.\n'
    assert first_paragraph(html) == "Prose."


def test_the_layout_nests_each_folder_under_its_parent_whatever_its_siblings_are_named(
    tmp_path: Path,
) -> None:
    """As pybind11's sdist: `pybind11.egg-info/` sorted between `pybind11/` and
    `pybind11/include/`, which was then indented under the egg-info."""
    from context_bot.knowledge.model import RepoFile

    paths = ["pybind11/__init__.py", "pybind11/include/a.h", "pybind11.egg-info/PKG-INFO"]
    inventory = tuple(RepoFile(p, 1, None, False) for p in paths)
    text = build_overview(
        OverviewInput("p", None, None, (), (), (), "v", 0, inventory=inventory), budget=32_000
    )
    layout = text.split("## Layout\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert layout == [
        "- pybind11/ (2 files)",
        "  - include/ (1 file)",
        "- pybind11.egg-info/ (1 file)",
    ]


def test_the_real_seeds_make_an_overview(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for seed in SEEDS.iterdir():
        (folder / seed.name).write_bytes(seed.read_bytes())
    text = load_knowledge(folder, tmp_path).overview
    assert "- **livekit-integration** (1 file); services `src/server/api/livekit.ts`" in text
    assert "From `003_da99b4c0c1254561.txt`: Generates a LiveKit JWT token" in text


def test_the_title_is_the_readme_heading_not_the_clone_folder(tmp_path: Path) -> None:
    from context_bot.knowledge.overview import repo_title

    assert repo_title(tmp_path, "intro\n# my-project\n\ntext") == "my-project"
    assert repo_title(tmp_path, "no heading here") == tmp_path.name
    assert repo_title(tmp_path, None) == tmp_path.name
    # Badges and images may come first; a heading after the opening text names a section.
    assert repo_title(tmp_path, "[![CI](b.svg)](ci)\n<p>\n# my-project\n") == "my-project"
    cobra = "![cobra logo](logo.png)\n\nCobra is a library for CLIs.\n\n# Overview\n"
    assert repo_title(tmp_path, cobra) == tmp_path.name


# -- an overview from the code: repositories without (or beside) documents -----------------

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@e",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@e",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
    "PATH": "/usr/bin:/bin",
}


@pytest.fixture
def toolbox(tmp_path: Path) -> Path:
    """A small repository of several languages that nobody documented."""
    root = tmp_path / "toolbox"
    files = {
        "README.md": "# Toolbox\n\nToolbox turns CSV files into reports.\n\n## Install\n",
        "pyproject.toml": '[project]\nname = "toolbox"\n[project.scripts]\n'
        'toolbox = "toolbox.cli:main"\n',
        "package.json": '{"name": "tb-web", "bin": {"tb": "bin/tb.js"}, "main": "lib/index.js",'
        ' "scripts": {"test": "node t", "build": "esbuild"}}',
        "Procfile": "web: gunicorn toolbox.app:app\n",
        "Dockerfile": 'FROM python:3.12\nCMD ["python"]\nCMD ["toolbox", "serve"]\n',
        "Makefile": ".PHONY: all\nall: build\nbuild:\n\tpython -m build\ntest:\n\tpytest\n",
        "cmd/tbd/main.go": "package main\n\nfunc main() {}\n",
        "src/toolbox/__init__.py": "",
        "src/toolbox/__main__.py": "from toolbox.cli import main\nmain()\n",
        "src/toolbox/core.py": "import datetime\n\n\ndef run():\n    pass\n",
        "src/toolbox/cli.py": "from toolbox.core import run\nfrom . import util\n",
        "src/toolbox/util.py": "from .core import run\n",
        "src/toolbox/report.py": "from toolbox import core\nimport json\n",
        "lib/helpers.js": "module.exports = {}\n",
        "lib/index.js": "const h = require('./helpers')\n",
        "bin/tb.js": "import { h } from '../lib/helpers.js'\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "assets").mkdir()
    (root / "assets/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, env=GIT_ENV, capture_output=True)


def test_without_documents_the_overview_is_read_from_the_code(toolbox: Path) -> None:
    text = load_knowledge(toolbox / "knowledge", toolbox).overview
    assert text.startswith("# Toolbox: onboarding overview\n")
    assert "Toolbox turns CSV files into reports." in section(text, "What this product does")
    coverage = section(text, "Documentation coverage")
    assert re.search(r"^0 of 1\d source files documented \(17 files in all, 1 binary\)\.", coverage)
    assert "No knowledge documents" in coverage
    assert "## Freshness" not in text  # nothing to be fresh or stale
    entry = section(text, "Entry points")
    for line in [
        '- `Dockerfile` CMD `["toolbox", "serve"]`',  # the last CMD is the one that runs
        "- `Makefile` targets: `all`, `build`, `test`",
        "- `Procfile` web: `gunicorn toolbox.app:app`",
        "- `package.json` bin `tb` → `bin/tb.js`",
        "- `package.json` main → `lib/index.js`",
        "- `package.json` scripts: `build`, `test`",
        "- `pyproject.toml` script `toolbox` → `toolbox.cli:main`",
        "- `cmd/tbd/main.go` (Go `main`)",
        "- `src/toolbox/__main__.py` (`python -m toolbox`)",
    ]:
        assert line in entry.splitlines(), line
    layout = section(text, "Layout").splitlines()
    # README, pyproject.toml, package.json, Procfile, Dockerfile, Makefile: shown first.
    assert layout[0] == "- top level: 6 files in no folder", layout
    central = section(text, "Central files").splitlines()
    # `run` is imported by name in cli.py and util.py: the symbol index counts both uses.
    assert central[1] == "- `src/toolbox/core.py` — imported by 3 files; most used: `run` (2)"
    assert "top-level definitions used most, counted by name" in central[0]
    assert "- `lib/helpers.js` — imported by 2 files" in central
    assert "- `src/toolbox/cli.py` — imported by 1 file" not in central  # once is no centre
    assert "- python: 6 files, 0 KiB" in section(text, "Languages")
    assert "## Recent activity" not in text  # no git


def test_git_history_gives_recent_activity_and_the_files_changed_most(toolbox: Path) -> None:
    git(toolbox, "init", "-q")
    git(toolbox, "add", "-A")
    git(toolbox, "commit", "-q", "-m", "Start the toolbox")
    for n in (1, 2):
        (toolbox / "lib/index.js").write_text(f"const h = require('./helpers') // {n}\n")
        (toolbox / "Makefile").write_text(f"all:\n\ttrue {n}\n")
        git(toolbox, "commit", "-q", "-am", f"Tune the build, step {n}")
    text = load_knowledge(toolbox / "knowledge", toolbox).overview
    activity = section(text, "Recent activity").splitlines()
    assert re.fullmatch(
        r"- `[0-9a-f]{7,}` 2026-01-02 Tune the build, step 2 — 2 files in `Makefile`, `lib/`",
        activity[0],
    )
    assert "Start the toolbox — 17 files in `src/`, `lib/`" in activity[2]
    central = section(text, "Central files")
    assert "then what changed most often in the last 3 commits" in central
    assert "- `lib/index.js` — changed in 3 of the last 3 commits" in central
    assert text == load_knowledge(toolbox / "knowledge", toolbox).overview  # deterministic


def test_with_documents_their_sections_come_first_and_coverage_counts_them(
    toolbox: Path,
) -> None:
    k = toolbox / "knowledge"
    k.mkdir()
    write(k, "core.md", "filePath: src/toolbox/core.py\nfeature: reports\nimportance: high")
    text = load_knowledge(k, toolbox).overview
    assert text.index("## Features") < text.index("## Most important files")
    assert text.index("## Most important files") < text.index("## Entry points")
    assert re.search(r"^1 of 1\d source files documented", section(text, "Documentation coverage"))
    assert "No knowledge documents" not in text
    assert "- src/ (6 files, 1 documented)" in section(text, "Layout")
    assert "## Freshness" in text


@pytest.mark.parametrize("budget", [600, 1_500, 4_000])
def test_the_code_overview_fits_its_budget_and_says_what_it_left_out(
    toolbox: Path, budget: int
) -> None:
    for i in range(60):
        (toolbox / f"src/toolbox/mod{i:02d}.py").write_text("from toolbox import core\n")
        (toolbox / f"cmd/t{i:02d}").mkdir()
        (toolbox / f"cmd/t{i:02d}/main.go").write_text("package main\nfunc main() {}\n")
    text = load_knowledge(toolbox / "knowledge", toolbox, overview_budget=budget).overview
    assert len(text.encode()) <= budget
    if budget == 1_500:
        assert "entry points entries" in text and "## Asking for more" in text


def test_a_restructuredtext_readme_gives_the_title_and_opening(tmp_path: Path) -> None:
    (tmp_path / "README.rst").write_text(
        "======\nDjango\n======\n\nDjango is a high-level Python web framework.\n\n.. note:: x\n"
    )
    (tmp_path / "README.rst").rename(tmp_path / "README")
    text = load_knowledge(tmp_path / "knowledge", tmp_path).overview
    assert text.startswith("# Django: onboarding overview")
    assert "Django is a high-level Python web framework." in text


def test_recent_activity_never_names_a_deny_listed_file_even_if_committed(toolbox: Path) -> None:
    git(toolbox, "init", "-q")
    git(toolbox, "add", "-A")
    git(toolbox, "commit", "-q", "-m", "Start the toolbox")
    (toolbox / ".env").write_text("API_TOKEN=hunter2\n")
    (toolbox / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    git(toolbox, "add", "-f", ".env", "id_rsa")
    git(toolbox, "commit", "-q", "-m", "Add the settings")
    (toolbox / ".env").write_text("API_TOKEN=hunter3\n")
    (toolbox / "Makefile").write_text("all:\n\ttrue\n")
    git(toolbox, "commit", "-q", "-am", "Rotate the token")
    text = load_knowledge(toolbox / "knowledge", toolbox).overview
    assert ".env" not in text and "id_rsa" not in text
    activity = section(text, "Recent activity").splitlines()
    assert activity[0].endswith("Rotate the token — 1 file in `Makefile`")
    assert activity[1].endswith("Add the settings")  # nothing served changed: no file count


def test_module_names_start_at_the_top_package_so_the_stdlib_is_not_claimed() -> None:
    from context_bot.knowledge.codemap import import_counts

    files = [
        ("django/__init__.py", "python", ""),
        ("django/utils/__init__.py", "python", ""),
        ("django/utils/datetime.py", "python", ""),
        ("django/a.py", "python", "import datetime\nfrom django.utils import datetime\n"),
        ("django/b.py", "python", "from datetime import date\nfrom .utils.datetime import x\n"),
        ("scripts/c.py", "python", "import datetime\n"),
    ]
    assert import_counts(files) == {"django/utils/datetime.py": 2}


def test_a_go_module_whose_package_is_its_root_counts_the_files_importing_it() -> None:
    """As cobra: the library is the module's root package, its subpackages import it."""
    from context_bot.knowledge.codemap import import_counts

    files = [
        ("go.mod", "go-mod", "module github.com/spf13/cobra\n\ngo 1.15\n"),
        ("command.go", "go", 'package cobra\n\nimport (\n\t"fmt"\n)\n'),
        ("cobra_test.go", "go", 'package cobra_test\n\nimport "github.com/spf13/cobra"\n'),
        ("doc/md_docs.go", "go", 'package doc\n\nimport (\n\t"github.com/spf13/cobra"\n)\n'),
        ("doc/man_docs.go", "go", 'package doc\n\nimport "github.com/spf13/cobra"\n'),
        ("cmd/x/main.go", "go", 'package main\n\nimport "github.com/spf13/cobra/doc"\n'),
    ]
    assert import_counts(files) == {"./": 2, "doc/": 1}  # not its own (test) files


def test_a_go_library_s_import_path_is_its_way_in_read_from_its_excerpts() -> None:
    """As hashicorp/raft: no `main`, the module's root package is what a user imports.
    Read from what the index cache keeps of each file (`excerpt`), as a restart reads it."""
    from context_bot.knowledge.codemap import entry_points, excerpt

    files = [
        ("Makefile", "makefile", "test:\n\tgo test ./...\n"),
        ("go.mod", "go-mod", "module github.com/hashicorp/raft\n\ngo 1.20\n"),
        ("api.go", "go", '// Package raft.\npackage raft\n\nimport (\n\t"fmt"\n)\n'),
        ("api_test.go", "go", "package raft_test\n"),
        ("bench/bench.go", "go", "package raftbench\n"),
    ]
    kept = [(path, language, excerpt(path, text)) for path, language, text in files]
    assert list(entry_points(kept)) == [
        "`Makefile` targets: `test`",
        '`go.mod` (Go module: `import "github.com/hashicorp/raft"`, package `raft`)',
    ]
    commands = [*kept[:2], ("main.go", "go", excerpt("main.go", "package main\nfunc main() {}\n"))]
    assert list(entry_points(commands)) == ["`Makefile` targets: `test`", "`main.go` (Go `main`)"]


def test_go_packages_are_named_as_packages_among_the_central_files() -> None:
    from context_bot.knowledge.codemap import Central, CodeMap

    code = CodeMap(central=(Central("./", 2, 0), Central("doc/", 1, 0)))
    text = build_overview(
        OverviewInput("cobra", None, None, (), (), (), "v", 0, codemap=code), budget=32_000
    )
    assert "- the module's root package (the top level's `.go` files) — imported by 2" in text
    assert "- `doc/` (a Go package) — imported by 1 file" in text


def test_a_readme_heading_loses_its_badges_and_escapes_and_link_definitions_are_no_prose(
    tmp_path: Path,
) -> None:
    """As serde_json's and click's READMEs open."""
    from context_bot.knowledge.overview import repo_title

    serde = (
        "# Serde JSON &emsp; [![Build Status]][actions] [![Latest Version]][crates.io]\n\n"
        "[Build Status]: https://img.shields.io/x.svg\n[actions]: https://example.org/a\n\n"
        "**Serde is a framework for serializing Rust data structures.**\n"
    )
    assert repo_title(tmp_path, serde) == "Serde JSON"
    assert first_paragraph(serde).startswith("**Serde is a framework")
    assert repo_title(tmp_path, "\\$ click\\_\n==========\n\nClick is a package.\n") == "$ click_"


def test_an_opening_that_ends_in_a_colon_keeps_the_list_it_announces() -> None:
    """As tokio's README opens: "... It is:" and a list of three items, blank lines
    between them, each wrapped; the list is the rest of the sentence."""
    tokio = (
        "# Tokio\n\nA runtime for Rust. It is:\n\n* **Fast**: zero-cost\n  abstractions.\n\n"
        "* **Reliable**: fewer bugs.\n\n- **Scalable**: a small footprint\n\n"
        "[![Crates.io][crates-badge]][crates-url]\n"
    )
    assert first_paragraph(tokio) == (
        "A runtime for Rust. It is: **Fast**: zero-cost abstractions; **Reliable**: fewer "
        "bugs; **Scalable**: a small footprint."
    )
    assert first_paragraph("Intro:\n\nNot a list.\n") == "Intro:"
    assert first_paragraph("Plain prose.\n\n* a list after it\n") == "Plain prose."


def test_without_a_readme_title_the_manifest_names_the_repository(tmp_path: Path) -> None:
    """As fastapi's source archive, unpacked into `repo/`: its README opens with HTML, so
    the overview was titled by the folder; its `pyproject.toml` says `fastapi`."""
    from context_bot.knowledge.overview import manifest_name, repo_title
    from context_bot.knowledge.sandbox import RepoFiles

    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text('<p align="center"><em>Fast.</em></p>\n\nFastAPI is fast.\n')
    (root / "pyproject.toml").write_text('[project]\nname = "fastapi"\nversion = "1"\n')
    assert manifest_name(RepoFiles(root)) == "fastapi"
    text = load_knowledge(root / "knowledge", root).overview
    assert text.startswith("# fastapi: onboarding overview\n")
    assert repo_title(root, "# Real Title\n", "fastapi") == "Real Title"
    (root / "pyproject.toml").unlink()
    (root / "go.mod").write_text("module github.com/hashicorp/raft\n\ngo 1.20\n")
    assert manifest_name(RepoFiles(root)) == "raft"
    (root / "go.mod").unlink()
    assert manifest_name(RepoFiles(root)) is None
    assert repo_title(root, None, None) == "repo"


def test_a_bar_of_links_is_no_opening() -> None:
    """As eslint's README: a navigation bar of links under the title, then the prose."""
    eslint = (
        "# ESLint\n\n[Website](https://eslint.org) |\n[Rules](https://eslint.org/r) |\n"
        "[Discord][chat] · [Mastodon](https://m.example)\n\n"
        "ESLint is a tool for identifying patterns in [ECMAScript](https://e.example) code.\n"
    )
    assert first_paragraph(eslint) == (
        "ESLint is a tool for identifying patterns in [ECMAScript](https://e.example) code."
    )
    assert first_paragraph("[Foo](https://f.example) is a library.\n") == (
        "[Foo](https://f.example) is a library."
    )
    # As fastapi's README: a centred HTML header, then a label and its link per line.
    fastapi = (
        '<p align="center">\n  <em>FastAPI framework</em>\n</p>\n\n---\n\n'
        '**Documentation**: <a href="https://f.example" target="_blank">https://f.example</a>\n\n'
        "**Source Code**: [github](https://g.example)\n\n---\n\n"
        "FastAPI is a modern, fast web framework.\n"
    )
    assert first_paragraph(fastapi) == "FastAPI is a modern, fast web framework."
    assert first_paragraph("Note: prose with a colon in it.\n") == "Note: prose with a colon in it."


def test_a_markdown_title_underlined_shorter_than_itself_is_a_title(tmp_path: Path) -> None:
    """As hashicorp/raft's README opens: a setext heading whose badge makes it longer than
    its `====` was taken for the opening prose, and the opening itself was lost."""
    from context_bot.knowledge.overview import repo_title

    raft = (
        "raft [![Build Status](https://ci.example/badge.svg)](https://ci.example/raft)\n====\n\n"
        "raft is a [Go](http://www.golang.org) library that manages a replicated\n"
        "log.\n\nMore.\n"
    )
    assert repo_title(tmp_path, raft) == "raft"
    assert first_paragraph(raft) == (
        "raft is a [Go](http://www.golang.org) library that manages a replicated log."
    )
    assert first_paragraph("Title\n==\n\nProse here.\n") == "Prose here."
    assert first_paragraph("A Title\n-------\nProse here.\n") == "Prose here."
    # A paragraph ends at a blank line, not at a line of its own words with dashes in it.
    assert first_paragraph("Some prose - with a dash\n- and a list item\n") == (
        "Some prose - with a dash - and a list item"
    )


def test_java_imports_count_for_the_imported_class_file_whatever_the_source_root() -> None:
    """As gson (classes at the root of the sources) and a Maven layout (src/main/java)."""
    from context_bot.knowledge.codemap import excerpt, import_counts

    sources = {
        "src/main/java/com/acme/Gson.java": "package com.acme;\n\nimport java.util.List;\n"
        "import com.acme.stream.JsonReader;\npublic final class Gson {}\n",
        "src/main/java/com/acme/stream/JsonReader.java": "package com.acme.stream;\n"
        "public class JsonReader {}\n",
        "src/main/java/com/acme/internal/Util.java": "package com.acme.internal;\n"
        "import static com.acme.stream.JsonReader.peek;\nimport com.acme.*;\nclass Util {}\n",
        "src/test/java/com/acme/GsonTest.java": "package com.acme;\n"
        "import com.acme.stream.JsonReader;\nimport com.acme.internal.Util;\nclass GsonTest {}\n",
    }
    # What the cache keeps of each file is enough to count them again.
    files = [(path, "java", excerpt(path, text)) for path, text in sources.items()]
    assert import_counts(files) == {
        "src/main/java/com/acme/stream/JsonReader.java": 3,  # a static import counts too
        "src/main/java/com/acme/internal/Util.java": 1,  # a wildcard names no file
    }


def test_annotation_types_are_no_central_files(tmp_path: Path) -> None:
    """As guava's sources: `@GwtCompatible` and its kind are imported by hundreds of files,
    and led the central files; an annotation type (Java or Kotlin) is a marker."""
    from context_bot.knowledge.codemap import build_codemap, excerpt

    def user(n: int) -> str:
        return (
            f"package a.b;\nimport a.ann.Marker;\nimport a.ann.Tag;\nimport a.b.Core;\n"
            f"@Marker class User{n} {{}}\n"
        )

    sources = {
        "a/ann/Marker.java": "package a.ann;\n/** A marker. */\npublic @interface Marker {}\n",
        "a/ann/Tag.kt": "package a.ann\n\nannotation class Tag\n",
        "a/b/Core.java": "package a.b;\npublic final class Core {}\n",
        **{f"a/b/User{n}.java": user(n) for n in range(3)},
    }
    files = [(path, "java", excerpt(path, text)) for path, text in sources.items()]
    code = build_codemap(files, tmp_path, denied=lambda _: False, git=False)
    assert [c.path for c in code.central] == ["a/b/Core.java"]


def test_kotlin_imports_count_for_the_file_named_for_the_class() -> None:
    """As okhttp's sources jar: Kotlin's `package` and `import` have no `;`, an import may
    be renamed, and a file is named for its main class."""
    from context_bot.knowledge.codemap import excerpt, import_counts

    sources = {
        "okhttp3/OkHttpClient.kt": "package okhttp3\n\nimport okhttp3.internal.Util as U\n"
        "import java.net.Proxy\nclass OkHttpClient\n",
        "okhttp3/internal/Util.kt": "package okhttp3.internal\n\nimport okhttp3.OkHttpClient\n",
        "okhttp3/internal/http/Bridge.kt": "package okhttp3.internal.http\n"
        "import okhttp3.OkHttpClient\nimport okhttp3.internal.*\n",
        "Tool.java": "package okhttp3;\nimport okhttp3.internal.Util;\nclass Tool {}\n",
    }
    files = [(path, "kotlin", excerpt(path, text)) for path, text in sources.items()]
    assert import_counts(files) == {"okhttp3/OkHttpClient.kt": 2, "okhttp3/internal/Util.kt": 2}


def test_a_history_of_one_commit_says_nothing_of_how_often_files_change() -> None:
    """A source archive committed whole: every file "changed in 1 of the last 1 commits"
    was noise on every line. Without a README or documents, the product line says the
    sections come from the code (there are no features below to see)."""
    from context_bot.knowledge.codemap import Central, CodeMap

    def overview(commits: int) -> str:
        code = CodeMap(central=(Central("a/Core.kt", 3, 1),), history_commits=commits)
        data = OverviewInput("jar", None, None, (), (), (), "v", 0, codemap=code)
        return build_overview(data, budget=32_000)

    one = overview(1)
    assert "- `a/Core.kt` — imported by 3 files\n" in one
    assert "changed" not in section(one, "Central files")
    assert "the sections below come from the code" in section(one, "What this product does")
    assert "- `a/Core.kt` — imported by 3 files, changed in 1 of the last 5 commits" in overview(5)


def test_without_imports_or_history_the_central_files_are_those_whose_names_are_used(
    tmp_path: Path,
) -> None:
    """As hashicorp/raft committed whole: one Go package, its files use each other's names
    without importing anything, and one commit tells nothing: no central files were shown.
    Now the files whose top-level names the others use most, tests left out."""
    from context_bot.knowledge.codemap import central_by_uses

    uses = {"config.go": 40, "api.go": 90, "util.go": 1, "api_test.go": 500}
    central = central_by_uses(["util.go", "config.go", "api.go", "api_test.go"], uses.__getitem__)
    assert [(c.path, c.uses) for c in central] == [("api.go", 90), ("config.go", 40)]
    assert central_by_uses([f"f{n}.go" for n in range(401)], lambda _: 5) == ()

    root = tmp_path / "lib"
    root.mkdir()
    (root / "go.mod").write_text("module example.com/lib\n\ngo 1.21\n")
    (root / "raft.go").write_text(
        "package lib\n\n// Raft is the node.\ntype Raft struct{}\n\n"
        "func NewRaft() *Raft { return &Raft{} }\n"
    )
    (root / "api.go").write_text(
        "package lib\n\nfunc Start() *Raft {\n\tr := NewRaft()\n\tvar x Raft\n"
        "\t_ = x\n\treturn r\n}\n"
    )
    (root / "log.go").write_text("package lib\n\nfunc logIt(r *Raft) { _ = Start() }\n")
    text = load_knowledge(root / "knowledge", root).overview
    central = section(text, "Central files").splitlines()
    assert central[0].startswith("_By how often other code uses the top-level names")
    assert central[1].startswith("- `raft.go` — its names used ")
    assert "most used: `Raft` (" in central[1]


def test_a_crate_declares_its_library_and_binaries(tmp_path: Path) -> None:
    from context_bot.knowledge.codemap import entry_points

    cargo = '[package]\nname = "tool"\n\n[[bin]]\nname = "tool-cli"\npath = "src/cli.rs"\n'
    files = [
        ("Cargo.toml", "toml", cargo),
        ("src/lib.rs", "rust", ""),
        ("src/cli.rs", "rust", ""),
        ("src/main.rs", "rust", ""),
        ("src/bin/migrate.rs", "rust", ""),
        ("src/bin/helpers/mod.rs", "rust", ""),  # a module of the binaries, no binary
    ]
    assert list(entry_points(files)) == [
        "`Cargo.toml` library `tool` → `src/lib.rs`",
        "`Cargo.toml` bin `tool-cli` → `src/cli.rs`",
        "`Cargo.toml` bin `tool` → `src/main.rs`",
        "`Cargo.toml` bin `migrate` → `src/bin/migrate.rs`",
    ]
    assert list(entry_points([("Cargo.toml", "toml", "[package\nbroken")])) == []


def test_a_python_library_without_scripts_names_its_import_packages_first() -> None:
    """As python-lz4's sdist: no script, a Sphinx `docs/Makefile`, and the package."""
    from context_bot.knowledge.codemap import entry_points

    files = [
        ("setup.py", "python", "from setuptools import setup\nsetup(name='lz4')\n"),
        ("docs/Makefile", "makefile", "html:\n\tsphinx-build\n"),
        ("lz4/__init__.py", "python", ""),
        ("lz4/frame/__init__.py", "python", ""),  # a subpackage: not a way in of its own
        ("src/lz4extra/__init__.py", "python", ""),
        ("tests/__init__.py", "python", ""),
    ]
    assert list(entry_points(files)) == [
        "`lz4/` (Python package: `import lz4`)",
        "`src/lz4extra/` (Python package: `import lz4extra`)",
        "`docs/Makefile` targets: `html`",
    ]
    assert list(entry_points(files[1:])) == ["`docs/Makefile` targets: `html`"]  # no project


def test_build_copies_and_vendored_files_are_not_central(tmp_path: Path) -> None:
    """As rxjs's package: `dist/cjs`, `dist/esm` and `src` hold the same imports."""
    from context_bot.knowledge.codemap import build_codemap

    files = []
    for root in ("src", "dist/cjs", "dist/esm", "vendor/lib"):
        files.append((f"{root}/util.js", "javascript", "module.exports = 1\n"))
        for n in range(3):
            files.append((f"{root}/user{n}.js", "javascript", "require('./util')\n"))
    code = build_codemap(files, tmp_path, denied=lambda _: False, git=False)
    assert [c.path for c in code.central] == ["src/util.js"]


def test_rust_uses_count_for_the_module_file_they_name() -> None:
    """As serde_json: `use crate::…` in the crate, `use <crate>::…` from its tests."""
    from context_bot.knowledge.codemap import excerpt, import_counts

    sources = {
        "Cargo.toml": '[package]\nname = "serde-json"\n',
        "src/lib.rs": "pub mod error;\npub mod value;\npub use crate::error::{Error, Result};\n",
        "src/error.rs": "use core::fmt;\npub struct Error;\n",
        "src/value/mod.rs": "use crate::error::Error;\nuse crate::value::ser::Serializer;\n",
        "src/value/ser.rs": "use super::Value;\nuse crate::error::Error;\n",
        "tests/test.rs": "use serde_json::value::Value;\nuse serde_json::json;\nuse serde::de;\n",
        "fuzz/Cargo.toml": '[package]\nname = "fuzz"\n',
        "fuzz/src/main.rs": "use crate::error::Error;\n",  # the fuzz crate's own: no file
    }
    files = [(path, None, excerpt(path, text)) for path, text in sources.items()]
    assert import_counts(files) == {
        "src/error.rs": 3,  # lib.rs, value/mod.rs, value/ser.rs
        "src/value/ser.rs": 1,
        "src/value/mod.rs": 1,  # from the tests, by the crate's name
    }


def test_a_package_without_main_or_exports_starts_at_its_index_js() -> None:
    """As express's package.json: Node loads `index.js` when nothing is declared."""
    from context_bot.knowledge.codemap import entry_points

    package = ("package.json", "json", '{"name": "express", "scripts": {"test": "mocha"}}')
    index = ("index.js", "javascript", "module.exports = require('./lib/express')\n")
    assert list(entry_points([package, index])) == [
        "`package.json` main → `index.js` (Node's default)",
        "`package.json` scripts: `test`",
    ]
    assert list(entry_points([package])) == ["`package.json` scripts: `test`"]
    exports = ("package.json", "json", '{"name": "x", "exports": "./lib/x.js"}')
    assert list(entry_points([exports, index])) == []  # `exports` decides, not the default


def test_a_setup_py_declares_console_scripts_read_as_text() -> None:
    from context_bot.knowledge.codemap import entry_points

    setup = (
        "from setuptools import setup\n\nsetup(\n    name='tool',\n    entry_points={\n"
        "        'console_scripts': [\n            'tool = tool.cli:main',\n"
        '            "tool-admin=tool.admin:run",\n        ],\n    },\n)\n'
    )
    assert list(entry_points([("setup.py", "python", setup)])) == [
        "`setup.py` script `tool` → `tool.cli:main`",
        "`setup.py` script `tool-admin` → `tool.admin:run`",
    ]

"""The instructions name the tools the model has, and a small budget keeps what matters.

Pure tests of the text the model reads (no room): the overviews are built by the bot's
own loader from this repository (with its knowledge documents) and from a copy of its
code without them (an overview read from the code).
"""

from __future__ import annotations

import re
import shutil

import pytest
from livekit.agents import llm

from context_bot.agents import (
    CHARS_PER_TOKEN,
    SECTION_PRIORITY,
    TOOL_ROLES,
    ContextTools,
    render_instructions,
)
from context_bot.client import ContextClient
from context_bot.knowledge import overview as overview_mod
from context_bot.knowledge.loading import load_knowledge
from tests.agents.conftest import REPO_ROOT

PROTOCOL_METHODS = ("file", "search", "list", "feature", "grep", "overview")


@pytest.fixture(scope="module")
def tools() -> ContextTools:
    return ContextTools(ContextClient.__new__(ContextClient))  # never asked: no room here


@pytest.fixture(scope="module")
def documented() -> str:
    return load_knowledge(REPO_ROOT / "knowledge", REPO_ROOT).overview


@pytest.fixture(scope="module")
def undocumented(tmp_path_factory: pytest.TempPathFactory) -> str:
    repo = tmp_path_factory.mktemp("no-documents")
    shutil.copytree(
        REPO_ROOT / "context_bot", repo / "context_bot", ignore=shutil.ignore_patterns("__py*")
    )
    for name in ("README.md", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, repo / name)
    return load_knowledge(repo / "knowledge", repo).overview


def names(tools: ContextTools) -> set[str]:
    return {t.info.name for t in tools.tools if isinstance(t, llm.FunctionTool)}


def render(overview: str, tools: ContextTools, budget: int) -> str:
    text = render_instructions(overview, budget_tokens=budget, tools=tools, version="v1")
    assert len(text) <= budget * CHARS_PER_TOKEN
    return text


def sections(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, flags=re.MULTILINE)


def test_every_tool_has_a_role_and_the_guide_names_exactly_the_tools(
    tools: ContextTools, undocumented: str
) -> None:
    assert {tool.info.name for tool in TOOL_ROLES} == names(tools)
    text = render(undocumented, tools, 1000)
    guide = text.split("\n\n")[0]
    listed = guide.split("through tools: ")[1].split(". Use them")[0]
    assert set(re.findall(r"(\w+) \(", listed)) == names(tools)
    for name in names(tools):
        assert name in guide


def test_no_protocol_method_is_named_as_if_it_were_a_tool(
    tools: ContextTools, documented: str, undocumented: str
) -> None:
    # The overview names the protocol's methods for people in the room: in its closing
    # section, and in the coverage line of a repository without documents.
    assert overview_mod.ASK_LINE in documented
    assert "`file` serves any file" in undocumented
    for overview in (documented, undocumented):
        text = render(overview, tools, 20_000)
        assert overview_mod.ASK_LINE not in text
        assert "## Asking for more" not in text
    text = render(undocumented, tools, 1000)
    coverage = text.split("## Documentation coverage\n")[1].split("\n")[0]
    assert not re.findall(rf"`({'|'.join(PROTOCOL_METHODS)})`", coverage)
    assert "`read_file` serves any file" in coverage
    assert "`list_folder` shows every folder" in coverage


def test_every_overview_section_has_a_place_in_the_priority() -> None:
    known = set(SECTION_PRIORITY) | {"Asking for more"}
    assert set(overview_mod.TITLES.values()) <= known
    assert {"What this product does", "Documentation coverage", "Freshness"} <= known


@pytest.mark.parametrize("budget", [1000, 2500])
def test_a_small_budget_keeps_layout_and_gotchas_before_user_flows(
    tools: ContextTools, documented: str, budget: int
) -> None:
    text = render(documented, tools, budget)
    shown = sections(text)
    assert shown[:3] == ["What this product does", "Documentation coverage", "Layout"]
    # In priority order; gotchas before every long list. Whether they fit at 1,000 tokens
    # depends on this repository's own overview (it grows with the repository): when they
    # do not, the note names them, as it names every section left out.
    assert shown == [title for title in SECTION_PRIORITY if title in shown]
    assert "User flows" not in shown
    assert "99 files documented" in text or " files documented · " in text
    note = text.split("[Overview cut to fit ")[1]
    assert "User flows" in note.split("left out: ")[1]
    assert "Gotchas" in shown or "Gotchas" in note
    if budget >= 2500:
        assert "Gotchas" in shown
    assert note.endswith("The tools give the rest.]\n</repository_context>")
    for title in shown:  # a section shown whole or named as cut short, never silently cut
        body = documented.split(f"## {title}\n")[1].split("\n\n## ")[0].strip()
        body = body.split("\n\n_")[0]  # the last section: without the overview's own note
        cut_short = note.split("cut short: ")[1] if "cut short: " in note else ""
        assert body in text or f"{title} (" in cut_short
    for line in text.splitlines():  # a cut section ends at a line end, never mid-line
        assert not line.startswith("- ") or line.rstrip() == line
    shown_lines = {line for line in text.splitlines() if line.startswith("- ")}
    assert shown_lines <= set(documented.splitlines()) | {
        line for line in text.splitlines() if "`read_file`" in line
    }


@pytest.mark.parametrize("budget", [600, 1000])
def test_without_documents_the_sections_from_the_code_come_first(
    tools: ContextTools, undocumented: str, budget: int
) -> None:
    text = render(undocumented, tools, budget)
    shown = sections(text)
    assert "Features" not in undocumented and "Gotchas" not in undocumented
    assert shown[:3] == ["What this product does", "Documentation coverage", "Layout"]
    assert "Entry points" in shown
    assert "0 of " in text.split("## Documentation coverage\n")[1]
    assert "A file without a knowledge document" in text


def test_a_roomy_budget_holds_every_section_and_says_nothing_was_cut(
    tools: ContextTools, documented: str
) -> None:
    text = render(documented, tools, 20_000)
    assert "Overview cut" not in text
    expected = [t for t in sections(documented) if t != "Asking for more"]
    assert sorted(sections(text)) == sorted(expected)
    assert sections(text)[-1] == "User flows"

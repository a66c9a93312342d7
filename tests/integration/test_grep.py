"""`grep` in a real room: code search over every file, and hostile patterns beside others."""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.errors import BadRequest
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

UNDOCUMENTED = "tools/undocumented_helper.py"
FUNCTION = f"frobnicate_{uuid.uuid4().hex[:8]}"
"""Made at run time: the repository's own documents quote this test, never this name."""


def make_git_repo(repo: Path) -> None:
    (repo / "tools").mkdir()
    (repo / UNDOCUMENTED).write_text(
        f"def {FUNCTION}(count):\n    # no knowledge document describes this file\n"
        "    return count * 2\n"
    )
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)


async def test_a_participant_greps_every_file_with_and_without_regex(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    make_git_repo(repo_copy)
    app: ContextBotApp = await running_app(repo=repo_copy)
    client = ContextClient(await join_with_token(app, connect, "grep-room", "searcher"))

    literal = await client.grep(FUNCTION)
    assert [(m.path, m.line, m.column) for m in literal.matches] == [(UNDOCUMENTED, 1, 5)]
    assert literal.files_searched > 50 and not literal.truncated

    source = (repo_copy / "context_bot" / "client.py").read_text().splitlines()
    regex = await client.grep(r"^class \w+(Result|Match):", regex=True, glob="context_bot/*.py")
    assert [(m.path, m.text) for m in regex.matches] == [
        ("context_bot/client.py", line)
        for line in source
        if re.match(r"class \w+(Result|Match):", line)
    ]
    for match in regex.matches:
        assert source[match.line - 1] == match.text

    around = await client.grep("return count * 2", context=2, glob=["tools/**"])
    assert around.matches[0].before == [
        f"def {FUNCTION}(count):",
        "    # no knowledge document describes this file",
    ]
    assert not (await client.grep(FUNCTION.upper())).matches  # smart case: exact


async def test_hostile_patterns_are_refused_or_cut_while_others_are_answered(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    (repo_copy / "aaaa.txt").write_text("a" * 1_000_000 + "\n")
    rng = random.Random(7)  # noqa: S311 - test data
    for n in range(4):  # text on which RE2's DFA gives up for the slow pattern below
        lines = ["".join(rng.choices("ab", k=10_000)) for _ in range(30)]
        (repo_copy / f"ab{n}.txt").write_text("\n".join(lines) + "\n")
    app: ContextBotApp = await running_app(repo=repo_copy)
    attacker = ContextClient(await join_with_token(app, connect, "hostile-room", "attacker"))
    other = ContextClient(await join_with_token(app, connect, "hostile-room", "bystander"))
    await other.file("README.md")  # both connected and answered once

    # Catastrophic for a backtracking engine; linear for RE2: answered, and quickly.
    started = time.monotonic()
    found = await attacker.grep("(a+)+$", regex=True, glob="aaaa.txt")
    assert [(m.path, m.line) for m in found.matches] == [("aaaa.txt", 1)]
    assert time.monotonic() - started < 2.0

    # Too long: refused with 4000 before anything compiles it.
    with pytest.raises(BadRequest) as refused:
        await attacker.grep("a" * 10_000)
    assert refused.value.code == 4000

    # A program too large to compile without holding the process: refused, 4000.
    with pytest.raises(BadRequest) as too_large:
        await attacker.grep("a" + ".{500}" * 64 + "c", regex=True)
    assert too_large.value.code == 4000
    assert "too large a program" in too_large.value.message

    # Linear but slow (RE2's DFA gives up): cut at the deadline, while another
    # participant's `file` requests are answered as usual.
    slow = "a" + ".{500}" * 8 + "c"
    latencies: list[float] = []

    async def bystander() -> None:
        while not attack.done():
            asked = time.monotonic()
            result = await other.file("context_bot/protocol.py", lines=(1, 5))
            latencies.append(time.monotonic() - asked)
            assert result.content is not None

    started = time.monotonic()
    attack = asyncio.gather(
        attacker.grep(slow, regex=True), attacker.grep(slow + "|zz", regex=True)
    )
    await asyncio.gather(attack, bystander())
    cut, cut_too = attack.result()
    took = time.monotonic() - started

    assert (cut.truncated, cut.truncated_reason) == (True, "deadline")
    assert cut_too.truncated_reason == "deadline"
    assert took < 2.0 + 1.5  # the 2 s deadline, a grace, the room's round trips
    assert len(latencies) >= 5
    assert max(latencies) < 0.5, latencies  # a search on the event loop: 2 s

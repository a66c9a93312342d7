"""`retrieve` in a real room: a newcomer's spoken question answered as one bounded block,
small talk with nothing, bad parameters with a typed error; and the CLI's `retrieve`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from context_bot.app import ContextBotApp
from context_bot.client import ContextClient
from context_bot.errors import BadRequest
from tests.integration.test_end_to_end import join_with_token

pytestmark = pytest.mark.integration

QUESTION = "Hey, so where does the bot check the signature of the webhooks LiveKit sends?"


async def test_a_participant_gets_the_passages_that_answer_a_spoken_question(
    running_app: Any, connect: Any, repo_copy: Path
) -> None:
    app: ContextBotApp = await running_app(repo=repo_copy)
    client = ContextClient(await join_with_token(app, connect, "retrieve-room", "newcomer"))

    found = await client.retrieve(QUESTION, budget_tokens=400)

    paths = [f.path for f in found.files]
    assert "context_bot/endpoint/webhooks.py" in paths[:3]
    assert found.text.startswith("Repository passages that may answer this turn")
    assert len(found.text) <= 400 * 4
    assert "webhooks" in found.words and "hey" not in [w.lower() for w in found.words]
    assert app.knowledge is not None and found.knowledge_version == app.knowledge.version
    for file in found.files:
        if file.lines and file.kind != "guide":  # each shown line is the file's, numbered truly
            source = (repo_copy / file.path).read_text().splitlines()
            for n in file.lines:
                assert f"  {n}: {source[n - 1].strip()[:100]}" in found.text
    assert any(f.purpose for f in found.files), "documented files carry their purpose"

    nothing = await client.retrieve("okay, thanks, that's great")
    assert (nothing.text, nothing.files) == ("", [])

    with pytest.raises(BadRequest, match="budget_tokens"):
        await client.retrieve(QUESTION, budget_tokens=5)
    with pytest.raises(BadRequest, match="text"):
        await client.retrieve(" ")


def test_the_cli_prints_the_block_a_turn_would_get(repo_copy: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "context_bot", "retrieve", QUESTION, "--repo", str(repo_copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "- context_bot/endpoint/webhooks.py" in run.stdout

    quiet = subprocess.run(
        [sys.executable, "-m", "context_bot", "retrieve", "thanks!", "--repo", str(repo_copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert quiet.stdout.strip() == "nothing scored well enough"

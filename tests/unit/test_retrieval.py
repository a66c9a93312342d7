"""Retrieval for a conversational turn (knowledge/retrieval.py) and the `retrieve` method,
over a small repository written here: a documented rate limiter, an undocumented billing
module, the limiter's tests, and a `.env` holding the same words."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_bot.bot.handlers import Handlers
from context_bot.errors import BadRequest
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.retrieval import CHARS_PER_TOKEN, content_words, retrieve, stem
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.search import sandbox_reader
from context_bot.protocol import MAX_RETRIEVE_TEXT_CHARS, Request

LIMITER = '''"""Token buckets per key."""

import time


class RateLimiter:
    """Refills each key's bucket at a fixed rate."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def allow(self, key: str) -> bool:
        """Take one token from the key's bucket; False when it is empty."""
        return time.monotonic() > 0


# A rate limiter's bucket per key holds tokens; a key whose bucket is empty waits for the
# refill, and the rate limiter never forgets a key's bucket (see the Gotchas: buckets and
# tokens per key stay until the process ends, which the rate limiter tests rely on).
'''

INVOICES = '''"""Invoices for tenants, rounded to whole cents."""


def build_invoice(tenant: str, amount_cents: int) -> dict[str, object]:
    """One invoice; amounts are in cents so nothing is lost to rounding."""
    return {"tenant": tenant, "cents": amount_cents}


def cancel_invoice(number: int) -> None:
    pass
'''

LIMITER_TESTS = """from src.ratelimit import RateLimiter


def test_rate_limiter_allows_a_key_under_its_rate() -> None:
    limiter = RateLimiter(rate=1.0)  # the rate limiter, its rate, its key, its bucket
    assert limiter.allow("key")  # rate limiter rate limiter rate limiter bucket key


def test_rate_limiter_refuses_a_key_over_its_rate() -> None:
    assert RateLimiter(rate=0.0).allow("key")  # rate limiter bucket key
"""

DOCUMENT = """---
filePath: src/ratelimit.py
lastUpdated: '2026-01-01T00:00:00Z'
tags:
  - limits
---
## Purpose
`RateLimiter` keeps a token bucket per key, so one noisy client cannot starve the others. \
It is shared by every entry point.

## Gotchas
- Buckets are never forgotten.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src/ratelimit.py").write_text(LIMITER)
    (tmp_path / "src/invoices.py").write_text(INVOICES)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_ratelimit.py").write_text(LIMITER_TESTS)
    (tmp_path / ".env").write_text("RATE_LIMITER_BUCKET_KEY=a-secret-the-bot-never-serves\n")
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge/ratelimit.md").write_text(DOCUMENT)
    return tmp_path


@pytest.fixture
def knowledge(repo: Path) -> Knowledge:
    return load_knowledge(repo / "knowledge", repo)


def test_a_spoken_question_gets_the_file_its_document_and_the_lines_that_matter(
    knowledge: Knowledge, repo: Path
) -> None:
    found = retrieve(
        knowledge,
        "So, um, how does the rate limiter decide whether a key's bucket is empty?",
        read=sandbox_reader(RepoFiles(repo)),
    )

    assert found.hits[0].path == "src/ratelimit.py"
    assert found.hits[0].purpose == (
        "`RateLimiter` keeps a token bucket per key, so one noisy client cannot starve the others."
    )
    block = found.text.splitlines()
    at = block.index(f"- src/ratelimit.py: {found.hits[0].purpose}")
    # The definition's line and the lines holding most of the turn's words, numbered.
    assert "  6: class RateLimiter:" in block[at + 1 :]
    assert (
        "  17: # A rate limiter's bucket per key holds tokens; a key whose bucket is empty "
        "waits for the" in block[at + 1 :]
    )
    assert found.hits[0].lines == (6, 17, 18)
    assert ".env" not in {h.path for h in found.hits}, "a denied file is never retrieved"
    assert "a-secret" not in found.text


def test_a_source_file_outranks_its_tests_unless_the_turn_is_about_tests(
    knowledge: Knowledge, repo: Path
) -> None:
    read = sandbox_reader(RepoFiles(repo))
    plain = [h.path for h in retrieve(knowledge, "rate limiter bucket key", read=read).hits]
    assert plain.index("src/ratelimit.py") < plain.index("tests/test_ratelimit.py")

    tests = [h.path for h in retrieve(knowledge, "tests of the rate limiter", read=read).hits]
    assert tests[0] == "tests/test_ratelimit.py"


def test_an_undocumented_file_is_found_by_the_name_it_defines(
    knowledge: Knowledge, repo: Path
) -> None:
    found = retrieve(
        knowledge, "where do we cancel invoice numbers", read=sandbox_reader(RepoFiles(repo))
    )

    top = found.hits[0]
    assert (top.path, top.purpose) == ("src/invoices.py", None)
    block = found.text.splitlines()
    # No document: the file's own opening docstring says what it is for.
    assert (
        "- src/invoices.py: (no document; it opens with) Invoices for tenants, rounded to "
        "whole cents." in block
    )
    assert "  9: def cancel_invoice(number: int) -> None:" in block


@pytest.mark.parametrize(
    "turn",
    [
        "cheers, that was useful",
        "alright, next one please",
        "are you still there?",
        "say that once more please",
        "is it sunny in Lisbon right now?",
    ],
)
def test_small_talk_adds_nothing(knowledge: Knowledge, repo: Path, turn: str) -> None:
    found = retrieve(knowledge, turn, read=sandbox_reader(RepoFiles(repo)))

    assert found.text == ""
    assert found.hits == []


def test_one_word_counts_only_when_it_names_something(knowledge: Knowledge, repo: Path) -> None:
    read = sandbox_reader(RepoFiles(repo))

    assert retrieve(knowledge, "invoices?", read=read).hits[0].path == "src/invoices.py"
    assert retrieve(knowledge, "limits?", read=read).hits[0].path == "src/ratelimit.py"  # tag
    assert retrieve(knowledge, "rounding?", read=read).text == ""  # only mentioned


def test_the_block_fits_its_budget(knowledge: Knowledge, repo: Path) -> None:
    read = sandbox_reader(RepoFiles(repo))
    turn = "how are rate limiter buckets, keys, tokens and invoices in cents built"
    wide = retrieve(knowledge, turn, read=read, budget_tokens=2000)
    narrow = retrieve(knowledge, turn, read=read, budget_tokens=100)

    assert len(wide.text) > 100 * CHARS_PER_TOKEN, "the turn has more to show than fits"
    assert len(narrow.text) <= 100 * CHARS_PER_TOKEN
    assert narrow.text.splitlines()[1].startswith(f"- {wide.hits[0].path}")
    assert wide.text.startswith(narrow.text), "cut at a line end, best first"
    for found in (wide, narrow):  # `lines` are the numbers the block shows, no more
        rows = [r for r in found.text.splitlines() if r.startswith("  ")]
        assert sum(len(h.lines) for h in found.hits) == len(rows)
    assert len(narrow.hits[0].lines) < len(wide.hits[0].lines) or len(narrow.hits[1].lines) < len(
        wide.hits[1].lines
    )


def test_content_words_drop_filler_contractions_and_stopwords() -> None:
    assert content_words("Hey, so I'd like to know how the RateLimiter's bucket works?") == (
        "RateLimiter",
        "bucket",
        "works",
    )
    assert content_words("um, thanks, that's great") == ()
    assert stem("logging") == "log" and stem("errors") == "error" and stem("runs") == "run"


@pytest.mark.parametrize(
    ("text", "budget", "message"),
    [
        ("", None, "`text` must be a non-empty string"),
        ("   ", None, "`text` must be a non-empty string"),
        ("x" * (MAX_RETRIEVE_TEXT_CHARS + 1), None, "at most"),
        ("rate limiter", 99, "`budget_tokens` must be a whole number from 100"),
        ("rate limiter", True, "`budget_tokens`"),
    ],
)
def test_bad_input_is_a_bad_request(
    knowledge: Knowledge, text: str, budget: object, message: str
) -> None:
    with pytest.raises(BadRequest, match=message):
        if budget is None:
            retrieve(knowledge, text)
        else:
            retrieve(knowledge, text, budget_tokens=budget)  # type: ignore[arg-type]


async def test_the_retrieve_method_answers_the_block_and_its_files(
    knowledge: Knowledge, repo: Path
) -> None:
    handlers = Handlers(lambda: knowledge, RepoFiles(repo))
    answer = await handlers.handle(
        Request("r1", "retrieve", {"text": "who cancels an invoice?", "budget_tokens": 300})
    )

    assert answer["knowledge_version"] == knowledge.version
    assert answer["hits"][0] == {
        "path": "src/invoices.py",
        "kind": "code",
        "score": answer["hits"][0]["score"],
        "lines": [9],
        "purpose": None,
    }
    assert "9: def cancel_invoice" in answer["text"]
    assert answer["words"] == ["cancels", "invoice"]
    assert "retrieve" in handlers.methods

    with pytest.raises(BadRequest, match=r"`params\.text` must be a non-empty string"):
        await handlers.handle(Request("r2", "retrieve", {"text": 7}))
    with pytest.raises(BadRequest, match=r"`params\.budget_tokens` must be a whole number"):
        await handlers.handle(Request("r3", "retrieve", {"text": "x", "budget_tokens": 10**6}))


def test_lines_are_found_whatever_their_case_even_beside_a_dotted_capital_i() -> None:
    """`pick_lines` reads the text lowered offset for offset (`search.lowered`): a file
    holding `İ`, whose lower case is two characters, still has its words found in any
    case, on the right line numbers."""
    from context_bot.knowledge.passages import pick_lines

    text = "İmport notes\nnothing here\nclass TokenBucket:  # Refill RATE\n    RATE = 2\n"
    needles = [("token",), ("rate",)]
    assert pick_lines(text, needles) == [(3, "class TokenBucket:  # Refill RATE")]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "// Copyright 2013-2023 The Authors\n//\n// Licensed under the Apache License\n\n"
            "// Package cobra is a commander for modern CLI interfaces.\npackage cobra\n",
            "Package cobra is a commander for modern CLI interfaces.",
        ),
        (
            "#!/usr/bin/env python\n# SPDX-License-Identifier: MIT\n"
            '"""Invoices for tenants, rounded to whole cents."""\n',
            "Invoices for tenants, rounded to whole cents.",
        ),
        ("/* Copyright (c) 2020 Someone. All rights reserved. */\nint main() {}\n", None),
        ("# Parses the settings file, once.\nimport os\n", "Parses the settings file, once."),
        # JSDoc, as eslint's files open: the lead tag is no word, a block tag ends it.
        (
            "/**\n * @fileoverview Main class using flat config\n * @author Nicholas C. Zakas\n"
            " */\n",
            "Main class using flat config",
        ),
        ("/** @file Rule Validator. @author Someone */\n", "Rule Validator."),
        # Past the licence, the package and the imports: the class's own doc comment.
        (
            "/*\n * Copyright (C) 2011 The Guava Authors\n */\n\n"
            "package com.google.common.hash;\n\nimport java.io.Serializable;\n\n"
            "/**\n * A Bloom filter for instances of {@code T}. A <i>probabilistic</i>\n"
            " * data structure.\n */\npublic final class BloomFilter {}\n",
            "A Bloom filter for instances of T.",
        ),
        # Rust's own module docs (tokio's `//!` lines).
        (
            "//! Allows a future to execute for a maximum amount of time.\n//!\nuse x;\n",
            "Allows a future to execute for a maximum amount of time.",
        ),
        (
            "/**\n * Mail someone@example.com for access.\n */\n",
            "Mail someone@example.com for access.",
        ),
    ],
)
def test_an_undocumented_files_opening_skips_its_licence_header(
    text: str, said: str | None
) -> None:
    from context_bot.knowledge.openings import opening_comment

    assert opening_comment(text) == said


def test_a_turn_s_inflected_words_are_found_in_their_plain_forms(tmp_path: Path) -> None:
    """As okhttp's ConnectionPool.kt: it says `pool` and `reuse`, the turn says `pooled` and
    `reused`. Search matched it (Porter stems), but the check that the best file holds
    the turn's words took off only a plural's `s`, and the turn got no block."""
    (tmp_path / "pool.kt").write_text(
        "package okhttp3\n\n/** Manages reuse of HTTP connections: a pool of idle ones. */\n"
        "class ConnectionPool\n"
    )
    (tmp_path / "other.kt").write_text("package okhttp3\n\nclass Unrelated\n")
    knowledge = load_knowledge(tmp_path / "knowledge", tmp_path)
    read = sandbox_reader(RepoFiles(tmp_path))

    found = retrieve(knowledge, "how are connections pooled and reused", read=read)
    assert found.text and found.hits[0].path == "pool.kt"

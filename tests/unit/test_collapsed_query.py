"""`collapsed_query`: what every match holds, as the trigram indexes keep text (without
whitespace)."""

from __future__ import annotations

import random
import re

import pytest

from context_bot.knowledge.literals import (
    Either,
    collapse_space,
    collapsed_query,
    literal_query,
    strip_space,
)

KEYWORDS = "(class|struct|interface|type|def|func|fn|function)"


def test_a_keyword_and_a_name_are_asked_for_together() -> None:
    terms = collapsed_query(KEYWORDS + r"\s+Options\b", regex=True)
    chains = [t for t in terms if isinstance(t, Either) and len(t.options) == 8]
    assert chains == [
        Either(
            tuple(
                (f"{k}Options",)
                for k in sorted(("class", "struct", "interface", "type", "def", "func", "fn",
                                 "function"))
            )
        )
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "wanted"),
    [
        (r"(?:a|bb)\s+(x|yy)\s+zz", {"axzz", "ayyzz", "bbxzz", "bbyyzz"}),
        (r"\bdef\s+foo\s*\(", {"deffoo("}),
        (r"(a|b)(c|d)[ \t]+ef", {"acef", "adef", "bcef", "bdef"}),
        (r"ab\s*cd", {"abcd"}),  # whitespace that may be absent: together without it
        (r"UnmarshalMeta\s*\(", {"UnmarshalMeta("}),
    ],
)
def test_a_chain_is_its_cross_product(pattern: str, wanted: set[str]) -> None:
    terms = collapsed_query(pattern, regex=True)
    chains = [{o[0] for o in t.options} for t in terms if isinstance(t, Either)]
    assert wanted in chains


@pytest.mark.parametrize(
    "pattern",
    [
        r"x(a|b*)\s+cd",  # a branch that is not plain text breaks the chain
        r"class\s+\w+",  # nothing plain after the whitespace
        r"[[:space:]]+x",  # read as RE2 reads it: nothing asked
        "(" + "|".join(f"k{n}" for n in range(20)) + r")\s+name",  # too many options
    ],
)
def test_no_chain_where_none_is_proven(pattern: str) -> None:
    # Nothing past `literal_query`'s own terms (collapsed).
    assert len(collapsed_query(pattern, regex=True)) == len(literal_query(pattern, regex=True))


def test_literals_are_collapsed() -> None:
    assert collapsed_query("a  b\tc", regex=False) == ("a b c",)
    assert collapse_space("x \t\r\n y") == "x y"


@pytest.mark.parametrize("seed", range(30))
def test_every_match_holds_its_collapsed_terms(seed: int) -> None:
    """Random patterns of plain texts, alternations and whitespace, over random lines:
    each line a match is found in holds, without its whitespace, every term without
    its whitespace (one option of each choice)."""
    rng = random.Random(seed)  # noqa: S311 - a fixed draw of test patterns
    words = ["ab", "cd", "class", "fn", "Op", "x"]

    def piece() -> str:
        kind = rng.random()
        if kind < 0.5:
            return rng.choice(words)
        if kind < 0.8:
            return "(" + "|".join(rng.sample(words, rng.randint(2, 3))) + ")"
        return rng.choice(["\\w+", "\\b", "x?"])

    pattern = piece()
    for _ in range(rng.randint(1, 4)):
        pattern += rng.choice(["\\s+", "[ \\t]+", "\\s", "", " ", "\\s*"]) + piece()
    spaces = [" ", "  ", "\t", " \t ", ""]
    lines = [
        "".join(rng.choice(words) + rng.choice(spaces) for _ in range(rng.randint(1, 12)))
        for _ in range(400)
    ]
    compiled = re.compile(pattern)
    terms = collapsed_query(pattern, regex=True)
    for line in lines:
        found = compiled.search(line)
        if found is None:
            continue
        text = strip_space(found.group(0))
        for term in terms:
            if isinstance(term, str):
                assert strip_space(term) in text, (pattern, line, term)
            else:
                options = term.options
                assert any(all(strip_space(p) in text for p in o) for o in options), (
                    pattern,
                    line,
                    term,
                )

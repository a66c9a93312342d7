"""Which files are tests, and what a test file's hit is worth to a question.

One rule for every place that tells tests from the code they exercise: drafting (a
document's role), `search` and `retrieve` (ranking). A newcomer asks how the code works,
and a test that exercises it repeats every word of it, so a test ranks below the code
unless the question speaks of tests; one who asks for the tests wants the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TEST_PATH = re.compile(
    r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]+$|_test\.\w+$|\.(test|spec)\.",
    re.IGNORECASE,
)
"""Test folders (`tests/`, Maven's `src/test/`, Jest's `__tests__/`, RSpec's `spec/`) and
test files by name (`test_x.py`, Go's `x_test.go`, `x.test.ts`, `x.spec.js`)."""

TEST_FACTOR = 0.7
"""A test file's score is multiplied by this unless the question speaks of tests (then
every other file's is)."""


def is_test(path: str) -> bool:
    return _TEST_PATH.search(path) is not None


def about_tests(words: Iterable[str]) -> bool:
    """Whether a question's words speak of tests (`test`, `tests`, `testing`, `tested`)."""
    return any(w.lower().startswith("test") for w in words)


def weight_for(path: str, asked_about_tests: bool) -> float:
    """What `path`'s score is multiplied by for a question that does or does not speak of
    tests."""
    return 1.0 if is_test(path) == asked_about_tests else TEST_FACTOR

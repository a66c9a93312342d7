"""The one rule that tells tests from the code they exercise."""

from __future__ import annotations

import pytest

from context_bot.knowledge.testfiles import TEST_FACTOR, about_tests, is_test, weight_for


@pytest.mark.parametrize(
    "path",
    [
        "tests/unit/test_rooms.py",
        "pkg/tests/helpers.py",
        "src/test/java/com/acme/ReaderTest.java",
        "cmd/root_test.go",
        "web/src/__tests__/tree.ts",
        "lib/router.spec.js",
        "clients/js/src/client.test.ts",
        "spec/models/user_spec.rb",
        "Tests/Smoke.cs",
    ],
)
def test_tests_by_folder_or_name(path: str) -> None:
    assert is_test(path)


@pytest.mark.parametrize(
    "path", ["src/testing.py", "context_bot/knowledge/testfiles.py", "attest/x.py", "latest.md"]
)
def test_code_named_near_tests_is_not_a_test(path: str) -> None:
    assert not is_test(path)


def test_the_weight_goes_to_whatever_the_question_does_not_ask_for() -> None:
    assert about_tests(["which", "tests", "cover", "grep"])
    assert not about_tests(["how", "does", "grep", "work"])
    assert weight_for("tests/test_grep.py", False) == TEST_FACTOR
    assert weight_for("context_bot/knowledge/grep.py", False) == 1.0
    assert weight_for("tests/test_grep.py", True) == 1.0
    assert weight_for("context_bot/knowledge/grep.py", True) == TEST_FACTOR

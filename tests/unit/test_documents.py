"""Parsing one knowledge document: the real seeds, and every way a document can be bad."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from context_bot.knowledge.documents import (
    Document,
    duplicate_diagnostics,
    git_blob_sha,
    load_front_matter,
    normalise_repo_path,
    parse_document,
)

SEEDS = Path(__file__).parent.parent / "data" / "seeds"


def seed(prefix: str) -> tuple[str, bytes]:
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    return path.name, path.read_bytes()


def parse_ok(source: str, data: bytes) -> Document:
    doc, diags = parse_document(source, data)
    assert diags == []
    assert doc is not None
    return doc


def test_the_first_seed_parses_into_typed_fields_and_sections() -> None:
    name, data = seed("000")
    doc = parse_ok(name, data)
    assert doc.file_path == "src/server/api/livekit.ts"
    assert doc.file_version == "865536330a1cc5cf89f436352091701359f959dd"
    assert doc.last_updated == "2026-01-12T04:20:22.723Z"
    assert doc.updated_by == "sb-cli"
    assert doc.tags == ("src", "server", "api", "typescript")
    assert doc.importance == "low"
    assert doc.human_verified is False
    assert doc.feature == "livekit-integration"
    assert doc.feature_role == "service"
    assert doc.user_flows[1] == "User can receive a unique access token for session participation"
    assert doc.related_files == ("livekit-server-sdk.ts",)
    assert [s.heading for s in doc.sections] == [
        "Purpose",
        "Problem",
        "Solution",
        "Impact",
        "Architecture Context",
        "Gotchas (If Applicable)",
    ]
    assert doc.sections[0].line == 23
    assert doc.text == data.decode()
    assert doc.is_free is False


def test_the_second_seed_keeps_its_own_sections_and_entry_point_role() -> None:
    doc = parse_ok(*seed("001"))
    assert doc.feature_role == "entry_point"
    assert doc.related_files == ("../../config/loader.js",)
    assert "new" in doc.tags
    headings = [s.heading for s in doc.sections]
    assert headings == [
        "Purpose",
        "Key Functionality",
        "Gotchas",
        "Dependencies",
        "Architecture Context",
        "Implementation Notes",
    ]
    key = doc.section("key functionality")
    assert key is not None and "setupLiveKitRoutes" in key.body


def test_the_third_seed_names_another_feature() -> None:
    doc = parse_ok(*seed("002"))
    assert doc.feature == "livekit-onboarding"
    assert len(doc.user_flows) == 3


@pytest.mark.parametrize("prefix", ["003", "004"])
def test_free_seeds_have_no_file_path_and_keep_their_text(prefix: str) -> None:
    name, data = seed(prefix)
    doc = parse_ok(name, data)
    assert doc.is_free
    assert doc.file_path is None
    assert doc.text == data.decode()
    assert doc.title
    assert len(doc.sections) == 1 and doc.sections[0].heading == ""


@pytest.mark.parametrize("prefix", ["000", "001", "002"])
def test_the_fast_front_matter_path_agrees_with_pyyaml_on_the_seeds(prefix: str) -> None:
    _, data = seed(prefix)
    fm = data.decode().split("---\n")[1]
    fast, error = load_front_matter(fm)
    assert error is None
    assert fast == yaml.safe_load(fm)


@pytest.mark.parametrize(
    "fm",
    [
        "a: yes\n",
        "a: 0123\n",
        "a: 2026-01-12\n",
        "a: 1.5\n",
        "a: null\n",
        "a: ~\n",
        "a: 'it''s'\n",
        'a: "x"\n',
        "a: b:c\n",
        "a: [1, 2]\n",
        "a:\n  b: 1\n",
        "a: text # comment\n",
        "a:\n- x\n- 12\n",
        "a: 865536330a1cc5cf89f436352091701359f959dd\nb: true\n",
        "a: 12345678\n",
        "a:\n",
    ],
)
def test_the_fast_path_never_disagrees_with_pyyaml(fm: str) -> None:
    value, error = load_front_matter(fm)
    assert error is None
    assert value == yaml.safe_load(fm)


def test_broken_yaml_is_an_error_with_the_document_line() -> None:
    data = b"---\nfilePath: a.ts\ntags: [unclosed\nfeature: x\n---\n## Purpose\nx\n"
    doc, diags = parse_document("bad.md", data)
    assert doc is None
    assert len(diags) == 1
    assert diags[0].severity == "error"
    assert "not valid YAML" in diags[0].reason
    assert diags[0].line is not None and 3 <= diags[0].line <= 5
    assert diags[0].file == "bad.md"


def test_unclosed_front_matter_is_an_error() -> None:
    doc, diags = parse_document("open.md", b"---\nfilePath: a.ts\n## Purpose\n")
    assert doc is None
    assert "never closed" in diags[0].reason


def test_front_matter_that_is_not_a_mapping_is_an_error() -> None:
    doc, diags = parse_document("list.md", b"---\n- a\n- b\n---\nbody\n")
    assert doc is None
    assert "mapping" in diags[0].reason


def test_missing_file_path_is_an_error_but_the_text_stays_searchable() -> None:
    doc, diags = parse_document("nopath.md", b"---\ntags: [a]\n---\n## Purpose\nA guide.\n")
    assert [d.severity for d in diags] == ["error"]
    assert "no filePath" in diags[0].reason
    assert doc is not None and doc.is_free and doc.tags == ("a",)


def test_a_file_path_escaping_the_repository_is_an_error() -> None:
    doc, diags = parse_document("esc.md", b"---\nfilePath: ../etc/passwd\n---\nx\n")
    assert doc is not None and doc.file_path is None
    assert diags[0].severity == "error" and diags[0].line == 2


@pytest.mark.parametrize(
    ("fm", "field"),
    [
        ("tags: {a: 1}", "tags"),
        ("humanVerified: maybe", "humanVerified"),
        ("userFlows: [[a]]", "userFlows"),
        ("feature: [a, b]", "feature"),
        ("relatedFiles: 3", "relatedFiles"),
    ],
)
def test_wrong_field_types_are_warned_and_the_field_is_ignored(fm: str, field: str) -> None:
    data = f"---\nfilePath: a.ts\n{fm}\n---\nbody\n".encode()
    doc, diags = parse_document("types.md", data)
    assert doc is not None and doc.file_path == "a.ts"
    assert len(diags) == 1
    assert diags[0].severity == "warning"
    assert field in diags[0].reason
    assert diags[0].line == 3


def test_a_file_path_that_is_not_a_string_is_an_error() -> None:
    doc, diags = parse_document("num.md", b"---\nfilePath: [a, b]\n---\nbody\n")
    assert doc is not None and doc.file_path is None
    assert any(d.severity == "error" and "filePath" in d.reason for d in diags)


def test_an_unquoted_numeric_file_version_is_read_as_text_with_a_warning() -> None:
    doc, diags = parse_document("n.md", b"---\nfilePath: a.ts\nfileVersion: 1234567\n---\nx\n")
    assert doc is not None and doc.file_version == "1234567"
    assert diags[0].severity == "warning" and diags[0].line == 3


def test_an_unquoted_timestamp_is_kept_as_iso_text() -> None:
    doc, diags = parse_document(
        "t.md", b"---\nfilePath: a.ts\nlastUpdated: 2026-01-12T04:20:22Z\n---\nx\n"
    )
    assert diags == []
    assert doc is not None and doc.last_updated is not None
    assert doc.last_updated.startswith("2026-01-12T04:20:22")


def test_unknown_fields_are_kept_without_a_diagnostic() -> None:
    doc, diags = parse_document("u.md", b"---\nfilePath: a.ts\nowner: team-rtc\n---\nx\n")
    assert diags == []
    assert doc is not None and doc.extra == {"owner": "team-rtc"}


@pytest.mark.parametrize(
    ("field", "meant"),
    [
        ("filepath", "filePath"),
        ("userflows", "userFlows"),
        ("FileVersion", "fileVersion"),
        ("relatedFile", "relatedFiles"),
    ],
)
def test_a_misspelt_field_is_kept_and_warned_with_the_field_it_probably_meant(
    field: str, meant: str
) -> None:
    doc, diags = parse_document("m.md", f"---\nfilePath: a.ts\n{field}: x\n---\nx\n".encode())
    assert doc is not None and doc.extra == {field: "x"}
    assert [(d.severity, d.line) for d in diags] == [("warning", 3)]
    assert f"'{meant}'" in diags[0].reason


def test_an_unknown_importance_level_is_warned() -> None:
    doc, diags = parse_document("i.md", b"---\nfilePath: a.ts\nimportance: huge\n---\nx\n")
    assert doc is not None and doc.importance_rank == 0
    assert diags[0].severity == "warning" and "importance" in diags[0].reason


def test_bytes_that_are_not_utf8_are_an_error_with_a_line() -> None:
    doc, diags = parse_document("latin.md", b"---\nfilePath: a.ts\n---\ncaf\xe9\n")
    assert doc is None
    assert "UTF-8" in diags[0].reason and diags[0].line == 4


@pytest.mark.parametrize("data", [b"", b"  \n\n\t\n"])
def test_an_empty_document_is_an_error(data: bytes) -> None:
    doc, diags = parse_document("empty.md", data)
    assert doc is None
    assert "empty" in diags[0].reason


def test_an_oversized_document_is_refused_at_the_configured_cap() -> None:
    data = b"# Title\n" + b"x" * 100
    doc, diags = parse_document("big.md", data, max_bytes=50)
    assert doc is None and "cap is 50" in diags[0].reason
    assert parse_document("big.md", data, max_bytes=len(data))[0] is not None


def test_two_documents_with_the_same_path_and_version_are_reported_once() -> None:
    data = b"---\nfilePath: a.ts\nfileVersion: abc1234\n---\nx\n"
    docs = [parse_ok(name, data) for name in ("one.md", "two.md", "three.md")]
    diags = duplicate_diagnostics(docs)
    assert [d.file for d in diags] == ["two.md", "three.md"]
    assert all("one.md" in d.reason and d.line == 3 for d in diags)


def test_text_before_the_first_heading_is_an_untitled_section_and_h1_is_the_title() -> None:
    doc = parse_ok("p.md", b"---\nfilePath: a.ts\n---\n# The cart\nintro\n## Purpose\np\n")
    assert doc.title == "The cart"
    assert [(s.heading, s.body, s.line) for s in doc.sections] == [
        ("", "# The cart\nintro", 4),
        ("Purpose", "p", 6),
    ]


def test_headings_inside_code_fences_do_not_split_sections() -> None:
    data = b"---\nfilePath: a.ts\n---\n## Usage\n```md\n## not a heading\n```\n## Notes\nn\n"
    doc = parse_ok("f.md", data)
    assert [s.heading for s in doc.sections] == ["Usage", "Notes"]
    assert "## not a heading" in doc.sections[0].body


def test_a_bom_before_the_front_matter_is_tolerated() -> None:
    doc = parse_ok("bom.md", "\ufeff---\nfilePath: a.ts\n---\nx\n".encode())
    assert doc.file_path == "a.ts"


def test_git_blob_sha_matches_git_hash_object() -> None:
    assert git_blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("./a//b", "a/b"),
        ("a/b/", "a/b"),
        ("/a", None),
        ("../a", None),
        ("a/../b", None),
        ("~/a", None),
        ("", None),
    ],
)
def test_repo_paths_are_normalised_or_refused(raw: str, expected: str | None) -> None:
    assert normalise_repo_path(raw) == expected

"""Full-text search: identifiers, field weights, snippets, and queries that try to break FTS5."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_bot.errors import BadRequest
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.search import (
    IndexEntry,
    SearchIndex,
    build_match,
    expand_identifiers,
    identifier_parts,
    make_snippet,
    snippet_words,
)

SEEDS = Path(__file__).parent.parent / "data" / "seeds"


def doc(path: str, body: str, *, feature: str = "", tags: str = "") -> str:
    head = f"---\nfilePath: {path}\nlastUpdated: '2026-01-01T00:00:00Z'\n"
    if feature:
        head += f"feature: {feature}\n"
    if tags:
        head += "tags:\n" + "".join(f"  - {t}\n" for t in tags.split()) + ""
    return head + f"---\n## Purpose\n{body}\n"


@pytest.fixture
def knowledge(tmp_path: Path) -> Knowledge:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "routes.md").write_text(
        doc(
            "src/server/api/livekit.ts",
            "Calls `setupLiveKitRoutes(repoRoot)` to mount the token route.",
            feature="livekit-integration",
        )
    )
    (folder / "billing.md").write_text(
        doc(
            "src/billing/invoice.ts",
            "Creates invoices for tenants.",
            feature="billing",
            tags="payments",
        )
    )
    (folder / "tokens-in-path.md").write_text(
        doc("src/tokens/issuer.ts", "Signs things.", feature="auth")
    )
    (folder / "tokens-in-body.md").write_text(
        doc("src/misc/helper.ts", "Mentions tokens once in passing.")
    )
    (folder / "guide.md").write_text("# Token API guide\n\nHow to request a token for a room.\n")
    old = (
        "---\nfilePath: src/billing/invoice.ts\nfileVersion: aaaaaaa\n"
        "lastUpdated: '2000-01-01T00:00:00Z'\n---\n## Purpose\nzebracorn legacy\n"
    )
    (folder / "billing-old.md").write_text(old)
    return load_knowledge(folder, tmp_path)


@pytest.mark.parametrize(
    "query",
    [
        "setupLiveKitRoutes",
        "live kit routes",
        "livekit",
        "LiveKit routes",
        "setup_live_kit",
        "kit routes",
    ],
)
def test_a_camel_case_identifier_is_found_by_its_pieces_and_its_joined_words(
    knowledge: Knowledge, query: str
) -> None:
    hits = knowledge.search(query)
    assert hits, query
    assert hits[0].path == "src/server/api/livekit.ts"
    assert hits[0].feature == "livekit-integration"
    assert hits[0].kind == "file"


def test_a_match_in_the_path_outranks_a_match_in_the_body(knowledge: Knowledge) -> None:
    paths = [h.path for h in knowledge.search("tokens")]
    assert paths.index("src/tokens/issuer.ts") < paths.index("src/misc/helper.ts")


def test_feature_and_tag_fields_are_searchable(knowledge: Knowledge) -> None:
    assert knowledge.search("payments")[0].path == "src/billing/invoice.ts"
    assert knowledge.search("auth")[0].path == "src/tokens/issuer.ts"


def test_free_documents_come_back_by_name_with_kind_doc(knowledge: Knowledge) -> None:
    hits = knowledge.search("request a token for a room")
    assert hits[0].path == "guide.md"
    assert hits[0].kind == "doc"
    assert hits[0].feature is None


def test_hits_carry_a_positive_score_and_a_highlighted_snippet(knowledge: Knowledge) -> None:
    [hit] = knowledge.search("invoices")
    assert hit.score > 0
    assert "**invoices**" in hit.snippet
    wire = hit.to_wire()
    assert wire["path"] == "src/billing/invoice.ts" and wire["snippet"] == hit.snippet


def test_scores_are_ordered_best_first(knowledge: Knowledge) -> None:
    hits = knowledge.search("token")
    assert len(hits) >= 2
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_only_serving_versions_are_indexed(knowledge: Knowledge) -> None:
    assert knowledge.search("zebracorn") == []


def test_the_limit_caps_the_hits(knowledge: Knowledge) -> None:
    assert len(knowledge.search("src", limit=2)) == 2


def test_stopwords_do_not_stop_a_question_from_matching(knowledge: Knowledge) -> None:
    assert knowledge.search("how do I create the invoices?")[0].path == "src/billing/invoice.ts"


def test_when_not_every_word_matches_any_word_is_enough(knowledge: Knowledge) -> None:
    hits = knowledge.search("invoices nonexistentword")
    assert [h.path for h in hits] == ["src/billing/invoice.ts"]


def test_a_prefix_of_a_single_word_matches(knowledge: Knowledge) -> None:
    assert knowledge.search("invoi")[0].path == "src/billing/invoice.ts"


@pytest.mark.parametrize(
    "query",
    [
        '"foo',
        "a AND",
        "AND",
        "OR OR",
        "NOT x",
        "NEAR(a b",
        "*",
        "col:invoices",
        "^invoices",
        "(((",
        "x -y",
        "'",
        "\\",
        "{path}: a",
        'invoices"*',
    ],
)
def test_fts5_syntax_in_a_query_never_raises(knowledge: Knowledge, query: str) -> None:
    assert isinstance(knowledge.search(query), list)


def test_a_query_with_fts_operators_is_searched_as_plain_words(knowledge: Knowledge) -> None:
    assert knowledge.search('invoices AND "')[0].path == "src/billing/invoice.ts"


def test_a_query_without_words_finds_nothing(knowledge: Knowledge) -> None:
    assert knowledge.search("?!.") == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_an_empty_query_is_a_bad_request(knowledge: Knowledge, query: str) -> None:
    with pytest.raises(BadRequest):
        knowledge.search(query)


@pytest.mark.parametrize("limit", [0, -1, 101, True])
def test_a_bad_limit_is_a_bad_request(knowledge: Knowledge, limit: int) -> None:
    with pytest.raises(BadRequest):
        knowledge.search("token", limit=limit)


def test_an_oversized_query_is_a_bad_request(knowledge: Knowledge) -> None:
    with pytest.raises(BadRequest):
        knowledge.search("a" * 1001)


def test_cached_results_cannot_be_changed_by_a_caller(knowledge: Knowledge) -> None:
    first = knowledge.search("token")
    first.clear()
    assert knowledge.search("token")


def test_identifier_helpers_split_and_pair() -> None:
    assert identifier_parts("setupLiveKitRoutes") == ["setup", "live", "kit", "routes"]
    assert identifier_parts("HTTPServer") == ["http", "server"]
    assert identifier_parts("plain") == []
    expanded = expand_identifiers("use setupLiveKitRoutes and HTTPServer, not plain words")
    assert "setup live kit routes" in expanded and "livekit" in expanded.split()
    assert "http server" in expanded
    assert "plain" not in expanded


def test_build_match_quotes_every_word_and_drops_stopwords() -> None:
    assert build_match('say "hi" AND bye') == ('"say" AND "hi" AND "bye"', '"say" OR "hi" OR "bye"')
    assert build_match("the") == ('("the" OR "the"*)', '("the" OR "the"*)')
    assert build_match("!!!") is None


def test_an_index_can_be_built_directly_from_entries() -> None:
    index = SearchIndex([IndexEntry("a.ts", "file", "f", "t", "m", "hello world")])
    assert [h.path for h in index.search("hello")] == ["a.ts"]
    assert index.size == 1
    index.close()


def test_the_real_seeds_are_searchable(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for seed in SEEDS.iterdir():
        (folder / seed.name).write_bytes(seed.read_bytes())
    knowledge = load_knowledge(folder, tmp_path)
    assert knowledge.search("auth_id tenant")[0].path == "003_da99b4c0c1254561.txt"
    assert knowledge.search("credits pipeline realtime")[0].path == "004_3d200ed35e359c28.txt"
    top = knowledge.search("room creation access tokens")[0]
    assert (top.path, top.feature) == ("src/server/api/livekit.ts", "livekit-integration")


def test_a_snippet_shows_the_window_with_the_most_query_words_in_bold() -> None:
    body = (
        "filler " * 60
        + "cart alone. "
        + "filler " * 60
        + "the cart total is in cents. "
        + "x " * 90
    )
    snippet = make_snippet(body, snippet_words("cart cents"))
    assert "**cart** total is in **cents**" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")


def test_a_snippet_bolds_an_identifier_as_one_run() -> None:
    snippet = make_snippet("call setupLiveKitRoutes now", snippet_words("live kit routes"))
    assert snippet == "call setup**LiveKitRoutes** now"


def test_a_snippet_prefers_the_longer_word_where_two_start_together() -> None:
    assert (
        make_snippet("rooms and a room", snippet_words("room rooms")) == "**rooms** and a **room**"
    )


def test_a_snippet_without_a_match_is_the_start_of_the_text() -> None:
    assert make_snippet("abc " * 100, ("zzz",)).startswith("abc abc")
    assert make_snippet("short", ()) == "short"


def test_a_snippet_survives_text_whose_lower_case_is_longer() -> None:
    assert make_snippet("İİ token", ("token",)) == "İİ **token**"

"""Full-text search: identifiers, field weights, snippets, and queries that try to break FTS5."""

from __future__ import annotations

from pathlib import Path

import pytest

from context_bot.errors import BadRequest
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.search import (
    IndexEntry,
    SearchIndex,
    best_line,
    build_match,
    expand_identifiers,
    identifier_parts,
    lowered,
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


# -- the whole repository: undocumented files by path and by contents --------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two documents and files nobody documented."""
    root = tmp_path / "shop"
    (root / "src/pay").mkdir(parents=True)
    (root / "src/pay/client.py").write_text(
        "import os\n\n\nclass Client:\n    def charge(self, **kwargs):\n        pass\n"
    )
    (root / "src/pay/worker.py").write_text(
        "from .client import Client\n\n# invoices invoices invoices invoices\n"
    )
    (root / "src/billing.ts").write_text("export const total = 1\n")
    (root / "assets").mkdir()
    (root / "assets/client_logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0 client")
    (root / "data").mkdir()
    (root / "data/client_dump.sql").write_text("-- client\n" + "x" * (300 * 1024))
    k = root / "knowledge"
    k.mkdir()
    (k / "billing.md").write_text(doc("src/billing.ts", "Creates **Rate** cards and invoices."))
    (k / "guide.md").write_text("# Money guide\n\nEvery *amount* is in cents.\n")
    return root


def test_an_undocumented_file_is_found_by_its_path_and_its_line(repo: Path) -> None:
    knowledge = load_knowledge(repo / "knowledge", repo)
    hits = knowledge.search("class Client")  # two words: ranked hits only, no definitions
    top = hits[0]
    assert (top.path, top.kind, top.line) == ("src/pay/client.py", "code", 4)
    assert "**Client**" in top.snippet
    assert top.to_wire()["line"] == 4
    kinds = {h.path: h.kind for h in hits}
    assert kinds["assets/client_logo.png"] == "path"  # binary: by its path only
    assert kinds["data/client_dump.sql"] == "path"  # over the size cap: by its path only
    logo = next(h for h in hits if h.path == "assets/client_logo.png")
    assert logo.snippet.startswith("(binary file, ") and logo.line is None


def test_a_query_that_is_a_name_gets_its_definition_first(repo: Path) -> None:
    knowledge = load_knowledge(repo / "knowledge", repo)
    hits = knowledge.search("Client")
    top = hits[0]
    assert (top.path, top.kind, top.line, top.score) == ("src/pay/client.py", "symbol", 4, 1.0)
    assert top.snippet == "class **Client**"
    # The code hit on the definition's line is not repeated; other mentions follow.
    assert not any(h.kind == "code" and (h.path, h.line) == ("src/pay/client.py", 4) for h in hits)
    assert ("src/pay/worker.py", "code") in [(h.path, h.kind) for h in hits]
    assert knowledge.search("Client", limit=1) == [top]
    # Another spelling of the name is a definition too, a little below the exact one.
    lower = knowledge.search("client")[0]
    assert (lower.path, lower.kind, lower.line, lower.score) == (
        "src/pay/client.py",
        "symbol",
        4,
        0.95,
    )
    # A method is a definition; a word that names nothing defined gets ranked hits only.
    assert knowledge.search("charge")[0].kind == "symbol"
    assert all(h.kind != "symbol" for h in knowledge.search("invoices"))


def test_a_common_name_leads_with_a_few_definitions_only(tmp_path: Path) -> None:
    for n in range(6):
        (tmp_path / f"m{n}.py").write_text(f"def run():\n    return {n}\n")
    hits = load_knowledge(tmp_path / "knowledge", tmp_path).search("run", limit=10)
    assert [h.kind for h in hits[:3]] == ["symbol"] * 3
    assert all(h.kind != "symbol" for h in hits[3:])


def test_a_word_only_in_a_files_contents_finds_it_below_a_path_match(repo: Path) -> None:
    hits = load_knowledge(repo / "knowledge", repo).search("Client")
    paths = [h.path for h in hits]
    assert paths.index("src/pay/client.py") < paths.index("src/pay/worker.py")
    worker = hits[paths.index("src/pay/worker.py")]
    assert (worker.kind, worker.line) == ("code", 1)
    assert worker.score <= 0.5


def test_documents_rank_above_code_that_merely_mentions_the_word(repo: Path) -> None:
    hits = load_knowledge(repo / "knowledge", repo).search("invoices")
    assert [(h.path, h.kind) for h in hits] == [
        ("src/billing.ts", "file"),
        ("src/pay/worker.py", "code"),
    ]
    assert hits[0].score >= 0.675 > 0.5 >= hits[1].score


def test_the_knowledge_folder_is_searched_as_documents_only(repo: Path) -> None:
    hits = load_knowledge(repo / "knowledge", repo).search("cents")
    assert [(h.path, h.kind) for h in hits] == [("guide.md", "doc")]


def test_scores_are_meaningful_on_a_tiny_corpus(tmp_path: Path) -> None:
    """BM25's IDF is ~0 for a word in most rows: every hit scored 0.000 before."""
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.md").write_text(doc(f"src/{name}.ts", f"The token of {name}."))
    hits = load_knowledge(folder, tmp_path).search("token")
    assert len(hits) == 3
    assert all(0.675 <= h.to_wire()["score"] <= 1 for h in hits)  # type: ignore[operator]


def test_a_snippet_shows_a_documents_markdown_as_text(repo: Path) -> None:
    [hit] = load_knowledge(repo / "knowledge", repo).search("rate cards")
    assert "****" not in hit.snippet
    assert "**Rate** **cards**" in hit.snippet


def test_a_literal_asterisk_in_code_is_escaped_beside_the_bold(repo: Path) -> None:
    [hit] = load_knowledge(repo / "knowledge", repo).search("kwargs")
    assert hit.snippet == "def charge(self, \\*\\***kwargs**):"
    assert hit.line == 5


def test_a_documented_files_code_is_found_when_its_document_is_not(repo: Path) -> None:
    hits = load_knowledge(repo / "knowledge", repo).search("export")
    assert [(h.path, h.kind, h.line) for h in hits] == [("src/billing.ts", "code", 1)]


def test_a_file_gone_since_the_load_is_not_a_hit(repo: Path) -> None:
    knowledge = load_knowledge(repo / "knowledge", repo)
    (repo / "src/pay/worker.py").unlink()
    assert "src/pay/worker.py" not in [h.path for h in knowledge.search("Client")]


def test_a_repository_without_git_or_documents_is_searched(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/httpClient.js").write_text("module.exports = function send() {}\n")
    (tmp_path / ".gitignore").write_text("build/\n")
    (tmp_path / "build").mkdir()
    (tmp_path / "build/httpClient.js").write_text("module.exports = 1\n")
    hits = load_knowledge(tmp_path / "knowledge", tmp_path).search("http client")
    assert [h.path for h in hits] == ["lib/httpClient.js"]
    assert hits[0].kind == "path"


def test_index_limits_skip_and_count_never_fail(repo: Path) -> None:
    from context_bot.knowledge.inventory import build_inventory
    from context_bot.knowledge.sandbox import RepoFiles
    from context_bot.knowledge.search import code_rows

    files = RepoFiles(repo)
    rows = code_rows(build_inventory(files).files, files, max_file=1024, max_total=100)
    assert rows.skipped["binary"] == rows.skipped["too_large"] == 1
    assert rows.skipped["over_total"] >= 2
    assert 0 < rows.indexed_bytes <= 100
    assert len(rows.entries) == len(rows.texts) == 7  # every file, indexed or not
    indexed = [e.path for e in rows.entries if e.skipped is None]
    assert indexed and all(rows.texts[i] for i, e in enumerate(rows.entries) if not e.skipped)


def test_a_text_is_lowered_offset_for_offset_once_and_kept() -> None:
    """Search's hits and retrieve's lines look words up in a file's lower-cased text by
    offset: a character whose lower case is longer (`İ`) stays as it is, so offsets and
    line numbers stay right; the same text is lowered once (`LOWERED_TEXTS`)."""
    text = "# İstanbul Notes\nfirst line\nthe Rate LIMITER lives here\nİ again: rate limiter\n"
    low = lowered(text)
    assert len(low.text) == len(text)
    assert low.text.index("rate limiter") == text.index("Rate LIMITER")
    assert low.breaks == tuple(i for i, c in enumerate(text) if c == "\n")
    assert lowered(text) is low
    assert best_line(text, ("rate", "limiter")) == (3, "the Rate LIMITER lives here")
    assert best_line(text, ("again",)) == (4, "İ again: rate limiter")
    assert best_line(text, ("absent",)) is None


def test_a_path_hit_says_what_the_files_opening_comment_says_past_its_licence(
    tmp_path: Path,
) -> None:
    (tmp_path / "transport").mkdir()
    (tmp_path / "transport/httpClient.go").write_text(
        "// Copyright 2024 The Authors. Licensed under MIT.\n\n"
        "// Package transport sends requests with retries.\npackage transport\n"
    )
    (tmp_path / "transport/http_server.go").write_text("package transport\n\nfunc Serve() {}\n")
    hits = {h.path: h for h in load_knowledge(tmp_path / "knowledge", tmp_path).search("http")}
    said = "Package transport sends requests with retries."
    assert hits["transport/httpClient.go"].snippet == said
    assert hits["transport/http_server.go"].snippet.startswith("package transport func Serve()")


def test_code_ranks_above_its_tests_unless_the_question_speaks_of_tests(tmp_path: Path) -> None:
    """As python-lz4 showed: its nine frame tests repeat every word of a question about
    compressing a frame, and pushed the module that does it out of the first ten."""
    root = tmp_path / "lz"
    (root / "lz/frame").mkdir(parents=True)
    (root / "tests/frame").mkdir(parents=True)
    body = "def compress(data):\n    '''Compress data into a frame.'''\n"
    (root / "lz/frame/__init__.py").write_text(body)
    for n in range(3):
        (root / f"tests/frame/test_frame_{n}.py").write_text(
            f"def test_compress_{n}(data):\n    frame = compress(data)  # compress a frame\n"
        )
    knowledge = load_knowledge(root / "knowledge", root)
    assert knowledge.search("compress data into a frame")[0].path == "lz/frame/__init__.py"
    asked = knowledge.search("tests that compress data into a frame")
    assert asked[0].path.startswith("tests/frame/")

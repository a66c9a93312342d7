"""Retrieval for one conversational turn: the few places of the repository that answer it.

Why a method of its own and not `search`: a voice agent's user does not type queries, they
say sentences ("so where does the bot decide who may join?"), and the agent wants the
answer in front of the model before it speaks, as one bounded block, not as a list of
snippets to follow up on with more tool calls (each a turn of latency the user hears).

So a turn is cut to its content words (search's stopwords and conversational filler
dropped), ranked with the repository's own `search` (documents, paths, code), and each
file that *defines* a symbol the turn names is lifted: a definition answers "where is X"
better than a mention. Each chosen file then contributes its knowledge document's one-line
purpose and the lines holding most of the turn's words, with their numbers. A floor keeps
small talk from dragging in noise: when the best file holds too few of the turn's words,
nothing is returned and the agent adds nothing to the turn.

Pure and blocking (search and the line pick read files): call `retrieve` off the event loop.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from context_bot import phases
from context_bot.errors import BadRequest
from context_bot.knowledge.loading import Knowledge
from context_bot.knowledge.model import Symbol
from context_bot.knowledge.passages import holds, pick_lines, purpose, render_block
from context_bot.knowledge.search import (
    STOPWORDS,
    TEST_WEIGHED_KINDS,
    SearchHit,
    identifier_parts,
    text_stem,
)
from context_bot.knowledge.testfiles import about_tests, weight_for
from context_bot.protocol import (
    DEFAULT_RETRIEVE_BUDGET_TOKENS,
    MAX_QUERY_WORDS,
    MAX_RETRIEVE_BUDGET_TOKENS,
    MAX_RETRIEVE_TEXT_CHARS,
    MIN_RETRIEVE_BUDGET_TOKENS,
)

CHARS_PER_TOKEN = 4
"""The token estimate the agents extra uses too: about four characters a token."""
SEARCH_DEPTH = 10
"""Search hits considered per turn: more than the block shows, so that a file lifted by a
symbol definition can pass one that merely mentions the words."""
SYMBOL_BOOST = 0.12
"""Added to a file's score per distinct turn word (at most two) it defines as a symbol."""
PATH_BOOST = 0.15
"""Added to a file's score per distinct turn word (at most two) its name or folder holds:
`billing/invoices.py` answers a question about invoices better than a file that mentions
them."""
SYMBOL_LOOKUP_LIMIT = 12
"""Definitions looked up per word; only exact names (any case) count."""
MIN_SCORE = 0.15
"""Below this best score nothing is returned (search scores run 0 to 1: PLACE_WEIGHTS)."""
MIN_WORDS_FOUND = 2
"""The best file must hold this many of the turn's content words (all of them when the
turn has fewer): one shared word is what small talk and a repository have in common."""
MAX_HITS = 10
"""Files returned in `hits`, best first."""
MAX_BLOCK_FILES = 4
"""Files the block shows at most; fewer when the budget runs out first."""
RELATIVE_FLOOR = 0.5
"""A file is shown in the block only when it scores at least this share of the best one."""
MAX_SCANNED_CHARS = 512 * 1024
"""Files longer than this are not scanned for lines (their hit's own line still shows)."""

# Words of conversation, not of a question's subject: "so, could you tell me how ...".
# fmt: off
FILLER = frozenset({
    "about", "actually", "again", "all", "also", "am", "any", "anything", "basically", "been",
    "but", "codebase", "could", "does", "doing", "done", "explain", "get", "go", "going",
    "got", "guess", "happen", "happens", "hello", "hey", "hi", "hmm", "just", "know",
    "let", "lets", "like", "look", "me", "mean", "might", "more", "much", "my", "need", "no",
    "not", "now", "oh", "ok", "okay", "one", "our", "part", "please", "project", "really",
    "repo", "repository", "right", "say", "see", "show", "some", "something", "sure",
    "tell", "thanks", "thank", "thing", "things", "think", "uh", "um", "us", "very", "want",
    "way", "well", "were", "would", "yeah", "yes", "bye", "good", "great", "nice", "cool",
    "awesome", "sorry", "hear", "repeat", "interesting", "lot", "helps", "ll", "ve", "re",
    "whether", "itself", "didn", "don", "doesn", "isn", "aren", "wasn", "won", "couldn",
    "wouldn", "shouldn",
})
# fmt: on
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class RetrievalHit:
    """One file (or guide) that may answer the turn: why, how well, and where in it."""

    path: str
    kind: str  # "document" (its knowledge document matched), "guide", "code", "path", "symbol"
    score: float
    lines: tuple[int, ...]  # the 1-based lines the block shows for it, in order
    purpose: str | None  # the knowledge document's one-line purpose, if it has one

    def to_wire(self) -> dict[str, object]:
        return {
            "path": self.path,
            "kind": self.kind,
            "score": round(self.score, 4),
            "lines": list(self.lines),
            "purpose": self.purpose,
        }


@dataclass(frozen=True)
class Retrieval:
    """The block for the model (empty when nothing scored well enough), the files behind
    it for clients that render their own, and the words that were matched."""

    text: str
    hits: list[RetrievalHit]
    words: tuple[str, ...]

    def to_wire(self) -> dict[str, object]:
        return {
            "text": self.text,
            "hits": [h.to_wire() for h in self.hits],
            "words": list(self.words),
        }


def check_text(text: object, *, name: str = "text") -> str:
    """The one check of a turn's text, for the wire and the library alike."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest(f"`{name}` must be a non-empty string")
    if len(text) > MAX_RETRIEVE_TEXT_CHARS:
        raise BadRequest(f"`{name}` must be at most {MAX_RETRIEVE_TEXT_CHARS} characters")
    return text


def content_words(text: str) -> tuple[str, ...]:
    """The turn's words that can name something in a repository, first use first, at most
    MAX_QUERY_WORDS: stopwords, filler, single letters and numbers dropped."""
    seen: dict[str, str] = {}
    for word in _WORD.findall(text):
        low = word.lower()
        if low in STOPWORDS or low in FILLER or len(low) < 2 or low.isdigit() or low in seen:
            continue
        seen[low] = word
        if len(seen) == MAX_QUERY_WORDS:
            break
    return tuple(seen.values())


def retrieve(
    knowledge: Knowledge,
    text: str,
    *,
    budget_tokens: int = DEFAULT_RETRIEVE_BUDGET_TOKENS,
    read: Callable[[str], str | None] | None = None,
) -> Retrieval:
    """The files that answer `text` and a block of at most `budget_tokens` showing them.

    `read` gives a file's text for picking its lines (the sandbox's reader, as `search`
    uses); without it the block shows each hit's matched line only. Raises BadRequest for
    an empty or oversized text or a budget out of bounds."""
    check_text(text)
    if (
        isinstance(budget_tokens, bool)
        or not isinstance(budget_tokens, int)
        or not MIN_RETRIEVE_BUDGET_TOKENS <= budget_tokens <= MAX_RETRIEVE_BUDGET_TOKENS
    ):
        raise BadRequest(
            f"`budget_tokens` must be a whole number from {MIN_RETRIEVE_BUDGET_TOKENS} "
            f"to {MAX_RETRIEVE_BUDGET_TOKENS}"
        )
    words = content_words(text)
    if not words:
        return Retrieval("", [], ())
    found = knowledge.search(" ".join(words), limit=SEARCH_DEPTH)
    defined = _definitions(knowledge, words)
    phases.mark("retrieve_symbols")
    ranked = _rank(found, defined, words)
    if not ranked:
        return Retrieval("", [], words)
    needles = _needles(words)
    phases.mark("retrieve_rank")
    # Only the files the block may show are read (each read goes through the sandbox).
    texts = {c.path: _text_of(knowledge, c, read) for c in ranked[:MAX_BLOCK_FILES]}
    phases.mark("retrieve_read")
    best = ranked[0]
    held = _words_held(knowledge, best, texts.get(best.path), needles)
    if best.score < MIN_SCORE or held < min(MIN_WORDS_FOUND, len(needles)):
        return Retrieval("", [], words)
    if len(words) == 1 and not _names(knowledge, best, words[0]):
        return Retrieval("", [], words)  # "repeat?": one word a document merely uses
    shown = [
        (c.path, c.kind, pick_lines(texts.get(c.path), needles, hit=c.hit, symbols=c.symbols))
        for c in ranked[:MAX_BLOCK_FILES]
        if c.score >= RELATIVE_FLOOR * best.score
    ]
    phases.mark("retrieve_lines")
    block, numbers = render_block(knowledge, shown, texts, budget_tokens * CHARS_PER_TOKEN)
    hits = [
        RetrievalHit(
            c.path, c.kind, c.score, tuple(numbers.get(c.path, ())), purpose(knowledge, c.path)
        )
        for c in ranked[:MAX_HITS]
    ]
    phases.mark("retrieve_render")
    return Retrieval(block, hits, words)


@dataclass
class _Candidate:
    path: str
    kind: str
    score: float
    hit: SearchHit | None
    symbols: list[Symbol]


def _definitions(knowledge: Knowledge, words: tuple[str, ...]) -> dict[str, list[Symbol]]:
    """Definitions named exactly (any case) like a turn word or two adjacent ones joined
    (`rate limit` → `RateLimit`, `rate_limit`), by file."""
    names = [w for w in words if len(w) >= 3]
    for a, b in itertools.pairwise(words):
        names += [a + b, f"{a}_{b}"]
    out: dict[str, list[Symbol]] = {}
    for name in dict.fromkeys(n.lower() for n in names):
        for symbol in knowledge.symbols.named(name, SYMBOL_LOOKUP_LIMIT):
            out.setdefault(symbol.path, []).append(symbol)
    return out


def _rank(
    found: list[SearchHit], defined: dict[str, list[Symbol]], words: tuple[str, ...]
) -> list[_Candidate]:
    by_path: dict[str, _Candidate] = {}
    for hit in found:
        if hit.path not in by_path:  # search answers each path once, best first
            kind = {"file": "document", "doc": "guide"}.get(hit.kind, hit.kind)
            by_path[hit.path] = _Candidate(hit.path, kind, hit.score, hit, [])
    for path, symbols in defined.items():
        c = by_path.get(path)
        if c is None:
            c = by_path[path] = _Candidate(path, "symbol", 0.0, None, [])
        c.symbols = symbols
    stems = [stem(w.lower()) for w in words]
    asked_about_tests = about_tests(stems)
    for c in by_path.values():
        named = _name_tokens(c.path)
        boost = SYMBOL_BOOST * min(len({s.name.lower() for s in c.symbols}), 2)
        boost += PATH_BOOST * min(sum(1 for s in stems if _named(s, named)), 2)
        weight = weight_for(c.path, asked_about_tests)
        if c.kind in TEST_WEIGHED_KINDS:  # its score has its weight already
            c.score += boost * weight
        else:
            c.score = (c.score + boost) * weight
    return sorted(by_path.values(), key=lambda c: (-c.score, c.path))


_SUFFIXES = ("ing", "ed", "es", "s", "er")


def stem(word: str) -> str:
    """A crude English stem, enough to match a word to a file name: `running` → `run`,
    `invoices` → `invoic` (which `invoice` holds)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
                word = word[:-1]  # logg → log, runn → run
            break
    return word


def _name_tokens(path: str) -> tuple[str, ...]:
    """The stems of a file's name and of its folder's name, and the name whole, lower-case:
    what a word must match to count as naming the file."""
    parts = path.lower().rsplit("/", 2)[-2:]
    names = [p.split(".")[0].strip("_") for p in parts]
    tokens = [stem(t) for n in names for t in re.split(r"[_\-\s]+", n) if t]
    return (*tokens, *names)


def _named(word_stem: str, tokens: tuple[str, ...]) -> bool:
    if len(word_stem) < 3:
        return False
    return any(t == word_stem or (len(word_stem) >= 4 and word_stem in t) for t in tokens)


def _names(knowledge: Knowledge, c: _Candidate, word: str) -> bool:
    """Whether a one-word turn names this file: its name, a symbol it defines, or its
    document's feature or tags. A single word is a question only when it names something."""
    if c.symbols or _named(stem(word.lower()), _name_tokens(c.path)):
        return True
    served = knowledge.document(c.path)
    if served is None:
        return False
    d = served.document
    return word.lower() in {t.lower() for t in (*d.tags, d.feature or "")}


def _needles(words: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Per word, the lower-case forms that count as finding it: its stem as `search` looks
    for it in texts (`text_stem`: "how are connections pooled and reused" found nothing
    in okhttp when only a plural's `s` came off, its `ConnectionPool.kt` holding `pool`
    and `reuse`), or all of its identifier pieces."""
    out = []
    for word in words:
        low = word.lower()
        stem = text_stem(low)
        pieces = identifier_parts(word) or [p for p in low.split("_") if p]
        out.append((stem, *pieces) if len(pieces) > 1 else (stem,))
    return out


def _text_of(
    knowledge: Knowledge, c: _Candidate, read: Callable[[str], str | None] | None
) -> str | None:
    """The text whose lines the block shows: a guide's own, else the file's."""
    if c.kind == "guide":
        served = knowledge.document(c.path)
        text = served.document.body if served is not None else None
    else:
        text = read(c.path) if read is not None else None
    return text if text is not None and len(text) <= MAX_SCANNED_CHARS else None


def _words_held(
    knowledge: Knowledge, c: _Candidate, text: str | None, needles: list[tuple[str, ...]]
) -> int:
    """How many of the turn's words the file holds, in its path, its text, its knowledge
    document, its hit's snippet or its matched definitions."""
    served = knowledge.document(c.path)
    place = " ".join(
        (
            c.path.lower(),
            served.document.text.lower() if served is not None else "",
            (text or "").lower(),
            (c.hit.snippet.lower() if c.hit else ""),
            " ".join(s.name.lower() for s in c.symbols),
        )
    )
    return sum(1 for needle in needles if holds(place, needle))

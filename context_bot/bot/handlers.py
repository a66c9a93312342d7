"""What each protocol method does: validated params in, a JSON-ready result out.

Pure request handling: no `livekit`, no `aiohttp`. The room adapter hands every parsed
request to `Handlers.handle` and sends back whatever it returns or raises; a
`RequestError` becomes a wire error with its code, anything else an `InternalError` (and a
log line with the traceback, which the asker never sees).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from context_bot import phases
from context_bot.errors import BadRequest, FileError, NotFound, UnknownMethod
from context_bot.knowledge.grep import (
    Grep,
    GrepProgress,
    GrepQuery,
    GrepResult,
    check_globs,
    check_pattern,
    path_selector,
    smart_case,
)
from context_bot.knowledge.loading import Knowledge
from context_bot.knowledge.paths import check_relative, normalise_repo_path
from context_bot.knowledge.retrieval import Retrieval, check_text, retrieve
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.search import sandbox_reader
from context_bot.knowledge.symbols import KINDS, grammar_for
from context_bot.protocol import (
    DEFAULT_GREP_LIMIT,
    DEFAULT_REFERENCES_LIMIT,
    DEFAULT_RETRIEVE_BUDGET_TOKENS,
    DEFAULT_SYMBOLS_LIMIT,
    GREP_DEADLINE_S,
    MAX_GREP_CONTEXT,
    MAX_GREP_LIMIT,
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_QUERY_CHARS,
    MAX_REFERENCES_LIMIT,
    MAX_RETRIEVE_BUDGET_TOKENS,
    MAX_SEARCH_LIMIT,
    MAX_SYMBOL_QUERY_CHARS,
    MAX_SYMBOLS_LIMIT,
    MIN_RETRIEVE_BUDGET_TOKENS,
    Request,
    line_range,
)

log = structlog.get_logger(__name__)

Result = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Result]]

GREP_CONCURRENCY = 2
"""`grep` searches running at once in the process (one per core of a small machine); the
rest wait, within their deadline. RE2 releases the GIL while it matches, so a search in
a worker thread leaves the event loop free; this bound keeps searches from taking every
thread of the default executor, which `file` requests need too."""
GREP_GRACE_S = 0.25
"""How long past its deadline a `grep` waits for the search's thread to stop before it
answers what was found so far (the thread stops after the RE2 call under way)."""


def _str_param(params: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None:
        if required:
            raise BadRequest(f"`params.{name}` is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"`params.{name}` must be a string")
    return value


def _bool_param(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"`params.{name}` must be true or false")
    return value


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"`params.{name}` must be a whole number from {low} to {high}")
    return value


class Handlers:
    """The bot's methods over one repository; knowledge is read fresh on every call."""

    def __init__(self, knowledge: Callable[[], Knowledge], files: RepoFiles) -> None:
        self._knowledge = knowledge
        self._files = files
        self._methods: dict[str, Handler] = {
            "overview": self.overview,
            "file": self.file,
            "search": self.search,
            "list": self.listing,
            "feature": self.feature,
            "grep": self.grep,
            "symbols": self.symbols,
            "outline": self.outline,
            "references": self.references,
            "retrieve": self.retrieve,
        }
        self._read = sandbox_reader(files)
        self._grep = Grep(files)
        self._grep_slots = asyncio.Semaphore(GREP_CONCURRENCY)

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    async def handle(self, request: Request) -> Result:
        handler = self._methods.get(request.method)
        if handler is None:
            raise UnknownMethod(
                f"unknown method {request.method[:64]!r}; known: {', '.join(self.methods)}"
            )
        return await handler(request.params)

    def overview_result(self) -> Result:
        knowledge = self._knowledge()
        return {"knowledge_version": knowledge.version, "text": knowledge.overview}

    async def overview(self, params: dict[str, Any]) -> Result:
        del params  # the overview takes none yet; unknown params are ignored by design
        return self.overview_result()

    async def file(self, params: dict[str, Any]) -> Result:
        """A file's knowledge document and its contents; either may be missing, not both."""
        path = _str_param(params, "path")
        assert path is not None  # required=True
        check_relative(path)  # length, depth and shape first: nothing below sees a bad path
        want_knowledge = _bool_param(params, "knowledge", True)
        want_content = _bool_param(params, "content", True)
        lines = line_range(params.get("lines"), name="params.lines")
        want_outline = _bool_param(params, "outline", False)
        knowledge = self._knowledge()
        result: Result = {"path": path, "knowledge_version": knowledge.version}
        if want_outline:  # only when asked: older clients see the answer they know
            norm = normalise_repo_path(path)
            nodes = knowledge.symbols.outline(norm) if norm is not None else []
            result["outline"] = [n.to_wire() for n in nodes]

        result["knowledge"] = None
        if want_knowledge:
            document = knowledge.document(path)
            result["knowledge"] = document.to_wire() if document else None

        result["content"] = None
        result["content_error"] = None
        if want_content:
            try:
                result["content"] = (await self._files.read(path, lines=lines)).to_wire()
            except NotFound:
                if result["knowledge"] is None:
                    raise NotFound(f"no file and no knowledge for {path!r}") from None
                result["content_error"] = NotFound(f"{path!r} is not in the repository").to_wire()
            except FileError as exc:
                if result["knowledge"] is None:
                    raise
                result["content_error"] = exc.to_wire()
        elif result["knowledge"] is None:
            raise NotFound(f"no knowledge document for {path!r}")
        return result

    async def search(self, params: dict[str, Any]) -> Result:
        """Ranked full-text hits over paths, front-matter and sections."""
        query = _str_param(params, "query")
        assert query is not None  # required=True
        if len(query) > MAX_QUERY_CHARS:
            raise BadRequest(f"`params.query` must be at most {MAX_QUERY_CHARS} characters")
        limit = _int_param(params, "limit", 10, 1, MAX_SEARCH_LIMIT)
        knowledge = self._knowledge()
        # In a thread: a code hit reads its file for the line that matched.
        hits = await asyncio.to_thread(knowledge.search, query, limit=limit)
        return {
            "query": query,
            "hits": [hit.to_wire() for hit in hits],
            "knowledge_version": knowledge.version,
        }

    async def listing(self, params: dict[str, Any]) -> Result:
        """Every file (documented or not) and folder under a prefix, folders first, capped in
        depth and count; costs what it returns (the tree is laid out at load)."""
        prefix = _str_param(params, "prefix", required=False) or ""
        depth = _int_param(params, "depth", 2, 1, MAX_LIST_DEPTH)
        limit = _int_param(params, "limit", 200, 1, MAX_LIST_LIMIT)
        knowledge = self._knowledge()
        listing = knowledge.listing(prefix, depth=depth, limit=limit)
        return {**listing.to_wire(), "knowledge_version": knowledge.version}

    async def feature(self, params: dict[str, Any]) -> Result:
        """One feature's files, roles and user flows; without a name, every feature."""
        name = _str_param(params, "name", required=False)
        knowledge = self._knowledge()
        if name is None:
            features = [f.to_wire() for f in knowledge.features()]
            return {"features": features, "knowledge_version": knowledge.version}
        found = knowledge.feature(name)
        if found is None:
            known = ", ".join(f.name for f in knowledge.features()[:20])
            raise NotFound(f"no feature named {name[:64]!r}; known: {known}")
        return {**found.to_wire(), "knowledge_version": knowledge.version}

    async def grep(self, params: dict[str, Any]) -> Result:
        """Lines matching a literal or an RE2 pattern in every text file, path and line
        order; within GREP_DEADLINE_S (then what was found, `truncated` by "deadline")."""
        started = time.monotonic()
        pattern = _str_param(params, "pattern")
        assert pattern is not None  # required=True
        check_pattern(pattern)  # its length before anything else looks at it
        regex = _bool_param(params, "regex", False)
        case_sensitive = params.get("case_sensitive")
        if case_sensitive is not None and not isinstance(case_sensitive, bool):
            raise BadRequest("`params.case_sensitive` must be true, false or null")
        globs = _globs_param(params)
        context = _int_param(params, "context", 0, 0, MAX_GREP_CONTEXT)
        limit = _int_param(params, "limit", DEFAULT_GREP_LIMIT, 1, MAX_GREP_LIMIT)
        query = GrepQuery(pattern, regex, case_sensitive, globs, context, limit)
        knowledge = self._knowledge()
        deadline = started + GREP_DEADLINE_S
        progress = GrepProgress(case_sensitive=_case(query))
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                await self._grep_slots.acquire()
        except TimeoutError:
            progress.total = len(knowledge.inventory)
            found = progress.result("deadline", limit)
            return {**found.to_wire(), "knowledge_version": knowledge.version}
        work = asyncio.ensure_future(
            asyncio.to_thread(
                self._grep.search, knowledge.inventory, query, deadline=deadline, progress=progress
            )
        )
        # The slot is free when the thread is, not when the answer goes: a search can
        # only stop between RE2 calls, and the one under way may outlast the deadline.
        work.add_done_callback(self._grep_done)
        wait_s = deadline - time.monotonic() + GREP_GRACE_S
        finished, _ = await asyncio.wait({work}, timeout=max(wait_s, 0))
        if work in finished:
            found = work.result()  # BadRequest for a pattern RE2 refuses
        else:
            log.warning("grep_overran", pattern_chars=len(pattern), regex=regex)
            found = progress.result("deadline", limit)
        return {**found.to_wire(), "knowledge_version": knowledge.version}

    async def symbols(self, params: dict[str, Any]) -> Result:
        """Definitions whose name matches the query: exact, prefix, camel humps, substring,
        subsequence, in that order (`knowledge/symbols.py`)."""
        query = _name_param(params, "query")
        kind = _str_param(params, "kind", required=False)
        if kind is not None and kind not in KINDS:
            raise BadRequest(f"`params.kind` must be one of {', '.join(sorted(KINDS))}")
        selects = _path_glob_param(params)
        limit = _int_param(params, "limit", DEFAULT_SYMBOLS_LIMIT, 1, MAX_SYMBOLS_LIMIT)
        knowledge = self._knowledge()
        # In a thread: the camel-hump and fuzzy tiers scan every name (RE2, no GIL).
        found = await asyncio.to_thread(
            knowledge.symbols.find, query, kind=kind, selects=selects, limit=limit + 1
        )
        return {
            "query": query,
            "symbols": [m.to_wire() for m in found[:limit]],
            "truncated": len(found) > limit,
            "knowledge_version": knowledge.version,
        }

    async def outline(self, params: dict[str, Any]) -> Result:
        """One file's definitions as a tree by line ranges."""
        path = _str_param(params, "path")
        assert path is not None  # required=True
        check_relative(path)
        knowledge = self._knowledge()
        norm = normalise_repo_path(path)
        entry = knowledge.inventory.get(norm) if norm is not None else None
        if entry is None or norm is None:
            raise NotFound(f"{path[:200]!r} is not a file of the repository")
        parsed = knowledge.symbols.has_file(norm)
        return {
            "path": norm,
            "language": grammar_for(norm, entry.language),
            "parsed": parsed,
            "symbols": [n.to_wire() for n in knowledge.symbols.outline(norm)],
            "knowledge_version": knowledge.version,
        }

    async def references(self, params: dict[str, Any]) -> Result:
        """Where an identifier is used, by name (not type-resolved), definitions excluded."""
        name = _name_param(params, "name")
        selects = _path_glob_param(params)
        limit = _int_param(params, "limit", DEFAULT_REFERENCES_LIMIT, 1, MAX_REFERENCES_LIMIT)
        knowledge = self._knowledge()
        # In a thread: a common name with a path_glob is one pattern match per use.
        found, total = await asyncio.to_thread(
            knowledge.symbols.references, name, selects=selects, limit=limit
        )
        return {
            "name": name,
            "references": [r.to_wire() for r in found],
            "total": total,
            "truncated": total > len(found),
            "resolution": "name",
            "knowledge_version": knowledge.version,
        }

    async def retrieve(self, params: dict[str, Any]) -> Result:
        """The passages that answer a conversational turn, as one bounded block and the
        files behind it (`knowledge/retrieval.py`); an empty block when nothing scored."""
        text = check_text(params.get("text"), name="params.text")
        budget = _int_param(
            params,
            "budget_tokens",
            DEFAULT_RETRIEVE_BUDGET_TOKENS,
            MIN_RETRIEVE_BUDGET_TOKENS,
            MAX_RETRIEVE_BUDGET_TOKENS,
        )
        knowledge = self._knowledge()

        def work() -> Retrieval:
            phases.mark("to_thread")
            return retrieve(knowledge, text, budget_tokens=budget, read=self._read)

        # In a thread: search reads its code hits' files, and the block its files' lines.
        phases.mark("params")
        found = await asyncio.to_thread(work)
        phases.mark("from_thread")
        return {**found.to_wire(), "knowledge_version": knowledge.version}

    def _grep_done(self, work: asyncio.Future[GrepResult]) -> None:
        self._grep_slots.release()
        if not work.cancelled():
            work.exception()  # retrieved: a late failure is no "never retrieved" warning


def _case(query: GrepQuery) -> bool:
    if query.case_sensitive is not None:
        return query.case_sensitive
    return smart_case(query.pattern, regex=query.regex)


def _globs_param(params: dict[str, Any]) -> tuple[str, ...]:
    value = params.get("glob")
    if value is None:
        return ()
    globs = [value] if isinstance(value, str) else value
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise BadRequest("`params.glob` must be a path pattern or a list of them")
    check_globs(globs)
    return tuple(globs)


def _name_param(params: dict[str, Any], name: str) -> str:
    value = _str_param(params, name)
    assert value is not None  # required=True
    if not value.strip() or len(value) > MAX_SYMBOL_QUERY_CHARS or "\0" in value:
        raise BadRequest(
            f"`params.{name}` must be 1 to {MAX_SYMBOL_QUERY_CHARS} characters, not blank, no NUL"
        )
    return value


def _path_glob_param(params: dict[str, Any]) -> Callable[[str], bool] | None:
    value = params.get("path_glob")
    if value is None:
        return None
    globs = [value] if isinstance(value, str) else value
    if not isinstance(globs, list) or not all(isinstance(g, str) for g in globs):
        raise BadRequest("`params.path_glob` must be a path pattern or a list of them")
    return path_selector(globs)


def _loop_time(monotonic_instant: float) -> float:
    """A `time.monotonic()` instant on the running loop's clock."""
    return asyncio.get_running_loop().time() + (monotonic_instant - time.monotonic())

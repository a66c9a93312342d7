"""What each protocol method does: validated params in, a JSON-ready result out.

Pure request handling: no `livekit`, no `aiohttp`. The room adapter hands every parsed
request to `Handlers.handle` and sends back whatever it returns or raises; a
`RequestError` becomes a wire error with its code, anything else an `InternalError` (and a
log line with the traceback, which the asker never sees).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from context_bot.errors import BadRequest, FileError, NotFound, UnknownMethod
from context_bot.knowledge.loading import Knowledge
from context_bot.knowledge.paths import check_relative
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.protocol import (
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_QUERY_CHARS,
    MAX_SEARCH_LIMIT,
    Request,
    line_range,
)

log = structlog.get_logger(__name__)

Result = dict[str, Any]
Handler = Callable[[dict[str, Any]], Awaitable[Result]]


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
        }

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
        knowledge = self._knowledge()
        result: Result = {"path": path, "knowledge_version": knowledge.version}

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

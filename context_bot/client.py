"""The agent-side API: the repository's context from the room's bot, a line per question.

    client = ContextClient(room)          # right after `await room.connect(...)`
    overview = await client.overview()
    source = await client.file("context_bot/bot/rooms.py")
    hits = await client.search("token endpoint")
    found = await client.grep("ContextClient", glob="*.py")

Creating the client asks for the overview at once (the server would tell the bot about us
only on its next 3-second tick; asking is immediate: docs/design.md, facts 2 and 3). A pushed
overview is accepted too, so a client that joins before the bot still gets one.

Messages from the bot are recognised by topic and by their sender: the bot is hidden, so
its streams arrive with a blank sender identity (fact 4), and the token endpoint never
gives anyone else the hidden grant. A sender with a name is a participant the room lists,
so never the bot, even one named like it (anyone holding the API keys can mint a token
under the bot's identity; `/token` refuses it to everyone else). A request whose answer
does not come within `attempt_timeout` is sent again with the same id (a request can
vanish while the bot reconnects: fact 8), and a rate-limited one after the wait the bot
asks for, until `timeout` runs out.

Requests go as text streams until an answer says the bot names this participant
(`named`); from then on a small request goes first as one data packet answered by a text
stream, because a stream to the hidden bot costs three packets where a data packet is
one (fact 11). Resends always go as text streams, which the bot attributes at once.

Imports only `livekit` and our standard-library-only protocol modules; works with
`livekit>=1.1.21` (the version `livekit-agents` pins).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.rtc.participant import PublishDataError

from context_bot.errors import (
    BadRequest,
    ContextTimeout,
    PayloadTooLarge,
    RateLimited,
    RequestError,
    ShuttingDown,
    error_from_wire,
)
from context_bot.protocol import (
    DEFAULT_BOT_IDENTITY,
    DEFAULT_GREP_LIMIT,
    DEFAULT_REFERENCES_LIMIT,
    DEFAULT_SYMBOLS_LIMIT,
    ID_ATTRIBUTE,
    MAX_PACKET_REQUEST_BYTES,
    MAX_REQUEST_BYTES,
    METHOD_ATTRIBUTE,
    NAMED_ATTRIBUTE,
    TOPIC_PUSH,
    TOPIC_REQUEST,
    TOPIC_RESPONSE,
    Request,
    decode_push,
    decode_response,
    encode_packet_request,
    encode_request,
)

__all__ = [
    "ContextClient",
    "ContextTimeout",
    "FileResult",
    "GrepMatch",
    "GrepResult",
    "KnowledgeUpdate",
    "RequestError",
    "Retrieved",
    "RetrievedFile",
    "SearchHit",
]

DEFAULT_TIMEOUT_S = 30.0
"""Long enough to ride out a restart of the bot: a process manager's restart delay (2 s in
deploy/), the new process's start (a few seconds), its rejoin of the room, and the wait
of the attempt under way. A request sent at a SIGKILL was answered 3-6 s later with a 2 s
restart delay (tests/integration/test_restart.py); the margin is for loaded machines. A
room with no bot at all is reported this late too."""
DEFAULT_ATTEMPT_TIMEOUT_S = 3.0
SHUTDOWN_RETRY_MS = 1000


@dataclass(frozen=True)
class FileResult:
    """A file as the bot knows it: its knowledge document and its contents."""

    path: str
    knowledge: str | None
    """The knowledge document's full text, or None when the file has none."""
    content: str | None
    """The file's text (or the requested lines), or None when it cannot be served."""
    stale: bool
    """True when the document was written for another version of the file."""
    size: int | None
    sha: str | None
    content_error: RequestError | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SearchHit:
    path: str
    kind: str
    """"file" for a file's knowledge document, "doc" for a free document, "code" for a
    file's contents (see `line`), "path" for a file matched by its path only."""
    feature: str | None
    score: float
    """From 0 to 1 (PROTOCOL.md says what each value means)."""
    snippet: str
    line: int | None = None
    """For a "code" hit, the 1-based line the snippet is from."""


@dataclass(frozen=True)
class RetrievedFile:
    """A file (or guide) behind a `retrieve` block: why it was chosen and where."""

    path: str
    kind: str
    """"document" (its knowledge document matched), "guide", "code", "path" or "symbol"
    (it defines a name the text used)."""
    score: float
    lines: list[int]
    """The 1-based lines the block shows for it."""
    purpose: str | None
    """Its knowledge document's one-line purpose, if it has one."""


@dataclass(frozen=True)
class Retrieved:
    """What `retrieve` found for a turn: `text` is the block for a model (empty when
    nothing scored well enough), `files` the same passages for rendering your own."""

    text: str
    files: list[RetrievedFile]
    words: list[str]
    """The text's words that were matched (filler and stopwords dropped)."""
    knowledge_version: str


@dataclass(frozen=True)
class GrepMatch:
    """One matching line, as `grep -n` shows it, with its context lines."""

    path: str
    line: int
    """1-based."""
    column: int
    """1-based, in characters, where the match starts on the line."""
    text: str
    before: list[str]
    after: list[str]


@dataclass(frozen=True)
class GrepResult:
    matches: list[GrepMatch]
    """In path and line order."""
    truncated: bool
    truncated_reason: str | None
    """"limit" (more matches than asked for) or "deadline" (the bot's time ran out)."""
    files_searched: int
    files_skipped: dict[str, int]
    """By reason: binary, too_large, unreadable."""
    files_total: int
    case_sensitive: bool
    knowledge_version: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SymbolHit:
    """One definition `symbols` found (PROTOCOL.md, `symbols`)."""

    name: str
    kind: str
    container: str | None
    path: str
    line: int
    """1-based, the definition's first line; `end_line` its last."""
    end_line: int
    signature: str
    doc: str | None
    match: str
    """exact, prefix, camel, substring or fuzzy."""


@dataclass(frozen=True)
class KnowledgeUpdate:
    """The bot's knowledge changed: what to refresh."""

    knowledge_version: str
    previous_version: str | None
    changed: list[str]
    added: list[str]
    removed: list[str]
    truncated: bool = False
    """The lists were cut (a change too large to name path by path): refresh everything."""


class ContextClient:
    """Talks to the context bot in one connected `rtc.Room`."""

    def __init__(
        self,
        room: rtc.Room,
        *,
        bot_identity: str = DEFAULT_BOT_IDENTITY,
        timeout: float = DEFAULT_TIMEOUT_S,
        attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT_S,
        prefetch: bool = True,
    ) -> None:
        self._room = room
        self.bot_identity = bot_identity
        self.timeout = timeout
        self.attempt_timeout = attempt_timeout
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._overview: dict[str, Any] | None = None
        self._announced: str | None = None
        """The `knowledge_version` of the last `knowledge_changed`: the current one."""
        self._overview_arrived = asyncio.Event()
        self._subscribers: list[asyncio.Queue[KnowledgeUpdate]] = []
        self._prefetch: asyncio.Task[None] | None = None
        self._named = False
        """The bot's last answer said it names us: a data packet from us reaches it with
        our identity (PROTOCOL.md, "Asking by data packet")."""
        room.register_text_stream_handler(TOPIC_RESPONSE, self._on_response)
        room.register_text_stream_handler(TOPIC_PUSH, self._on_push)
        if prefetch:
            self._prefetch = self._start_prefetch()

    # -- the questions ------------------------------------------------------------------

    async def overview(self) -> str:
        """The repository overview: the one pushed or prefetched, else asked for now."""
        if self._overview is None:
            prefetch = self._prefetch
            if prefetch is None or (prefetch.done() and prefetch.exception() is not None):
                prefetch = self._prefetch = self._start_prefetch()
            pushed = asyncio.ensure_future(self._overview_arrived.wait())
            try:
                await asyncio.wait({pushed, prefetch}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                pushed.cancel()
            if self._overview is None:
                prefetch.result()  # raises the request's error
        assert self._overview is not None
        return str(self._overview["text"])

    @property
    def knowledge_version(self) -> str | None:
        return None if self._overview is None else str(self._overview["knowledge_version"])

    async def file(
        self,
        path: str,
        *,
        lines: tuple[int, int] | None = None,
        knowledge: bool = True,
        content: bool = True,
    ) -> FileResult:
        """A file's knowledge document and contents (or lines `first..last`, 1-based)."""
        params: dict[str, Any] = {"path": path, "knowledge": knowledge, "content": content}
        if lines is not None:
            params["lines"] = list(lines)
        result = await self.request("file", params)
        document = result.get("knowledge") or None
        body = result.get("content") or None
        error = result.get("content_error")
        return FileResult(
            path=str(result.get("path", path)),
            knowledge=None if document is None else str(document["text"]),
            content=None if body is None else str(body["text"]),
            stale=bool(document and document.get("stale")),
            size=None if body is None else int(body["size"]),
            sha=None if body is None else str(body["sha"]),
            content_error=_error(error),
            raw=result,
        )

    async def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Ranked hits for `query`, best first: knowledge documents, then files by their
        path or contents (a bot older than the whole-repository search answers documents
        only)."""
        result = await self.request("search", {"query": query, "limit": limit})
        return [
            SearchHit(
                path=str(hit["path"]),
                kind=str(hit.get("kind", "file")),
                feature=hit.get("feature"),
                score=float(hit.get("score", 0.0)),
                snippet=str(hit.get("snippet", "")),
                line=hit["line"] if isinstance(hit.get("line"), int) else None,
            )
            for hit in result.get("hits", [])
        ]

    async def retrieve(self, text: str, *, budget_tokens: int | None = None) -> Retrieved:
        """The repository passages that answer `text` (a user's turn, as said): paths
        with line numbers, documents' purposes and the lines that matter, as one block of
        at most `budget_tokens` (the bot's default when None); an empty block when nothing
        scores well enough."""
        params: dict[str, Any] = {"text": text}
        if budget_tokens is not None:
            params["budget_tokens"] = budget_tokens
        result = await self.request("retrieve", params)
        return Retrieved(
            text=str(result.get("text", "")),
            files=[
                RetrievedFile(
                    path=str(h["path"]),
                    kind=str(h.get("kind", "")),
                    score=float(h.get("score", 0.0)),
                    lines=[int(n) for n in h.get("lines", [])],
                    purpose=h.get("purpose"),
                )
                for h in result.get("hits", [])
            ],
            words=[str(w) for w in result.get("words", [])],
            knowledge_version=str(result.get("knowledge_version", "")),
        )

    async def grep(
        self,
        pattern: str,
        *,
        regex: bool = False,
        case_sensitive: bool | None = None,
        glob: str | Sequence[str] | None = None,
        context: int = 0,
        limit: int = DEFAULT_GREP_LIMIT,
    ) -> GrepResult:
        """Lines matching `pattern` (a literal, or an RE2 expression with `regex`) in every
        text file; case-sensitive only when the pattern has an upper-case letter unless
        `case_sensitive` says; `glob` selects paths (gitignore patterns, `src/**/*.py`)."""
        params: dict[str, Any] = {
            "pattern": pattern,
            "regex": regex,
            "context": context,
            "limit": limit,
        }
        if case_sensitive is not None:
            params["case_sensitive"] = case_sensitive
        if glob is not None:
            params["glob"] = glob if isinstance(glob, str) else list(glob)
        result = await self.request("grep", params)
        return GrepResult(
            matches=[
                GrepMatch(
                    path=str(m["path"]),
                    line=int(m["line"]),
                    column=int(m.get("column", 1)),
                    text=str(m.get("text", "")),
                    before=[str(x) for x in m.get("before", [])],
                    after=[str(x) for x in m.get("after", [])],
                )
                for m in result.get("matches", [])
            ],
            truncated=bool(result.get("truncated")),
            truncated_reason=result.get("truncated_reason"),
            files_searched=int(result.get("files_searched", 0)),
            files_skipped={str(k): int(v) for k, v in result.get("files_skipped", {}).items()},
            files_total=int(result.get("files_total", 0)),
            case_sensitive=bool(result.get("case_sensitive")),
            knowledge_version=str(result.get("knowledge_version", "")),
            raw=result,
        )

    async def symbols(
        self,
        query: str,
        *,
        kind: str | None = None,
        path_glob: str | Sequence[str] | None = None,
        limit: int = DEFAULT_SYMBOLS_LIMIT,
    ) -> list[SymbolHit]:
        """Definitions whose name matches `query`, best first: exact, prefix, camel humps
        (`getUN` → `getUserName`), substring, subsequence."""
        params: dict[str, Any] = {"query": query, "limit": limit}
        if kind is not None:
            params["kind"] = kind
        if path_glob is not None:
            params["path_glob"] = path_glob if isinstance(path_glob, str) else list(path_glob)
        result = await self.request("symbols", params)
        return [
            SymbolHit(
                name=str(s["name"]),
                kind=str(s["kind"]),
                container=s.get("container"),
                path=str(s["path"]),
                line=int(s["line"]),
                end_line=int(s.get("end_line", s["line"])),
                signature=str(s.get("signature", "")),
                doc=s.get("doc"),
                match=str(s.get("match", "")),
            )
            for s in result.get("symbols", [])
        ]

    async def outline(self, path: str) -> dict[str, Any]:
        """A file's definitions as a tree: `symbols`, each `name`, `kind`, `line`,
        `end_line`, `signature`, `doc` and `children`; `parsed` false when no grammar
        parsed the file."""
        return await self.request("outline", {"path": path})

    async def references(
        self,
        name: str,
        *,
        path_glob: str | Sequence[str] | None = None,
        limit: int = DEFAULT_REFERENCES_LIMIT,
    ) -> dict[str, Any]:
        """Where the identifier `name` is used, by name (not type-resolved), definitions
        excluded: `references` (`path`, `line`), `total`, `truncated`."""
        params: dict[str, Any] = {"name": name, "limit": limit}
        if path_glob is not None:
            params["path_glob"] = path_glob if isinstance(path_glob, str) else list(path_glob)
        return await self.request("references", params)

    async def list(self, prefix: str = "", *, depth: int = 2, limit: int = 200) -> dict[str, Any]:
        """Every file and folder under `prefix`, documented or not, folders first.

        `entries`: folders with `files` and `documented` (how many of those files a
        knowledge document describes), files with `documented`, `stale`, `feature`,
        `size`, `language` and `binary`, free documents (`kind` "doc"); `truncated` and
        `total` when there are more than `limit`; `files` and `documented` for `prefix`
        itself. PROTOCOL.md describes every field."""
        return await self.request("list", {"prefix": prefix, "depth": depth, "limit": limit})

    async def feature(self, name: str | None = None) -> dict[str, Any]:
        """One feature's files, entry points, services and user flows; all without a name."""
        return await self.request("feature", {} if name is None else {"name": name})

    async def updates(self) -> AsyncIterator[KnowledgeUpdate]:
        """Every knowledge change from now on, as the bot announces it."""
        queue: asyncio.Queue[KnowledgeUpdate] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)

    # -- the wire -----------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and wait for its answer; raises the bot's error as a typed one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            request = Request(id=uuid.uuid4().hex, method=method, params=params or {})
            body = encode_request(request)
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._pending[request.id] = future
            try:
                return await self._attempts(request, body, future, deadline)
            except PayloadTooLarge:
                # Under the cap, the bot read our stream cut short (the room reconnected in
                # the middle of it: PROTOCOL.md, 4013), and a refusal binds no id: asked
                # again at once, under a new one. Over the cap, it is what it says.
                if len(body.encode()) > MAX_REQUEST_BYTES or loop.time() >= deadline:
                    raise
                wait_s = 0.0
            except (RateLimited, ShuttingDown) as exc:
                # Both say "not now": a rate limit names its wait; a leaving bot is replaced
                # (or back) within seconds.
                retry_after_ms = exc.details.get("retry_after_ms", SHUTDOWN_RETRY_MS)
                wait_s = float(retry_after_ms) / 1000 if isinstance(retry_after_ms, int) else 0.1
                if loop.time() + wait_s >= deadline:
                    raise
            finally:
                self._pending.pop(request.id, None)
                future.cancel()
            await asyncio.sleep(wait_s)

    async def _attempts(
        self,
        request: Request,
        body: str,
        future: asyncio.Future[dict[str, Any]],
        deadline: float,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        packet = None
        if self._named:
            packet = encode_packet_request(request, self._room.local_participant.identity)
            if len(packet) > MAX_PACKET_REQUEST_BYTES:
                packet = None
        while True:
            # A send fails while the room reconnects: wait this attempt out, then resend.
            with contextlib.suppress(rtc.StreamError, PublishDataError):
                await self._send(request, body, packet)
            left = deadline - loop.time()
            # `wait`, not `wait_for(shield(...))`: the future outlives an attempt all the
            # same, and the answer reaches us one turn of the event loop sooner.
            await asyncio.wait((future,), timeout=min(self.attempt_timeout, max(left, 0)))
            if future.done():
                return future.result()
            if loop.time() >= deadline:
                raise ContextTimeout(
                    f"no answer to {request.method!r} from {self.bot_identity!r} "
                    f"within {self.timeout}s; is the bot in the room?"
                )
            if packet is not None:  # the bot may not name us any more (we reconnected)
                packet, self._named = None, False

    async def _send(self, request: Request, body: str, packet: bytes | None) -> None:
        """As one data packet when given (answered by a stream), else as a text stream."""
        local = self._room.local_participant
        if packet is not None:
            await local.publish_data(
                packet, topic=TOPIC_REQUEST, destination_identities=[self.bot_identity]
            )
            return
        await local.send_text(
            body,
            topic=TOPIC_REQUEST,
            destination_identities=[self.bot_identity],
            attributes={ID_ATTRIBUTE: request.id, METHOD_ATTRIBUTE: request.method},
            compress=False,  # a small JSON request: deflating it only costs time
        )

    async def aclose(self) -> None:
        self._room.unregister_text_stream_handler(TOPIC_RESPONSE)
        self._room.unregister_text_stream_handler(TOPIC_PUSH)
        for task in [*self._tasks, *([self._prefetch] if self._prefetch else [])]:
            task.cancel()

    def _start_prefetch(self) -> asyncio.Task[None]:
        async def fetch() -> None:
            self._remember_overview(await self.request("overview"))

        task = asyncio.create_task(fetch(), name="context_bot_overview")
        task.add_done_callback(_consume)
        return task

    # -- incoming -----------------------------------------------------------------------

    def _from_bot(self, sender: str) -> bool:
        """Only the hidden bot sends without an identity (fact 4); anyone named, even
        `bot_identity` (an impostor that displaced the bot), is a listed participant."""
        return sender == ""

    def _on_response(self, reader: rtc.TextStreamReader, sender: str) -> None:
        if self._from_bot(sender):
            if (reader.info.attributes or {}).get(NAMED_ATTRIBUTE) == "1":
                self._named = True
            self._spawn(self._read_response(reader))

    def _on_push(self, reader: rtc.TextStreamReader, sender: str) -> None:
        if self._from_bot(sender):
            self._spawn(self._read_push(reader))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_response(self, reader: rtc.TextStreamReader) -> None:
        try:
            response = decode_response(await reader.read_all())
        except (BadRequest, rtc.StreamError):
            return  # not an answer we can use; a real one or the timeout will follow
        future = self._pending.get(response.id or "")
        if future is None or future.done():
            return  # a late duplicate, or an answer to a request we gave up on
        if response.error is not None:
            future.set_exception(response.error)
        else:
            assert response.result is not None
            future.set_result(response.result)

    async def _read_push(self, reader: rtc.TextStreamReader) -> None:
        try:
            push = decode_push(await reader.read_all())
        except (BadRequest, rtc.StreamError):
            return
        if push.event == "overview" and "text" in push.data:
            self._remember_overview(push.data)
        elif push.event == "knowledge_changed":
            self._announced = str(push.data.get("knowledge_version", "")) or None
            update = KnowledgeUpdate(
                knowledge_version=str(push.data.get("knowledge_version", "")),
                previous_version=push.data.get("previous_version"),
                changed=list(push.data.get("changed", [])),
                added=list(push.data.get("added", [])),
                removed=list(push.data.get("removed", [])),
                truncated=push.data.get("truncated") is True,
            )
            for queue in self._subscribers:
                queue.put_nowait(update)

    def _remember_overview(self, data: dict[str, Any]) -> None:
        """Keep an overview unless it is older than one announced (PROTOCOL.md, Pushes).

        Versions are opaque hashes: only the bot's `knowledge_changed` says which is
        current. An answer computed before a change can arrive after it (answers and
        pushes are separate streams), so after a change only its version's overview is
        kept; the push that follows the change carries it."""
        version = str(data.get("knowledge_version", ""))
        stale = self._announced is not None and version != self._announced
        if stale and self._overview is not None:
            return  # an overview from before the last change: keep the one held
        self._overview = data
        self._overview_arrived.set()


def _consume(task: asyncio.Task[Any]) -> None:
    """The prefetch's failure is reported by `overview()`; don't log it as unretrieved."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()


def _error(wire: Any) -> RequestError | None:
    if not isinstance(wire, dict):
        return None
    details = {k: v for k, v in wire.items() if k not in ("code", "message", "name")}
    return error_from_wire(int(wire.get("code", 5000)), str(wire.get("message", "")), **details)

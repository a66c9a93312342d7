"""The MCP server at `/mcp`: the room protocol's knowledge for any Model Context Protocol
client, in the same process, on the endpoint's port.

The one adapter to the official `mcp` SDK (an import contract in `pyproject.toml` says
so). The SDK speaks the protocol: both eras of Streamable HTTP (the 2025-11-25 handshake
with sessions, and 2026-07-28's sessionless requests with `server/discover` and
`subscriptions/listen`), JSON-RPC, the schemas. This module supplies what is ours:

- tools that call `bot/handlers.py` (the room protocol's own request handling), with
  input schemas, read-only hints, answers cut to a budget that say how to read on, and
  refusals as tool errors carrying the protocol's codes (`errors.py`);
- resources `repo://{path}` and `knowledge://{path}`, and change notifications on live
  reload, in each era's form (`notifications/resources/*` to 2025-11-25 sessions, events
  on the subscription bus for 2026-07-28 listeners);
- who may ask (`McpGuard`): the Origin, a body cap, the per-client rate limit, and in
  authenticated mode the tenants of `POST /token` or a room participant token.

Hosting: the SDK's Starlette app is an ASGI application; `endpoint/asgi.py` serves it
from an aiohttp route, so the endpoint, its routes and tests stay as they are.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import anyio
import orjson
import structlog
from jsonschema import Draft202012Validator
from mcp import types
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ResourceUpdated,
)
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Receive, Scope, Send

from context_bot.bot.handlers import Handlers, Result
from context_bot.endpoint.tenants import Authenticator, Tenant
from context_bot.errors import ApiError, BadRequest, InternalError, RequestError
from context_bot.knowledge.loading import Knowledge
from context_bot.protocol import (
    MAX_GREP_CONTEXT,
    MAX_GREP_LIMIT,
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_REFERENCES_LIMIT,
    MAX_RETRIEVE_BUDGET_TOKENS,
    MAX_RETRIEVE_TEXT_CHARS,
    MAX_SEARCH_LIMIT,
    MAX_SYMBOLS_LIMIT,
    MCP_ANSWER_CHARS,
    MCP_MAX_ANSWER_CHARS,
    MCP_MAX_REQUEST_BYTES,
    MIN_RETRIEVE_BUDGET_TOKENS,
    Request,
)
from context_bot.ratelimit import RateLimiter

log = structlog.get_logger(__name__)

MCP_PATH = "/mcp"
SERVER_NAME = "context-bot"
REPO_SCHEME = "repo://"
KNOWLEDGE_SCHEME = "knowledge://"
OVERVIEW_URI = "context://overview"
MAX_TRACKED_SESSIONS = 10_000
"""2025-11-25 sessions kept for notifications (the SDK's own cap on open sessions)."""
READ_ONLY = types.ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
INSTRUCTIONS = (
    "context-bot serves one code repository: its files, the knowledge documents that explain "
    "them, and an overview. Start with `overview`, find with `search` (words) or `grep` "
    "(exact text, RE2), browse with `list_folder`, read with `read_file`; `symbols`, "
    "`outline` and `references` find definitions and uses. Every tool is read-only."
)

# -- tools ---------------------------------------------------------------------------------


def _int(low: int, high: int, about: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high, "description": about}


_PATH = {
    "type": "string",
    "minLength": 1,
    "description": 'Repository-relative path, e.g. "context_bot/client.py".',
}
_GLOBS = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 16}],
    "description": 'Only paths matching this glob (or any of these), e.g. "src/**/*.py".',
}


def _schema(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ToolSpec:
    """One MCP tool: its name, what a model reads about it, its schema, and the room
    protocol method with the params it becomes."""

    name: str
    title: str
    description: str
    schema: dict[str, Any]
    method: str
    params: Callable[[dict[str, Any]], dict[str, Any]]
    items: str | None = None
    """The answer's list that is cut, item by item, when the answer is over budget."""
    more: str = "ask for fewer results"
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.schema))

    def to_mcp(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.schema,
            annotations=READ_ONLY,
        )


def _same(args: dict[str, Any]) -> dict[str, Any]:
    return dict(args)


def _file_params(args: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"path": args["path"]}
    first, last = args.get("first_line"), args.get("last_line")
    if first is not None or last is not None:
        params["lines"] = [first or 1, last if last is not None else 2**31]
        params["knowledge"] = args.get("knowledge", False)
    else:
        params["knowledge"] = args.get("knowledge", True)
    params["content"] = args.get("content", True)
    return params


def _list_params(args: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in args.items() if k != "folder"}
    params["prefix"] = args.get("folder", "")
    params.setdefault("limit", 500)
    return params


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "overview",
            "Repository overview",
            "The repository's onboarding overview: what it is, its layout, entry points, the "
            "most imported and most changed files, languages, recent commits and how much is "
            "documented. Call it first.",
            _schema({}),
            "overview",
            _same,
        ),
        ToolSpec(
            "read_file",
            "Read a file",
            "Read a file of the repository: its knowledge document (what it is for, how it "
            "works, its pitfalls) and its source. Without a line range you get both; with "
            "one, only those lines of the source (set knowledge=true for the document too). "
            "Long answers are cut at a line and say the first_line to ask for next.",
            _schema(
                {
                    "path": _PATH,
                    "first_line": _int(1, 2**31 - 1, "First line to read (1-based)."),
                    "last_line": _int(1, 2**31 - 1, "Last line to read (inclusive)."),
                    "knowledge": {"type": "boolean", "description": "Include the document."},
                    "content": {"type": "boolean", "description": "Include the source."},
                    "max_chars": _int(
                        1_000,
                        MCP_MAX_ANSWER_CHARS,
                        f"Largest answer in characters (default {MCP_ANSWER_CHARS:,}).",
                    ),
                },
                ["path"],
            ),
            "file",
            _file_params,
        ),
        ToolSpec(
            "search",
            "Search by words",
            "Search the repository by words (names, concepts, error messages): knowledge "
            "documents first, then every file by its path and code; identifiers are split, "
            'so "setupLiveKitRoutes" matches "live kit". Returns ranked paths with a '
            "snippet each; read one with read_file.",
            _schema(
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": 512},
                    "limit": _int(1, MAX_SEARCH_LIMIT, "Most results (default 10)."),
                },
                ["query"],
            ),
            "search",
            _same,
            items="hits",
        ),
        ToolSpec(
            "retrieve",
            "Context for a question",
            "The passages of the repository that bear on a question or a turn of "
            "conversation, in one block: paths with line numbers, each file's one-line "
            "purpose, the lines that matter. Empty when nothing matches well (small talk). "
            "Use it before answering a question about the code; read further with read_file.",
            _schema(
                {
                    "text": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_RETRIEVE_TEXT_CHARS,
                    },
                    "budget_tokens": _int(
                        MIN_RETRIEVE_BUDGET_TOKENS,
                        MAX_RETRIEVE_BUDGET_TOKENS,
                        "Largest block, in tokens (default 600).",
                    ),
                },
                ["text"],
            ),
            "retrieve",
            _same,
            items="hits",
        ),
        ToolSpec(
            "grep",
            "Search code",
            "Search the text of every file, like `grep -n`: each matching line with its path "
            "and number. For exact names (functions, settings, error messages); lower-case "
            "text matches any case. regex=true takes an RE2 expression (no look-around). "
            "A 2 s deadline; a cut answer says so.",
            _schema(
                {
                    "pattern": {"type": "string", "minLength": 1, "maxLength": 1000},
                    "regex": {"type": "boolean"},
                    "case_sensitive": {"type": ["boolean", "null"]},
                    "glob": _GLOBS,
                    "context": _int(0, MAX_GREP_CONTEXT, "Lines before and after a match."),
                    "limit": _int(1, MAX_GREP_LIMIT, "Most matches (default 50)."),
                },
                ["pattern"],
            ),
            "grep",
            _same,
            items="matches",
            more="narrow the pattern or pass a glob",
        ),
        ToolSpec(
            "list_folder",
            "List a folder",
            "Every file and folder under a folder, folders first, with sizes, languages and "
            "which files have a knowledge document (read those first), and each folder's "
            "counts.",
            _schema(
                {
                    "folder": {"type": "string", "description": 'Empty for the root, e.g. "src".'},
                    "depth": _int(1, MAX_LIST_DEPTH, "Levels below the folder (default 2)."),
                    "limit": _int(1, MAX_LIST_LIMIT, "Most entries (default 500)."),
                }
            ),
            "list",
            _list_params,
            items="entries",
            more="list a subfolder or use a smaller depth",
        ),
        ToolSpec(
            "symbols",
            "Find definitions",
            "Definitions (functions, classes, methods...) whose name matches: exact, prefix, "
            "camel humps, substring, then fuzzy. Python, TypeScript/JavaScript, Go, Rust, Java.",
            _schema(
                {
                    "query": {"type": "string", "minLength": 1, "maxLength": 128},
                    "kind": {"type": "string", "description": "e.g. function, class, method"},
                    "path_glob": _GLOBS,
                    "limit": _int(1, MAX_SYMBOLS_LIMIT, "Most results (default 20)."),
                },
                ["query"],
            ),
            "symbols",
            _same,
            items="symbols",
        ),
        ToolSpec(
            "outline",
            "Outline a file",
            "One file's definitions as a tree with line ranges: read the lines you need "
            "with read_file.",
            _schema({"path": _PATH}, ["path"]),
            "outline",
            _same,
            items="symbols",
            more="read the file in parts",
        ),
        ToolSpec(
            "references",
            "Find uses",
            "Where an identifier is used, by name (not type-resolved), definitions excluded.",
            _schema(
                {
                    "name": {"type": "string", "minLength": 1, "maxLength": 128},
                    "path_glob": _GLOBS,
                    "limit": _int(1, MAX_REFERENCES_LIMIT, "Most results (default 100)."),
                },
                ["name"],
            ),
            "references",
            _same,
            items="references",
            more="pass a path_glob",
        ),
        ToolSpec(
            "features",
            "Describe features",
            "A feature of the product: its files and their roles, entry points and user "
            "flows. Without a name, every feature.",
            _schema({"name": {"type": "string", "minLength": 1, "maxLength": 128}}),
            "feature",
            _same,
            items="features",
            more="describe one feature at a time",
        ),
    )
}


def _dump(value: object) -> str:
    return orjson.dumps(value).decode()


def fit_answer(spec: ToolSpec, result: Result, budget: int) -> str:
    """The answer as JSON within `budget` characters: a file's lines cut at a line, a list
    cut by items, and a `more` field saying how to read on; never cut mid-value."""
    text = _dump(result)
    if len(text) <= budget:
        return text
    if spec.name == "read_file":
        return _fit_file(result, budget)
    if spec.name == "overview":
        note = " [Cut to fit; read files with read_file for more.]"
        return _dump({**result, "text": str(result["text"])[: max(budget - 200, 0)] + note})
    items = result.get(spec.items or "")
    if isinstance(items, list):
        shown = _fit_items(result, spec.items or "", items, budget, spec.more)
        if shown is not None:
            return shown
    return _dump({"error": "answer too large", "more": spec.more})


def _fit_items(result: Result, key: str, items: list[Any], budget: int, more: str) -> str | None:
    """The most leading items that fit, found by bisection (each try is one encoding)."""
    low, high, best = 0, len(items), None
    while low <= high:
        mid = (low + high) // 2
        note = f"{mid} of {len(items)} {key} shown to fit {budget:,} characters; {more}"
        text = _dump({**result, key: items[:mid], "cut": True, "more": note})
        if len(text) <= budget:
            best, low = text, mid + 1
        else:
            high = mid - 1
    return best


def _fit_file(result: Result, budget: int) -> str:
    content = result.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("text"), str):
        knowledge = result.get("knowledge") or {}
        doc = str(knowledge.get("text", ""))
        cut = {**result, "knowledge": {**knowledge, "text": doc[: max(budget - 2000, 0)]}}
        more = f"the document was cut to fit; ask with max_chars up to {MCP_MAX_ANSWER_CHARS:,}"
        return _dump({**cut, "more": more})
    text: str = content["text"]
    first = (content.get("lines") or [1])[0]
    base = len(_dump({**result, "content": {**content, "text": ""}})) + 300
    room = max(budget - base, 0)
    # JSON escapes can make a character several; cut, then cut again until it fits.
    while True:
        kept = text[:room]
        if len(kept) < len(text) and "\n" in kept:
            kept = kept[: kept.rindex("\n") + 1]
        shown = kept.count("\n") + (0 if kept.endswith("\n") or not kept else 1)
        last = first + shown - 1
        body = {
            **content,
            "text": kept,
            "lines": [first, last],
            "cut": True,
        }
        more = (
            f"lines {first}-{last} of {content.get('line_count')} shown; call read_file with "
            f"path={result.get('path')!r}, first_line={last + 1} to read on"
        )
        if kept and not kept.endswith("\n"):  # one line longer than the whole budget
            more = (
                f"line {last} is longer than {budget:,} characters and was cut; ask with a "
                f"larger max_chars (to {MCP_MAX_ANSWER_CHARS:,}), or read on at "
                f"first_line={last + 1}"
            )
        out = _dump({**result, "content": body, "more": more})
        if len(out) <= budget or room == 0:
            return out
        room = max(room - (len(out) - budget) - 64, 0)


INLINE_ENCODE_CHARS = 64 * 1024
"""Answers whose file text is below this are encoded on the event loop (orjson: ~0.1 ms
for 64 KB); larger ones in a worker thread, so no request holds the loop for long."""


def _large(result: Result) -> bool:
    content = result.get("content")
    text = content.get("text") if isinstance(content, dict) else None
    return isinstance(text, str) and len(text) > INLINE_ENCODE_CHARS


def refusal(exc: RequestError) -> types.CallToolResult:
    """A refusal a model can act on: the protocol's code and name, the message, and the
    same fields as structured content for programs."""
    wire = exc.to_wire()
    text = f"Refused ({exc.code} {exc.name}): {exc.message}"
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content={"error": wire},
        is_error=True,
    )


def check_arguments(spec: ToolSpec, arguments: dict[str, Any]) -> None:
    """`BadRequest` naming the first argument that breaks the tool's schema."""
    for error in spec.validator.iter_errors(arguments):
        where = ".".join(str(p) for p in error.absolute_path) or "arguments"
        raise BadRequest(f"`{where}`: {error.message[:300]} (see the tool's input schema)")


# -- the server ----------------------------------------------------------------------------


class _Server(Server[dict[str, Any]]):
    """The SDK's low-level server announcing list-changed and subscribe on the 2025-11-25
    handshake: its default options announce neither, though both are sent."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(resources_changed=True),
            experimental_capabilities,
            extensions,
        )


class McpService:
    """Tools and resources over one `Handlers`, the SDK server, and change notifications."""

    def __init__(self, handlers: Handlers, knowledge: Callable[[], Knowledge]) -> None:
        self._handlers = handlers
        self._knowledge = knowledge
        self._bus = InMemorySubscriptionBus()
        self._sessions: dict[str, ServerSession] = {}
        """2025-11-25 sessions by id: the SDK's per-request proxy whose standalone channel
        is the session's GET stream, where notifications go outside any request."""
        self._subscribed: dict[str, set[str]] = {}
        self.server = _Server(
            SERVER_NAME,
            title="context-bot",
            description="A code repository's files, knowledge documents, search and symbols.",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
            on_subscribe_resource=self._subscribe,
            on_unsubscribe_resource=self._unsubscribe,
            on_subscriptions_listen=ListenHandler(self._bus),
        )
        self.server.middleware.append(self._remember_session)
        self.app: ASGIApp = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            json_response=True,
            max_request_body_size=MCP_MAX_REQUEST_BYTES,
            # McpGuard checks the Origin against the endpoint's own setting, for every
            # host the endpoint may listen on, not only loopback.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

    async def run(self, started: asyncio.Event) -> None:
        """The SDK's session manager for as long as the endpoint serves (cancel to stop)."""
        async with self.server.session_manager.run():
            started.set()
            await anyio.sleep_forever()

    # -- protocol handlers ----------------------------------------------------------------

    async def _remember_session(
        self, ctx: ServerRequestContext[Any, Any], call_next: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """2025-11-25 sessions get change notifications on their own stream: keep each
        (from its first request after `initialize`, the first to carry its id)."""
        session_id = _session_id(ctx)
        if session_id is not None and session_id not in self._sessions:
            if len(self._sessions) >= MAX_TRACKED_SESSIONS:
                self._forget(next(iter(self._sessions)))
            self._sessions[session_id] = ctx.session
        return await call_next(ctx)

    def _forget(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._subscribed.pop(session_id, None)

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[spec.to_mcp() for spec in TOOLS.values()])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS.get(params.name)
        if spec is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"unknown tool {params.name[:64]!r}; tools: {', '.join(TOOLS)}",
            )
        arguments = dict(params.arguments or {})
        try:
            check_arguments(spec, arguments)
            budget = int(arguments.pop("max_chars", MCP_ANSWER_CHARS))
            request = Request(str(ctx.request_id), spec.method, spec.params(arguments))
            result = await self._handlers.handle(request)
        except RequestError as exc:
            log.info("mcp_refused", tool=spec.name, code=exc.code)
            return refusal(exc)
        except Exception:
            log.exception("mcp_tool_crashed", tool=spec.name)
            return refusal(InternalError("the server failed; it has been logged"))
        if _large(result):  # encoding (and cutting) a large file is milliseconds: a thread
            text = await asyncio.to_thread(fit_answer, spec, result, budget)
        else:  # a small answer encodes in microseconds, less than a hop to a thread costs
            text = fit_answer(spec, result, budget)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    async def _list_resources(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        knowledge = self._knowledge()
        resources = [
            types.Resource(
                uri=OVERVIEW_URI,
                name="overview",
                description="The repository's onboarding overview.",
                mime_type="text/markdown",
            )
        ]
        for document in (*knowledge.served_documents(), *knowledge.free_documents()):
            resources.append(
                types.Resource(
                    uri=KNOWLEDGE_SCHEME + document.path,
                    name=document.path,
                    description="stale knowledge document" if document.stale else None,
                    mime_type="text/markdown",
                )
            )
        return types.ListResourcesResult(resources=resources)

    async def _list_templates(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=REPO_SCHEME + "{+path}",
                    name="file",
                    description="A text file of the repository, by its repository path.",
                ),
                types.ResourceTemplate(
                    uri_template=KNOWLEDGE_SCHEME + "{+path}",
                    name="knowledge document",
                    description="The knowledge document of a file (or a guide), as Markdown.",
                    mime_type="text/markdown",
                ),
            ]
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            text, mime = await self._resource_text(uri)
        except RequestError as exc:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"{exc.message} ({exc.code} {exc.name})",
                data={"uri": uri[:1100], "error": exc.to_wire()},
            ) from None
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type=mime)]
        )

    async def _resource_text(self, uri: str) -> tuple[str, str]:
        if uri == OVERVIEW_URI:
            return self._handlers.overview_result()["text"], "text/markdown"
        if uri.startswith(REPO_SCHEME):
            path = unquote(uri[len(REPO_SCHEME) :])
            found = await self._handlers.file({"path": path, "knowledge": False})
            return found["content"]["text"], "text/plain"
        if uri.startswith(KNOWLEDGE_SCHEME):
            path = unquote(uri[len(KNOWLEDGE_SCHEME) :])
            found = await self._handlers.file({"path": path, "content": False})
            return found["knowledge"]["text"], "text/markdown"
        raise BadRequest(
            f"unknown resource {uri[:200]!r}: use {REPO_SCHEME}{{path}}, "
            f"{KNOWLEDGE_SCHEME}{{path}} or {OVERVIEW_URI}"
        )

    async def _subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        session_id = _session_id(ctx)
        if session_id is not None:
            self._subscribed.setdefault(session_id, set()).add(str(params.uri))
        return types.EmptyResult()

    async def _unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
        self._subscribed.get(_session_id(ctx) or "", set()).discard(str(params.uri))
        return types.EmptyResult()

    # -- live reload ----------------------------------------------------------------------

    async def knowledge_changed(self, change: MutableMapping[str, Any]) -> None:
        """Tell clients the resources changed: list_changed when files came or went, an
        update for each changed file and document, in each protocol era's form."""
        paths = [p for key in ("added", "changed", "removed") for p in change.get(key, [])]
        uris = {OVERVIEW_URI} | {s + p for p in paths for s in (REPO_SCHEME, KNOWLEDGE_SCHEME)}
        listed = bool(change.get("added") or change.get("removed"))
        if listed:
            await self._bus.publish(ResourcesListChanged())
        for uri in sorted(uris):
            await self._bus.publish(ResourceUpdated(uri=uri))
        for session_id, session in list(self._sessions.items()):
            try:
                if listed:
                    await session.send_resource_list_changed()
                for uri in sorted(self._subscribed.get(session_id, set()) & uris):
                    await session.send_resource_updated(uri)
            except Exception:  # the session ended (DELETE, idle timeout): forget it
                self._forget(session_id)


def _session_id(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The 2025-11-25 session a request belongs to (its `Mcp-Session-Id`), else None."""
    if ctx.protocol_version not in HANDSHAKE_PROTOCOL_VERSIONS:
        return None
    headers = getattr(ctx.request, "headers", None)
    value = headers.get("mcp-session-id") if headers is not None else None
    return value if isinstance(value, str) and 0 < len(value) <= 256 else None


# -- who may ask ---------------------------------------------------------------------------


ParticipantCheck = Callable[[str], Tenant | None]
"""A room participant token's tenant (its identity), or None: `admin.py` verifies it."""


@dataclass
class McpGuard:
    """Every `/mcp` request passes here before the SDK sees it: Origin (DNS rebinding),
    body size, rate, credentials. Refusals are the endpoint's JSON errors with stable
    codes; nothing here echoes a credential."""

    app: ASGIApp
    auth: Authenticator
    participant: ParticipantCheck | None
    origins: tuple[str, ...]
    limiter: RateLimiter | None
    loopback: bool = False
    """The endpoint listens on loopback only: then the Host must name loopback too, or a
    page on a rebound name (evil.example → 127.0.0.1) could call it as its own origin."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self._admit(scope)
        except ApiError as exc:
            log.info("mcp_refused_http", status=exc.status, code=exc.code)
            await _send_error(send, exc)
            return
        await self.app(scope, receive, send)

    def _admit(self, scope: Scope) -> Tenant | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback and _hostname(host) not in LOOPBACK_NAMES:
            raise ApiError(421, "host_denied", "this server answers only to a loopback Host")
        origin = headers.get("origin")
        if origin is not None and not self._origin_allowed(origin, host):
            raise ApiError(403, "origin_denied", "this Origin may not call /mcp")
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MCP_MAX_REQUEST_BYTES:
            raise ApiError(413, "body_too_large", f"body over {MCP_MAX_REQUEST_BYTES} bytes")
        if self.limiter is not None:
            client = scope.get("client") or ("unknown", 0)
            decision = self.limiter.check(str(client[0]))
            if not decision.allowed:
                wait = max(1, math.ceil(decision.retry_after_s))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests; retry in {wait}s",
                    {"Retry-After": str(wait)},
                )
        return self._tenant(headers)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        """Browsers send an Origin: only the configured ones, or the endpoint's own page."""
        if "*" in self.origins or origin in self.origins:
            return True
        return origin in (f"http://{host}", f"https://{host}")

    def _tenant(self, headers: dict[str, str]) -> Tenant | None:
        authorization, api_key = headers.get("authorization"), headers.get("x-api-key")
        try:
            return self.auth.authenticate(authorization, api_key)
        except ApiError:
            bearer = (authorization or "").partition(" ")[2].strip()
            if self.participant is not None and bearer:
                tenant = self.participant(bearer)
                if tenant is not None:
                    return tenant
            raise


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def _hostname(host: str) -> str:
    """`Host`'s name without its port: `[::1]:80` → `::1`, `localhost:8080` → `localhost`."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


async def _send_error(send: Send, exc: ApiError) -> None:
    body = orjson.dumps({"error": {"code": exc.code, "message": exc.message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    headers += [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

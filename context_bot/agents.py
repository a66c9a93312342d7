"""The repository's context for `livekit-agents` voice agents: tools, instructions, refresh.

In an agent's entrypoint, once the room is connected::

    context = await repository_context(ctx.room, budget_tokens=4000)
    agent = Agent(instructions=MY_PROMPT + "\\n\\n" + context.instructions, tools=[context.tools])
    agent = context.retrieve_each_turn(agent)   # optional: passages for every user turn

`context.tools` is a `Toolset` of eight function tools the LLM can call (`read_file`,
`search_knowledge`, `search_code`, `list_folder`, `describe_feature`, and for symbols
`find_definition`, `file_outline`, `find_references`); `context.instructions` is the
repository's onboarding overview cut to `budget_tokens`, so the agent starts the
conversation already knowing the repository. With `retrieve_each_turn`, each finished user
turn is sent to the bot's `retrieve` and the passages that answer it (paths, lines,
documents' purposes) are in that turn's chat context before the model speaks: no tool call,
no extra turn of latency (see `RepositoryContext.retrieve_each_turn`).

The instructions name the tools by the names the model sees, taken from the tools
themselves (`TOOL_ROLES`), and a small budget keeps the overview's sections in
`SECTION_PRIORITY` order: coverage, layout and gotchas before long lists, with a note
naming what was left out. When the knowledge changes mid-session the instructions are
rewritten in place, in the same room connection (see `RepositoryContext`).

Everything goes through `context_bot.client` over the room's protocol; nothing of the
server side is imported. Install with `pip install 'context-bot[agents]'`.

Sizes are counted in tokens of about four characters (livekit-agents ships no LLM
tokenizer, and an estimate is all a budget needs). Every answer that does not fit is cut
with a note saying what was left out and how to get it: a model that is silently given
half a file reasons about the half as if it were all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from typing import Any

from livekit import rtc
from livekit.agents import Agent, AgentSession, JobContext, function_tool, get_job_context, llm

from context_bot.client import ContextClient, ContextTimeout, KnowledgeUpdate, RequestError
from context_bot.protocol import (
    DEFAULT_RETRIEVE_BUDGET_TOKENS,
    MAX_GREP_CONTEXT,
    MAX_GREP_LIMIT,
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_REFERENCES_LIMIT,
    MAX_RETRIEVE_BUDGET_TOKENS,
    MAX_RETRIEVE_TEXT_CHARS,
    MAX_SEARCH_LIMIT,
    MAX_SYMBOLS_LIMIT,
    MIN_RETRIEVE_BUDGET_TOKENS,
)

__all__ = ["ContextTools", "RepositoryContext", "repository_context"]

# The agent's process logs through livekit-agents' standard-library handlers (JSON in a
# worker); structlog, which the bot configures for itself, is not set up there.
log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
"""The token estimate: about four characters of English or code per token."""
DEFAULT_BUDGET_TOKENS = 4000
"""Instructions: the overview block, all included."""
DEFAULT_ANSWER_TOKENS = 3000
"""One tool answer (about 300 lines of code)."""
MIN_BUDGET_TOKENS = 200
"""Below this, the block's frame and notes leave no room for the overview."""
DOCUMENT_SHARE = 2 / 3
"""The most of an answer a knowledge document takes when the file's contents follow it."""
MAX_CHANGED_PATHS = 8
"""Changed paths named in the instructions after a knowledge change."""
TURN_TIMEOUT_S = 1.0
"""Longest a user's turn waits for its retrieval (about 10 ms in a room on one machine:
benchmarks/RESULTS-retrieval.md); past it the reply goes without the block."""
RETRIEVAL_ID_PREFIX = "context_bot_retrieval_"
"""The id of every chat item a turn's retrieval adds, so the next turn finds and replaces it."""

_OPEN_TAG = '<repository_context knowledge_version="{version}">'
_CLOSE_TAG = "</repository_context>"
_GUIDE = (
    "You can read this code repository through tools: {tools}. Use them rather than "
    "guessing; paths are relative to the repository root. A file without a knowledge "
    "document (list_folder says so) is explained by nothing but its code: read the code "
    "rather than assuming. The repository's onboarding overview follows, its most useful "
    "sections first."
)
SECTION_PRIORITY = (
    "What this product does",
    "Documentation coverage",
    "Layout",
    "Gotchas",
    "Entry points",
    "Central files",
    "Most important files",
    "Features",
    "Freshness",
    "Guides and API notes",
    "Languages",
    "Recent activity",
    "User flows",
)
"""The overview's sections (`knowledge/overview.py` TITLES) in the order a small budget
keeps them: what the product is and how much of it is documented, then where things are
and what bites (layout, gotchas; for a repository without documents, the entry points and
central files read from the code), and last the lists that run long and that
describe_feature gives per feature (user flows). A section this list does not know (a
newer bot's) goes just before the user flows."""
DROPPED_SECTIONS = frozenset({"Asking for more"})
"""Sections that name the room protocol's methods (`file`, `list`): the guide above names
the tools the model actually has instead."""
_TURN_OPEN = "<repository_context_for_this_turn>"
_TURN_NOTE = (
    "Passages of the repository that may bear on the user's last turn, found for you (the "
    "user did not write this). Use them if they help; read more with {read}."
)
_TURN_CLOSE = "</repository_context_for_this_turn>"
_HINTS = {  # what the model can do about each refusal
    "invalid_path": "give a path relative to the repository root, like 'src/app.py'",
    "path_denied": "it is never served (secrets, .git/, ignored files); try a different path",
    "not_found": "check the spelling, or find the path with search_knowledge or list_folder",
    "not_a_file": "it is a folder: call list_folder with it",
    "file_too_large": "the bot does not serve files this large; search the knowledge instead",
    "binary_file": "it is not a text file; only its knowledge document, if any, can be read",
    "rate_limited": "too many requests at once; wait a second and try again",
    "shutting_down": "the context bot is restarting; try again in a few seconds",
    "bad_request": "check the arguments and call again",
}


class ContextTools(llm.Toolset):
    """The eight repository tools, as one `Toolset` for `Agent(tools=[...])`.

    Each answer is plain text of at most `answer_tokens`, and a refusal from the bot comes
    back as text that names the problem and what to do instead (``path_denied: ...; try
    a different path``): the model can recover from it, where an exception would become
    the framework's bare "An internal error occurred". The tools ask the bot on every
    call, so a knowledge change is in the next answer with nothing to refresh here.
    """

    def __init__(self, client: ContextClient, *, answer_tokens: int = DEFAULT_ANSWER_TOKENS):
        if answer_tokens < MIN_BUDGET_TOKENS:
            raise ValueError(f"answer_tokens must be at least {MIN_BUDGET_TOKENS}")
        self.client = client
        self.answer_chars = answer_tokens * CHARS_PER_TOKEN
        super().__init__(id="repository_context")  # finds the @function_tool methods below

    @function_tool
    async def read_file(
        self, path: str, first_line: int | None = None, last_line: int | None = None
    ) -> str:
        """Read a file of the repository: its knowledge document (what it is for, how it
        works, its pitfalls) and its source. Without a line range you get both; with one,
        only those lines of the source. A guide's path (from search_knowledge or
        list_folder) reads the guide. Long answers are cut to fit, and then say which
        lines were shown and the first_line to ask for next.

        Args:
            path: Repository-relative path, e.g. "context_bot/client.py".
            first_line: First line to read (1-based). Leave empty for the whole file.
            last_line: Last line to read (inclusive). Leave empty to read on to the end.
        """
        lines = None
        if first_line is not None or last_line is not None:
            first = first_line or 1
            # Without a last line, ask for more lines than can fit (unless they are very
            # short) rather than for the whole rest of a possibly large file.
            lines = (first, last_line or first + self.answer_chars // 8)
        try:
            # The document is asked for even with a range: a guide has no source, and
            # its lines are the document's.
            found = await self.client.file(path, lines=lines)
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc)
        return _render_file(found.raw, lines, self.answer_chars)

    @function_tool
    async def search_knowledge(self, query: str, limit: int = 8) -> str:
        """Search the repository by words (names, concepts, error messages): its knowledge
        documents first, then every file by its path and its code (a "code" result names
        the line); identifiers are split, so "setupLiveKitRoutes" matches "live kit".
        Returns the best matching paths with a snippet each; read one with read_file.

        Args:
            query: The words to look for.
            limit: The most results to return (1 to 50).
        """
        try:
            hits = await self.client.search(query, limit=min(max(limit, 1), MAX_SEARCH_LIMIT))
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc)
        if not hits:
            return f"No knowledge matches {query!r}. Try other words, or browse with list_folder."
        rows = [f"Results for {query!r}, best first:"]
        for n, hit in enumerate(hits, 1):
            where = hit.kind if hit.feature is None else f"{hit.kind}, feature {hit.feature}"
            if hit.line is not None:
                where += f", line {hit.line}"
            rows.append(f"{n}. {hit.path} ({where}): {hit.snippet}")
        return _fit("\n".join(rows), self.answer_chars, "Ask for fewer results.")

    @function_tool
    async def search_code(
        self, pattern: str, regex: bool = False, glob: str | None = None, context: int = 0
    ) -> str:
        """Search the text of every file in the repository, documented or not, like
        `grep -n`: each matching line as path:line: text. Use it for exact names
        (functions, classes, settings, error messages); lower-case text matches any case,
        text with an upper-case letter matches exactly. Read a hit with read_file.

        Args:
            pattern: The exact text to find, e.g. "def load_settings", or with regex=true
                a regular expression (RE2 syntax, no look-around), e.g. "class \\w+Error".
            regex: True when pattern is a regular expression.
            glob: Only files whose path matches, e.g. "src/**/*.py" or "*.md".
            context: Lines to show before and after each match (0 to 5).
        """
        room = self.answer_chars // 100  # about a match of 100 characters each
        limit = min(max(room // (1 + 2 * max(context, 0)), 1), MAX_GREP_LIMIT)
        try:
            found = await self.client.grep(
                pattern,
                regex=regex,
                glob=glob or None,
                context=min(max(context, 0), MAX_GREP_CONTEXT),
                limit=limit,
            )
        except (RequestError, ContextTimeout) as exc:
            return _refusal(
                exc, bad_request="check the pattern (RE2 syntax with regex=true) and the glob"
            )
        searched = f"{_n(found.files_searched, 'file')} searched"
        if not found.matches:
            cut = ", then the search ran out of time" if found.truncated else ""
            return f"No line matches {pattern!r} ({searched}{cut}). Try other text or a regex."
        rows = [f"Matches for {pattern!r} ({searched}):"]
        for match in found.matches:
            start = match.line - len(match.before)
            rows += [f"{match.path}-{n}- {t}" for n, t in enumerate(match.before, start)]
            rows.append(f"{match.path}:{match.line}: {match.text}")
            rows += [f"{match.path}-{n}- {t}" for n, t in enumerate(match.after, match.line + 1)]
        if found.truncated_reason == "limit":
            rows.append(
                f"[Only the first {len(found.matches)} matches are shown; narrow the pattern "
                "or pass a glob for the rest.]"
            )
        elif found.truncated:
            rows.append("[The search ran out of time; pass a glob or a simpler pattern.]")
        return _fit("\n".join(rows), self.answer_chars, "Narrow the pattern or pass a glob.")

    @function_tool
    async def list_folder(self, folder: str = "", depth: int = 2) -> str:
        """List every file and folder under a folder of the repository, folders first,
        saying which files have a knowledge document (read those first: they explain
        the code) and each folder's counts. Use it to find your way around before
        reading files; undocumented files can be read too.

        Args:
            folder: Repository-relative folder, e.g. "context_bot"; empty for the root.
            depth: How many levels below the folder to show (1 to 16).
        """
        limit = min(max(self.answer_chars // 25, 20), MAX_LIST_LIMIT)
        try:
            listing = await self.client.list(
                folder, depth=min(max(depth, 1), MAX_LIST_DEPTH), limit=limit
            )
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc)
        entries: list[dict[str, Any]] = listing.get("entries", [])
        total = int(listing.get("total", len(entries)))
        rows = [f"{folder or 'The repository root'}: {total} entries."]
        if "files" in listing:  # a bot older than the inventory sends no counts
            rows[0] += (
                f" {_n(int(listing['files']), 'file')} in all, "
                f"{int(listing.get('documented', 0)):,} documented."
            )
        rows += [_entry_line(entry) for entry in entries]
        if len(entries) < total:
            rows.append(
                f"[Only {len(entries)} of {total} entries are shown; list a subfolder or "
                "use a smaller depth for the rest.]"
            )
        return _fit("\n".join(rows), self.answer_chars, "List a subfolder for the rest.")

    @function_tool
    async def describe_feature(self, name: str | None = None) -> str:
        """Describe a feature of the product: its files and their roles, entry points,
        services and user flows. Without a name, list all features.

        Args:
            name: The feature's name, as describe_feature without a name lists them.
        """
        try:
            answer = await self.client.feature(name or None)
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc, not_found="call describe_feature without a name to list them")
        if name:
            text = _feature_text(answer)
        else:
            rows = ["Features (describe one by name for its files and user flows):"]
            for feature in answer.get("features", []):
                files, flows = feature.get("files", []), feature.get("user_flows", [])
                rows.append(f"- {feature['name']}: {_n(files, 'file')}, {_n(flows, 'user flow')}")
            text = "\n".join(rows)
        return _fit(text, self.answer_chars, "Describe one feature at a time.")

    @function_tool
    async def find_definition(self, name: str, kind: str | None = None) -> str:
        """Find where a function, class, method, constant or type is defined, by its name
        (exact first, then names starting with it, camel-case humps like "getUN" for
        getUserName, and close spellings). Each result gives path:line, its signature and
        the first line of its docstring; read the code with read_file at that line.

        Args:
            name: The name or the start of it, e.g. "ContextClient" or "load_sett".
            kind: Only this kind: class, function, method, constant, interface, type, ...
        """
        limit = min(max(self.answer_chars // 200, 5), MAX_SYMBOLS_LIMIT)
        try:
            found = await self.client.symbols(name, kind=kind or None, limit=limit)
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc, bad_request="give a name of 1 to 128 characters and a valid kind")
        if not found:
            return (
                f"No definition matches {name!r}. Try part of the name, or search_code for "
                "the text."
            )
        rows = [f"Definitions matching {name!r}, best first:"]
        for s in found:
            owner = f"{s.container}." if s.container else ""
            doc = f" — {s.doc}" if s.doc else ""
            rows.append(f"{s.path}:{s.line}: {s.kind} {owner}{s.name}: {s.signature}{doc}")
        return _fit("\n".join(rows), self.answer_chars, "Give a longer part of the name.")

    @function_tool
    async def file_outline(self, path: str) -> str:
        """List what a source file defines (classes, functions, methods, constants), nested
        as in the file, each with its line range and signature: a file's map before
        reading it, or to find the lines to read with read_file.

        Args:
            path: Repository-relative path, e.g. "context_bot/client.py".
        """
        try:
            answer = await self.client.outline(path)
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc)
        if not answer.get("parsed"):
            return f"{path}: no outline (not a language the bot parses); read it with read_file."
        rows = [f"{path} defines:"]
        rows += list(_outline_rows(answer.get("symbols", []), 0))
        if len(rows) == 1:
            rows = [f"{path} defines nothing at the top level; read it with read_file."]
        return _fit("\n".join(rows), self.answer_chars, "Read the file in parts instead.")

    @function_tool
    async def find_references(self, name: str, path_glob: str | None = None) -> str:
        """Find where a name (function, class, variable) is used across the repository,
        as path:line, definitions left out. Matched by name, not by type: two different
        things with the same name are both found.

        Args:
            name: The exact identifier, e.g. "load_settings".
            path_glob: Only files whose path matches, e.g. "src/**/*.py".
        """
        limit = min(max(self.answer_chars // 50, 10), MAX_REFERENCES_LIMIT)
        try:
            answer = await self.client.references(name, path_glob=path_glob or None, limit=limit)
        except (RequestError, ContextTimeout) as exc:
            return _refusal(exc, bad_request="give an identifier of 1 to 128 characters")
        uses: list[dict[str, Any]] = answer.get("references", [])
        total = int(answer.get("total", len(uses)))
        if not uses:
            return f"No uses of {name!r} found. Check the spelling, or search_code for it."
        rows = [f"Uses of {name!r} ({total} in all, by name):"]
        rows += [f"{use['path']}:{use['line']}" for use in uses]
        if total > len(uses):
            rows.append(f"[Only {len(uses)} of {total} shown; pass a path_glob to narrow.]")
        return _fit("\n".join(rows), self.answer_chars, "Pass a path_glob to narrow.")


TOOL_ROLES: dict[llm.FunctionTool[..., Any], tuple[str | None, str]] = {
    ContextTools.read_file: ("file", "a file's knowledge document and source"),
    ContextTools.search_knowledge: ("search", "words, in the documents and the code"),
    ContextTools.search_code: ("grep", "exact text or a regular expression in every file"),
    ContextTools.list_folder: ("list", "a folder's files, and which have a document"),
    ContextTools.describe_feature: ("feature", "a feature's files and user flows"),
    ContextTools.find_definition: ("symbols", "where a function, class or constant is defined"),
    ContextTools.file_outline: ("outline", "what a source file defines, by line"),
    ContextTools.find_references: ("references", "where a name is used"),
}
"""Each tool's room-protocol method and what the guide says it is for, keyed by the tool
itself: the names the model reads come from the tools (`info.name`), so renaming one cannot
leave the instructions naming a tool that no longer exists (they once said `file` and
`list`, the protocol's names)."""


def tool_guide(tools: llm.Toolset) -> str:
    """The sentence that introduces the tools, each by the name the model sees."""
    roles = {tool.info.name: role for tool, (_, role) in TOOL_ROLES.items()}
    named = []
    for tool in tools.tools:
        if isinstance(tool, llm.FunctionTool):
            name = tool.info.name
            # A tool added without a role is still named, with its description's start.
            role = roles.get(name) or (tool.info.description or "").split(".")[0].lower()
            named.append(f"{name} ({role})")
    order = {tool.info.name: n for n, tool in enumerate(TOOL_ROLES)}
    named.sort(key=lambda text: order.get(text.split(" ")[0], len(order)))
    listed = ", ".join(named[:-1]) + f" and {named[-1]}" if len(named) > 1 else "".join(named)
    return _GUIDE.format(tools=listed)


class RepositoryContext:
    """Tools, instructions and their refresh for one agent session; from `repository_context`.

    When the bot announces a knowledge change, the overview is fetched again and
    `instructions` changes. Every agent it is following gets it too: the block this
    object wrote into the agent's instructions is swapped for the new one through
    `Agent.update_instructions`, keeping the developer's own text around it. Which agents:
    those given to `keep_fresh`, or, when none were and it was created inside a job, the
    current agent of the job's primary `AgentSession` (so handoffs are followed). Agents
    whose instructions are an `Instructions` object rather than a string are left alone.
    """

    def __init__(
        self,
        client: ContextClient,
        *,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        answer_tokens: int = DEFAULT_ANSWER_TOKENS,
        turn_tokens: int = DEFAULT_RETRIEVE_BUDGET_TOKENS,
        turn_timeout: float = TURN_TIMEOUT_S,
        job: JobContext | None = None,
    ) -> None:
        if budget_tokens < MIN_BUDGET_TOKENS:
            raise ValueError(f"budget_tokens must be at least {MIN_BUDGET_TOKENS}")
        if not MIN_RETRIEVE_BUDGET_TOKENS <= turn_tokens <= MAX_RETRIEVE_BUDGET_TOKENS:
            raise ValueError(
                f"turn_tokens must be from {MIN_RETRIEVE_BUDGET_TOKENS} "
                f"to {MAX_RETRIEVE_BUDGET_TOKENS}"
            )
        self.client = client
        self.tools = ContextTools(client, answer_tokens=answer_tokens)
        self.budget_tokens = budget_tokens
        self.turn_tokens = turn_tokens
        """The most a turn's retrieval block holds (`retrieve_each_turn`)."""
        self.turn_timeout = turn_timeout
        self._job = job
        self._targets: list[Agent | AgentSession[Any]] = []
        self._overview = ""
        self._version: str | None = None
        self._last_change: KnowledgeUpdate | None = None
        self._written: list[str] = []  # the last blocks handed out, newest last
        self._follower: asyncio.Task[None] | None = None

    @property
    def instructions(self) -> str:
        """The overview block for an agent's instructions, at most `budget_tokens` long."""
        return self._written[-1] if self._written else ""

    @property
    def knowledge_version(self) -> str | None:
        """The knowledge version the instructions describe."""
        return self._version

    def keep_fresh(self, target: Agent | AgentSession[Any]) -> None:
        """Rewrite this agent's instructions (or a session's current agent's) on a change."""
        self._targets.append(target)

    async def start(self) -> None:
        """Follow knowledge changes, then fetch the overview; raises if no bot answers."""
        if self._follower is None:
            # Owned here and cancelled by `aclose`; `_follow` logs each failed refresh.
            self._follower = asyncio.create_task(self._follow(), name="context_bot_refresh")
            await asyncio.sleep(0)  # subscribed before asking: no change falls in between
        await self._take(await self.client.overview(), self.client.knowledge_version)

    async def refresh(self) -> None:
        """Fetch the overview now and rewrite the instructions of the agents followed."""
        answer = await self.client.request("overview")
        await self._take(str(answer["text"]), str(answer["knowledge_version"]))

    async def retrieve(self, text: str) -> str:
        """The repository's passages that answer `text`, as the model reads them (paths
        with line numbers, documents' purposes, the lines that matter, at most
        `turn_tokens`), or "" when nothing scores well enough. Raises `RequestError` or
        `ContextTimeout` as the client does."""
        found = await self.client.retrieve(text, budget_tokens=self.turn_tokens)
        if not found.text:
            return ""
        read = self.tools.read_file.info.name
        return f"{_TURN_OPEN}\n{_TURN_NOTE.format(read=read)}\n{found.text}\n{_TURN_CLOSE}"

    def retrieve_each_turn(self, agent: Agent) -> Agent:
        """Give `agent` the repository's passages for each user turn, before it replies.

        One line in an entrypoint: `agent = context.retrieve_each_turn(MyAgent(...))`.
        The agent's `on_user_turn_completed` is wrapped (its own override still runs,
        after): the finished turn is sent to the bot's `retrieve`, and the block is added
        to that turn's chat context as a system message, never as a user message and
        without asking for a reply. The framework gives the hook a copy of the agent's
        history and keeps none of its additions, so a block lives for one turn (its tool
        calls included); one left by earlier code is removed first all the same. Nothing
        is added when nothing matched or the bot took longer than `turn_timeout`.
        Preemptive generation, when on, is discarded for a turn that got a block (the
        framework's rule for any change the hook makes). For pipeline agents (STT + LLM +
        TTS): livekit-agents 1.8.9 does not hand a realtime model the turn's chat context."""
        own = agent.on_user_turn_completed

        async def on_user_turn_completed(
            turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
        ) -> None:
            await self.add_to_turn(turn_ctx, new_message)
            await own(turn_ctx, new_message)

        agent.on_user_turn_completed = on_user_turn_completed  # type: ignore[method-assign]
        return agent

    async def add_to_turn(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> bool:
        """Replace the retrieval block in `turn_ctx` with one for `new_message`; whether
        one was added. For agents that override `on_user_turn_completed` themselves."""
        turn_ctx.items = [
            item for item in turn_ctx.items if not item.id.startswith(RETRIEVAL_ID_PREFIX)
        ]
        text = (new_message.text_content or "").strip()
        if not text:
            return False
        try:
            async with asyncio.timeout(self.turn_timeout):
                # A very long turn: its end is what the reply answers.
                block = await self.retrieve(text[-MAX_RETRIEVE_TEXT_CHARS:])
        except (RequestError, ContextTimeout, TimeoutError) as exc:
            # Never the turn's text: it is the user's words.
            log.warning("context_retrieval_skipped", extra={"reason": type(exc).__name__})
            return False
        if not block:
            return False
        turn_ctx.add_message(
            role="system", content=block, id=f"{RETRIEVAL_ID_PREFIX}{uuid.uuid4().hex[:12]}"
        )
        return True

    async def aclose(self) -> None:
        """Stop following changes and stop listening to the bot; idempotent."""
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await self.client.aclose()

    async def _follow(self) -> None:
        async for change in self.client.updates():
            self._last_change = change
            try:
                await self.refresh()
            except Exception:  # one failed refresh must not end the following
                log.warning("context_refresh_failed", exc_info=True)

    async def _take(self, overview: str, version: str | None) -> None:
        self._overview, self._version = overview, version
        old, new = self._written[-4:], self._render()
        self._written = [*old, new]
        for agent in self._agents():
            current = agent.instructions
            if not isinstance(current, str):
                continue
            # The exact text handed out, not a pattern: the overview may quote our tags.
            block = next((b for b in reversed(old) if b in current), None)
            if block is not None and block != new:
                await agent.update_instructions(current.replace(block, new, 1))
                log.info("context_instructions_refreshed", extra={"agent": agent.id})

    def _agents(self) -> list[Agent]:
        targets = list(self._targets)
        if not targets and self._job is not None:
            with contextlib.suppress(RuntimeError):  # no session started in the job yet
                targets.append(self._job.primary_session)
        agents: list[Agent] = []
        for target in targets:
            if isinstance(target, Agent):
                agents.append(target)
            else:
                with contextlib.suppress(RuntimeError):  # the session is not running
                    agents.append(target.current_agent)
        return agents

    def _render(self) -> str:
        change = self._last_change
        changed = None
        if change is not None:
            changed = [*change.changed, *change.added, *change.removed]
        return _render_instructions(
            self._overview,
            budget_tokens=self.budget_tokens,
            tools=self.tools,
            version=self._version,
            changed=changed,
        )


async def repository_context(
    room: rtc.Room,
    *,
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    answer_tokens: int = DEFAULT_ANSWER_TOKENS,
    turn_tokens: int = DEFAULT_RETRIEVE_BUDGET_TOKENS,
    bot_identity: str | None = None,
    request_timeout: float = 15.0,
) -> RepositoryContext:
    """The repository's context for an agent in `room`: `tools`, `instructions`, refresh.

    `room` must be connected (in an entrypoint: after `await ctx.connect()`) to a room the
    context bot is in. `budget_tokens` bounds the instructions block, `answer_tokens` each
    tool answer, `turn_tokens` each turn's retrieval block. The bot's identity comes from
    the room's metadata when the token endpoint created the room, else the default. Raises
    `ContextTimeout` when no bot answers within `request_timeout` seconds (each tool call
    waits as long at most). Inside a job it closes itself when the job shuts down;
    elsewhere call `aclose()`.
    """
    if not room.isconnected():
        raise RuntimeError("connect the room before asking for its context: await ctx.connect()")
    identity = bot_identity or _bot_identity(room)
    client = (
        ContextClient(room, timeout=request_timeout)
        if identity is None
        else ContextClient(room, bot_identity=identity, timeout=request_timeout)
    )
    job = get_job_context(required=False)
    context = RepositoryContext(
        client,
        budget_tokens=budget_tokens,
        answer_tokens=answer_tokens,
        turn_tokens=turn_tokens,
        job=job,
    )
    try:
        await context.start()
    except BaseException:
        await context.aclose()
        raise
    if job is not None:
        job.add_shutdown_callback(context.aclose)
    return context


# -- the text the model reads -------------------------------------------------------------


def _render_instructions(
    overview: str,
    *,
    budget_tokens: int,
    tools: llm.Toolset,
    version: str | None,
    changed: list[str] | None = None,
) -> str:
    """The instructions block: the tool guide, then the overview's sections in
    `SECTION_PRIORITY` order, whole while they fit, the first that does not cut at a line
    end, later ones skipped; a note names what was left out and what was cut short.

    Only the overview's own Markdown structure is relied on (a `## ` heading per section),
    so an overview from an older or newer bot still renders: unknown sections rank just
    before the user flows."""
    budget = budget_tokens * CHARS_PER_TOKEN
    head = f"{_OPEN_TAG.format(version=version or 'unknown')}\n{tool_guide(tools)}\n\n"
    tail = f"\n{_CLOSE_TAG}"
    if changed is not None:
        named = ", ".join(changed[:MAX_CHANGED_PATHS])
        named += " …" if len(changed) > MAX_CHANGED_PATHS else ""
        tail = (
            f"\n\nThe knowledge changed during this conversation ({named or 'no paths'});"
            f" read those files again before relying on what you read earlier.{tail}"
        )
    preamble, sections = _sections(overview, tools)
    room, note, shrink = budget - len(head) - len(tail), "", 0
    # The note's length depends on the sections it names, and packing fewer sections can
    # lengthen it: pack again with the overshoot taken off until body and note fit.
    for _ in range(8):
        body, left_out, cut = _pack(preamble, sections, room - len(note) - shrink)
        note = ""
        if left_out or cut:
            parts = [f"left out: {', '.join(left_out)}"] if left_out else []
            parts += [f"cut short: {', '.join(cut)}"] if cut else []
            note = (
                f"\n[Overview cut to fit {budget_tokens:,} tokens; {'; '.join(parts)}. "
                "The tools give the rest.]"
            )
        over = len(body) + len(note) - room
        if over <= 0:
            break
        shrink += over
    else:
        body, _ = _clip(body, max(room - len(note), 0))  # still at a line end
    return head + body + note + tail


def _sections(overview: str, tools: llm.Toolset) -> tuple[str, list[tuple[str, str]]]:
    """The overview's text before its first section, and its sections (title, text) in
    priority order, the protocol's method names in the coverage line made the tools'."""
    parts = re.split(r"^(?=## )", overview, flags=re.MULTILINE)
    preamble, sections = parts[0].strip(), []
    names = {tool.info.name for tool in tools.tools if isinstance(tool, llm.FunctionTool)}
    methods = {m: t.info.name for t, (m, _) in TOOL_ROLES.items() if m and t.info.name in names}
    for part in parts[1:]:
        title = part.splitlines()[0][3:].strip()
        if title in DROPPED_SECTIONS:
            continue
        text = part.strip()
        if title == "Documentation coverage":  # "`file` serves any file, `list` shows..."
            text = re.sub(r"`(\w+)`", lambda m: f"`{methods.get(m[1], m[1])}`", text)
        sections.append((title, text))
    last = SECTION_PRIORITY.index("User flows")
    sections.sort(
        key=lambda s: SECTION_PRIORITY.index(s[0]) if s[0] in SECTION_PRIORITY else last - 0.5
    )
    return preamble, sections


def _pack(
    preamble: str, sections: list[tuple[str, str]], room: int
) -> tuple[str, list[str], list[str]]:
    """As many sections as fit in `room`: (the text, titles left out, titles cut short)."""
    body, _ = _clip(preamble, room)
    left_out: list[str] = []
    cut: list[str] = []
    for title, text in sections:
        free = room - len(body) - 2
        if len(text) <= free:
            body += "\n\n" + text
            continue
        shown, _ = _clip(text, free)
        # Worth showing only with a few of its lines: a heading alone says nothing.
        if shown.count("\n") >= 3:
            body += "\n\n" + shown.rstrip("\n")
            cut.append(f"{title} ({shown.count(chr(10))} of {text.count(chr(10))} lines)")
        else:
            left_out.append(title)
    return body, left_out, cut


def _clip(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters, at a line end unless one line is too long."""
    if len(text) <= limit:
        return text, False
    limit = max(limit, 0)
    cut = text.rfind("\n", 0, limit) + 1
    return text[: cut if cut > limit // 2 else limit], True


def _fit(text: str, limit: int, more: str) -> str:
    """`text`, or as much as fits in `limit` with a note saying so and how to get more."""
    note = "\n[Cut here to fit: {shown:,} of {total:,} characters shown. {more}]"
    longest = note.format(shown=len(text), total=len(text), more=more)
    shown, cut = _clip(text, limit - len(longest))
    return shown + note.format(shown=len(shown), total=len(text), more=more) if cut else text


def _render_file(raw: dict[str, Any], lines: tuple[int, int] | None, limit: int) -> str:
    path, document, body = raw["path"], raw.get("knowledge"), raw.get("content")
    if body is None and document is not None and document.get("kind") == "doc":
        return _render_lines(path, _as_body(str(document["text"]), lines), limit, "guide")
    parts = [f"{path}: {body['size']:,} bytes, {body['line_count']:,} lines."] if body else []
    if document is not None and lines is None:
        if document.get("stale"):
            parts.append(
                "Note: this knowledge document was written for another version of the file; "
                "where it disagrees with the source, the source is right."
            )
        text = str(document["text"])
        shown, cut = _clip(text, int(limit * DOCUMENT_SHARE) if body else limit - 200)
        if cut:
            shown += f"\n[Document cut: {len(shown):,} of {len(text):,} characters shown.]"
        parts.append(f"--- knowledge document for {path} ---\n{shown}")
    if body is not None:
        room = limit - sum(len(part) + 2 for part in parts)
        parts.append(_render_lines(path, body, room))
    elif raw.get("content_error"):
        error = raw["content_error"]
        parts.append(f"The source cannot be shown: {error.get('name')}: {error.get('message')}.")
    return "\n\n".join(parts)


def _as_body(text: str, lines: tuple[int, int] | None) -> dict[str, Any]:
    """A guide's text in the shape the bot sends a file's lines, so it pages the same way."""
    all_lines = text.splitlines(keepends=True)
    first, last = lines or (1, len(all_lines))
    first, last = min(first, len(all_lines) + 1), min(last, len(all_lines))
    return {
        "text": "".join(all_lines[first - 1 : last]),
        "line_count": len(all_lines),
        "lines": (first, last),
    }


def _render_lines(path: str, body: dict[str, Any], room: int, what: str = "source of") -> str:
    """The lines the bot sent, cut at a line end to fit `room`, saying how to read on."""
    text, total = str(body["text"]), int(body["line_count"])
    first, last = body.get("lines") or (1, total)
    if first > max(total, 1):
        return f"bad_request: {path} has {total:,} lines; ask for an earlier first_line."
    shown, cut = _clip(text, room - 300)  # 300: the header and the note below
    note = ""
    if cut:
        whole = shown.count("\n")
        last = first + whole - 1 if shown.endswith("\n") else first + whole
        partial = "" if shown.endswith("\n") else f" [line {last} is cut short]"
        note = (
            f"{partial}\n[Cut here to fit: lines {first}–{last} of {total:,} shown. To read on, "
            f"call read_file with path={path!r} and first_line={last if partial else last + 1}.]"
        )
    elif last < total:
        note = f"[Lines {last + 1}–{total:,} not shown: read_file with first_line={last + 1}.]"
    return f"--- {what} {path}, lines {first}–{last} of {total:,} ---\n{shown}{note}"


def _entry_line(entry: dict[str, Any]) -> str:
    """One row the model reads: a folder with its counts, a file with its language and
    whether a knowledge document describes it, a guide."""
    if entry.get("kind") == "dir":
        if "files" in entry:
            files, documented = int(entry["files"]), int(entry.get("documented", 0))
            return f"{entry['path']}/ — folder, {_n(files, 'file')}, {documented:,} documented"
        return f"{entry['path']}/ — folder, {_n(entry.get('documents', 0), 'documented file')}"
    if entry.get("kind") == "doc":
        return f"{entry['path']} — guide"
    facts = [str(entry["language"])] if entry.get("language") else []
    facts += ["binary"] if entry.get("binary") else []
    if entry.get("documented") is False:
        facts.append("no document")
    elif "documented" in entry:
        facts.append("documented")
    facts += [f"feature {entry['feature']}"] if entry.get("feature") else []
    facts += ["document stale"] if entry.get("stale") else []
    return f"{entry['path']}" + (f" — {', '.join(facts)}" if facts else "")


def _outline_rows(nodes: list[dict[str, Any]], depth: int) -> Any:
    """An outline's definitions, one row each, indented as they nest."""
    for node in nodes:
        lines = f"{node['line']}-{node.get('end_line', node['line'])}"
        signature = node.get("signature") or node["name"]
        yield f"{'  ' * depth}- lines {lines}: {node['kind']} {signature}"
        yield from _outline_rows(node.get("children", []), depth + 1)


def _feature_text(feature: dict[str, Any]) -> str:
    rows = [f"Feature {feature['name']}.", "Files:"]
    rows += [f"- {f['path']} ({f.get('role') or 'no role'})" for f in feature.get("files", [])]
    for title, key in (("Entry points", "entry_points"), ("Services", "services")):
        rows.append(f"{title}: {', '.join(feature.get(key, [])) or 'none'}.")
    rows.append("User flows:")
    rows += [f"- {flow}" for flow in feature.get("user_flows", [])] or ["- none"]
    return "\n".join(rows)


def _refusal(exc: RequestError | ContextTimeout, **hints: str) -> str:
    """The bot's refusal as the model reads it: what went wrong, then what to do instead."""
    if isinstance(exc, ContextTimeout):
        return (
            "context_unavailable: the repository's context bot did not answer in time. "
            "Try again in a moment; if it keeps failing, say you cannot see the repository."
        )
    hint = hints.get(exc.name) or _HINTS.get(exc.name, "try again, or try something else")
    return f"{exc.name}: {exc.message.rstrip('.')}; {hint}."


def _n(items: list[Any] | int, noun: str) -> str:
    count = items if isinstance(items, int) else len(items)
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _bot_identity(room: rtc.Room) -> str | None:
    """The bot's identity from the room's metadata, where the token endpoint records it."""
    try:
        value = json.loads(room.metadata or "{}")["context_bot"]["bot_identity"]
    except (ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) and value else None

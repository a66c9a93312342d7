"""The eight function tools a model calls to read the repository, and how their answers read.

Each tool asks the bot one room-protocol method through `context_bot.client` and renders
the answer as plain text within its token budget; a refusal becomes a sentence saying what
went wrong and what to do instead (`_HINTS`). `TOOL_ROLES` ties each tool to its method
and to what the instructions say it is for.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import function_tool, llm

from context_bot.agents.budget import (
    CHARS_PER_TOKEN,
    DEFAULT_ANSWER_TOKENS,
    MIN_BUDGET_TOKENS,
    clip,
    fit,
)
from context_bot.client import ContextClient, ContextTimeout, RequestError
from context_bot.protocol import (
    MAX_GREP_CONTEXT,
    MAX_GREP_LIMIT,
    MAX_LIST_DEPTH,
    MAX_LIST_LIMIT,
    MAX_REFERENCES_LIMIT,
    MAX_SEARCH_LIMIT,
    MAX_SYMBOLS_LIMIT,
)

DOCUMENT_SHARE = 2 / 3
"""The most of an answer a knowledge document takes when the file's contents follow it."""
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
        return fit("\n".join(rows), self.answer_chars, "Ask for fewer results.")

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
        return fit("\n".join(rows), self.answer_chars, "Narrow the pattern or pass a glob.")

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
        return fit("\n".join(rows), self.answer_chars, "List a subfolder for the rest.")

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
        return fit(text, self.answer_chars, "Describe one feature at a time.")

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
        return fit("\n".join(rows), self.answer_chars, "Give a longer part of the name.")

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
        return fit("\n".join(rows), self.answer_chars, "Read the file in parts instead.")

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
        return fit("\n".join(rows), self.answer_chars, "Pass a path_glob to narrow.")


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


# -- how the answers read ---------------------------------------------------------------


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
        shown, cut = clip(text, int(limit * DOCUMENT_SHARE) if body else limit - 200)
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
    shown, cut = clip(text, room - 300)  # 300: the header and the note below
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

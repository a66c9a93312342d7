"""What the terminal commands do: check, and ask (locally or in a room), and print.

`context-bot overview|get|search|list|grep|symbols|outline|references|retrieve` answer from the
local knowledge folder through the same `Handlers` the bot uses, or, with `--room`, from
the bot in a LiveKit room through `ContextClient`: a developer in a session sees exactly
what agents see. Rendering is plain text for people, `--json` for scripts.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from livekit import rtc

from context_bot.admin import participant_token
from context_bot.bot.connecting import connect_within
from context_bot.bot.handlers import Handlers
from context_bot.client import ContextClient
from context_bot.config import Settings
from context_bot.errors import ConfigError, ContextBotError, InvalidPath
from context_bot.knowledge.draft_plan import plan_drafts
from context_bot.knowledge.draft_writer import write_documents
from context_bot.knowledge.freshness import freshness
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.patching import patch_knowledge
from context_bot.knowledge.sandbox import RepoFiles
from context_bot.knowledge.store import default_cache_base
from context_bot.protocol import Request

JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Remote:
    """Where to ask: a room, and an endpoint for its token (else minted from the keys)."""

    room: str
    endpoint: str | None = None
    identity: str | None = None


def check(
    knowledge_dir: Path, repo: Path, out: TextIO, *, stale: bool = False, max_missing: int = 0
) -> int:
    """Print every diagnostic and a summary; 1 when any is an error, else 0. With `stale`,
    also the freshness by folder, and 1 when a document is stale or more than
    `max_missing` source files have none (`knowledge/freshness.py`)."""
    knowledge = load_knowledge(knowledge_dir, repo)
    errors = 0
    for diagnostic in knowledge.diagnostics:
        where = diagnostic.file + (f":{diagnostic.line}" if diagnostic.line else "")
        print(f"{where}: {diagnostic.severity}: {diagnostic.reason}", file=out)
        errors += diagnostic.severity == "error"
    stats = knowledge.stats()
    warnings = len(knowledge.diagnostics) - errors
    print(
        f"{stats['files']} file documents, {stats['free_documents']} free documents, "
        f"{stats['stale']} stale; {errors} errors, {warnings} warnings",
        file=out,
    )
    root = knowledge.listing("", depth=1, limit=1)
    print(f"{root.files} files in the repository, {root.documented} documented", file=out)
    fresh = True
    if stale:
        report = freshness(knowledge)
        print(report.render(max_missing), file=out)
        fresh = report.passes(max_missing)
    return 1 if errors or not fresh else 0


def draft(settings: Settings, paths: list[str], out: TextIO, *, dry_run: bool, llm: bool) -> int:
    """Write (or with `dry_run`, print as a unified diff) the documents `draft` owes the
    files under `paths`; a summary line of what was written, kept and why."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    folder = settings.knowledge_path
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"the knowledge folder {folder} is not a folder; set knowledge.dir "
            "(CONTEXT_BOT_KNOWLEDGE_DIR) to a folder, or remove the file"
        )
    try:
        plan = plan_drafts(settings.repo, folder, stamp, paths)
    except InvalidPath as exc:
        raise ConfigError(f"draft takes repository-relative paths: {exc.message}") from None
    changes = plan.changes
    if llm and changes:
        from context_bot.llm import write_with_model

        changes = asyncio.run(write_with_model(settings, changes, stamp, out, plan.summaries))
    shown = _shown(folder, settings.repo)
    if dry_run:
        for change in changes:
            out.writelines(
                difflib.unified_diff(
                    (change.old or "").splitlines(keepends=True),
                    change.new.splitlines(keepends=True),
                    "/dev/null" if change.old is None else f"a/{shown}/{change.name}",
                    f"b/{shown}/{change.name}",
                )
            )
        written = [c.name for c in changes]
    else:
        try:
            written = write_documents(folder, [(c.name, c.new) for c in changes])
        except OSError as exc:
            raise ContextBotError(
                f"cannot write documents in {folder}: {exc.strerror or type(exc).__name__}"
            ) from None
    for path, name in plan.verified:
        print(f"kept (humanVerified): {shown}/{name} is stale for {path}", file=out)
    for name in plan.orphans:
        print(f"left alone: {shown}/{name} describes a file that is gone", file=out)
    for path in plan.conflicts:
        print(f"not written: {path}: its document name is taken by another document", file=out)
    done = set(written)
    counts = Counter(c.action for c in changes if c.name in done)
    verb = "would write" if dry_run else "wrote"
    print(
        f"draft: {verb} {len(written)} documents ({counts['create']} new, "
        f"{counts['rewrite']} rewritten, {counts['refresh']} refreshed); "
        f"{plan.current} current, {len(plan.verified)} verified and stale (kept)",
        file=out,
    )
    return 0


def _shown(folder: Path, repo: Path) -> str:
    """The knowledge folder as a user would name it: relative to the repository if inside."""
    try:
        return folder.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(folder)


def ask(
    settings: Settings, method: str, params: dict[str, Any], remote: Remote | None
) -> dict[str, Any]:
    """One request, answered locally or by the bot in `remote.room`."""
    if remote is None:
        return asyncio.run(_ask_local(settings, method, params))
    return asyncio.run(_ask_remote(settings, method, params, remote))


async def _ask_local(settings: Settings, method: str, params: dict[str, Any]) -> dict[str, Any]:
    knowledge = load_knowledge(
        settings.knowledge_path,
        settings.repo,
        cache_dir=settings.cache_dir or default_cache_base(),
        patch=patch_knowledge,  # as the bot starts: a few changes patch the snapshot kept
        keep_later=True,
    )
    files = RepoFiles(settings.repo, max_bytes=settings.max_file_bytes)
    current: Callable[[], Knowledge] = lambda: knowledge  # noqa: E731 - a fixed snapshot
    request = Request(id="local", method=method, params=params)
    return await Handlers(current, files).handle(request)


async def _ask_remote(
    settings: Settings, method: str, params: dict[str, Any], remote: Remote
) -> dict[str, Any]:
    identity = remote.identity or f"cli-{os.environ.get('USER', 'dev')}-{uuid.uuid4().hex[:6]}"
    url, token = await _join_credentials(settings, remote, identity)
    room = rtc.Room()
    await connect_within(room, url, token, rtc.RoomOptions(auto_subscribe=False), JOIN_TIMEOUT_S)
    try:
        client = ContextClient(room, bot_identity=settings.bot_identity, prefetch=False)
        return await client.request(method, params)
    finally:
        await room.disconnect()


async def _join_credentials(settings: Settings, remote: Remote, identity: str) -> tuple[str, str]:
    if remote.endpoint:
        body = {
            "room_name": remote.room,
            "participant_name": identity,
            "participant_identity": identity,
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{remote.endpoint.rstrip('/')}/token", json=body) as response,
        ):
            answer = await response.json()
            if response.status != 200:
                error = answer.get("error", {}) if isinstance(answer, dict) else {}
                raise ContextBotError(
                    f"the token endpoint refused ({response.status} {error.get('code', '')}): "
                    f"{error.get('message', '')}"
                )
            return str(answer["livekit_url"]), str(answer["token"])
    livekit = settings.require_livekit()
    token = participant_token(livekit, remote.room, identity, identity, timedelta(minutes=10))
    return livekit.url, token


def _at(line: object) -> str:
    return f":{line}" if isinstance(line, int) else ""


def render(method: str, result: dict[str, Any], as_json: bool) -> str:
    """People get text; `--json` gets the protocol's result unchanged."""
    if as_json:
        return json.dumps(result, indent=2, ensure_ascii=False)
    if method == "overview":
        return str(result["text"])
    if method == "file":
        return _render_file(result)
    if method == "search":
        lines = [
            f"{hit['score']:>8.3f}  {hit['path']}{_at(hit.get('line'))}  {hit.get('kind', 'file')}"
            f"  [{hit.get('feature') or '-'}]\n          {hit['snippet']}"
            for hit in result["hits"]
        ]
        return "\n".join(lines) or "no matches"
    if method == "grep":
        return _render_grep(result)
    if method == "symbols":
        lines = [
            f"{s['path']}:{s['line']}: {s['kind']} "
            f"{s['container'] + '.' if s.get('container') else ''}{s['name']}  {s['signature']}"
            for s in result["symbols"]
        ]
        if result.get("truncated"):
            lines.append("… more definitions not shown (raise --limit)")
        return "\n".join(lines) or "no definitions"
    if method == "outline":
        lines = list(_outline_lines(result["path"], result["symbols"], 0))
        return "\n".join(lines) or f"{result['path']}: no definitions" + (
            "" if result.get("parsed") else " (not a parsed language, or not parsed)"
        )
    if method == "references":
        lines = [f"{r['path']}:{r['line']}" for r in result["references"]]
        if result.get("truncated"):
            lines.append(f"… {result['total'] - len(lines)} more (raise --limit)")
        return "\n".join(lines) or "no uses"
    if method == "retrieve":
        return str(result["text"]) or "nothing scored well enough"
    if method == "list":
        lines = [_list_line(entry) for entry in result["entries"]]
        if result.get("truncated"):
            lines.append(f"… {result['total'] - len(result['entries'])} more (raise --limit)")
        if "files" in result:  # a bot older than the inventory sends no counts
            where = result.get("prefix") or "the repository"
            lines.append(f"{where}: {_files(result['files'])}, {result['documented']} documented")
        return "\n".join(lines)
    return json.dumps(result, indent=2, ensure_ascii=False)


def _outline_lines(path: str, nodes: list[dict[str, Any]], depth: int) -> Iterator[str]:
    for node in nodes:
        yield f"{path}:{node['line']}: {'  ' * depth}{node['kind']} {node['name']}"
        yield from _outline_lines(path, node.get("children", []), depth + 1)


def _list_line(entry: dict[str, Any]) -> str:
    """One row: a folder with its counts, a file marked when no document describes it
    (or when its document is stale), a free document as a guide."""
    if entry["kind"] == "dir":
        if "files" in entry:
            return f"{entry['path']}/  ({_files(entry['files'])}, {entry['documented']} documented)"
        return f"{entry['path']}/  ({entry['documents']} documents)"
    if entry["kind"] == "doc":
        return f"{entry['path']}  (guide)"
    if entry.get("documented") is False:
        return f"{entry['path']}  (undocumented)"
    return f"{entry['path']}{'  (stale)' if entry.get('stale') else ''}"


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _render_grep(result: dict[str, Any]) -> str:
    """As `grep -n` prints: `path:line: text` for a match, `path-line- text` for a line of
    context, `--` between groups of lines that do not touch."""
    lines: list[str] = []
    last: tuple[str, int] | None = None  # the path and number of the last line printed
    for match in result["matches"]:
        path, number = match["path"], match["line"]
        before, after = match.get("before", []), match.get("after", [])
        first = number - len(before)
        if last is not None and (before or after) and (last[0] != path or last[1] < first - 1):
            lines.append("--")
        for n, text in enumerate(before, first):
            if last is None or last[0] != path or n > last[1]:
                lines.append(f"{path}-{n}- {text}")
        if last is not None and last == (path, number):
            lines.pop()  # printed as a context line of the match before
        lines.append(f"{path}:{number}: {match['text']}")
        lines += [f"{path}-{n}- {text}" for n, text in enumerate(after, number + 1)]
        last = (path, number + len(after))
    if result.get("truncated"):
        why = {"limit": "raise --limit", "deadline": "the search ran out of time"}
        reason = result.get("truncated_reason") or "limit"
        lines.append(f"… more matches not shown ({why.get(reason, reason)})")
    return "\n".join(lines) or "no matches"


def _render_file(result: dict[str, Any]) -> str:
    parts: list[str] = []
    document = result.get("knowledge")
    if document:
        stale = " (stale: written for another version)" if document.get("stale") else ""
        parts.append(f"===== knowledge: {result['path']}{stale} =====\n{document['text']}")
    content = result.get("content")
    if content:
        span = f" lines {content['lines'][0]}-{content['lines'][1]}" if content.get("lines") else ""
        header = (
            f"===== {result['path']}{span}: {content['size']} bytes, blob {content['sha']} ====="
        )
        parts.append(f"{header}\n{content['text']}")
    elif result.get("content_error"):
        parts.append(f"===== {result['path']}: {result['content_error']['message']} =====")
    return "\n\n".join(parts)

"""`context-bot`: parse, load settings, configure logging, run, map failure to an exit code.

No logic lives here. Exit codes: 0 success, 1 a runtime failure, 2 bad settings or
usage (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from context_bot import __version__
from context_bot.config import LiveKitSettings, Settings, load_settings
from context_bot.errors import ConfigError, ContextBotError
from context_bot.protocol import (
    DEFAULT_GREP_LIMIT,
    DEFAULT_REFERENCES_LIMIT,
    DEFAULT_SYMBOLS_LIMIT,
)

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
REPO_HELP = "the repository or folder to serve (default: knowledge.repo, $CONTEXT_BOT_REPO, or .)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="context-bot",
        description="Serve a repository's knowledge to LiveKit onboarding sessions.",
    )
    parser.add_argument("--version", action="version", version=f"context-bot {__version__}")
    parser.add_argument(
        "--config", type=Path, help="YAML settings file (default: $CONTEXT_BOT_CONFIG)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the HTTP endpoint and the bot")
    run.add_argument(
        "--dev",
        action="store_true",
        help="start a local livekit-server in dev mode and use it (built once if missing)",
    )
    run.add_argument("--host", help="HTTP host (overrides settings)")
    run.add_argument("--port", type=int, help="HTTP port (overrides settings and $PORT)")
    run.add_argument("--repo", type=Path, help=REPO_HELP)

    check = commands.add_parser("check", help="diagnose the knowledge folder; exit 1 on errors")
    check.add_argument("dir", nargs="?", type=Path, help="knowledge folder (default: settings)")
    check.add_argument("--repo", type=Path, help=REPO_HELP)
    check.add_argument(
        "--stale",
        action="store_true",
        help="also gate on freshness: exit 1 when a document is stale or source files lack one",
    )
    check.add_argument(
        "--max-missing",
        type=int,
        default=0,
        metavar="N",
        help="with --stale: source files allowed without a document (default 0)",
    )

    draft = commands.add_parser(
        "draft", help="write knowledge documents for undocumented files, refresh stale ones"
    )
    draft.add_argument(
        "paths", nargs="*", help="repository-relative files or folders (default: all)"
    )
    draft.add_argument(
        "--dry-run", action="store_true", help="print what would change as a diff; write nothing"
    )
    draft.add_argument(
        "--llm",
        action="store_true",
        help="have the model endpoint (draft.llm_base_url, draft.llm_model) write the prose",
    )
    draft.add_argument("--repo", type=Path, help=REPO_HELP)

    asks = {
        "overview": "print the onboarding overview",
        "get": "print a file's knowledge document and contents",
        "search": "search the knowledge",
        "list": "list every file and folder, marking undocumented files",
        "grep": "search every text file for a literal or an RE2 pattern",
        "symbols": "where a name is defined: path:line of each definition",
        "outline": "what a file defines, as a tree: path:line of each definition",
        "references": "where a name is used (by name, not type-resolved): path:line",
        "retrieve": "the passages that answer a question, as an agent's turn gets them",
    }
    for name, help_text in asks.items():
        ask = commands.add_parser(name, help=help_text + " (locally, or from a room's bot)")
        if name == "get":
            ask.add_argument("path", help="repository-relative path")
            ask.add_argument("--lines", help="a line range, FIRST-LAST (1-based)")
        elif name == "search":
            ask.add_argument("query")
            ask.add_argument("--limit", type=int, default=10)
        elif name == "grep":
            ask.add_argument("pattern")
            ask.add_argument("--regex", action="store_true", help="an RE2 expression")
            ask.add_argument(
                "--glob",
                action="append",
                help="only paths matching this gitignore pattern (repeatable; !PATTERN excludes)",
            )
            ask.add_argument("--context", type=int, default=0, help="lines around (0-5)")
            ask.add_argument("--limit", type=int, default=DEFAULT_GREP_LIMIT)
            case = ask.add_mutually_exclusive_group()
            case.add_argument("--case-sensitive", dest="case", action="store_true", default=None)
            case.add_argument("--ignore-case", dest="case", action="store_false")
        elif name in ("symbols", "references"):
            ask.add_argument("query" if name == "symbols" else "name")
            if name == "symbols":
                ask.add_argument("--kind", help="only this kind: class, function, method, ...")
            ask.add_argument(
                "--glob",
                action="append",
                help="only paths matching this gitignore pattern (repeatable; !PATTERN excludes)",
            )
            default = DEFAULT_SYMBOLS_LIMIT if name == "symbols" else DEFAULT_REFERENCES_LIMIT
            ask.add_argument("--limit", type=int, default=default)
        elif name == "outline":
            ask.add_argument("path", help="repository-relative path")
        elif name == "retrieve":
            ask.add_argument("text", help="a question or a user's turn, as said")
            ask.add_argument("--budget-tokens", type=int, help="size of the block")
        elif name == "list":
            ask.add_argument("prefix", nargs="?", default="")
            ask.add_argument("--depth", type=int, default=2)
            ask.add_argument("--limit", type=int, default=200)
        else:
            ask.add_argument("dir", nargs="?", type=Path, help="knowledge folder (local only)")
        ask.add_argument("--room", help="ask the bot in this LiveKit room instead of locally")
        ask.add_argument("--endpoint", help="token endpoint URL (default: mint from the keys)")
        ask.add_argument("--json", action="store_true", help="print the protocol's JSON result")
        ask.add_argument("--repo", type=Path, help=REPO_HELP + "; local only")
    return parser


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    from context_bot.commands import Remote, ask, render

    method = {"get": "file"}.get(args.command, args.command)
    params: dict[str, object] = {}
    if args.command == "get":
        params["path"] = args.path
        if args.lines:
            first, _, last = args.lines.partition("-")
            try:
                params["lines"] = [int(first), int(last or first)]
            except ValueError:
                raise ConfigError(f"--lines must be FIRST-LAST, got {args.lines!r}") from None
    elif args.command == "search":
        params = {"query": args.query, "limit": args.limit}
    elif args.command == "list":
        params = {"prefix": args.prefix, "depth": args.depth, "limit": args.limit}
    elif args.command == "grep":
        params = {
            "pattern": args.pattern,
            "regex": args.regex,
            "context": args.context,
            "limit": args.limit,
        }
        if args.glob:
            params["glob"] = args.glob
        if args.case is not None:
            params["case_sensitive"] = args.case
    elif args.command in ("symbols", "references"):
        key = "query" if args.command == "symbols" else "name"
        params = {key: getattr(args, key), "limit": args.limit}
        if getattr(args, "kind", None):
            params["kind"] = args.kind
        if args.glob:
            params["path_glob"] = args.glob
    elif args.command == "outline":
        params = {"path": args.path}
    elif args.command == "retrieve":
        params = {"text": args.text}
        if args.budget_tokens is not None:
            params["budget_tokens"] = args.budget_tokens
    elif args.dir is not None:
        settings = replace(settings, knowledge_dir=args.dir.resolve())
    if not args.room:
        print(render(method, ask(settings, method, params, None), args.json))
        return EXIT_OK
    remote = Remote(args.room, args.endpoint)
    try:
        print(render(method, ask(settings, method, params, remote), args.json))
        code = EXIT_OK
    except ContextBotError as exc:
        print(f"context-bot: {exc}", file=sys.stderr)
        code = _failure_code(exc)
    return _end_after_a_room(code)


def _end_after_a_room(code: int) -> NoReturn:
    """End a command that asked in a room, once its answer is printed and the room left.

    What is left of the process then is the livekit SDK's native runtime, which the SDK
    disposes of at the interpreter's exit; that dispose has aborted the process (a Rust
    panic in a callback that cannot unwind: exit -6, after a correct answer was printed;
    seen once in a test run). Nothing else is left to do at exit, so the process ends
    here, without the interpreter's exit handlers."""
    with contextlib.suppress(OSError):  # a reader gone (`| head`) is not ours to report
        sys.stdout.flush()
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


def _failure_code(exc: ContextBotError) -> int:
    return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILURE


def _run(settings: Settings, args: argparse.Namespace) -> int:
    # Before any thread allocates: one C heap for the server's threads (heap.py).
    from context_bot.knowledge.heap import one_heap

    one_heap()
    if not args.dev:
        # Before the app's imports (about 2.5 s, the MCP SDK's a second of it): missing
        # settings are told at once.
        settings.require_livekit()
    # Imported here so `context-bot --version` and bad settings stay fast and light.
    from context_bot.app import ContextBotApp
    from context_bot.devserver import start_dev_server

    if args.host:
        settings = replace(settings, host=args.host)
    if args.port is not None:
        settings = replace(settings, port=args.port)
    dev = None
    if args.dev:
        # The dev server signs with its published 6-byte key; PyJWT's warning about it
        # would repeat on every token and says nothing an operator can act on here.
        warnings.filterwarnings("ignore", message="The HMAC key is")
        workdir = Path(tempfile.mkdtemp(prefix="context-bot-dev-"))
        dev = start_dev_server(workdir)
        print(f"livekit-server (dev) at {dev.url}, log: {dev.log_path}", file=sys.stderr)
        settings = replace(settings, livekit=LiveKitSettings(dev.url, dev.api_key, dev.api_secret))
    app = ContextBotApp(settings)
    try:
        asyncio.run(app.serve())
    finally:
        if dev is not None:
            # Our bots have left by now; a browser still connected would hold a draining
            # server in its 5 s ticks. This server lives and dies with this process.
            dev.stop(drain=False)
    return 1 if app.forced_exit else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config, os.environ)
    except ContextBotError as exc:
        print(f"context-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if getattr(args, "repo", None) is not None:
        # The flag is the setting knowledge.repo for this run; the knowledge folder stays
        # relative to it (knowledge.dir), so `--repo PATH` serves PATH/knowledge if any.
        settings = replace(settings, repo=args.repo.expanduser())

    from context_bot.logs import configure_logging

    # Terminal commands print results on stdout; only problems belong on stderr.
    level = (
        settings.log_level if args.command == "run" or settings.log_level != "info" else "warning"
    )
    configure_logging(level, settings.log_format)
    try:
        if args.command == "run":
            return _run(settings, args)
        if args.command == "check":
            from context_bot.commands import check

            folder = args.dir.resolve() if args.dir else settings.knowledge_path
            if args.max_missing < 0:
                raise ConfigError(f"--max-missing must be 0 or more, got {args.max_missing}")
            return check(
                folder, settings.repo, sys.stdout, stale=args.stale, max_missing=args.max_missing
            )
        if args.command == "draft":
            from context_bot.commands import draft

            return draft(settings, args.paths, sys.stdout, dry_run=args.dry_run, llm=args.llm)
        return _ask(settings, args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`context-bot search x | head`): what it did not read is not
        # ours to report. Point stdout at nothing, so the interpreter's own flush at exit
        # does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ContextBotError as exc:
        print(f"context-bot: {exc}", file=sys.stderr)
        return _failure_code(exc)
    return EXIT_FAILURE

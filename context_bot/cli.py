"""`context-bot`: parse, load settings, configure logging, run, map failure to an exit code.

No logic lives here. Exit codes: 0 success, 1 a runtime failure, 2 bad settings or
usage (one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from context_bot import __version__
from context_bot.config import LiveKitSettings, Settings, load_settings
from context_bot.errors import ConfigError, ContextBotError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


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
    return parser


def _run(settings: Settings, args: argparse.Namespace) -> int:
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
    else:
        settings.require_livekit()
    try:
        asyncio.run(ContextBotApp(settings).serve())
    finally:
        if dev is not None:
            dev.stop()
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config, os.environ)
    except ContextBotError as exc:
        print(f"context-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    from context_bot.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "run":
            return _run(settings, args)
    except KeyboardInterrupt:
        return EXIT_OK
    except ContextBotError as exc:
        print(f"context-bot: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_FAILURE
    return EXIT_FAILURE

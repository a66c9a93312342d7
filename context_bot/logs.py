"""Logging: structlog for our records and the standard library's, one renderer for both.

Readable console lines on a terminal, one JSON object per line otherwise (what log
shippers want). The LiveKit SDK and aiohttp log through `logging`; `ProcessorFormatter`
routes their records through the same processors, so an operator sees one format.
Room, participant and request ids are bound with `structlog.contextvars`.

`redact_secrets` runs on every record: a value that looks like a JWT, or any field whose
name says token/secret/key/password, is replaced before rendering. It is the last line of
defence; call sites already avoid logging secrets.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

from context_bot.knowledge.redaction import JWT, REDACTED, SECRET_NAME, redact_tokens

# The SDK's native layer forwards libwebrtc debug records by the thousand; warnings are
# what an operator can act on.
_NOISY_LOGGERS = {"livekit": logging.WARNING, "aiohttp.access": logging.WARNING}


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event_dict.items()):
        if SECRET_NAME.search(key) and value not in (None, ""):
            event_dict[key] = REDACTED
        elif isinstance(value, str) and JWT.search(value):
            event_dict[key] = redact_tokens(value)
    return event_dict


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog and the standard library's root logger; safe to call again."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _keep,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # `warnings` go through the same renderer
    for name, floor in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLevelName(level.upper())))


def _keep(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The console renderer formats exceptions itself."""
    return event_dict

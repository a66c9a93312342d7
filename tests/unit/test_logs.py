"""Logging: one JSON object per line off a terminal, stdlib records included, no secrets."""

from __future__ import annotations

import io
import json
import logging

import structlog

from context_bot.logs import REDACTED, configure_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWhlcmU"


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_structlog_and_stdlib_records_render_as_json_lines_with_bound_context() -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", stream)  # a StringIO is no TTY: JSON
    with structlog.contextvars.bound_contextvars(room="r1", participant="alice"):
        structlog.get_logger("context_bot.test").info("request_served", method="file")
        logging.getLogger("aiohttp.server").warning("from the standard library")
    first, second = records(stream)
    assert first["event"] == "request_served"
    assert first["room"] == "r1"
    assert first["participant"] == "alice"
    assert first["level"] == "info"
    assert second["event"] == "from the standard library"
    assert second["room"] == "r1"
    assert second["level"] == "warning"


def test_tokens_and_secrets_are_redacted_by_field_name_and_by_shape() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    log = structlog.get_logger("context_bot.test")
    log.info("token_issued", token=JWT, api_secret="hunter2")
    log.info("oops", detail=f"bearer {JWT} leaked")
    logging.getLogger("livekit").error("connect with %s", JWT)
    text = stream.getvalue()
    assert JWT not in text
    assert "hunter2" not in text
    assert text.count(REDACTED) == 4


def test_the_level_filters_records() -> None:
    stream = io.StringIO()
    configure_logging("warning", "json", stream)
    structlog.get_logger("context_bot.test").info("quiet")
    structlog.get_logger("context_bot.test").warning("loud")
    assert [r["event"] for r in records(stream)] == ["loud"]

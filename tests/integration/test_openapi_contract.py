"""A property-based run of schemathesis over `/openapi.json` against the running app.

The app (endpoint and bot) serves the real livekit-server; schemathesis reads the spec the
app serves, generates requests that fit it and requests that break it, and checks every
answer: never a 5xx, statuses, content types, headers and bodies as documented, invalid
data refused, valid data accepted. Schemathesis calls over blocking `requests`, so it runs
in a worker thread while the app keeps serving on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from context_bot.app import ContextBotApp

pytestmark = pytest.mark.integration

EXAMPLES = {"POST /token": 40}
"""Each valid `/token` request creates a room and sends the bot in: fewer of those."""
DEFAULT_EXAMPLES = 60


def run_schemathesis(base_url: str) -> list[str]:
    """Every operation, positive and negative; returns what was exercised."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    ran: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.method.upper() == "GET":
                continue  # nothing to break: our GET routes take no parameters

            @settings(
                max_examples=EXAMPLES.get(label, DEFAULT_EXAMPLES),
                deadline=None,
                database=None,  # nothing written into the work tree
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case: Any) -> None:
                case.call_and_validate(base_url=base_url, timeout=30)

            check()
            ran.append(f"{label} {mode.value}")
    return ran


async def test_schemathesis_finds_no_server_error_and_no_departure_from_the_spec(
    running_app: Any,
) -> None:
    app: ContextBotApp = await running_app(rate_limit_per_min=0)
    ran = await asyncio.to_thread(run_schemathesis, f"http://127.0.0.1:{app.port}")
    assert "POST /token positive" in ran
    assert "POST /token negative" in ran
    assert "POST /webhook negative" in ran
    # Eight routes; schemathesis leaves out the schema's own URL (tests/unit/test_openapi.py
    # checks that route), and GETs without parameters have nothing to break.
    assert "GET /metrics positive" in ran
    assert len(ran) == 9, ran

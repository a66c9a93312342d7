"""The official MCP conformance suite against the running product's `/mcp`.

`scripts/mcp-conformance` installs `@modelcontextprotocol/conformance` from the npm
registry into the user's cache (once) and runs its CLI. Each server scenario that needs
nothing of the reference server's own (its tools, resources and prompts by name) runs
under each protocol revision it applies to; the CLI's baseline,
`mcp-conformance-expected.yaml`, lists the scenarios /mcp fails on purpose with why, and
the CLI fails on any other failure and on a listed scenario that passes.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from context_bot.devserver import DevServer
from tests.bot_service import REPO_ROOT, BotService, bot_process

pytestmark = pytest.mark.integration

CLI = REPO_ROOT / "scripts" / "mcp-conformance"
BASELINE = Path(__file__).with_name("mcp-conformance-expected.yaml")
SCENARIOS = {
    "2025-11-25": [
        "server-initialize",
        "ping",
        "tools-list",
        "resources-list",
        "resources-subscribe",
        "resources-unsubscribe",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
        "logging-set-level",
        "completion-complete",
        "prompts-list",
    ],
    "2026-07-28": [
        "server-stateless",
        "tools-list",
        "resources-list",
        "sep-2164-resource-not-found",
        "caching",
        "http-header-validation",
        "server-sse-multiple-streams",
        "dns-rebinding-protection",
        "completion-complete",
        "prompts-list",
    ],
}
"""Left out, because they call the reference server's own tools, resources or prompts by
name: tools-call-*, json-schema-2020-12, elicitation-*, server-sse-polling,
resources-read-*, resources-templates-read, prompts-get-*, and
http-custom-header-server-validation (a tool annotated with x-mcp-header)."""


@pytest.fixture(scope="module")
def product(
    livekit_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    """`context-bot run` on this repository; the suite's requests are not rate-limited."""
    log = tmp_path_factory.mktemp("mcp-conformance") / "bot.log"
    with bot_process(
        livekit_server, log, CONTEXT_BOT_WATCH="false", CONTEXT_BOT_RATE_LIMIT="0"
    ) as bot:
        yield bot


@pytest.mark.parametrize(
    ("version", "scenario"),
    [(version, scenario) for version, names in SCENARIOS.items() for scenario in names],
)
def test_the_conformance_scenario_passes_or_fails_as_the_baseline_says(
    product: BotService, version: str, scenario: str, tmp_path: Path
) -> None:
    run = subprocess.run(
        [
            str(CLI),
            "server",
            "--url",
            f"{product.endpoint}/mcp",
            "--scenario",
            scenario,
            "--spec-version",
            version,
            "--expected-failures",
            str(BASELINE),
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, (
        f"{scenario} at {version}:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    )
    assert "Test Results" in run.stdout  # the scenario ran, not only the installer

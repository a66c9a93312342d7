"""The client against a bot in its own process, for any `livekit` version in this one.

The suite runs these tests twice: with the newest `livekit` (the main virtualenv) and
with `livekit==1.1.21`, the version `livekit-agents` pins (a second virtualenv built by
`scripts/test`). The bot always runs from `$CONTEXT_BOT_BOT_PYTHON` (default: this
interpreter), as it would in production, so the second run is exactly an agent on an old
SDK talking to the bot on the newest one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from context_bot.devserver import DevServer
from tests.bot_service import BotService, bot_process


@pytest.fixture(scope="session")
def bot(
    livekit_server: DevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotService]:
    log_path = tmp_path_factory.mktemp("bot") / "bot.log"
    with bot_process(livekit_server, log_path, CONTEXT_BOT_WATCH="false") as service:
        yield service

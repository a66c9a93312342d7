"""Bot processes for scale-out tests: start them, read their logs, kill them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from context_bot.config import LiveKitSettings
from tests.integration.conftest import REPO_ROOT


@dataclass
class BotProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def wait_for(self, event: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None
            for record in self.records():
                if record.get("event") == event:
                    return record
            if exited:
                raise AssertionError(f"bot process exited:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        raise AssertionError(
            f"no {event!r} within {timeout}s:\n{self.log_path.read_text()[-4000:]}"
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        self.process.wait(timeout=15)


def _own_environment() -> dict[str, str]:
    """This process's environment without its LiveKit and context-bot settings, except the
    session's index cache folder (tests/conftest.py): bots started here keep their index
    there, not in the user's cache, and share it with the session's other bots."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "CONTEXT_BOT_"))}
    if "CONTEXT_BOT_CACHE_DIR" in os.environ:
        kept["CONTEXT_BOT_CACHE_DIR"] = os.environ["CONTEXT_BOT_CACHE_DIR"]
    return kept


def warm_index() -> None:
    """Build the repository's index in the session's cache once, as a bot's first load
    would: tests that start several bots at once then time what they test (dispatch,
    failover), not three first indexes of the same tree racing on a busy machine."""
    subprocess.run(
        [sys.executable, "-m", "context_bot", "grep", "warm-up"],
        cwd=REPO_ROOT,
        env=_own_environment(),
        capture_output=True,
        check=True,
        timeout=120,
    )


def start_bot(livekit: LiveKitSettings, log_path: Path, **env: str) -> BotProcess:
    environment = {
        **_own_environment(),
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "PORT": "0",
        "CONTEXT_BOT_LOG_FORMAT": "json",
        "CONTEXT_BOT_WATCH": "false",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "context_bot", "run"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return BotProcess(process, log_path)

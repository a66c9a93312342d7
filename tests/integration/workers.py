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


def start_bot(livekit: LiveKitSettings, log_path: Path, **env: str) -> BotProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "CONTEXT_BOT_"))},
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

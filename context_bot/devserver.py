"""A local `livekit-server` for development and tests: find it, build it, run it.

Finding: `$LIVEKIT_SERVER_BIN`, then `livekit-server` on PATH, then our per-user cache.
Building: release v1.13.5 from its Go module into that cache (outside any clone, so the
second run costs nothing; a cold build takes about two minutes). The design notes' LiveKit
facts were measured on exactly this release, so we pin it.

Running: `--dev` mode (keys `devkey`/`secret`) bound to loopback on free ports, waiting
until it answers HTTP, with its log in a file a failing test can show.

Standard library only: `scripts/livekit-server-path` runs this before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from context_bot.errors import DevServerError

LIVEKIT_SERVER_VERSION = "v1.13.5"
LIVEKIT_SERVER_MODULE = "github.com/livekit/livekit-server/cmd/server"
DEV_API_KEY = "devkey"
DEV_API_SECRET = "secret"  # noqa: S105 - livekit-server's published --dev key pair
START_TIMEOUT_S = 20.0
FIRST_SIGNAL_WAIT_S = 1.0
"""How long `stop(drain=False)` waits for the server to log its first SIGTERM before the
second (it logs it within milliseconds; without the line, the stop's timeout and SIGKILL
still end it)."""


def cache_dir() -> Path:
    """Where built binaries live: `$CONTEXT_BOT_CACHE`, else the XDG cache."""
    root = os.environ.get("CONTEXT_BOT_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    if not os.environ.get("CONTEXT_BOT_CACHE"):
        base = base / "context-bot"
    return base / f"livekit-server-{LIVEKIT_SERVER_VERSION}"


def find_binary() -> Path | None:
    """The first usable livekit-server, without building anything."""
    explicit = os.environ.get("LIVEKIT_SERVER_BIN")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise DevServerError(
                f"LIVEKIT_SERVER_BIN={explicit} is not an executable file; fix or unset it"
            )
        return path
    on_path = shutil.which("livekit-server")
    if on_path:
        return Path(on_path)
    cached = cache_dir() / "server"
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    return None


def build_binary(log: IO[str] = sys.stderr) -> Path:
    """Build the pinned release with `go install` into the cache and return its path."""
    go = shutil.which("go")
    if go is None:
        raise DevServerError(
            "no livekit-server found and Go is not installed: install Go 1.22+ "
            "(Debian: apt-get install golang) or put livekit-server on PATH, "
            "or set LIVEKIT_SERVER_BIN"
        )
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    print(
        f"building livekit-server {LIVEKIT_SERVER_VERSION} into {target} (once; about two minutes)",
        file=log,
        flush=True,
    )
    env = {**os.environ, "GOBIN": str(target)}
    result = subprocess.run(
        [go, "install", f"{LIVEKIT_SERVER_MODULE}@{LIVEKIT_SERVER_VERSION}"],
        env=env,
        cwd=target,
        stdout=log,
        stderr=log,
        check=False,
    )
    binary = target / "server"
    if result.returncode != 0 or not binary.is_file():
        raise DevServerError(
            f"building livekit-server failed (go install exited {result.returncode}); "
            "see the output above"
        )
    return binary


def ensure_binary(log: IO[str] = sys.stderr) -> Path:
    """A working livekit-server: found, or built once into the cache."""
    return find_binary() or build_binary(log)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevServer:
    """A running `livekit-server --dev`; use `start_dev_server` to get one."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    config_path: Path
    binary: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    api_key: str = DEV_API_KEY
    api_secret: str = DEV_API_SECRET

    def log_text(self, since: int = 0) -> str:
        """The server's log from byte `since` (`log_size()` taken earlier): polls read
        what was added, not a debug log of megabytes again and again."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def stop(self, timeout: float = 10.0, *, drain: bool = True) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`.

        livekit-server's first SIGTERM drains: it waits, in 5 s ticks, until every
        participant has left, and a participant whose connection died stays listed until
        its ICE timeout (~20 s). `drain=False` sends the second signal at once, which it
        takes as "stop now": rooms close, participants are told, the process exits in
        milliseconds (in seconds while a participant still negotiates its connection: the
        timeout and SIGKILL still bound it). That is what a dev server owned by one
        process (`run --dev`) and a test whose work is done want; an operator's restart
        (`restart`) drains."""
        if self.process.poll() is not None:
            return
        since = self.log_size()
        self.process.terminate()
        if not drain:
            self._second_signal(since)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _second_signal(self, since: int) -> None:
        # The server reads signals from a channel of one: a second signal sent before it
        # took the first would merge with it. Its log says when it took the first.
        deadline = time.monotonic() + FIRST_SIGNAL_WAIT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            if "exit requested" in self.log_text(since):
                self.process.terminate()
                return
            time.sleep(0.01)

    def restart(self, *, down_s: float = 0.0, stop_timeout: float = 3.0) -> None:
        """Stop the server and start it again on the same ports, as an operator's restart
        does: every room and participant it held is gone from the new process.

        `down_s` keeps it down that long in between. The log continues in the same file."""
        self.stop(stop_timeout)
        time.sleep(down_s)
        since = self.log_size()
        self.process = _launch(self.binary, self.config_path, self.log_path)
        self.wait_ready(since=since)

    def wait_ready(self, *, since: int) -> None:
        """Until *this* process says it listens on our port and the port answers 200 (a
        200 alone could come from another process that took the port first); `since` is
        where this process's part of the log begins (a byte offset, `log_size`)."""
        listening = f'"portHttp": {self.port}'
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            log_text = self.log_text(since)
            if self.process.poll() is not None:
                if "address already in use" in log_text:
                    raise _PortTaken
                raise DevServerError(
                    f"livekit-server exited with {self.process.returncode} at start:\n{log_text}"
                )
            if listening in log_text:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(self.http_url, timeout=1) as response,  # noqa: S310
                ):
                    if response.status == 200 and self.process.poll() is None:
                        return
            time.sleep(0.05)
        self.stop()
        raise DevServerError(
            f"livekit-server did not answer within {START_TIMEOUT_S}s:\n{self.log_text()}"
        )


def _config_yaml(port: int, rtc_port: int, extra: str) -> str:
    # A config file rather than flags: webhooks and room defaults (later issues) need one.
    return (
        f"port: {port}\n"
        "bind_addresses: ['127.0.0.1']\n"
        "rtc:\n"
        f"  tcp_port: {rtc_port}\n"
        f"  udp_port: {rtc_port}\n"
        "  use_external_ip: false\n"
        "  node_ip: 127.0.0.1\n" + extra
    )


def start_dev_server(
    workdir: Path, *, binary: Path | None = None, extra_config: str = ""
) -> DevServer:
    """Start `livekit-server --dev` on free loopback ports and wait until it answers.

    A port found free can be taken by another process before the server binds it; then
    the server exits at once, and we try again on new ports, up to `START_ATTEMPTS`.
    """
    binary = binary or ensure_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(workdir, binary, extra_config)
        except _PortTaken:
            if attempt == START_ATTEMPTS:
                raise DevServerError(
                    f"livekit-server found its ports taken {START_ATTEMPTS} times"
                ) from None
    raise AssertionError("unreachable")


START_ATTEMPTS = 3


class _PortTaken(Exception):
    pass


def _start_once(workdir: Path, binary: Path, extra_config: str) -> DevServer:
    port, rtc_port = free_port(), free_port()
    config_path = workdir / "livekit.yaml"
    config_path.write_text(_config_yaml(port, rtc_port, extra_config))
    log_path = workdir / "livekit-server.log"
    log_path.write_bytes(b"")
    server = DevServer(
        process=_launch(binary, config_path, log_path),
        port=port,
        log_path=log_path,
        config_path=config_path,
        binary=binary,
    )
    server.wait_ready(since=0)
    return server


def _launch(binary: Path, config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(binary), "--dev", "--config", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl+C in the terminal reaches only us, and we stop the
            # server after the bot has left its rooms, not before.
            start_new_session=True,
        )


def main(argv: list[str] | None = None) -> int:
    """`scripts/livekit-server-path`: print the binary's path, building it if needed."""
    del argv
    try:
        print(ensure_binary())
    except DevServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Suite-wide rules and the one real livekit-server every suite shares.

A skipped test is a failed test: integration tests must always run against the real
livekit-server; a skip would hide a missing binary or a broken fixture, so every skip is
turned into a failure here.

`livekit_server` is the session's real server (`--dev` keys, loopback, free ports),
started by `context_bot.devserver` (the code `context-bot run --dev` uses) the first time
a test of any folder (integration, compat, agents) asks for it. Its log is attached to
the report of any failing test that used it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from context_bot.devserver import DevServer, start_dev_server

_SERVERS: list[DevServer] = []
"""The session's livekit-servers, for the SIGTERM handler below to stop: its `os._exit`
runs no fixture teardown, and a server left running outlives the test run."""


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("livekit"))
    _SERVERS.append(server)
    yield server
    server.stop(timeout=3, drain=False)  # the tests are done: no room needs to drain


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests count as failures in this suite: {report.longrepr}"
    server = getattr(item, "funcargs", {}).get("livekit_server")
    if report.failed and isinstance(server, DevServer):
        lines = server.log_text().splitlines()[-60:]
        tail = "\n".join(line[:400] for line in lines)  # SDP lines run to kilobytes
        report.sections.append(("livekit-server log (tail)", tail))
        # Who came and went during the test, whoever they were: a connection nobody in
        # the test made (another process's bot, say) shows here with its client.
        since = _LOG_AT_START.get(id(server), 0)
        comings = [
            line[:600]
            for line in server.log_text(since).splitlines()
            if "starting RTC session" in line or "participant closing" in line
        ]
        report.sections.append(("livekit-server: joins and leaves", "\n".join(comings[-80:])))


_LOG_AT_START: dict[int, int] = {}
"""Each session server's log size when the running test began."""


# The livekit SDK answers a panic in its native library by printing it to stderr and
# sending its own process SIGTERM. pytest captures stderr at the file descriptor, so
# both that message and ours would land in the capture's temporary file and go with the
# process: the run would end with no summary and no reason. The handler stops the
# capture first, then writes which test was running and what it had printed (the panic
# message among it) to the real stderr, and to a file beside the run in case the
# caller keeps only part of the output.
_CURRENT: list[str] = ["(collecting)"]
PANIC_TAIL_CHARS = 6_000


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _CURRENT[0] = nodeid
    for server in _SERVERS:
        _LOG_AT_START[id(server)] = server.log_size()


def _captured_so_far(config: pytest.Config) -> str:
    """What the running test printed, with the capture stopped (best effort: the
    process is about to go either way)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return ""
    try:
        capman.suspend_global_capture(in_=False)
        out, err = capman.read_global_capture()
    except Exception as error:  # a diagnosis must not hide the exit
        return f"(the captured output could not be read: {error!r})"
    return f"{out}{err}"


def pytest_sessionstart(session: pytest.Session) -> None:
    import os
    import signal
    import sys
    import tempfile

    # Bots started by tests keep their index caches in a folder of this session, not in
    # the user's cache (one folder per temporary repository would pile up there).
    os.environ["CONTEXT_BOT_CACHE_DIR"] = tempfile.mkdtemp(prefix="context-bot-test-index-")

    def on_sigterm(signum: int, frame: object) -> None:
        captured = _captured_so_far(session.config)[-PANIC_TAIL_CHARS:]
        report = (
            f"\nSIGTERM during {_CURRENT[0]}: the livekit SDK sends this after a panic in "
            "its native library. What the test printed last:\n"
            f"{captured}\n"
        )
        print(report, file=sys.__stderr__, flush=True)
        for server in _SERVERS:
            server.process.kill()
        beside = Path(tempfile.gettempdir()) / "context-bot-test-sigterm.txt"
        with beside.open("a") as f:
            f.write(report)
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os
    import shutil

    folder = os.environ.get("CONTEXT_BOT_CACHE_DIR", "")
    if "context-bot-test-index-" in folder:
        shutil.rmtree(folder, ignore_errors=True)

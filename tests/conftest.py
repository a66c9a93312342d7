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

import pytest

from context_bot.devserver import DevServer, start_dev_server


@pytest.fixture(scope="session")
def livekit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("livekit"))
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


# The livekit SDK answers a panic in its native library by printing it to stderr (which
# pytest captures) and sending its own process SIGTERM. Say which test was running, on the
# real stderr, before the process goes.
_CURRENT: list[str] = ["(collecting)"]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _CURRENT[0] = nodeid


def pytest_sessionstart(session: pytest.Session) -> None:
    import os
    import signal
    import sys
    import tempfile

    # Bots started by tests keep their index caches in a folder of this session, not in
    # the user's cache (one folder per temporary repository would pile up there).
    os.environ["CONTEXT_BOT_CACHE_DIR"] = tempfile.mkdtemp(prefix="context-bot-test-index-")

    def on_sigterm(signum: int, frame: object) -> None:
        sys.__stderr__.write(
            f"\nSIGTERM during {_CURRENT[0]}: the livekit SDK sends this after a panic in "
            "its native library (its message went to the test's captured stderr)\n"
        )
        sys.__stderr__.flush()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os
    import shutil

    folder = os.environ.get("CONTEXT_BOT_CACHE_DIR", "")
    if "context-bot-test-index-" in folder:
        shutil.rmtree(folder, ignore_errors=True)

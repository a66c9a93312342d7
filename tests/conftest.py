"""Suite-wide rules: a skipped test is a failed test.

Integration tests must always run against the real livekit-server; a skip would hide a
missing binary or a broken fixture, so every skip is turned into a failure here.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped tests count as failures in this suite: {report.longrepr}"


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

    def on_sigterm(signum: int, frame: object) -> None:
        sys.__stderr__.write(
            f"\nSIGTERM during {_CURRENT[0]}: the livekit SDK sends this after a panic in "
            "its native library (its message went to the test's captured stderr)\n"
        )
        sys.__stderr__.flush()
        os._exit(143)

    signal.signal(signal.SIGTERM, on_sigterm)

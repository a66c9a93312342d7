"""The command line as a shell pipeline sees it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path) -> None:
    # 500 matches of 300 characters with 5 lines of context: far more than a pipe holds.
    line = "handler = '" + "x" * 280 + "'\n"
    for n in range(50):
        (tmp_path / f"m{n}.py").write_text(line * 20)
    main = "from context_bot.cli import main; raise SystemExit(main())"
    command = [sys.executable, "-c", main, "grep", "handler", "--context", "5"]
    command += ["--limit", "500", "--repo", str(tmp_path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as cli:
        assert cli.stdout is not None and cli.stderr is not None
        assert cli.stdout.readline().startswith(b"m0.py:1: handler")  # `| head -1`: one line,
        cli.stdout.close()  # then the pipe is closed
        errors = cli.stderr.read().decode()
        code = cli.wait(timeout=60)
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert code == 0


def test_missing_settings_are_told_before_the_app_is_imported(tmp_path: Path) -> None:
    """`context-bot run` without LiveKit settings says so at once: the app's imports (about
    2.5 s, the MCP SDK a second of it) come after the check."""
    code = (
        "import sys; from context_bot.cli import main; code = main(['run']); "
        "print('imported' if 'context_bot.app' in sys.modules else 'not imported'); "
        "raise SystemExit(code)"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "LIVEKIT_URL" in done.stderr
    assert done.stdout.strip() == "not imported"

"""`context-bot` as an operator runs it: a real process, real signals, clear failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from context_bot.config import LiveKitSettings
from context_bot.knowledge.store import cache_folder
from tests.integration.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

CLEAN_ENV = {
    k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "CONTEXT_BOT_", "PORT"))
}


def clean_env() -> dict[str, str]:
    """`CLEAN_ENV` and the session's index cache folder (tests/conftest.py), as the bots of
    tests/integration/workers.py get it: the processes here find this repository's index
    the session's other bots built, instead of building it again in the user's cache."""
    cache = {k: v for k, v in os.environ.items() if k == "CONTEXT_BOT_CACHE_DIR"}
    return {**CLEAN_ENV, **cache}


def livekit_env(livekit: LiveKitSettings, port: int = 0, **more: str) -> dict[str, str]:
    """The variables a served process needs to reach the suite's livekit-server."""
    return {
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "PORT": str(port),
        **more,
    }


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "context_bot", *args],
        cwd=REPO_ROOT,
        env={**clean_env(), "CONTEXT_BOT_LOG_FORMAT": "json", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_event(process: subprocess.Popen[str], event: str, timeout: float = 20) -> dict:
    return wait_for_any(process, [event], timeout)


def wait_for_events(process: subprocess.Popen[str], *events: str, timeout: float = 60) -> dict:
    """The first log record of each of `events`, in whatever order they come."""
    found: dict[str, dict] = {}
    for _ in events:
        missing = [event for event in events if event not in found]
        record = wait_for_any(process, missing, timeout)
        found[record["event"]] = record
    return found


def wait_for_any(process: subprocess.Popen[str], events: list[str], timeout: float) -> dict:
    """The first log record of any of `events` on the process's stderr."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") in events:
            return record
    raise AssertionError(f"no {' or '.join(events)!r} log line; stderr was:\n{''.join(seen)}")


def post_json(url: str, body: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - loopback, http only
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_process_cleanly_after_leaving_its_rooms(
    livekit: LiveKitSettings, sig: signal.Signals
) -> None:
    env = livekit_env(livekit)
    process = start(env, "run")
    try:
        started = wait_for_event(process, "started")
        status, body = post_json(
            f"{started['url']}/token",
            {
                "room_name": f"cli-{sig.name}",
                "participant_name": "Op",
                "participant_identity": "op",
            },
        )
        assert status == 200
        assert body["token"]
        assert livekit.api_secret not in json.dumps(started)
        process.send_signal(sig)
        stopped = wait_for_event(process, "stopped")
        assert process.wait(timeout=15) == 0
        assert stopped["rooms_left"] == 1
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)  # drains and closes the pipes


def run_to_end(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "context_bot", *args],
        cwd=REPO_ROOT,
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_missing_livekit_settings_fail_with_one_line_naming_them_and_dev_mode() -> None:
    result = run_to_end({}, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "LIVEKIT_URL" in lines[0]
    assert "--dev" in lines[0]


def test_bad_yaml_fails_with_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("http:\n  port: [\n")
    result = run_to_end({}, "--config", str(config), "run")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_type_fails_with_one_line_naming_the_setting() -> None:
    result = run_to_end({"PORT": "eighty"}, "run")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "context-bot: http.port (PORT) must be a whole number, got 'eighty'"
    ]


def test_a_port_in_use_fails_with_one_line(livekit: LiveKitSettings) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = livekit_env(livekit, port=port, CONTEXT_BOT_LOG_LEVEL="error")
        result = run_to_end(env, "run")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def _processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains `text` (the dev server's config path is unique)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def _dev_server_config(process: subprocess.Popen[str]) -> str:
    """The dev server's config path, from the line `run --dev` prints once it is up."""
    assert process.stderr is not None
    for _ in range(200):
        line = process.stderr.readline()
        if line.startswith("livekit-server (dev) at"):
            log_path = Path(line.rsplit("log: ", 1)[1].strip())
            return str(log_path.with_name("livekit.yaml"))
        if not line:
            break
    raise AssertionError("`run --dev` did not say where its livekit-server runs")


def test_a_second_ctrl_c_forces_the_exit_and_still_stops_the_dev_server() -> None:
    """`run --dev` starts livekit-server in its own session (so Ctrl+C reaches only us);
    a forced exit must not leave it running."""
    process = start({"PORT": "0"}, "run", "--dev")
    try:
        config = _dev_server_config(process)
        started = wait_for_event(process, "started", timeout=60)
        assert _processes_mentioning(config), "the dev server should be running"
        status, _ = post_json(
            f"{started['url']}/token",
            {"room_name": "ctrl-c", "participant_name": "Op", "participant_identity": "op"},
        )
        assert status == 200  # the bot holds a room: the graceful stop has work to do
        process.send_signal(signal.SIGINT)
        wait_for_event(process, "stopping")  # signals sent together would merge into one
        process.send_signal(signal.SIGINT)
        wait_for_event(process, "stopped_forcibly")
        code = process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while _processes_mentioning(config) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_mentioning(config) == [], "the dev livekit-server outlived us"
        assert code == 1  # forced: not the clean exit of a graceful stop
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_run_serves_a_folder_without_knowledge_given_by_repo(
    livekit: LiveKitSettings, tmp_path: Path
) -> None:
    """`run --repo PATH` on a plain folder (no git, no knowledge/): an info line, not an
    error; `list`, in a room and locally, shows every file, marked undocumented."""
    folder = tmp_path / "plain"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "client.py").write_text("class Client:\n    pass\n")
    (folder / "README.md").write_text("# Plain\n\nNo documents here.\n")
    env = livekit_env(livekit)
    process = start(env, "run", "--repo", str(folder))
    try:
        absent = wait_for_event(process, "knowledge_folder_absent")
        assert absent["level"] == "info"
        assert absent["folder"] == str(folder / "knowledge")
        started = wait_for_event(process, "started")
        remote = run_to_end(
            env, "list", "--room", "cli-plain", "--endpoint", started["url"], "--depth", "3"
        )
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout.splitlines() == [
            "lib/  (1 file, 0 documented)",
            "lib/client.py  (undocumented)",
            "README.md  (undocumented)",
            "the repository: 2 files, 0 documented",
        ]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    local = run_to_end({}, "list", "--repo", str(folder), "--json")
    assert local.returncode == 0, local.stderr
    assert [e["path"] for e in json.loads(local.stdout)["entries"]] == [
        "lib",
        "lib/client.py",
        "README.md",
    ]
    missing = run_to_end({}, "check", "--repo", str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert "knowledge.repo (CONTEXT_BOT_REPO) or --repo" in missing.stderr


def test_run_keeps_its_index_in_the_page_cache_and_counts_the_reads(
    livekit: LiveKitSettings, tmp_path: Path
) -> None:
    """`knowledge.keep_warm`: the served process reads its index's databases every period
    (`knowledge/pagecache.py`), logs the first pass and counts each in its metrics; a
    second process serving the same repository from the same cache leaves it to the
    first. A repository and cache of the test's own: the suite's other bots share the
    session's cache, and one of them would hold the reads."""
    folder = tmp_path / "repo"
    (folder / "lib").mkdir(parents=True)
    for n in range(20):
        (folder / "lib" / f"mod{n}.py").write_text(f"def handler_{n}(x):\n    return x\n" * 50)
    cache = tmp_path / "cache"
    env = livekit_env(livekit, CONTEXT_BOT_KEEP_WARM="1", CONTEXT_BOT_CACHE_DIR=str(cache))
    process = start(env, "run", "--repo", str(folder))
    second = None
    try:
        seen = wait_for_events(process, "started", "index_warm")
        index = cache_folder(cache, folder) / "index.sqlite3"
        index_bytes = index.stat().st_size
        warm = seen["index_warm"]
        assert warm["files"] >= 2  # the text index and the symbol table at least
        assert warm["period_s"] == 1
        deadline = time.monotonic() + 20
        passes = 0.0
        while passes < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
            with urllib.request.urlopen(f"{seen['started']['url']}/metrics", timeout=5) as got:  # noqa: S310
                metrics = got.read().decode()
            counted = {
                line.split()[0]: float(line.split()[1])
                for line in metrics.splitlines()
                if line.startswith("context_bot_index_warm_")
            }
            passes = counted.get('context_bot_index_warm_passes_total{result="done"}', 0.0)
        assert passes >= 3
        assert counted["context_bot_index_warm_bytes_total"] >= passes * index_bytes
        assert counted["context_bot_index_warm_cpu_seconds_total"] > 0
        second = start(env, "run", "--repo", str(folder))
        skipped = wait_for_events(second, "index_warm_skipped")["index_warm_skipped"]
        assert skipped["reason"] == "held"
        assert "another process keeps them warm" in skipped["detail"]
        for served in (process, second):
            served.send_signal(signal.SIGTERM)
            assert served.wait(timeout=15) == 0
    finally:
        for served in (process, second):
            if served is not None:
                if served.poll() is None:
                    served.kill()
                served.communicate(timeout=10)

"""What the LiveKit SDK's native log forwarding costs idle rooms (`log.native`).

For each room count, one process at a time holds that many idle rooms with bare SDK
connections (the bot's room options, hidden agent tokens) against a livekit-server
started here, and the harness reads its CPU over a quiet window, per thread, with:

- `forward`: the SDK's default, every native record sent to Python (our floor: what any
  `livekit` user pays);
- `stderr`: `context_bot.bot.native.install("stderr")`, what the bot does.

It also counts, in a `forward` process, the native log records that reach Python per
second, which is the mechanism: see `context_bot/bot/native.py`.

Usage: `.venv/bin/python benchmarks/native_log_bench.py [--rooms 100,250] [--idle 15]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from context_bot.devserver import start_dev_server

REPO = Path(__file__).resolve().parents[1]

HOLDER = """
import asyncio, collections, sys
from livekit import rtc
from livekit.rtc import _ffi_client
from context_bot.admin import bot_token
from context_bot.config import LiveKitSettings
from context_bot.bot.native import install as install_native
from context_bot.bot.rooms import room_options

url, key, secret, count, prefix, mode = sys.argv[1:7]
records = collections.Counter()
to_level = _ffi_client.to_python_level
def counting(level):  # called once per forwarded record, on the thread that received it
    records["n"] += 1
    return to_level(level)
_ffi_client.to_python_level = counting

async def main():
    install_native(mode)
    lk = LiveKitSettings(url, key, secret)
    rooms = []
    for n in range(int(count)):
        room = rtc.Room()
        await room.connect(url, bot_token(lk, f"{prefix}-{n}", "context-bot", "B"), room_options())
        rooms.append(room)
    print("ready", flush=True)
    await asyncio.sleep(4)
    records.clear()
    await asyncio.sleep(10)
    print(f"records {records['n'] / 10:.0f}", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def thread_ticks(pid: int) -> dict[str, int]:
    """CPU ticks by thread name (threads of one name summed)."""
    out: dict[str, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def measure(server_url: str, key: str, secret: str, count: int, mode: str, idle_s: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, server_url, key, secret, str(count), f"{mode}{count}", mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            print(f"{count:>5} rooms {mode:8s} the holder died", flush=True)
            return
        records = proc.stdout.readline().split()[1]  # after its own 14 s count
        before, started = thread_ticks(proc.pid), time.monotonic()
        time.sleep(idle_s)
        after, elapsed = thread_ticks(proc.pid), time.monotonic() - started
        tick = os.sysconf("SC_CLK_TCK")
        share = {n: (t - before.get(n, 0)) / tick / elapsed * 100 for n, t in after.items()}
        total = sum(share.values())
        top = sorted(share.items(), key=lambda kv: -kv[1])[:3]
        rss = int(Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * os.sysconf(
            "SC_PAGE_SIZE"
        )
        print(
            f"{count:>5} rooms {mode:8s} {total:6.1f} % CPU ({total / count:.3f} % a room), "
            f"{rss / 2**20:5.0f} MB, native records reaching Python {records}/s; "
            + ", ".join(f"{name} {value:.1f} %" for name, value in top),
            flush=True,
        )
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", default="100,250")
    parser.add_argument("--idle", type=float, default=15.0)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; livekit-server and the holder share them")
    server = start_dev_server(Path(tempfile.mkdtemp(prefix="native-logs-")) / "livekit")
    try:
        for count in (int(c) for c in args.rooms.split(",")):
            for mode in ("forward", "stderr"):
                measure(server.url, server.api_key, server.api_secret, count, mode, args.idle)
                time.sleep(3)  # the server lets the last holder's rooms go
    finally:
        server.stop()


if __name__ == "__main__":
    main()

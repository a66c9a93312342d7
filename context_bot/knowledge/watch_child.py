"""The live-reload watcher's own process (`watch.py` starts it).

`watchfiles` registers one watch per folder inside the call that builds its watcher and
holds the GIL throughout: 1.13 s for the 20,957 folders of a 100,000-file repository
(benchmarks/RESULTS-index.md), during which every thread of the serving process, the
event loop's too, would wait. Here it holds this process's GIL only.

What passes through the pipes, one JSON text a line: in, `{"folders": [...],
"debounce_ms": N, "tick_ms": N}`; out, per step of `watchfiles.watch`, the batch as
`[[change, path], ...]` (`watchfiles.Change` values), `[]` on a quiet tick (the first
one says the watches are registered), or `{"error": "not_found"}` when a folder went
away before it was watched. It ends when its output is closed (the serving process is
gone, or has stopped watching) or it is terminated.
"""

from __future__ import annotations

import json
import signal
import sys

import watchfiles


def _send(value: object) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def main() -> None:
    # Ctrl-C at a terminal reaches the whole process group: the serving process stops
    # this one itself, after its own shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = json.loads(sys.stdin.readline())
    try:
        for batch in watchfiles.watch(
            *config["folders"],
            debounce=config["debounce_ms"],
            rust_timeout=config["tick_ms"],
            watch_filter=None,  # the serving process filters (its default drops `.idea/`)
            yield_on_timeout=True,
            raise_interrupt=False,
            recursive=False,
        ):
            _send(sorted([int(change), path] for change, path in batch))
    except FileNotFoundError:
        _send({"error": "not_found"})
    except BrokenPipeError:
        pass  # nobody reads any more


if __name__ == "__main__":
    main()

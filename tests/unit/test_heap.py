"""`heap.give_back_free_heap`: freed C heap returns to the system; `heap.one_heap`: one heap
for every thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from context_bot.knowledge.heap import give_back_free_heap


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_blocks_freed_between_kept_ones_go_back_to_the_system() -> None:
    # Blocks over obmalloc's 512 bytes come from malloc; keeping one in a hundred leaves
    # holes inside the heap, which malloc keeps (only its top is returned on free).
    blocks = [bytes(2048) + bytes([n % 251]) for n in range(60_000)]
    kept = blocks[::100]
    del blocks
    before = _rss_kb()
    assert give_back_free_heap()
    after = _rss_kb()
    assert before - after > 50_000, f"VmRSS {before} kB before, {after} kB after"
    assert len(kept) == 600


_HEAPS_AFTER_THREADS = """
import ctypes, ctypes.util, os, sys, tempfile, threading
from context_bot.knowledge.heap import one_heap
if sys.argv[1] == "one":
    assert one_heap()
def work():
    kept = [bytearray(4096) for _ in range(200)]
    del kept
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
path = os.path.join(tempfile.mkdtemp(), "info.xml")
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(open(path).read().count("<heap nr="))
"""


def test_one_heap_keeps_every_threads_allocations_in_one_heap(tmp_path: Path) -> None:
    """`one_heap`, called before any thread allocates: four threads' blocks all come from
    the main heap (glibc's `malloc_info` lists one), where `give_back_free_heap` reaches
    them; without it, each thread has a heap of its own."""

    def heaps(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", _HEAPS_AFTER_THREADS, mode],
            capture_output=True, text=True, check=True, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )  # fmt: skip
        return int(done.stdout.strip())

    assert heaps("one") == 1
    assert heaps("default") > 1

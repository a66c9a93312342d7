"""`heap.give_back_free_heap`: freed C heap returns to the system."""

from __future__ import annotations

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

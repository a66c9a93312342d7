"""Live reload: a burst of edits becomes one reload; a failed reload keeps serving."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from context_bot.knowledge.changes import knowledge_change
from context_bot.knowledge.loading import Knowledge, load_knowledge
from context_bot.knowledge.watch import reload_once, watch_knowledge

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"


def make_repo(tmp_path: Path) -> Path:
    shutil.copytree(SEEDS, tmp_path / "knowledge")
    return tmp_path


async def test_a_failed_reload_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    current = load_knowledge(repo / "knowledge", repo)

    def broken() -> Knowledge:
        raise OSError("disk went away")

    served, change = await reload_once(current, broken)
    assert served is current
    assert change is None


async def test_an_unchanged_reload_announces_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    current = load_knowledge(repo / "knowledge", repo)
    served, change = await reload_once(current, lambda: load_knowledge(repo / "knowledge", repo))
    assert change is None
    assert served is current


async def test_the_change_names_added_changed_and_removed_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    before = load_knowledge(repo / "knowledge", repo)
    (repo / "knowledge" / "003_da99b4c0c1254561.txt").unlink()
    seed = repo / "knowledge" / "000_f2bb2dc735d2b115.txt"
    seed.write_text(seed.read_text().replace("## Purpose", "## Purpose\nEdited."))
    (repo / "knowledge" / "new.md").write_text("---\nfilePath: src/new.ts\n---\n## Purpose\nNew.\n")
    after = load_knowledge(repo / "knowledge", repo)
    change = knowledge_change(before, after)
    assert change["previous_version"] == before.version
    assert change["knowledge_version"] == after.version
    assert change["added"] == ["src/new.ts"]
    assert change["removed"] == ["003_da99b4c0c1254561.txt"]
    assert "src/server/api/livekit.ts" in change["changed"]


async def test_a_burst_of_edits_becomes_one_reload(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    state = {"knowledge": load_knowledge(repo / "knowledge", repo), "loads": 0}
    changes: list[dict[str, object]] = []

    def load() -> Knowledge:
        state["loads"] = int(state["loads"]) + 1  # type: ignore[call-overload]
        return load_knowledge(repo / "knowledge", repo)

    async def on_change(fresh: Knowledge, change: dict[str, object]) -> None:
        state["knowledge"] = fresh
        changes.append(change)

    stop = asyncio.Event()
    watcher = asyncio.create_task(
        watch_knowledge(
            [repo / "knowledge"],
            lambda: state["knowledge"],
            load,
            on_change,
            stop=stop,  # type: ignore[arg-type,return-value]
        )
    )
    await asyncio.sleep(0.3)
    for n in range(5):
        (repo / "knowledge" / f"burst-{n}.md").write_text(f"Guide {n}.\n")
    async with asyncio.timeout(10):
        while not changes:  # noqa: ASYNC110 - the watcher owns no event we could await
            await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # longer than the debounce: a second reload would show now
    stop.set()
    await asyncio.wait_for(watcher, 5)
    assert state["loads"] == 1
    assert len(changes) == 1
    assert len(changes[0]["added"]) == 5  # type: ignore[arg-type]

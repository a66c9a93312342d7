"""`SymbolIndex.patched` against a full index of the same files, over random trees and
random stacked changes (seeded): every lookup must answer the same, in the same order."""

from __future__ import annotations

import random

import pytest

from context_bot.knowledge.symbols import (
    Outcome,
    SymbolIndex,
    TooManyOverlaid,
    assemble_symbols,
    parse_file,
)

#: Spellings that share lower-case names, camel humps, prefixes and subsequences.
WORDS = ("fooBar", "foobar", "FooBar", "foo", "fob", "Bar", "barFoo", "getUserName",
         "getuser", "get", "GetUN", "run", "runAll", "r_u_n", "HTTPTransport", "httpt")  # fmt: skip
QUERIES = ("fB", "foo", "f", "Bar", "gUN", "get", "GUN", "run", "rA", "HTTPTr", "ht", "o",
           "r", "FooBar", "fb", "nope")  # fmt: skip


def source(rng: random.Random) -> str:
    """A small Python file: classes with methods, functions, module names, uses."""
    lines: list[str] = []
    for _ in range(rng.randint(0, 5)):
        name = rng.choice(WORDS)
        if rng.random() < 0.3:
            lines += [f"class {name}:", f"    def {rng.choice(WORDS)}(self):",
                      f"        return {rng.choice(WORDS)}"]  # fmt: skip
        elif rng.random() < 0.5:
            lines += [f"def {name}():", f"    return {rng.choice(WORDS)}({rng.choice(WORDS)})"]
        else:
            lines.append(f"{name} = {rng.choice(WORDS)}")
    return "\n".join(lines) + "\n"


def outcome(path: str, text: str | None) -> Outcome:
    if text is None:
        return None
    if text == "too_large":
        return "too_large"
    return parse_file(path, "python", text, None)


def full_index(tree: dict[str, str]) -> SymbolIndex:
    rows = ((p, outcome(p, t)) for p, t in sorted(tree.items()))
    return assemble_symbols((p, o) for p, o in rows if o is not None)


def answers(index: SymbolIndex, paths: list[str]) -> list[object]:
    out: list[object] = [len(index), index.files, index.skipped, index.partial]
    out.append([s.to_wire() for s in index.symbols])
    out.append(index.paths_defining(lambda n: n[:1].isupper()))
    for q in QUERIES:
        for kind, limit in ((None, 3), (None, 100), ("function", 4), ("class", 100)):
            found = index.find(q, kind=kind, limit=limit)
            out.append([m.to_wire() for m in found])
        found = index.find(q, selects=lambda p: p.endswith(("1.py", "3.py")), limit=5)
        out.append([m.to_wire() for m in found])
    for word in (*WORDS, "nope"):
        out.append([s.to_wire() for s in index.named(word, 3)])
        out.append([s.to_wire() for s in index.defined(word, 4)])
        out.append(index.references(word, limit=7))
        out.append(index.references(word, selects=lambda p: "b/" in p, limit=3))
        out.append(list(index.uses_of(word)))
    for path in [*paths, "a/", "b/", "c/"]:
        out.append((path, index.has_file(path), index.most_used(path, 4)))
        out.append([n.to_wire() for n in index.outline(path)])
    return out


@pytest.mark.parametrize("seed", range(12))
def test_stacked_random_patches_answer_as_a_full_index(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - a seeded tree, not a secret
    folders = ("a", "b", "c")
    tree = {f"{rng.choice(folders)}/m{n}.py": source(rng) for n in range(12)}
    index = full_index(tree)
    for _ in range(4):
        changes: dict[str, tuple[Outcome, Outcome]] = {}
        for _ in range(rng.randint(1, 4)):
            path = f"{rng.choice(folders)}/m{rng.randint(0, 15)}.py"
            before = tree.get(path)
            roll = rng.random()
            if roll < 0.2:
                tree.pop(path, None)
            elif roll < 0.3:
                tree[path] = "too_large"
            elif roll < 0.4:
                tree[path] = "def broken(:\n    fooBar\n"
            else:
                tree[path] = source(rng)
            first = changes.get(path, (outcome(path, before), None))[0]
            changes[path] = (first, outcome(path, tree.get(path)))
        index = index.patched(changes)
        paths = sorted({*tree, *changes})
        assert answers(index, paths) == answers(full_index(tree), paths)


def test_an_unchanged_outcome_keeps_the_index_and_too_many_files_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tree = {"a/x.py": "def fooBar():\n    pass\n", "a/y.py": "foo = 1\n"}
    index = full_index(tree)
    same = outcome("a/x.py", tree["a/x.py"])
    assert index.patched({"a/x.py": (same, same)}) is index
    monkeypatch.setattr("context_bot.knowledge.symbols.MAX_OVERLAY_FILES", 2)
    once = index.patched({"a/z.py": (None, outcome("a/z.py", "def z():\n    pass\n"))})
    twice = once.patched({"a/x.py": (same, None)})
    assert [s.name for s in twice.symbols] == ["foo", "z"]
    with pytest.raises(TooManyOverlaid):
        twice.patched({"a/y.py": (outcome("a/y.py", tree["a/y.py"]), None)})
    assert [s.name for s in index.symbols] == ["fooBar", "foo"]  # the base is as it was

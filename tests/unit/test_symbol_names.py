"""The per-tier name structures of `symbols` (`knowledge/symbol_names.py`): each tier
gives what a scan of every name gives, shortest names first, the same on every build."""

from __future__ import annotations

import marshal
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from context_bot.knowledge import symbol_names
from context_bot.knowledge.symbol_names import NameIndex, skeleton
from context_bot.knowledge.symbol_store import SymbolTable
from context_bot.knowledge.symbols import (
    SymbolIndex,
    assemble_symbols,
    index_from_plain,
    index_to_plain,
    parse_file,
)

NAMES = [
    "HTTPTransport", "HTTP", "HttpClient", "getUserName", "getusername", "get_user",
    "send", "Send", "sender", "resend", "s_e_n_d", "transport", "Ünïcode", "x",
]  # fmt: skip


_current: list[NameIndex] = []


def _flat(groups: object) -> list[str]:
    """The names a tier yields (it yields their numbers in `lowers`), in order."""
    lowers = _current[-1].lowers
    return [lowers[n] for group in groups for n in group]  # type: ignore[attr-defined]


def _names(names: list[str]) -> NameIndex:
    _current.append(NameIndex(names))
    return _current[-1]


def _scan_order(names: set[str]) -> list[str]:
    return sorted(names, key=lambda n: (len(n), n))


def test_prefix_tier_is_longer_names_by_length_then_name() -> None:
    index = _names(NAMES)
    assert _flat(index.prefixed("http")) == ["httpclient", "httptransport"]
    assert _flat(index.prefixed("send")) == ["sender"]  # `send` itself is the exact tier
    groups = [[index.lowers[n] for n in group] for group in index.prefixed("get")]
    assert groups == [["get_user"], ["getusername"]]  # one group per length
    assert index.find("send") is not None and index.find("sen") is None
    assert _flat(index.prefixed("nothing")) == []


def test_camel_tier_matches_humps_by_skeleton() -> None:
    index = _names(NAMES)
    assert skeleton("HTTPTransport") == "HTTPT" and skeleton("getUserName") == "gUN"
    assert _flat(index.camel("HTTPTr")) == ["httptransport"]
    assert _flat(index.camel("getUN")) == ["getusername"]
    assert _flat(index.camel("HC")) == ["httpclient"]
    assert _flat(index.camel("getun")) == []  # no hump in the query: not this tier
    assert _flat(index.camel("gUX")) == []


def test_substring_and_fuzzy_tiers() -> None:
    index = _names(NAMES)
    assert _flat(index.containing("end")) == ["send", "resend", "sender"]
    assert _flat(index.containing("x")) == ["x"]
    assert _flat(index.containing("ünï")) == ["ünïcode"]
    assert _flat(index.subsequence("snd")) == ["send", "resend", "sender", "s_e_n_d"]
    assert _flat(index.subsequence("zz")) == []
    assert _flat(_names([]).containing("a")) == []


@settings(max_examples=150, deadline=None)
@given(
    names=st.lists(st.text("abAB_x1é ]\\^-(", min_size=1, max_size=9), min_size=1, max_size=40),
    query=st.text("abAB_x1é ]\\^-(", min_size=1, max_size=4),
)
def test_every_tier_equals_a_scan_of_every_name(names: list[str], query: str) -> None:
    """The masks and skeletons only narrow: what they yield is exactly what testing every
    name gives, in the same order."""
    index = _names(names)
    lower = query.lower()
    lowers = {n.lower() for n in names}
    assert _flat(index.prefixed(lower)) == _scan_order(
        {n for n in lowers if n.startswith(lower) and len(n) > len(lower)}
    )
    assert _flat(index.containing(lower)) == _scan_order({n for n in lowers if lower in n})
    saved = symbol_names.MASK_SLICE
    symbol_names.MASK_SLICE = 1  # a numpy call per length: the same names
    try:
        assert _flat(index.containing(lower)) == _scan_order({n for n in lowers if lower in n})
    finally:
        symbol_names.MASK_SLICE = saved
    fuzzy = re.compile(".*".join(re.escape(c) for c in lower), re.S)
    assert _flat(index.subsequence(lower)) == _scan_order({n for n in lowers if fuzzy.search(n)})
    if any(c.isupper() for c in query[1:]):
        humps = "".join(
            ("[a-z0-9_]*" if i and c.isupper() else "") + re.escape(c) for i, c in enumerate(query)
        )
        want = {n.lower() for n in names if re.match(humps, n)}
        assert _flat(index.camel(query)) == _scan_order(want)


def _index(count: int) -> SymbolIndex:
    files = []
    for n in range(count):
        text = (
            f"class HTTPTransport{n}:\n    def send_{n}(self): pass\n\ndef getUserName{n}(): pass\n"
        )
        found = parse_file(f"m{n}.py", "python", text, None)
        assert found is not None and not isinstance(found, str)
        files.append((f"m{n}.py", found))
    return assemble_symbols(files)


def test_find_fills_its_limit_from_the_first_tiers_and_is_the_same_on_every_build() -> None:
    first, second = _index(30), _index(30)
    for query in ("HTTPTransport1", "HTTPTr", "getUN", "send_", "end_2", "gtusr"):
        a = [(m.symbol.path, m.symbol.name, m.match) for m in first.find(query, limit=7)]
        b = [(m.symbol.path, m.symbol.name, m.match) for m in second.find(query, limit=7)]
        assert a == b and len(a) == 7
    found = first.find("HTTPTransport1", limit=4)
    assert [(m.symbol.name, m.match) for m in found] == [
        ("HTTPTransport1", "exact"),
        ("HTTPTransport10", "prefix"),
        ("HTTPTransport11", "prefix"),
        ("HTTPTransport12", "prefix"),
    ]
    assert {m.match for m in first.find("HTTPTr", limit=40)} == {"prefix"}
    assert {m.match for m in first.find("gUN", limit=40)} == {"camel"}
    assert [m.match for m in first.find("end_2", limit=2)] == ["substring", "substring"]
    assert [m.symbol.name for m in first.find("gtusrnm29", limit=3)] == ["getUserName29"]
    assert first.find("gtusrnm29", limit=3)[0].match == "fuzzy"


def test_paths_defining_reads_the_arrays_not_every_symbol() -> None:
    index = _index(12)
    assert index.paths_defining(lambda name: name.endswith("11")) == ["m11.py"]
    assert index.paths_defining(lambda name: name.startswith("send_1")) == [
        "m1.py", "m10.py", "m11.py",
    ]  # fmt: skip
    assert index.paths_defining(lambda name: False) == []


def test_a_kept_index_answers_as_the_one_it_was_kept_from(tmp_path: Path) -> None:
    """A restart loads the arrays and the names' layout as kept, without laying them out
    again: every tier, outline and references answer the same."""
    files = []
    for n in range(20):
        text = f"class HTTPTransport{n}:\n    def send_{n}(self): pass\n\n"
        text += f"def getUserName{n}(): HTTPTransport{n}().send_{n}()\n"
        found = parse_file(f"m{n}.py", "python", text, None)
        assert found is not None and not isinstance(found, str)
        files.append((f"m{n}.py", found))
    table = tmp_path / "symbols-x.sqlite3"
    first = assemble_symbols(files, table)
    opened = SymbolTable.open(table)
    assert opened is not None
    kept = index_from_plain(marshal.loads(marshal.dumps(index_to_plain(first))), opened)  # noqa: S302

    def answers(index: SymbolIndex) -> object:
        found = [
            [(m.symbol.path, m.symbol.name, m.match) for m in index.find(q, limit=9)]
            for q in ("HTTPTransport1", "HTTPTr", "getUN", "send_", "end_2", "gtusr")
        ]
        return found, index.outline("m3.py"), index.references("HTTPTransport7"), len(index)

    assert answers(kept) == answers(first)
    with pytest.raises(ValueError):
        index_from_plain(("not", "it"), opened)


def test_uses_written_a_batch_of_files_at_a_time_read_back_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The table takes a name's uses a batch of files at a time (a row per batch); a
    name used in every batch is read back whole, in file order."""
    from context_bot.knowledge import symbols

    whole = _index(7)
    monkeypatch.setattr(symbols, "USES_BATCH_FILES", 2)
    batched = _index(7)
    for name in ("HTTPTransport3", "self", "send_6", "nothing"):
        assert batched.references(name) == whole.references(name)
        assert list(batched.uses_of(name)) == list(whole.uses_of(name))
    assert batched.references("self")[1] == 7
    assert batched.most_used("m3.py") == whole.most_used("m3.py")
    assert [m.symbol for m in batched.find("gUN")] == [m.symbol for m in whole.find("gUN")]

"""The names of the symbol index, laid out once so that each tier of `symbols` is a lookup.

`SymbolIndex.find` ranks definitions exact → prefix → camel humps → substring → fuzzy, and
inside a tier shorter names first. Scanning every name for the later tiers cost 7 ms at
the median and 28 ms at p95 over the 240k names of 3k files (issue 17), and the whole
repository has a million or more. So each tier has its own structure, built once at load,
and yields names shortest first, group by group, which lets `find` stop as soon as its
limit is filled:

- prefix: the distinct lower-case names of each length, sorted, searched by bisection
  (a prefix of length n is looked for among names of n + 1 characters, then n + 2, ...);
- camel humps: every name under its "skeleton", its first character and the upper-case
  letters after it (`HTTPTransport` → `HTTPT`): a name matches `HTTPTr` only if its
  skeleton starts with the query's (`HTTPT`), so one bisection finds the candidates and a
  regex confirms each;
- substring and fuzzy: two 64-bit masks per name, of the bytes it holds and of its byte
  pairs (numpy arrays, 16 bytes a name): a name can hold `query` as a substring only if
  its pair mask covers the query's, and as a subsequence only if its byte mask covers
  the query's. numpy tests all masks in one pass; only the survivors are checked.
Every structure is sorted, so the same names give the same answers in the same order.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import re2

_TOP = "\U0010ffff"
MASK_SLICE = 1 << 16
"""Names whose masks one numpy call tests at least (a few hundred microseconds)."""
_SEPARATOR = 0x0A  # between names in the blob the masks are computed from: never in a name


def _byte_bits() -> npt.NDArray[np.uint64]:
    """Which bit of the byte mask each byte sets: letters, digits, `_` and `$` have one of
    their own (they are nearly all of an identifier); other bytes share the rest."""
    bits = np.zeros(256, dtype=np.uint64)
    own = b"abcdefghijklmnopqrstuvwxyz0123456789_$"
    for n, b in enumerate(own):
        bits[b] = np.uint64(1) << np.uint64(n)
    spare = 64 - len(own)
    for b in range(256):
        if b not in own and b != _SEPARATOR:
            bits[b] = np.uint64(1) << np.uint64(len(own) + b % spare)
    return bits


_BYTE_BITS = _byte_bits()


def _masks(blob: bytes) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Per byte of `blob`, its byte bit and the bit of the pair it starts (0 for a pair
    that crosses a separator): what `NameIndex` ORs together per name."""
    data = np.frombuffer(blob, dtype=np.uint8)
    singles = _BYTE_BITS[data]
    if len(data) < 2:
        return singles, np.zeros(len(data), dtype=np.uint64)
    first, second = data[:-1].astype(np.uint64), data[1:].astype(np.uint64)
    code = (first * np.uint64(31) + second) % np.uint64(64)
    pairs = np.left_shift(np.uint64(1), code)
    pairs[(data[:-1] == _SEPARATOR) | (data[1:] == _SEPARATOR)] = 0
    return singles, np.append(pairs, np.uint64(0))


def _query_masks(lower: str) -> tuple[int, int]:
    """The query's two masks, as `_masks` computes them for a name (in Python: a query is
    a few bytes, where numpy's call overhead would dominate)."""
    data = lower.encode("utf-8")
    singles = pairs = 0
    for n, b in enumerate(data):
        singles |= int(_BYTE_BITS[b])
        if n:
            pairs |= 1 << ((data[n - 1] * 31 + b) % 64)
    return singles, pairs


def _literal(char: str) -> str:
    """`char` as RE2 reads it literally, in a class or out: a query is text, not a pattern."""
    return char if char.isalnum() or char == "_" else f"\\x{{{ord(char):x}}}"


def _lower(name: str) -> str:
    low = name.lower()
    return name if low == name else low


def skeleton(name: str) -> str:
    """The first character and every upper-case one after it: `getUserName` → `gUN`."""
    return name[:1] + "".join(c for c in name[1:] if c.isupper())


def camel_test(query: str) -> tuple[str, re.Pattern[str]] | None:
    """What `NameIndex.camel` asks of a name as spelled: that its skeleton start with the
    first (the query's) and that the pattern (each hump followed) match it; None when the
    query has no hump after its first character (the camel tier is then empty)."""
    if not any(c.isupper() for c in query[1:]):
        return None
    parts = []
    for n, ch in enumerate(query):
        if n and ch.isupper():
            parts.append("[a-z0-9_]*")
        parts.append(re.escape(ch))
    return skeleton(query), re.compile("".join(parts))


class NameIndex:
    """The distinct names of a symbol index; each tier's lookup yields lower-case names."""

    def __init__(self, names: Sequence[str], plain: object = None) -> None:
        """`names`: the distinct names as spelled (several may share one lower case);
        `plain`: what `to_plain` kept of an index over the same names, instead of laying
        them out again (seconds for half a million names, at every restart)."""
        if plain is not None:
            self._restore(names, plain)
            return
        # One order for every structure: by length, then by name. Each length is then a
        # sorted run (bisection for prefixes) and a scan in this order meets the shorter
        # names first (the masks are tested a length at a time, and the scan stops early).
        # A name already in lower case is its own key: one string, not two.
        lowers = sorted({_lower(n) for n in names if n}, key=lambda n: (len(n), n))
        self.lowers = lowers
        self._runs: list[tuple[int, int, int]] = []  # (length, first, past the last)
        for n, lower in enumerate(lowers):
            if not self._runs or self._runs[-1][0] != len(lower):
                self._runs.append((len(lower), n, n + 1))
            else:
                self._runs[-1] = (len(lower), self._runs[-1][1], n + 1)
        self._run_of = {length: (first, last) for length, first, last in self._runs}
        number = {lower: n for n, lower in enumerate(lowers)}  # while building only
        self.numbers = [number.get(_lower(n), 0) for n in names]
        """Per name of `names`, the number of its lower case (for the caller's arrays)."""
        # A query reaches the camel tier only with a hump after its first character, which
        # a name without an upper-case letter there cannot match: those are left out.
        keys = [skeleton(n) for n in names]
        humped = sorted((key, n) for n, key in enumerate(keys) if len(key) > 1)
        self._camel = [key for key, _ in humped]  # sorted skeletons, bisected
        self._camel_ids = array("I", (n for _, n in humped))
        self._camel_names = [names[n] for n in self._camel_ids]  # the strings of `names`
        self._camel_lower = array("I", (self.numbers[n] for _, n in humped))
        del number, keys
        starts = np.zeros(len(lowers), dtype=np.int64)
        if lowers:
            sizes = np.fromiter((len(n.encode("utf-8")) + 1 for n in lowers[:-1]), np.int64)
            starts[1:] = np.cumsum(sizes)
            singles, pairs = _masks(b"\n".join(n.encode("utf-8") for n in lowers))
            self._singles = np.bitwise_or.reduceat(singles, starts)
            self._pairs = np.bitwise_or.reduceat(pairs, starts)
        else:
            self._singles = self._pairs = np.zeros(0, dtype=np.uint64)

    def to_plain(self) -> tuple[object, ...]:
        """Plain data (lists, str, bytes) for the index cache: `NameIndex(names, plain)`."""
        return (
            self.lowers, self._runs, self._camel, self._camel_ids.tobytes(),
            self._camel_lower.tobytes(), self._singles.tobytes(), self._pairs.tobytes(),
        )  # fmt: skip

    def _restore(self, names: Sequence[str], plain: object) -> None:
        if not isinstance(plain, tuple) or len(plain) != 7:
            raise ValueError("not a name index")
        lowers, runs, camel, camel_ids, camel_lower, singles, pairs = plain
        self.lowers, self._camel = lowers, camel
        self._runs = [tuple(run) for run in runs]
        self._run_of = {length: (first, last) for length, first, last in self._runs}
        self.numbers = []
        self._camel_ids, self._camel_lower = array("I"), array("I")
        self._camel_ids.frombytes(camel_ids)
        self._camel_lower.frombytes(camel_lower)
        self._camel_names = [names[n] for n in self._camel_ids]
        self._singles = np.frombuffer(singles, dtype=np.uint64)
        self._pairs = np.frombuffer(pairs, dtype=np.uint64)
        if len(self._singles) != len(lowers) or len(self._camel) != len(self._camel_ids):
            raise ValueError("name index arrays do not match")

    def find(self, lower: str) -> int | None:
        """The number of the lower-case name `lower` (its place in `lowers`), or None."""
        run = self._run_of.get(len(lower))
        if run is None:
            return None
        first, last = run
        at = bisect.bisect_left(self.lowers, lower, first, last)
        return at if at < last and self.lowers[at] == lower else None

    def prefixed(self, lower: str) -> Iterator[list[int]]:
        """Names that start with `lower` and are longer, a group per length, shortest
        first, each group sorted."""
        for length, first, last in self._runs:
            if length <= len(lower):
                continue
            start = bisect.bisect_left(self.lowers, lower, first, last)
            end = bisect.bisect_left(self.lowers, lower + _TOP, start, last)
            if end > start:
                yield list(range(start, end))

    def camel(self, query: str) -> Iterator[list[int]]:
        """Names (lower case) whose camel humps the query abbreviates: each upper-case
        letter of the query starts a hump, lower-case letters, digits and `_` may follow
        each hump in the name (`HTTPTr` → `HTTPTransport`, `getUN` → `getUserName`)."""
        test = camel_test(query)
        if test is None:
            return iter(())
        key, pattern = test
        start = bisect.bisect_left(self._camel, key)
        end = bisect.bisect_left(self._camel, key + _TOP, start)
        names, lowers = self._camel_names, self._camel_lower
        found = {lowers[n] for n in range(start, end) if pattern.match(names[n])}
        return _by_length_groups(sorted(found), self.lowers)

    def containing(self, lower: str) -> Iterator[list[int]]:
        """Names that hold `lower` as a substring, a group per length, shortest first."""
        singles, pairs = _query_masks(lower)
        pattern = re2.compile("(?m)^[^\\n]*?" + "".join(_literal(c) for c in lower))
        if len(lower.encode("utf-8")) > 1:
            return self._confirmed(lower, self._pairs, pairs, pattern)
        return self._confirmed(lower, self._singles, singles, pattern)

    def subsequence(self, lower: str) -> Iterator[list[int]]:
        """Names that hold the characters of `lower` in order, shortest first."""
        singles, _ = _query_masks(lower)
        # `[^a]*a[^b]*b`: each character at its first place after the last, which is where
        # a subsequence is found if anywhere; nothing to backtrack into.
        pattern = re2.compile(
            "(?m)^" + "".join(f"[^\\n{_literal(c)}]*{_literal(c)}" for c in lower)
        )
        return self._confirmed(lower, self._singles, singles, pattern)

    def _confirmed(
        self, lower: str, masks: npt.NDArray[np.uint64], wanted: int, pattern: Any
    ) -> Iterator[list[int]]:
        """The names of each length (from the query's own) whose mask covers `wanted` and
        that `pattern` matches at the start of, a length at a time. The masks are tested
        a slice of at least `MASK_SLICE` names at a time: one numpy call for many short
        runs, and a caller that stops early has not tested the longer names. The
        survivors of a length are matched as one text, a name a line, in one call of RE2
        (linear, a DFA) rather than a call each."""
        want = np.uint64(wanted)
        lowers = self.lowers
        runs = [run for run in self._runs if run[0] >= len(lower)]
        while runs:
            size = 0
            chunk: list[tuple[int, int, int]] = []
            while runs and (not chunk or size < MASK_SLICE):
                chunk.append(runs.pop(0))
                size += chunk[-1][2] - chunk[-1][1]
            first, last = chunk[0][1], chunk[-1][2]
            hits = (np.flatnonzero((masks[first:last] & want) == want) + first).tolist()
            for length, start, end in chunk:
                mine = hits[bisect.bisect_left(hits, start) : bisect.bisect_left(hits, end)]
                if not mine:
                    continue
                text = "\n".join([lowers[n] for n in mine])
                step = length + 1  # every name of this run has the same length
                kept = [mine[m.start() // step] for m in pattern.finditer(text)]
                if kept:
                    yield kept


def _by_length_groups(ids: list[int], lowers: list[str]) -> Iterator[list[int]]:
    """`ids` (in `lowers` order, so by length) cut where the length changes."""
    group: list[int] = []
    for at in ids:
        if group and len(lowers[group[0]]) != len(lowers[at]):
            yield group
            group = []
        group.append(at)
    if group:
        yield group

"""Each instance's keyword index, fed from the database's change log (SPEC §16, "Speed").

PostgreSQL ranks every match of a query (``ts_rank`` over all rows the GIN index returns), so
a word in a third of 100k items costs ~170 ms. This index keeps, per lexeme, the documents
that hold it with a precomputed score, and per lexeme the order by score, so the top k of a
broad word costs O(k). It is only a cache: the lexemes and weights are PostgreSQL's own
(``items.search`` as text, ``websearch_to_tsquery`` for the query), the rows returned are
read from the database, and every write appends to ``changes`` in its own transaction; the
instance tails that log (and right after its own writes), so the database stays the only
source of truth.

Layout: the snapshot loaded at start is ``term → (docs, scores)`` as compact arrays sorted
by document; documents changed since are an overlay (``term → {doc: score}``) that hides
their snapshot postings. Only queries that are an AND of plain words use it; phrases, OR and
NOT go to PostgreSQL.
"""

from __future__ import annotations

import heapq
import math
import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import Any, Final

__all__ = ["KeywordIndex", "parse_tsquery", "parse_tsvector"]

#: ts_rank's default weights for A, B, C, D
_WEIGHTS: Final = {"A": 1.0, "B": 0.4, "C": 0.2, "D": 0.1}
_D: Final = 0.1
_LEXEME: Final = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")
_AND_QUERY: Final = re.compile(r"'(?:[^']|'')+'(?: & '(?:[^']|'')+')*")
_GAP_GIVE_UP_S: Final = 30.0

Key = tuple[str, str]


def parse_tsvector(text: str) -> dict[str, float]:
    """``'weather':5B,9 'tool':1A`` → lexeme → score: per weight, ``w × (1 + ln n)`` for its
    n positions, summed (a lexeme without positions counts once as D)."""
    out: dict[str, float] = {}
    for lexeme, positions in _LEXEME.findall(text):
        if "''" in lexeme:
            lexeme = lexeme.replace("''", "'")
        if "," not in positions:  # the common case: one position (or none)
            out[lexeme] = _WEIGHTS.get(positions[-1:], _D)
            continue
        counts: dict[float, int] = {}
        for position in positions.split(","):
            weight = _WEIGHTS.get(position[-1:], _D)
            counts[weight] = counts.get(weight, 0) + 1
        out[lexeme] = sum(w * (1.0 + math.log(n)) for w, n in counts.items())
    return out


def parse_tsquery(text: str) -> list[str] | None:
    """The lexemes of ``'a' & 'b'``; None for any other shape (phrase, OR, NOT, empty)."""
    if not _AND_QUERY.fullmatch(text.strip()):
        return None
    return [m.group(1).replace("''", "'") for m in _LEXEME.finditer(text)]


class KeywordIndex:
    """Ranked postings of the public items; not thread-safe (one event loop uses it)."""

    def __init__(self) -> None:
        self.ready = False
        self._keys: list[Key] = []
        self._doc: dict[Key, int] = {}
        self._base: dict[str, tuple[array[int], array[float]]] = {}
        self._order: dict[str, array[int]] = {}
        self._changed: dict[int, dict[str, float]] = {}
        self._overlay: dict[str, dict[int, float]] = {}
        self.low_water = 0
        self._seen: dict[int, float] = {}

    # -- building --------------------------------------------------------------------------

    def load(self, rows: Iterable[tuple[str, str, str]], low_water: int) -> None:
        """Take the snapshot ``(kind, id, search::text)`` of every public item."""
        docs: dict[str, array[int]] = {}
        scores: dict[str, array[float]] = {}
        for kind, item_id, vector in rows:
            number = self._number((kind, item_id))
            for term, score in parse_tsvector(vector).items():
                if term not in docs:
                    docs[term], scores[term] = array("i"), array("f")
                docs[term].append(number)
                scores[term].append(score)
        self._base = {term: (docs[term], scores[term]) for term in docs}
        for term, (_, values) in self._base.items():
            if len(values) > 1000:
                self._order[term] = self._sorted(values)
        self.low_water = low_water
        self.ready = True

    @staticmethod
    def _sorted(values: array[float]) -> array[int]:
        return array("i", sorted(range(len(values)), key=values.__getitem__, reverse=True))

    def _number(self, key: Key) -> int:
        number = self._doc.get(key)
        if number is None:
            number = len(self._keys)
            self._keys.append(key)
            self._doc[key] = number
        return number

    def apply(self, key: Key, vector: str | None) -> None:
        """Replace one item's postings (``vector`` None: it is gone or no longer public)."""
        number = self._number(key)
        for term in self._changed.get(number, {}):
            self._overlay[term].pop(number, None)
        terms = parse_tsvector(vector) if vector is not None else {}
        self._changed[number] = terms
        for term, score in terms.items():
            self._overlay.setdefault(term, {})[number] = score

    def pending(self, seqs: Iterable[tuple[int, float]]) -> Iterator[int]:
        """The change numbers not applied yet, marking them applied; advances the low water
        mark over gaps a slow transaction may still fill, giving up on one after 30 s."""
        for seq, at in seqs:
            if seq > self.low_water and seq not in self._seen:
                self._seen[seq] = at
                yield seq
        now = time.time()
        while self._seen:
            nxt = self.low_water + 1
            if nxt in self._seen:
                del self._seen[nxt]
                self.low_water = nxt
            elif now - min(self._seen.values()) > _GAP_GIVE_UP_S:
                self.low_water = nxt
            else:
                break

    # -- querying --------------------------------------------------------------------------

    def _score(self, term: str, number: int) -> float | None:
        if number in self._changed:
            return self._overlay.get(term, {}).get(number)
        base = self._base.get(term)
        if base is None:
            return None
        docs, scores = base
        at = bisect_left(docs, number)
        return scores[at] if at < len(docs) and docs[at] == number else None

    def _postings(self, term: str) -> Iterator[tuple[int, float]]:
        docs, scores = self._base.get(term, (array("i"), array("f")))
        for number, score in zip(docs, scores, strict=True):
            if number not in self._changed:
                yield number, score
        yield from self._overlay.get(term, {}).items()

    def _size(self, term: str) -> int:
        return len(self._base.get(term, ((), ()))[0]) + len(self._overlay.get(term, {}))

    def top(self, terms: list[str], k: int, kind: str | None = None) -> list[tuple[Key, float]]:
        """The k best public items holding every term, best first."""
        if not terms:
            return []
        wanted = (lambda n: self._keys[n][0] == kind) if kind else (lambda n: True)
        if len(terms) == 1:
            return self._top_one(terms[0], k, wanted)
        rarest, *others = sorted(set(terms), key=self._size)
        scored = []
        for number, score in self._postings(rarest):
            total = score
            for term in others:
                extra = self._score(term, number)
                if extra is None:
                    break
                total += extra
            else:
                if wanted(number):
                    scored.append((total, number))
        best = heapq.nlargest(k, scored)
        return [(self._keys[n], s) for s, n in best]

    def _top_one(self, term: str, k: int, wanted: Any) -> list[tuple[Key, float]]:
        order = self._order.get(term)
        base = self._base.get(term)
        found: list[tuple[float, int]] = []
        if base is not None:
            docs, scores = base
            if order is None:
                order = self._sorted(scores)
                self._order[term] = order
            for at in order:
                number = docs[at]
                if number in self._changed or not wanted(number):
                    continue
                found.append((scores[at], number))
                if len(found) >= k:
                    break
        found.extend((s, n) for n, s in self._overlay.get(term, {}).items() if wanted(n))
        best = heapq.nlargest(k, found)
        return [(self._keys[n], s) for s, n in best]

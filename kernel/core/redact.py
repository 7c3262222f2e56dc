"""Replace secret values with ``***`` before anything is shown, logged or traced (SPEC §8.2).

A :class:`Redactor` knows a set of secret values and scrubs them from text and from nested
JSON-like values (mappings, lists, tuples; keys included). Besides each raw value it also
looks for the value's JSON-escaped and percent-encoded spellings, since secrets travel
inside request bodies and query strings. Values shorter than four characters are ignored:
scrubbing every "1" or "yes" would make output unreadable and protects nothing.

Overlapping or adjacent secrets are merged into one ``***`` so that no fragment of any
secret is left behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor"]

MASK = "***"
MIN_SECRET_LENGTH = 4


class Redactor:
    """Scrubs a fixed set of secret values. Immutable; combine with ``|`` or :meth:`combine`."""

    __slots__ = ("_needles", "_plain", "_search")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        needles: set[str] = set()
        for secret in secrets:
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                continue
            needles.add(secret)
            needles.add(json.dumps(secret)[1:-1])
            needles.add(json.dumps(secret, ensure_ascii=False)[1:-1])
            needles.add(quote(secret, safe=""))
            needles.add(quote(secret, safe="/"))
        self._needles: frozenset[str] = frozenset(n for n in needles if n)
        self._search = _searcher(self._needles)
        self._plain = _plain(self._needles)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __repr__(self) -> str:
        # Never show the values themselves, not even their lengths.
        return f"Redactor(<{len(self._needles)} patterns>)"

    def __or__(self, other: Redactor) -> Redactor:
        return self.combine(other)

    def combine(self, *others: Redactor) -> Redactor:
        """A redactor that scrubs everything this one and ``others`` scrub."""
        merged = Redactor()
        needles = set(self._needles)
        for other in others:
            needles |= other._needles
        merged._needles = frozenset(needles)
        merged._search = _searcher(merged._needles)
        merged._plain = _plain(merged._needles)
        return merged

    def redact_text(self, text: str) -> str:
        """``text`` with every occurrence of every secret replaced by ``***``."""
        if not self._needles or not text:
            return text
        spans: list[tuple[int, int]] = []
        for needle in self._needles:
            start = text.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = text.find(needle, start + 1)
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        cursor = 0
        span_start, span_end = spans[0]
        for start, end in spans[1:]:
            if start <= span_end:
                span_end = max(span_end, end)
                continue
            out.append(text[cursor:span_start])
            out.append(MASK)
            cursor = span_end
            span_start, span_end = start, end
        out.append(text[cursor:span_start])
        out.append(MASK)
        out.append(text[span_end:])
        return "".join(out)

    def redact_value(self, value: Any) -> Any:
        """A copy of a JSON-like value with secrets scrubbed from every string in it.

        Mappings become ``dict`` (keys scrubbed too), lists and tuples keep their type;
        other values are returned unchanged.
        """
        if not self._needles:
            return value
        return self._copy(value)

    def redact_event(self, value: Any) -> Any:
        """``redact_value`` for a value nobody keeps or changes (a streamed event): returned
        as it is when it holds no secret — one walk with a regex search per string finds
        that out — and copied only when it does."""
        if not self._needles:
            return value
        if self._plain and type(value) is dict:
            # repr shows every string of plain JSON values verbatim, a needle without quotes,
            # backslashes or unprintables included: one C-speed pass decides.
            clean = self._search(repr(value)) is None
        else:
            clean = not self._holds(value)
        return value if clean else self._copy(value)

    def _holds(self, value: Any) -> bool:
        kind = type(value)
        if kind is str:
            return self._search(value) is not None
        if kind is dict or isinstance(value, Mapping):
            search = self._search
            for key, item in value.items():
                if (type(key) is str and search(key)) or self._holds(item):
                    return True
            return False
        if kind in (list, tuple) or isinstance(value, list | tuple):
            return any(self._holds(item) for item in value)
        return isinstance(value, str) and self._search(value) is not None

    def _copy(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_text(value) if self._search(value) else value
        if isinstance(value, Mapping):
            return {
                (self.redact_text(k) if isinstance(k, str) else k): self._copy(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._copy(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self._copy(item) for item in value)
        return value


def _plain(needles: frozenset[str]) -> bool:
    """Whether every needle appears verbatim in the ``repr`` of a string holding it."""
    return all(n.isprintable() and not set(n) & {"'", '"', "\\"} for n in needles)


def _searcher(needles: frozenset[str]) -> Callable[[str], object]:
    """One search for any of ``needles`` (a precheck: ``redact_text`` finds each span)."""
    if not needles:
        return lambda text: None
    return re.compile("|".join(re.escape(n) for n in sorted(needles))).search

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
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor"]

MASK = "***"
MIN_SECRET_LENGTH = 4


class Redactor:
    """Scrubs a fixed set of secret values. Immutable; combine with ``|`` or :meth:`combine`."""

    __slots__ = ("_needles",)

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
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, Mapping):
            return {
                (self.redact_text(k) if isinstance(k, str) else k): self.redact_value(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact_value(item) for item in value)
        return value

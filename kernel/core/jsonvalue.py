"""JSON values as jsonschema 4 compares them (for ``schemafast``). Pure.

``bool`` is neither integer nor number and ``1.0`` is an integer; ``json_equal`` is ``==``
that keeps booleans apart from numbers, recursively; ``all_unique`` is jsonschema's ``uniq``
with its quirks; ``multiple_of`` falls back to exact fractions where a float quotient
overflows.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

__all__ = ["TYPE_TESTS", "all_unique", "is_integer", "is_number", "json_equal", "multiple_of"]


def is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Number)


TYPE_TESTS: Mapping[str, Callable[[Any], bool]] = MappingProxyType(
    {
        "array": lambda value: isinstance(value, list),
        "boolean": lambda value: isinstance(value, bool),
        "integer": is_integer,
        "null": lambda value: value is None,
        "number": is_number,
        "object": lambda value: isinstance(value, dict),
        "string": lambda value: isinstance(value, str),
    }
)


def _unbool(value: Any, true: object = object(), false: object = object()) -> Any:
    if value is True:
        return true
    if value is False:
        return false
    return value


def json_equal(one: Any, two: Any) -> bool:
    """jsonschema's ``equal``: ``==`` that keeps booleans apart from numbers, recursively."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(
            json_equal(i, j) for i, j in zip(one, two, strict=False)
        )
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and json_equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def all_unique(items: list[Any]) -> bool:
    """jsonschema's ``uniq``: sorted neighbours when sortable (so ``[[1], [True], [1]]``
    passes there too), else every pair."""
    try:
        ordered = sorted(_unbool(i) for i in items)
        for i, j in zip(ordered, itertools.islice(ordered, 1, None), strict=False):
            if json_equal(i, j):
                return False
    except (NotImplementedError, TypeError):
        seen: list[Any] = []
        for item in items:
            item = _unbool(item)
            if any(json_equal(other, item) for other in seen):
                return False
            seen.append(item)
    return True


def multiple_of(value: Any, step: int | float) -> bool:
    if isinstance(step, float):
        quotient = value / step
        try:
            return bool(int(quotient) == quotient)
        except OverflowError:
            from fractions import Fraction  # rare (huge quotients); ~2 ms to import

            return (Fraction(value) / Fraction(step)).denominator == 1
    return not value % step

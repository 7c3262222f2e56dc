"""A JSON Schema 2020-12 subset compiled into a validity predicate. Pure.

``compile_schema`` turns a schema into nested closures that say only whether a value is valid,
under one rule: for a schema it accepts, ``check(value)`` is ``True`` exactly when
``jsonschema.Draft202012Validator(schema).is_valid(value)`` is. Callers run jsonschema on an
invalid value for the messages, so those never change.

The subset: ``type``, ``enum``, ``const``, the numeric, string, array and object assertions,
``properties``, ``patternProperties``, ``additionalProperties``, ``items``, ``prefixItems``,
``allOf``, ``anyOf``, ``oneOf``, ``not``, the annotations (``format`` among them: jsonschema
asserts no format without a checker) and ``$schema`` naming 2020-12. Anything else (``$ref``,
``if``, ``contains``, an unknown keyword, a non-finite number) or a value ``check_schema``
would refuse makes ``compile_schema`` return ``None``: an accepted schema is a valid one.

Semantics copied from jsonschema 4: ``bool`` is neither integer nor number, ``1.0`` is an
integer; ``enum``, ``const`` and ``uniqueItems`` use its ``equal`` (``1 == 1.0``, ``True != 1``,
also nested) and ``uniq`` (quirks included); patterns are ``re.search``; ``additionalProperties``
skips names matching the ``"|"``-joined ``patternProperties``. Where jsonschema crashes on a
value (``multipleOf`` of a huge integer, a non-string key under a pattern) a check may raise
too; callers then let jsonschema decide.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from kiwi_mcp.kernel.core.jsonvalue import (
    TYPE_TESTS,
    all_unique,
    is_number,
    json_equal,
    multiple_of,
)

__all__ = ["Check", "compile_schema", "passes"]

Check = Callable[[Any], bool]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_ANNOTATIONS: Mapping[str, type] = MappingProxyType(
    {
        **dict.fromkeys(("title", "description", "$comment", "format"), str),
        **dict.fromkeys(("deprecated", "readOnly", "writeOnly"), bool),
        "examples": list,
    }
)
_NUMBER_WORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_WORDS = ("minLength", "maxLength", "pattern")
_ARRAY_WORDS = ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")
_OBJECT_WORDS: tuple[str, ...] = ("properties", "patternProperties", "additionalProperties")
_OBJECT_WORDS += ("required", "minProperties", "maxProperties")
_KNOWN = frozenset(
    (*_ANNOTATIONS, *_NUMBER_WORDS, *_STRING_WORDS, *_ARRAY_WORDS, *_OBJECT_WORDS)
) | {"$schema", "default", "type", "enum", "const", "allOf", "anyOf", "oneOf", "not"}


class _Unsupported(Exception):
    """The schema leaves the subset (or is malformed): the caller falls back to jsonschema."""


def compile_schema(schema: Any) -> Check | None:
    """A predicate equivalent to jsonschema's ``is_valid`` for ``schema``, or ``None``.

    ``None`` means the schema uses something outside the subset or is malformed; validate it
    with jsonschema instead. Never raises.
    """
    try:
        return _compile(schema)
    except (_Unsupported, RecursionError):
        return None


# --- jsonschema's semantics ----------------------------------------------------------------


def passes(check: Check | None, value: Any) -> bool:
    """Whether ``value`` surely passes: ``False`` also when there is no check or it raised
    (on values jsonschema may crash on too) — the caller then lets jsonschema decide."""
    if check is None:
        return False
    try:
        return check(value)
    except (ArithmeticError, TypeError, ValueError, RecursionError):
        return False


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


# --- reading keyword values (each refusal is one check_schema would make, or stricter) --------


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unsupported
    if isinstance(value, float) and not math.isfinite(value):
        raise _Unsupported
    return value


def _count(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _Unsupported
    if isinstance(value, float) and not value.is_integer():
        raise _Unsupported
    return value


def _regex(pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise _Unsupported
    try:
        return re.compile(pattern)
    except Exception:  # re.error, and OverflowError/RecursionError for extreme patterns
        raise _Unsupported from None


def _schemas(value: Any) -> list[Check]:
    if not isinstance(value, list) or not value:
        raise _Unsupported
    return [_compile(sub) for sub in value]


def _all(checks: list[Check]) -> Check:
    checks = [c for c in checks if c is not _always]
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)
    frozen = tuple(checks)
    return lambda value: all(check(value) for check in frozen)


# --- compiling ---------------------------------------------------------------------------


def _compile(schema: Any) -> Check:
    if schema is True:
        return _always
    if schema is False:
        return _never
    if not isinstance(schema, dict):
        raise _Unsupported
    for key, value in schema.items():
        if not isinstance(key, str) or key not in _KNOWN:
            raise _Unsupported
        wanted = _ANNOTATIONS.get(key)
        if wanted is not None and not isinstance(value, wanted):
            raise _Unsupported
    if "$schema" in schema and schema["$schema"] != _DIALECT:
        raise _Unsupported  # another dialect switches jsonschema's rules for this subschema

    checks: list[Check] = []
    strict: str | None = None  # the one type a group may take over from ``type``
    if "type" in schema:
        names = schema["type"]
        if isinstance(names, str):
            names = [names]
        known = isinstance(names, list) and all(isinstance(n, str) for n in names)
        if not known or not names or not set(names) <= TYPE_TESTS.keys():
            raise _Unsupported
        if len(set(names)) < len(names):
            raise _Unsupported
        checks.append(_type_check(names))
        if len(names) == 1:
            strict = names[0]
    if "enum" in schema:
        checks.append(_enum(schema["enum"]))
    if "const" in schema:
        const = schema["const"]
        checks.append(lambda value: json_equal(value, const))
    for words, group, kind in (
        (_NUMBER_WORDS, _number_check, "number"),
        (_STRING_WORDS, _string_check, "string"),
        (_ARRAY_WORDS, _array_check, "array"),
        (_OBJECT_WORDS, _object_check, "object"),
    ):
        if any(word in schema for word in words):
            taken = strict == kind
            checks.append(group(schema, taken))
            if taken:  # the group refuses other types itself
                checks.remove(TYPE_TESTS[kind])
    for word in ("allOf", "anyOf", "oneOf"):
        if word in schema:
            checks.append(_combinator(word, _schemas(schema[word])))
    if "not" in schema:
        inner = _compile(schema["not"])
        checks.append(lambda value: not inner(value))
    return _all(checks)


def _type_check(names: list[str]) -> Check:
    tests = tuple(TYPE_TESTS[n] for n in names)
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda value: first(value) or second(value)
    return lambda value: any(test(value) for test in tests)


def _enum(members: Any) -> Check:
    if not isinstance(members, list):
        raise _Unsupported
    frozen = tuple(members)
    if all(type(m) is str for m in members):
        # equal(m, x) is ``m == x`` here, which for a str x only a str m satisfies
        names = frozenset(members)
        return lambda value: (
            value in names if type(value) is str else any(json_equal(m, value) for m in frozen)
        )
    return lambda value: any(json_equal(m, value) for m in frozen)


def _combinator(word: str, subs: list[Check]) -> Check:
    frozen = tuple(subs)
    if word == "allOf":
        return _all(subs)
    if word == "anyOf":
        return lambda value: any(sub(value) for sub in frozen)
    # oneOf: jsonschema evaluates every branch, so do the same
    return lambda value: sum(1 for sub in frozen if sub(value)) == 1


def _number_check(schema: Mapping[str, Any], strict: bool) -> Check:
    minimum, maximum, ex_min, ex_max, step = (
        _number(schema[word]) if word in schema else None for word in _NUMBER_WORDS
    )
    if step is not None and step <= 0:
        raise _Unsupported

    def check(value: Any) -> bool:
        kind = type(value)
        if kind is not int and kind is not float and not is_number(value):
            return not strict
        number: Any = value
        if minimum is not None and number < minimum:
            return False
        if maximum is not None and number > maximum:
            return False
        if ex_min is not None and number <= ex_min:
            return False
        if ex_max is not None and number >= ex_max:
            return False
        return step is None or multiple_of(number, step)

    return check


def _sizes(schema: Mapping[str, Any], least: str, most: str) -> tuple[float, float, bool]:
    low = _count(schema[least]) if least in schema else 0
    high = _count(schema[most]) if most in schema else math.inf
    return low, high, least in schema or most in schema


def _string_check(schema: Mapping[str, Any], strict: bool) -> Check:
    low, high, sized = _sizes(schema, "minLength", "maxLength")
    search = _regex(schema["pattern"]).search if "pattern" in schema else None

    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return not strict
        if sized and not low <= len(value) <= high:
            return False
        return search is None or search(value) is not None

    return check


def _array_check(schema: Mapping[str, Any], strict: bool) -> Check:
    low, high, sized = _sizes(schema, "minItems", "maxItems")
    unique = schema.get("uniqueItems", False)
    if not isinstance(unique, bool):
        raise _Unsupported
    prefix = tuple(_schemas(schema["prefixItems"])) if "prefixItems" in schema else ()
    skip = len(prefix)
    rest = _compile(schema["items"]) if "items" in schema else _always
    each = None if rest is _always else rest

    def check(value: Any) -> bool:
        if not isinstance(value, list):
            return not strict
        if sized and not low <= len(value) <= high:
            return False
        if prefix:
            for item, sub in zip(value, prefix, strict=False):
                if not sub(item):
                    return False
        if each is not None:
            for item in value[skip:] if skip else value:
                if not each(item):
                    return False
        return not unique or all_unique(value)

    return check


def _object_check(schema: Mapping[str, Any], strict: bool) -> Check:
    low, high, sized = _sizes(schema, "minProperties", "maxProperties")
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
        raise _Unsupported
    if len(set(required)) < len(required):
        raise _Unsupported
    names = tuple(required)
    declared = schema.get("properties", {})
    patterned = schema.get("patternProperties", {})
    if not isinstance(declared, dict) or not isinstance(patterned, dict):
        raise _Unsupported
    if not all(isinstance(name, str) for name in declared):
        raise _Unsupported
    # a declared name with a trivial check maps to None: it is still not "extra"
    lookup: dict[str, Check | None] = {}
    for name, sub in declared.items():
        compiled = _compile(sub)
        lookup[name] = None if compiled is _always else compiled
    pairs = tuple((name, sub) for name, sub in lookup.items() if sub is not None)
    patterns = tuple((_regex(p).search, _compile(sub)) for p, sub in patterned.items())
    patterns = tuple((search, sub) for search, sub in patterns if sub is not _always)
    extra: Check | None = None
    joined: Callable[[str], Any] | None = None
    if "additionalProperties" in schema:
        extra = _compile(schema["additionalProperties"])
        if extra is _always:
            extra = None
        elif patterned:
            joined = _regex("|".join(patterned)).search
    get = lookup.get
    general = bool(patterns) or joined is not None
    walk = extra is not None or len(pairs) > 8

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return not strict
        if sized and not low <= len(value) <= high:
            return False
        for name in names:
            if name not in value:
                return False
        if general:
            for key, item in value.items():
                if key in lookup:
                    sub = lookup[key]
                    if sub is not None and not sub(item):
                        return False
                elif extra is not None and not (joined and joined(key)) and not extra(item):
                    return False
                for search, sub in patterns:
                    if search(key) and not sub(item):
                        return False
        elif walk:
            for key, item in value.items():
                sub = get(key, extra)
                if sub is not None and not sub(item):
                    return False
        else:
            for name, sub in pairs:
                if name in value and not sub(value[name]):
                    return False
        return True

    return check

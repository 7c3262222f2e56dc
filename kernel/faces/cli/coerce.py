"""``-p key=value`` pairs coerced by a tool's ``parameters`` schema (SPEC §11)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from kiwi_mcp.kernel.errors import UsageError

__all__ = ["coerce_pairs", "coerce_value"]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _schema_at(schema: Mapping[str, Any], path: Sequence[str]) -> Mapping[str, Any]:
    current: Any = schema
    for part in path:
        props = current.get("properties") if isinstance(current, Mapping) else None
        current = props.get(part) if isinstance(props, Mapping) else None
        if not isinstance(current, Mapping):
            return {}
    return current if isinstance(current, Mapping) else {}


def coerce_value(text: str, schema: Mapping[str, Any], where: str) -> Any:
    """Turn ``text`` into the type the schema asks for.

    Raises:
        UsageError: the text does not fit (names the key and the wanted type).
    """
    wanted = schema.get("type")
    types = wanted if isinstance(wanted, list) else [wanted] if wanted else []
    for kind in types:
        if kind == "integer":
            try:
                return int(text)
            except ValueError:
                continue
        if kind == "number":
            try:
                return float(text) if any(c in text for c in ".eE") else int(text)
            except ValueError:
                continue
        if kind == "boolean":
            lowered = text.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            continue
        if kind in ("array", "object"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(value, list if kind == "array" else dict):
                return value
            continue
        if kind == "null" and text == "null":
            return None
        if kind == "string":
            return text
    if not types:
        return text
    raise UsageError(
        f"-p {where}={text!r}: expected {' or '.join(map(str, types))}",
        hint='Arrays and objects take JSON text, e.g. -p tags=\'["a","b"]\'.',
    )


def coerce_pairs(pairs: Sequence[str], schema: Mapping[str, Any], into: dict[str, Any]) -> None:
    """Apply ``key=value`` pairs to ``into``; ``a.b=1`` sets a nested key.

    Raises:
        UsageError: a pair without '=', an empty key, or a value of the wrong type.
    """
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p {pair!r}: expected KEY=VALUE", hint="For example: -p city=Oslo")
        path = key.split(".")
        if any(not part for part in path):
            raise UsageError(f"-p {pair!r}: empty segment in the key")
        target = into
        for part in path[:-1]:
            nxt = target.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise UsageError(f"-p {pair!r}: {part!r} is already set to a non-object value")
            target = nxt
        target[path[-1]] = coerce_value(text, _schema_at(schema, path), key)

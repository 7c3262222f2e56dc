"""Dotted paths into wire JSON (``message.usage``, ``choices.0.delta``) and the ``$.name``
placeholders of a protocol's body templates.

A protocol is data; these two small languages are how it points into what a provider sends and
shapes what Kiwi sends. A path is compiled once (when the protocol is read) into a tuple of
keys and list indexes; looking one up never raises, a missing step gives ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Path", "compile_path", "fill", "lookup", "placeholders"]

#: A compiled path: keys (str) and list indexes (int).
Path = tuple[str | int, ...]

_PLACEHOLDER = "$."


def compile_path(text: str) -> Path:
    """``"a.b.0"`` as ``("a", "b", 0)``; ``"$"`` or ``""`` is the value itself."""
    if text in ("", "$"):
        return ()
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def lookup(value: Any, path: Path) -> Any:
    """The value at ``path``, or ``None`` where a step is missing or of the wrong kind."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
            if value is None:
                return None
    return value


def placeholders(template: Any) -> set[str]:
    """The names a body template asks for (``$.call_id`` → ``call_id``)."""
    found: set[str] = set()
    if isinstance(template, str):
        if template.startswith(_PLACEHOLDER):
            found.add(template[len(_PLACEHOLDER) :])
    elif isinstance(template, Mapping):
        for item in template.values():
            found |= placeholders(item)
    elif isinstance(template, Sequence):
        for item in template:
            found |= placeholders(item)
    return found


def fill(template: Any, values: Mapping[str, Any]) -> Any:
    """``template`` with each ``"$.name"`` string replaced by ``values[name]`` (its type kept).

    A key whose placeholder has no value (``None``) is left out, so optional wire fields stay
    absent; ``"$$."`` at the start of a string is a literal ``"$."``.
    """
    if isinstance(template, str):
        if template.startswith(_PLACEHOLDER):
            return values.get(template[len(_PLACEHOLDER) :])
        if template.startswith("$$."):
            return template[1:]
        return template
    if isinstance(template, Mapping):
        out: dict[str, Any] = {}
        for key, item in template.items():
            filled = fill(item, values)
            if filled is not None:
                out[key] = filled
        return out
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template

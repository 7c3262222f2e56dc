"""Dotted paths into wire JSON (``message.usage``, ``choices.0.delta``) and the ``$.name``
placeholders of a protocol's body templates.

A protocol is data; these two small languages are how it points into what a provider sends and
shapes what Kiwi sends. A path is compiled once (when the protocol is read) into a tuple of
keys and list indexes; looking one up never raises, a missing step gives ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Getter", "Path", "compile_path", "fill", "getter", "lookup", "placeholders"]

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


Getter = Callable[[Any], Any]


def getter(path: Path) -> Getter:
    """``lookup`` of ``path`` as one function, unrolled for the short key paths a stream
    mapping uses (the assembler calls these several times per event)."""
    if not path:
        return lambda value: value
    if all(isinstance(step, str) for step in path) and len(path) <= 3:
        if len(path) == 1:
            (a,) = path

            def one(value: Any) -> Any:
                return value.get(a) if type(value) is dict else None

            return one
        if len(path) == 2:
            a, b = path

            def two(value: Any) -> Any:
                if type(value) is dict:
                    value = value.get(a)
                    if type(value) is dict:
                        return value.get(b)
                return None

            return two
        a, b, c = path

        def three(value: Any) -> Any:
            if type(value) is dict:
                value = value.get(a)
                if type(value) is dict:
                    value = value.get(b)
                    if type(value) is dict:
                        return value.get(c)
            return None

        return three
    return lambda value: lookup(value, path)


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

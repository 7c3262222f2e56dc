"""Config merge along a chain (SPEC §5.3). Pure."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["merge_configs", "merge_into"]


def merge_into(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``overlay`` merged over ``base``.

    Mappings merge recursively; lists and scalars replace; ``None`` removes the key.
    Neither input is modified, and the result shares no mutable value with them.
    """
    out: dict[str, Any] = copy.deepcopy(dict(base))
    _merge_in_place(out, overlay)
    return out


def _merge_in_place(target: dict[str, Any], overlay: Mapping[str, Any]) -> None:
    for key, value in overlay.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping):
            below = target.get(key)
            if not isinstance(below, dict):
                below = {}
                target[key] = below
            _merge_in_place(below, value)
        else:
            target[key] = copy.deepcopy(value)


def merge_configs(configs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge configs given from the lowest (the primitive) to the highest (the asked tool)."""
    merged: dict[str, Any] = {}
    for config in configs:
        _merge_in_place(merged, config)
    return merged

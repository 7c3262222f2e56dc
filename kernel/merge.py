"""Config merge along a chain (SPEC §5.3). Pure."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["merge_configs", "merge_into"]


def merge_into(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``overlay`` merged over ``base``.

    Mappings merge recursively; lists and scalars replace; ``None`` removes the key.
    Neither input is modified.
    """
    out: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping):
            below = out.get(key)
            out[key] = merge_into(below if isinstance(below, Mapping) else {}, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_configs(configs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge configs given from the lowest (the primitive) to the highest (the asked tool)."""
    merged: dict[str, Any] = {}
    for config in configs:
        merged = merge_into(merged, config)
    return merged

"""Where an installed item came from, as a lockfile pin (SPEC §16 "records a pin").

``kiwi registry install`` writes one pin per item (registry URL, version, content hash,
publisher, fingerprint) into ``<space>/registry/pins.json`` of the space it wrote the item
into. A chain's lockfile carries ``registry:<kind>:<id>`` → the canonical hash of that pin
for every link loaded from a space that holds one, so a re-install from another registry,
version or publisher is drift — at ``kiwi lockfile validate`` and, under the strict policy,
at execution — even when the bytes happen to be the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kiwi_mcp.kernel.errors import UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.core.chain import Chain

__all__ = ["pin_hashes", "pins_path", "read_pins"]


def pins_path(space_root: Path) -> Path:
    return space_root / "registry" / "pins.json"


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def read_pins(
    space_root: Path, read_bytes: Callable[[Path], bytes | None] = _read_or_none
) -> dict[str, dict[str, str]]:
    """The pins of one space (``{"<kind>:<id>": pin}``); empty when there are none.
    ``read_bytes`` (None: no file) lets a kernel read through its witnessed file cache, so a
    prepared chain is planned again when the pins change.

    Raises UsageError when the file is not a JSON object of objects (which file, how to mend).
    """
    path = pins_path(space_root)
    raw = read_bytes(path)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UsageError(
            f"{path} is not a JSON object of pins",
            hint=f"Delete {path} and install the registry items again.",
        )
    return data


def pin_hashes(
    chain: Chain,
    roots: Mapping[str, Path],
    read_bytes: Callable[[Path], bytes | None] = _read_or_none,
) -> dict[str, str]:
    """``{"registry:tool:<id>": canonical_hash(pin)}`` for the links of ``chain`` whose
    space (a key of ``roots``: space name → its folder) holds a pin for them."""
    from kiwi_mcp.kernel.core.canonical import canonical_hash

    by_space: dict[str, dict[str, dict[str, str]]] = {}
    out: dict[str, str] = {}
    for loaded in chain.links:
        space = loaded.file.space
        root = roots.get(space)
        if root is None:
            continue
        if space not in by_space:
            by_space[space] = read_pins(root, read_bytes)
        pin = by_space[space].get(f"tool:{loaded.item.id}")
        if pin is not None:
            out[f"registry:tool:{loaded.item.id}"] = canonical_hash(pin)
    return out

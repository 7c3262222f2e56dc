"""Spaces and the records of items found in them (SPEC §3). Pure values: paths are names
here; finding and reading the files is ``kiwi_mcp.kernel.store.items``' job."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from kiwi_mcp.kernel.core.ids import Kind, folder_for
from kiwi_mcp.kernel.core.items import Item

__all__ = [
    "SPACE_ORDER",
    "ItemFile",
    "LoadedItem",
    "Located",
    "Space",
    "SpaceName",
    "tier_for",
]

SpaceName = Literal["project", "user", "system"]
SPACE_ORDER: tuple[SpaceName, ...] = ("project", "user", "system")


@dataclass(frozen=True, kw_only=True, slots=True)
class Space:
    """One space: its name and its ``.ai`` folder."""

    name: SpaceName
    root: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemFile:
    """One file that holds an item."""

    kind: Kind
    id: str
    space: SpaceName
    path: Path
    ext: str
    escapes: bool = False

    @property
    def label(self) -> str:
        return f"{self.space}:{folder_for(self.kind)}/{self.id}{self.ext}"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "space": self.space, "path": str(self.path)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Located:
    """The file an id resolves to, and the files it shadows or that were ignored."""

    file: ItemFile
    shadowed: tuple[ItemFile, ...] = ()
    ignored: tuple[ItemFile, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedItem:
    """A located item with the bytes read and the record parsed from them."""

    located: Located
    item: Item
    data: bytes
    sha256: str

    @property
    def file(self) -> ItemFile:
        return self.located.file


_TIERS: Mapping[SpaceName, tuple[SpaceName, ...]] = MappingProxyType(
    {
        "project": ("project", "user", "system"),
        "user": ("user", "system"),
        "system": ("system",),
    }
)


def tier_for(space: SpaceName) -> tuple[SpaceName, ...]:
    """The spaces a link from ``space`` may execute through (same or lower tier)."""
    return _TIERS[space]

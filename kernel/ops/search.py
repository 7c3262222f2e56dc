"""Simple ranked keyword search over items (SPEC §10 ``search``, §11 ``kiwi search``).

Scores words of the query against the id, name, category, description and body. A later
issue replaces this with SQLite FTS5 + semantic search behind the same function.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.core.ids import KINDS, Kind
from kiwi_mcp.kernel.core.items import Directive, Knowledge, Tool
from kiwi_mcp.kernel.core.spaces import SPACE_ORDER, ItemFile, SpaceName
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.store.items import ItemStore

__all__ = ["SearchHit", "search", "skipped_entries"]

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, kw_only=True, slots=True)
class SearchHit:
    kind: Kind
    id: str
    space: SpaceName
    description: str
    score: float
    path: str
    shadowed: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "space": self.space,
            "description": self.description,
            "score": round(self.score, 3),
            "path": self.path,
            "shadowed": list(self.shadowed),
            "error": self.error,
        }


def _fields(store: ItemStore, file: ItemFile) -> tuple[str, str, str | None]:
    """(description, body text to search, parse error) — never executes the item."""
    try:
        loaded = store.load_located(store.locate(file.kind, file.id, within=(file.space,)))
    except KiwiError as err:
        return "", "", err.message
    item = loaded.item
    if isinstance(item, Tool):
        return item.description, item.tool_type, None
    if isinstance(item, Directive):
        return item.description, item.process, None
    assert isinstance(item, Knowledge)
    return item.title, " ".join([*item.tags, item.body]), None


def search(
    store: ItemStore,
    query: str,
    *,
    kinds: Sequence[Kind] = KINDS,
    spaces: Sequence[SpaceName] = SPACE_ORDER,
    limit: int = 20,
) -> list[SearchHit]:
    """Items matching the words of ``query``, best first; the winner of each id only,
    with the files it shadows listed."""
    words = _WORD.findall(query.lower())
    store.refresh()
    hits: list[SearchHit] = []
    for kind in kinds:
        by_id: dict[str, list[ItemFile]] = {}
        for file in store.iter_files(kind, spaces):
            by_id.setdefault(file.id, []).append(file)
        for item_id, files in by_id.items():
            files.sort(key=lambda f: SPACE_ORDER.index(f.space))
            winner = files[0]
            description, body, error = _fields(store, winner)
            name = item_id.rsplit("/", 1)[-1]
            score = 0.0
            id_lower, desc_lower, body_lower = item_id.lower(), description.lower(), body.lower()
            for word in words:
                if word == name:
                    score += 10
                elif word in name:
                    score += 6
                elif word in id_lower:
                    score += 4
                if word in desc_lower:
                    score += 3
                if word in body_lower:
                    score += 1
            if words and score == 0:
                continue
            hits.append(
                SearchHit(
                    kind=kind,
                    id=item_id,
                    space=winner.space,
                    description=description,
                    score=score,
                    path=str(winner.path),
                    shadowed=tuple(f"{f.space}:{f.path}" for f in files[1:]),
                    error=error,
                )
            )
    hits.sort(key=lambda h: (-h.score, h.kind, h.id))
    return hits[:limit]


def skipped_entries(
    store: ItemStore, *, kinds: Sequence[Kind] = KINDS, spaces: Sequence[SpaceName] = SPACE_ORDER
) -> list[dict[str, str]]:
    """What the index left out of ``kinds`` in ``spaces`` and why (symlink loops, dangling
    links, FIFOs…), each path relative to its space's ``.ai`` folder: shown next to search
    results so a broken entry is reported, never silently missing."""
    roots = {space.name: space.root for space in store.spaces}
    out: list[dict[str, str]] = []
    for kind in kinds:
        for entry in store.skipped(kind, spaces):
            root = roots.get(entry.space)
            try:
                shown = entry.path.relative_to(root).as_posix() if root else entry.path.name
            except ValueError:
                shown = entry.path.name
            out.append({"kind": kind, "space": entry.space, "path": shown, "reason": entry.reason})
    return out

"""Which kinds of a space changed since the index's last commit (SPEC §15 "Incremental").

The index records every folder it walked with its mtime; a kind whose folders all keep their
mtime needs no listing. Comparing costs a ``stat`` per folder. In a process that asks again
(``kiwi serve``), the folders are also covered by the folder watch (``store/watch.py``): a kind
found unchanged at watch generation *g* is not looked at again while the generation is *g*,
so a search in a server costs no ``stat`` of the space at all while nothing changed. A one-shot
command asks once and never opens the watch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from kiwi_mcp.kernel.core.ids import Kind

if TYPE_CHECKING:
    from kiwi_mcp.kernel.store.watch import FolderWatch

__all__ = ["FolderCheck", "mtime_ns"]


def mtime_ns(path: str) -> int:
    """A folder's mtime, or -1 when it cannot be ``stat``-ed (as the walk records a gone one)."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


class FolderCheck:
    """The changed-kinds question of one index, remembered between calls. Not thread-safe
    (the index's own lock serializes its callers)."""

    def __init__(self) -> None:
        self._watch: FolderWatch | None = None
        self._asked = False
        self._unchanged_at: dict[Kind, int] = {}  # kind → the generation it was seen at

    def changed(
        self, kinds: Sequence[Kind], folders: Callable[[Kind], Mapping[str, int]]
    ) -> list[Kind]:
        """The ``kinds`` whose recorded ``folders(kind)`` (path → mtime) no longer hold, or
        that recorded none."""
        watch = self._watch
        if watch is None and self._asked:
            from kiwi_mcp.kernel.store.watch import FolderWatch

            watch = self._watch = FolderWatch.shared()
        self._asked = True
        generation = watch.drain() if watch is not None else None  # before any stat
        out: list[Kind] = []
        for kind in kinds:
            if generation is not None and self._unchanged_at.get(kind) == generation:
                continue
            self._unchanged_at.pop(kind, None)
            mtimes = folders(kind)
            # each watch before the stat it vouches for: a later change is a later generation
            covered = watch is not None and all([watch.cover(path) for path in mtimes])
            if not mtimes or any(mtime_ns(path) != m for path, m in mtimes.items()):
                out.append(kind)
            elif covered and generation is not None:
                self._unchanged_at[kind] = generation
        return out

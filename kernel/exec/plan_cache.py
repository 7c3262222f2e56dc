"""What a long-lived kernel keeps between calls: prepared chains and static plans.

Both tables are bounded (oldest entry out first) and hold only what follows from files:

* a :class:`~kiwi_mcp.kernel.exec.plan.Prepared` per ``(tool id, locked)``, kept with the
  :class:`~kiwi_mcp.kernel.store.witness.Observed` witness of every path its preparation
  read or ``stat``-ed, and reused while each of them keeps its stat signature (with the
  :class:`~kiwi_mcp.kernel.store.witness.FreshMark` of its last check beside it, so folders a
  watch covers are not ``stat``-ed again while nothing changed: ``FileCache.fresh``);
* a :class:`~kiwi_mcp.kernel.core.static_plan.StaticPlan` per chain, keyed by the links'
  (path, SHA-256): exactly what it is computed from.
"""

from __future__ import annotations

from typing import Final

from kiwi_mcp.kernel.core.chain import Chain
from kiwi_mcp.kernel.core.static_plan import StaticPlan, static_plan
from kiwi_mcp.kernel.exec.plan import Prepared, prepare
from kiwi_mcp.kernel.exec.sources import PlanSources
from kiwi_mcp.kernel.store.files import FileCache, FreshMark, Observed

__all__ = ["PlanCache"]

_MAX_STATICS: Final = 256
_MAX_PREPARED: Final = 256


class PlanCache:
    """The kernel's two memo tables. Not thread-safe (one kernel, one event loop)."""

    def __init__(self, files: FileCache) -> None:
        self._files = files
        self._statics: dict[tuple[tuple[str, str], ...], StaticPlan] = {}
        self._prepared: dict[tuple[str, bool], tuple[Prepared, Observed, FreshMark]] = {}

    def prepared(self, sources: PlanSources, tool_id: str, *, locked: bool) -> Prepared:
        """``plan.prepare(sources, …)``, reused while its witness is fresh.

        Raises:
            KiwiError: resolution or verification failed (see ``plan.prepare``).
        """
        key = (tool_id, locked)
        kept = self._prepared.get(key)
        if kept is not None:
            if self._files.fresh(kept[1], kept[2]):
                return kept[0]
            del self._prepared[key]
        with self._files.witnessing() as witness:
            prepared = prepare(sources, tool_id, locked=locked)
        observed = witness.freeze()
        if observed is not None and prepared.failed is None:
            if len(self._prepared) >= _MAX_PREPARED:
                self._prepared.pop(next(iter(self._prepared)))
            self._prepared[key] = (prepared, observed, FreshMark.of(observed))
        return prepared

    def static(self, chain: Chain) -> StaticPlan:
        """``static_plan(chain)``, memoized by the links' (path, SHA-256)."""
        key = tuple((str(link.file.path), link.sha256) for link in chain.links)
        found = self._statics.get(key)
        if found is None:
            found = static_plan(chain)
            if len(self._statics) >= _MAX_STATICS:
                self._statics.pop(next(iter(self._statics)))
            self._statics[key] = found
        return found

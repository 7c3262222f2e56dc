"""``kiwi serve`` keeps the search indexes it has opened current between calls (SPEC §15).

A beat every quarter second asks ``ops.index.refresh_open`` in a worker thread: with the
folder watch nothing is ``stat``-ed while nothing changed, and changes made between two
beats are committed as one batch. Until a search opened an index the module that holds
them is not even imported, so a server that never searches pays nothing. A failed refresh
is logged and tried again at the next beat; the search path refreshes for itself anyway.
"""

from __future__ import annotations

import logging
import sys
from typing import Final

import anyio
import anyio.to_thread

__all__ = ["BEAT_S", "keep_indexes_current"]

BEAT_S: Final = 0.25
_INDEXES: Final = "kiwi_mcp.kernel.ops.index"

logger = logging.getLogger("kiwi.mcp")


def _beat() -> int:
    module = sys.modules.get(_INDEXES)
    if module is None:  # no index was opened in this process
        return 0
    changed: int = module.refresh_open()
    return changed


async def keep_indexes_current(beat_s: float = BEAT_S) -> None:
    """Refresh the opened indexes every ``beat_s`` until cancelled; never raises but that."""
    while True:
        await anyio.sleep(beat_s)
        try:
            # abandoned on cancel: a batch cut by the exit is rolled back at the next open
            await anyio.to_thread.run_sync(_beat, abandon_on_cancel=True)
        except Exception:  # the server stays up; every search refreshes for itself anyway
            logger.warning("refreshing the search indexes failed; retried", exc_info=True)

"""What the registry's table mixins (``approval_rows``, ``ledger_rows``) need of it.

The mixins hold the SQL of one table each; the connection, its lock, the clock and the
write transaction are ``registry.Registry``'s, which overrides these.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager

__all__ = ["RowHost"]


class RowHost:
    """The registry as its table mixins see it."""

    _db: sqlite3.Connection
    _lock: threading.RLock
    _clock: Callable[[], float]

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _row(self, db: sqlite3.Connection, thread_id: str) -> sqlite3.Row:
        raise NotImplementedError

"""Fsync in the background, in groups: what keeps audit appends off the disk's latency.

An audit line is written (to the page cache) before ``execute`` returns; putting it on disk
is this module's job. See ``Syncer`` for the grouping and ``kernel/trust/audit/log.py`` for the
durability this gives.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Final

__all__ = ["SYNCER", "SYNC_INTERVAL", "Syncer"]

#: Longest a written line waits for its fsync.
SYNC_INTERVAL: Final = 0.25

logger = logging.getLogger("kiwi.audit")


class Syncer:
    """Fsyncs appended files on one background thread, in groups.

    The first append after a quiet spell wakes the thread; it then waits
    :data:`SYNC_INTERVAL` (unless ``wait`` is in a hurry) and fsyncs every file appended
    meanwhile once. So a burst of executes costs one wake-up and one fsync per interval, not
    one per line, and the thread stays off the GIL while calls run. ``wait`` flushes now.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._busy = False
        self._hurry = False
        self._thread: threading.Thread | None = None
        self._exit_hook = False

    def request(self, path: str) -> None:
        # Already pending: its fsync starts only after the set holding it is swapped out,
        # which is after this look, so it covers what the caller wrote before calling.
        if path in self._pending:
            return
        with self._cond:
            first = not self._pending
            self._pending.add(path)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kiwi-audit-fsync")
                self._thread.daemon = True
                self._thread.start()
                if not self._exit_hook:
                    self._exit_hook = True
                    atexit.register(self.wait)
            if first:
                self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            self._hurry = True
            self._cond.notify_all()
            while self._pending or self._busy:
                self._cond.wait()
            self._hurry = False

    def _after_fork(self) -> None:
        # A forked child has no thread (its lock may even be held by the parent's): start
        # afresh, so the child's own appends are fsynced and ``wait`` cannot hang on lines
        # the parent is syncing anyway.
        self._cond = threading.Condition()
        self._pending = set()
        self._busy = False
        self._hurry = False
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                self._cond.wait_for(lambda: self._hurry, timeout=SYNC_INTERVAL)
                paths, self._pending = self._pending, set()
                self._busy = True
            try:
                for path in paths:
                    _fsync_path(path)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


def _fsync_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # nobody to raise to: the line is written, only not yet on disk
        logger.warning("audit log %s: fsync failed: %s", path, exc)


#: The process's one syncer (one thread, started on first use).
SYNCER: Final = Syncer()
os.register_at_fork(after_in_child=SYNCER._after_fork)

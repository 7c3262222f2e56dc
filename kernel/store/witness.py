"""What a computation saw on disk, and a cheap way to tell it is all still so.

A long-lived kernel prepares each tool's chain once: resolution, verification, the lockfile
check and the environment depend only on files — the item files, their folders, extra
files, the trust folder, lockfiles, dotenv files, interpreter candidates. While it prepares,
every ``stat`` and read made through the kernel's :class:`~kiwi_mcp.kernel.store.files.FileCache` is
noted in a :class:`Witness`: the path and its *stat signature* (device, inode, size, mtime
and ctime in ns), or that it was missing. ``freeze`` turns that into :class:`Observed`, and
``Observed.fresh()`` re-``stat``s each path: while every signature is unchanged, the
preparation would come out the same, so it is reused.

Why this is as strict as redoing the work (see also ``kernel/filecache.py``):

* A write changes a file's ctime, which no unprivileged process can set back; replacing a
  file (rename, or a symlink re-pointed) changes the inode ``stat`` reports.
* A path that was missing can only appear by creating an entry in its nearest existing
  ancestor folder, which changes that folder's mtime and ctime (or by replacing the folder,
  which changes its inode). So a missing path is recorded as that ancestor's signature: one
  ``stat`` covers every missing candidate under one folder (four dotenv names, two venvs).
* Timestamps come from a coarse clock: a change within the same tick as the recorded one
  could keep every field equal. As for the file cache, a signature younger than
  :data:`~kiwi_mcp.kernel.store.files.SETTLE_NS` when frozen makes the whole preparation unkeepable:
  it is used for this call and redone on the next.
* A path seen with two different signatures during one preparation, or a ``stat`` that
  failed for another reason than "missing", spoils the witness: nothing is kept.

Over-approximation is safe (a folder that changes for an unrelated reason only costs a
re-preparation); anything the preparation reads *around* the file cache would be a bug,
and ``tests/cli/test_prepared.py`` changes each input on disk to prove it is seen.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Final

from kiwi_mcp.kernel.store.files import SETTLE_NS, Signature, signature_of

__all__ = ["Observed", "Witness"]

_MISSING: Final = None


class Witness:
    """Collects (path, signature) pairs while a preparation runs. Not thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[str, Signature | None] = {}
        self.spoiled = False

    def note(self, path: str, signature: Signature | None) -> None:
        """``path`` was found with ``signature`` (None: it does not exist)."""
        before = self._seen.setdefault(path, signature)
        if before != signature:
            self.spoiled = True

    def spoil(self) -> None:
        """Something was read that cannot be vouched for (a race, an odd error)."""
        self.spoiled = True

    def freeze(self) -> Observed | None:
        """What was seen, reduced to existing paths; None when it cannot be kept."""
        if self.spoiled:
            return None
        now = time.time_ns()
        checks: dict[str, Signature] = {}
        for path, signature in self._seen.items():
            if signature is _MISSING:
                found = _nearest_existing(os.path.abspath(path))
                if found is None:
                    return None
                path, signature = found
            if now - max(signature[3], signature[4]) < SETTLE_NS:
                return None  # too fresh to tell a later change apart
            if checks.setdefault(path, signature) != signature:
                return None
        return Observed(checks=tuple(checks.items()))


@dataclass(frozen=True, slots=True)
class Observed:
    """A frozen witness: paths that existed, with the signatures they had."""

    checks: tuple[tuple[str, Signature], ...]

    def fresh(self) -> bool:
        """True while every path still has its signature (one ``stat`` each)."""
        stat = os.stat
        for path, signature in self.checks:
            try:
                st = stat(path)
            except OSError:
                return False
            if (
                st.st_mtime_ns != signature[3]
                or st.st_ctime_ns != signature[4]
                or st.st_ino != signature[1]
                or st.st_size != signature[2]
                or st.st_dev != signature[0]
            ):
                return False
        return True


def _nearest_existing(path: str) -> tuple[str, Signature] | None:
    """The closest ancestor of a missing ``path`` that exists, with its signature."""
    current = path
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
        try:
            return current, signature_of(os.stat(current))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None

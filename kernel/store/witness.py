"""What a computation saw on disk, and a cheap way to tell it is all still so.

A long-lived kernel prepares each tool's chain once: resolution, verification, the lockfile
check and the environment depend only on files — the item files, their folders, extra
files, the trust folder, lockfiles, dotenv files, interpreter candidates. While it prepares,
every ``stat`` and read made through the kernel's ``FileCache`` (``store/files.py``) is
noted in a :class:`Witness`: the path and its *stat signature* (device, inode, size, mtime
and ctime in ns), or that it was missing. ``freeze`` turns that into :class:`Observed`, and
``Observed.fresh()`` re-``stat``s each path: while every signature is unchanged, the
preparation would come out the same, so it is reused.

Why this is as strict as redoing the work:

* A write changes a file's ctime, which no unprivileged process can set back; replacing a
  file (rename, or a symlink re-pointed) changes the inode ``stat`` reports.
* A path that was missing can only appear by creating an entry in its nearest existing
  ancestor folder, which changes that folder's mtime and ctime (or by replacing the folder,
  which changes its inode). So a missing path is recorded as that ancestor's signature: one
  ``stat`` covers every missing candidate under one folder (four dotenv names, two venvs).
  That ``stat`` must come before the path is last seen missing (else an entry made between
  the two would be in the recorded signature): an ancestor noted earlier counts, otherwise
  it is stat-ed and the path ``lstat``-ed again, and found there (a dangling symlink, say)
  it spoils the witness.
* Timestamps come from a coarse clock: a change within the same tick as the recorded one
  could keep every field equal. As for the file cache, a signature younger than
  :data:`SETTLE_NS` when frozen makes the whole preparation unkeepable:
  it is used for this call and redone on the next.
* A path seen with two different signatures during one preparation, or a ``stat`` that
  failed for another reason than "missing", spoils the witness: nothing is kept.

Over-approximation is safe (a folder that changes for an unrelated reason only costs a
re-preparation); anything the preparation reads *around* the file cache would be a bug,
and ``tests/exec/test_prepared.py`` changes each input on disk to prove it is seen.

With a folder watch (``store/watch.py``, long-lived kernels only), :meth:`FileCache.fresh`
skips the ``stat`` of every folder the watch covers while its generation is the one the
witness was last found fresh at; the witness records which paths were folders, and a
folder is watched before its recorded ``stat``. The mark of that last success is mutable
and kept beside the frozen :class:`Observed` (:class:`FreshMark`, in the plan cache): it is
a memo of a check, not part of what was seen.
"""

from __future__ import annotations

import os
import stat as stat_mode
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kiwi_mcp.kernel.store.watch import FolderWatch

__all__ = [
    "SETTLE_NS",
    "FreshMark",
    "Observed",
    "Signature",
    "Witness",
    "settled",
    "signature_of",
    "unchanged",
]

#: Timestamps younger than this are not trusted to tell a later change apart (``settled``).
SETTLE_NS: Final = 100_000_000

#: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)
Signature = tuple[int, int, int, int, int]


def settled(stamp_ns: int, now_ns: int, *, window_ns: int = SETTLE_NS) -> bool:
    """Whether a file timestamp ``stamp_ns`` is old enough at ``now_ns`` that a change made
    after it would show as a different timestamp (both in ns since the epoch).

    ``window_ns`` is :data:`SETTLE_NS` everywhere but the audit writer (see its module).
    """
    return now_ns - stamp_ns >= window_ns


def signature_of(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Witness:
    """Collects (path, signature) pairs while a preparation runs. Not thread-safe.

    ``clock_ns`` is the clock ``freeze`` judges the signatures' age by; ``watch`` the folder
    watch each folder is watched by before its noted ``stat`` (when one is open).
    """

    def __init__(
        self, *, clock_ns: Callable[[], int] = time.time_ns, watch: FolderWatch | None = None
    ) -> None:
        self._seen: dict[str, Signature | None] = {}
        self._folders: set[str] = set()
        self._covered: set[str] = set()
        self._clock_ns = clock_ns
        self._watch = watch
        #: the watch's generation before anything was noted (None: no watch)
        self.generation = None if watch is None else watch.drain()
        self.spoiled = False

    def note(self, path: str, signature: Signature | None, *, folder: bool = False) -> None:
        """``path`` was found with ``signature`` (None: it does not exist; then its nearest
        existing ancestor is noted, stat-ed before the path is seen missing once more)."""
        before = self._seen.setdefault(path, signature)
        if before != signature:
            self.spoiled = True
        elif signature is None:
            self._note_missing(path)
        elif folder:
            self._folders.add(path)

    def watch_first(self, folder: str) -> bool:
        """Watch ``folder`` (and its ancestors) before its ``stat`` is noted; True when it
        was not covered in this witness yet, so the ``stat`` must be made again."""
        if self._watch is None or folder in self._covered or not self._watch.cover(folder):
            return False
        self._covered.add(folder)
        return True

    def spoil(self) -> None:
        """Something was read that cannot be vouched for (a race, an odd error)."""
        self.spoiled = True

    def _note_missing(self, path: str) -> None:
        path = os.path.abspath(path)
        parent = os.path.dirname(path)
        if self._seen.get(parent) is None:  # not stat-ed before the path was found missing
            current = path
            while True:
                current, child = os.path.dirname(current), current
                if current == child:
                    self.spoiled = True  # nothing exists up to the root
                    return
                try:
                    st = os.stat(current)
                    if stat_mode.S_ISDIR(st.st_mode) and self.watch_first(current):
                        st = os.stat(current)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                except OSError:
                    self.spoiled = True
                    return
                self.note(current, signature_of(st), folder=stat_mode.S_ISDIR(st.st_mode))
                break
        try:
            os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return  # still missing after its folder's stat: an entry made now changes it
        except OSError:
            pass
        self.spoiled = True  # there after all (made meanwhile, or a dangling symlink)

    def freeze(self) -> Observed | None:
        """What was seen, reduced to existing paths; None when it cannot be kept."""
        if self.spoiled:
            return None
        now = self._clock_ns()
        checks: list[tuple[str, Signature]] = []
        for path, signature in self._seen.items():
            if signature is None:
                continue  # its nearest existing ancestor was noted
            if not settled(max(signature[3], signature[4]), now):
                return None  # too fresh to tell a later change apart
            checks.append((path, signature))
        return Observed(
            checks=tuple(checks),
            folders=frozenset(self._folders),
            covered=frozenset(self._covered),
            generation=self.generation,
        )


@dataclass(frozen=True, slots=True)
class Observed:
    """A frozen witness: paths that existed, with the signatures they had; which of them
    were folders, and which of those a watch covered from ``generation`` on."""

    checks: tuple[tuple[str, Signature], ...]
    folders: frozenset[str] = frozenset()
    covered: frozenset[str] = frozenset()
    generation: int | None = None

    def fresh(self) -> bool:
        """True while every path still has its signature (one ``stat`` each)."""
        return unchanged(self.checks)


@dataclass(slots=True)
class FreshMark:
    """When an :class:`Observed` was last found fresh with a watch: at ``generation``, with
    ``rest`` (its files and uncovered folders) still to ``stat`` while it holds. Mutable:
    a memo of a check, kept beside the frozen record it is about."""

    generation: int | None = None
    rest: tuple[tuple[str, Signature], ...] = ()

    @classmethod
    def of(cls, observed: Observed) -> FreshMark:
        """The mark its own preparation leaves: its covered folders were watched before they
        were stat-ed, all after the generation was read."""
        rest = tuple(check for check in observed.checks if check[0] not in observed.covered)
        return cls(generation=observed.generation, rest=rest)


def unchanged(checks: tuple[tuple[str, Signature], ...]) -> bool:
    """Whether every path still has its signature (one ``stat`` each)."""
    stat = os.stat
    for path, signature in checks:
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

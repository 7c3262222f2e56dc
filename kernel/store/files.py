"""File contents memoized by ``stat``: what a long-lived kernel reads on every call.

An ``execute`` reads each link of its chain, the dotenv files, the lockfile and the policy.
In a server those files rarely change between calls, so a :class:`FileCache` keeps their
bytes (and SHA-256) keyed by path and answers from memory while the file's *stat signature*
— device, inode, size, mtime and ctime in nanoseconds — is unchanged. A ``stat`` is a third
of the cost of open + read + close, and the hash is not recomputed.

Why this is as strict as reading: any write to a file changes its ctime, which no
unprivileged process can set back (``utime`` sets mtime and atime only), and replacing the
file changes its inode. The one gap is timestamp granularity: the kernel stamps files from a
coarse clock (a few ms), so a second write in the same tick as the first could keep every
field equal if the size is equal too. As git does for its index ("racy git"), a file whose
mtime or ctime is less than :data:`SETTLE_NS` old when read is returned but not remembered,
so it is read again on the next call until its timestamps are safely in the past.

Only regular files are read, opened without blocking: a FIFO or a device named like a file
would hang a reader or never end. A reader may pass ``max_bytes`` (the item store does):
a bigger file raises :class:`FileTooLarge` after the ``stat``, and at most one byte more
than the limit is ever read.

That is the kernel's one settle rule, :func:`settled` (defined with the witness, in
``store/witness.py``): a timestamp is trusted to tell a later change apart once the clock
has moved :data:`SETTLE_NS` past it. The file cache, the witness, the store's folder index,
the verifier's trust folder and the audit writer's folder all apply it, each reading an
injected clock (``clock_ns``, ``time.time_ns`` unless a test steps one by hand).

A preparation's reads and ``stat``-s through the cache are noted in a witness
(``store/witness.py``), and :meth:`FileCache.fresh` re-checks one, with a folder watch
(``store/watch.py``) when the cache has one.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat as stat_mode
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kiwi_mcp.kernel.store.witness import (
    SETTLE_NS,
    FreshMark,
    Observed,
    Signature,
    Witness,
    settled,
    signature_of,
    unchanged,
)

if TYPE_CHECKING:
    from kiwi_mcp.kernel.store.watch import FolderWatch

__all__ = [  # the witness's names too, where the kernel has always imported them from
    "SETTLE_NS",
    "CachedFile",
    "FileCache",
    "FileTooLarge",
    "FreshMark",
    "Observed",
    "Signature",
    "Witness",
    "settled",
    "signature_of",
]

_MAX_ENTRIES: Final = 4096


class FileTooLarge(OSError):
    """A file bigger than the ``max_bytes`` a reader asked for; nothing past that was read."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(errno.EFBIG, f"{size} bytes; the limit is {limit}", path)
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class CachedFile:
    """A file's bytes as read, with their SHA-256 (hex)."""

    data: bytes
    sha256: str


class FileCache:
    """Reads files, remembering settled ones by stat signature. Not thread-safe.

    While a :class:`Witness` is active (``witnessing``), every path read or ``stat``-ed
    through the cache is noted in it with the signature it had. ``clock_ns`` is the clock
    :func:`settled` reads, for the cache and for its witnesses. ``watch``: a folder watch
    to check witnesses with (:meth:`fresh`), or True to take the process's the first time a
    witness is checked — a long-lived kernel's, which a one-shot command never pays for.
    """

    def __init__(
        self,
        max_entries: int = _MAX_ENTRIES,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        watch: bool | FolderWatch = False,
    ) -> None:
        self._entries: OrderedDict[str, tuple[Signature, CachedFile]] = OrderedDict()
        self._max = max_entries
        self.clock_ns = clock_ns
        self.witness: Witness | None = None
        self._open_watch = watch is True
        self.watch: FolderWatch | None = None if isinstance(watch, bool) else watch

    @contextmanager
    def witnessing(self) -> Iterator[Witness]:
        """Note every path consulted through this cache until the block ends."""
        outer, witness = self.witness, Witness(clock_ns=self.clock_ns, watch=self.watch)
        self.witness = witness
        try:
            yield witness
        finally:
            self.witness = outer

    def stat(self, path: str | os.PathLike[str]) -> os.stat_result | None:
        """``os.stat`` (following symlinks), None when the path does not exist.

        Raises:
            OSError: any other failure (permissions, I/O); an active witness is spoiled.
        """
        return self._stat(os.fspath(path), os.stat)

    def lstat(self, path: str | os.PathLike[str]) -> os.stat_result | None:
        """``os.lstat`` (a symlink itself), None when the path does not exist. An active
        witness notes the signature: for anything but a symlink it is what ``stat`` gives,
        so a later symlink in its place shows as a change.

        Raises:
            OSError: any other failure; an active witness is spoiled.
        """
        return self._stat(os.fspath(path), os.lstat)

    def _stat(self, key: str, call: Callable[[str], os.stat_result]) -> os.stat_result | None:
        witness = self.witness
        try:
            st = call(key)
            if witness is not None and stat_mode.S_ISDIR(st.st_mode) and witness.watch_first(key):
                st = call(key)  # the signature noted is taken after the watch (watch.py)
        except (FileNotFoundError, NotADirectoryError):
            if witness is not None:
                witness.note(key, None)
            return None
        except (OSError, ValueError):
            if witness is not None:
                witness.spoil()
            raise
        if witness is not None and not stat_mode.S_ISLNK(st.st_mode):
            # a symlink (lstat): the caller lists instead
            witness.note(key, signature_of(st), folder=stat_mode.S_ISDIR(st.st_mode))
        return st

    def fresh(self, observed: Observed, mark: FreshMark) -> bool:
        """``observed.fresh()``, but for the folders the watch vouches for: while its
        generation is ``mark``'s, only the paths in ``mark.rest`` are ``stat``-ed; else every
        path is (each folder watched first), and on success ``mark`` takes this generation.
        """
        watch = self.watch
        if watch is None and self._open_watch:
            from kiwi_mcp.kernel.store.watch import FolderWatch

            watch = self.watch = FolderWatch.shared()
        if watch is None:
            return observed.fresh()
        generation = watch.drain()  # before any stat: a later change is a later generation
        if mark.generation == generation:
            return unchanged(mark.rest)
        mark.generation = None
        rest: list[tuple[str, Signature]] = []
        for check in observed.checks:
            if not (check[0] in observed.folders and watch.cover(check[0])):
                rest.append(check)
            if not unchanged((check,)):
                return False
        mark.generation, mark.rest = generation, tuple(rest)
        return True

    def read(
        self, path: str | os.PathLike[str], *, max_bytes: int | None = None
    ) -> CachedFile | None:
        """The file's bytes, or None when it does not exist (or a parent is not a folder).

        Only regular files are read: a FIFO or a device would block or never end. The file
        is opened non-blocking, so one swapped in after the ``stat`` is refused too.

        Raises:
            FileTooLarge: it holds more than ``max_bytes`` (at most that many are read).
            OSError: any other failure to stat or read (permissions, a folder, a FIFO, I/O).
        """
        key = os.fspath(path)
        witness = self.witness
        try:
            st = os.stat(key)
        except (FileNotFoundError, NotADirectoryError):
            self._entries.pop(key, None)
            if witness is not None:
                witness.note(key, None)
            return None
        except OSError:
            if witness is not None:
                witness.spoil()
            raise
        signature = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if witness is not None:
            witness.note(key, signature)
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileTooLarge(key, st.st_size, max_bytes)
        found = self._entries.get(key)
        if found is not None and found[0] == signature:
            return found[1]
        try:
            data, after = _read_regular(key, st, max_bytes)
        except OSError:
            if witness is not None:
                witness.spoil()
            raise
        cached = CachedFile(data=data, sha256=hashlib.sha256(data).hexdigest())
        opened = (after.st_dev, after.st_ino, after.st_size, after.st_mtime_ns, after.st_ctime_ns)
        newest = max(after.st_mtime_ns, after.st_ctime_ns)
        # Remember only what was read from the file that was stat'ed, and only once settled.
        if opened == signature and settled(newest, self.clock_ns()):
            self._entries[key] = (signature, cached)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.pop(key, None)
            if opened != signature and witness is not None:
                witness.spoil()  # changed while read: these bytes match no signature
        return cached

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes | None:
        """Just the bytes (see :meth:`read`)."""
        found = self.read(path)
        return None if found is None else found.data

    def read_text(self, path: str | os.PathLike[str]) -> str | None:
        """UTF-8 text, or None when the file is missing, unreadable or not UTF-8.

        The drop-in for ``read_text_or_none`` of the services.
        """
        try:
            found = self.read(path)
        except OSError:
            return None
        if found is None:
            return None
        try:
            return found.data.decode("utf-8")
        except UnicodeDecodeError:
            return None


def _read_regular(
    key: str, st: os.stat_result, max_bytes: int | None
) -> tuple[bytes, os.stat_result]:
    """Open without blocking, check it is (still) a regular file, read at most
    ``max_bytes + 1`` bytes; the bytes and the ``fstat`` of what was read."""
    if stat_mode.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", key)
    if not stat_mode.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", key)
    fd = os.open(key, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as handle:  # owns fd from here on
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", key)
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
        after = os.fstat(fd)  # after the read: a write during it shows as another signature
    if max_bytes is not None and len(data) > max_bytes:
        raise FileTooLarge(key, max(after.st_size, len(data)), max_bytes)
    return data, after

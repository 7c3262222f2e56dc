"""A Linux inotify watch on folders, so a long-lived kernel need not ``stat`` them to know.

A prepared chain asked for by a bare name depends on every folder of its kind (a new
``hello.yaml`` anywhere could shadow it or make it ambiguous), so its witness holds every
folder of the space and re-checking it costs one ``stat`` per folder. With a
:class:`FolderWatch`, the kernel learns of a change instead of looking for one: any event
bumps :attr:`FolderWatch.generation`, and a witness found fresh at generation *g* is still
fresh while the generation is *g*, except for its plain files, which are always ``stat``-ed.

The rules that make skipping a folder's ``stat`` as strict as making it:

* **Watch, then stat.** A folder's watch is added *before* the ``stat`` whose signature is
  recorded or compared, and the generation is read (after draining the queue) before both:
  a change after the watch is an event, a change before it shows in the ``stat``.
* **Inodes, not paths.** inotify watches the folder, not its name: renaming ``.ai/tools``,
  or any folder above it, replaces what the path names without touching the watched folder.
  So a folder is *covered* only when it and every ancestor up to ``/`` are watched (an
  entry renamed, created or deleted in any of them is an event), each added with
  ``IN_DONT_FOLLOW`` (a symlink on the way is never covered: what it points to is not
  watched) and only on a local file system (a network or FUSE file system reports no change
  made elsewhere). A path the queue says was renamed, deleted or replaced is forgotten with
  everything under it, until it is covered again.
* **Only what can matter bumps.** In a folder watched only as an ancestor, an entry off the
  way to every covered folder (a new file in ``$HOME`` or ``/tmp``) changes nothing a
  witness compares; nor does a file's ``chmod`` (``IN_ATTRIB`` of an entry) anywhere.
* **Folders only.** A write to a file does not touch its folder; files are always stat-ed.
* **What the mask sees.** Entries created, deleted, moved in or out (mtime, ctime, size,
  link count), ``utime``/``chmod``/``chown``/xattrs (``IN_ATTRIB``), the folder itself
  deleted or moved: everything that changes a folder's stat signature as ``Observed``
  compares it, but a mount over a path (root only, and not seen by inotify).
* **Never trusting when unsure.** A queue overflow bumps the generation and forgets every
  path; a read error, a fork (the queue is not ours to drain) or inotify missing (not Linux,
  no ``inotify_init1`` in libc, ``EMFILE`` for the instance) makes the watch *not watched*:
  nothing is covered and every check ``stat``-s, as without a watch. A folder whose watch
  cannot be added (``ENOSPC`` at ``max_user_watches``, unreadable, a symlink) is just not
  covered: it is stat-ed.

Only a long-lived kernel uses one: its ``FileCache`` takes :meth:`FolderWatch.shared` the
first time a kept witness is checked, which a one-shot command never does. One queue per
process, shared by its kernels (inotify instances are few: 128 per user by default), so
each method holds a lock: kernels of several projects run in worker threads.
"""

from __future__ import annotations

import errno
import itertools
import os
import struct
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Final

__all__ = ["FolderWatch", "parse_events"]

IN_ATTRIB: Final = 0x00000004
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
IN_UNMOUNT: Final = 0x00002000
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000

#: what changes a folder's stat signature (see the module docstring)
FOLDER_MASK: Final = (
    IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF
)
_ENTRY: Final = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO
_GONE: Final = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT
_HEADER: Final = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len
_READ_SIZE: Final = 64 * 1024
_GENERATIONS: Final = itertools.count(1)

#: ``statfs`` f_type of file systems whose every change is made here, so inotify sees it
#: (ext2/3/4, xfs, btrfs, tmpfs, ramfs, f2fs, zfs, bcachefs, jfs, reiserfs, overlayfs)
LOCAL_FILESYSTEMS: Final = frozenset(
    {
        0xEF53,
        0x58465342,
        0x9123683E,
        0x01021994,
        0x858458F6,
        0xF2F52010,
        0x2FC12FC1,
        0xCA451A4E,
        0x3153464A,
        0x52654973,
        0x794C7630,
    }
)


def parse_events(data: bytes) -> Iterator[tuple[int, int, str]]:
    """The ``(wd, mask, name)`` of each ``struct inotify_event`` in ``data`` as the kernel
    wrote it (``name`` without its NUL padding, ``""`` for an event on the folder itself).

    Raises:
        ValueError: ``data`` ends inside an event (the kernel only writes whole ones).
    """
    offset, size = 0, len(data)
    while offset < size:
        if size - offset < _HEADER.size:
            raise ValueError(f"inotify: a truncated event header at byte {offset}")
        wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        if start + length > size:
            raise ValueError(f"inotify: a truncated event name at byte {offset}")
        name = data[start : start + length].split(b"\0", 1)[0]
        yield wd, mask, os.fsdecode(name)
        offset = start + length


class FolderWatch:
    """Folders watched through one inotify queue, and a generation any change bumps.

    Made by :meth:`open` (inotify, or *not watched* where it is unavailable) or
    :meth:`unavailable`.
    """

    def __init__(
        self,
        fd: int | None,
        *,
        reason: str | None = None,
        add: Callable[[int, bytes, int], int] | None = None,
        remove: Callable[[int, int], int] | None = None,
        fs_type: Callable[[bytes], int | None] | None = None,
        get_errno: Callable[[], int] | None = None,
    ) -> None:
        self._fd = fd
        self.reason = reason
        self._add = add
        self._remove = remove
        self._fs_type = fs_type
        self._errno = get_errno
        self._pid = os.getpid()
        #: bumped by every event read, an overflow, or the watch failing: a witness found
        #: fresh at one generation is still fresh (but its files) while it holds. Drawn from
        #: one process-wide counter, so no two watches ever show the same generation.
        self.generation = next(_GENERATIONS)
        self._paths: dict[str, int] = {}  # a covered path -> its watch descriptor
        self._wds: dict[int, set[str]] = {}  # a watch descriptor -> the paths it covers
        self._targets: set[str] = set()  # the folders asked for (the rest are ancestors)
        self._closer = None if fd is None else weakref.finalize(self, os.close, fd)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> FolderWatch:
        """The process's watch, opened on first use (and again in a forked child)."""
        global _shared
        with _shared_lock:
            if _shared is None or _shared._pid != os.getpid():
                _shared = cls.open()
            return _shared

    @classmethod
    def open(cls) -> FolderWatch:
        """An inotify watch, or one that is not watched (``reason`` says why)."""
        if not sys.platform.startswith("linux"):
            return cls.unavailable(f"inotify is Linux only (this is {sys.platform})")
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            init1, add, remove = libc.inotify_init1, libc.inotify_add_watch, libc.inotify_rm_watch
            statfs = libc.statfs
        except (OSError, AttributeError) as err:
            return cls.unavailable(f"cannot load inotify from libc: {err}")
        init1.argtypes, init1.restype = [ctypes.c_int], ctypes.c_int
        add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        add.restype = ctypes.c_int
        remove.argtypes, remove.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        statfs.argtypes, statfs.restype = [ctypes.c_char_p, ctypes.c_void_p], ctypes.c_int
        buffer = ctypes.create_string_buffer(512)  # struct statfs is 120 bytes on x86-64

        def fs_type(path: bytes) -> int | None:
            if statfs(path, buffer) != 0:
                return None
            return ctypes.c_long.from_buffer(buffer).value & 0xFFFFFFFF  # f_type comes first

        fd = init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            code = ctypes.get_errno()
            return cls.unavailable(f"inotify_init1: {os.strerror(code)}")
        return cls(fd, add=add, remove=remove, fs_type=fs_type, get_errno=ctypes.get_errno)

    @classmethod
    def unavailable(cls, reason: str) -> FolderWatch:
        """A watch that covers nothing: every check ``stat``-s, as without one."""
        return cls(None, reason=reason)

    @property
    def watching(self) -> bool:
        """Whether this watch can cover folders at all."""
        return self._fd is not None

    def covers(self, folder: str) -> bool:
        """Whether ``folder`` and its ancestors are watched as of the last :meth:`drain`."""
        with self._lock:
            return folder in self._paths

    def drain(self) -> int:
        """Read every queued event (without blocking); the generation after them."""
        with self._lock:
            return self._drain()

    def consume(self, data: bytes) -> None:
        """Apply the events in ``data`` (what :meth:`drain` read): bump the generation and
        forget every path an event says may now name another folder.

        Raises:
            ValueError: ``data`` is not whole events (see :func:`parse_events`).
        """
        with self._lock:
            self._consume(data)

    def cover(self, folder: str) -> bool:
        """Watch ``folder`` and every ancestor not watched yet; whether all now are.

        ``folder`` must be absolute and normalized (else it is never covered). Call it
        before the ``stat`` that is recorded or compared (see the module docstring).
        """
        with self._lock:
            return self._cover(folder)

    def close(self) -> None:
        """Close the queue; the watch covers nothing from then on."""
        with self._lock:
            if self._closer is not None:
                self._closer()
            self._fd = None
            self._forget_all()
            self.generation = next(_GENERATIONS)

    # --- internals (under the lock) --------------------------------------------------------

    def _drain(self) -> int:
        fd = self._fd
        if fd is None or not self._usable():
            return self.generation
        while True:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as err:
                self._fail(f"reading the inotify queue: {err}")
                break
            if not data:
                break
            try:
                self._consume(data)
            except ValueError as err:
                self._fail(str(err))
                break
        return self.generation

    def _consume(self, data: bytes) -> None:
        changed = False
        for wd, mask, name in list(parse_events(data)):
            if mask & IN_Q_OVERFLOW:
                self._forget_all()
                changed = True
                continue
            paths = self._wds.get(wd)
            if not paths:
                continue  # a watch given up: nothing relies on it
            if mask & _GONE or not name:
                changed = True  # the folder itself: moved, deleted, its attributes
                if mask & _GONE:
                    for path in list(paths):
                        self._forget(path)
                if mask & IN_IGNORED:
                    self._wds.pop(wd, None)  # the kernel dropped it; its number may come back
                continue
            on_the_way = [c for c in (os.path.join(p, name) for p in paths) if c in self._paths]
            if on_the_way:
                changed = True  # a covered folder below was renamed, replaced, or chmod-ed
                if mask & _ENTRY:
                    for child in on_the_way:
                        self._forget(child)
            elif mask & _ENTRY and not paths.isdisjoint(self._targets):
                changed = True  # an entry of a folder asked for: its mtime changed
            # else: another entry of a folder that is only an ancestor, or a file's chmod
        if changed:
            self.generation = next(_GENERATIONS)

    def _cover(self, folder: str) -> bool:
        if not self._usable():
            return False
        if folder in self._paths:
            self._targets.add(folder)  # perhaps covered so far only as an ancestor
            return True
        if not _plain_absolute(folder):
            return False
        todo: list[str] = []
        path = folder
        while path not in self._paths:  # a covered path's ancestors are all covered
            todo.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for path in reversed(todo):
            wd = self._watch(path)
            if wd is None:
                return False
            self._paths[path] = wd
            self._wds.setdefault(wd, set()).add(path)
        self._targets.add(folder)
        return True

    def _watch(self, path: str) -> int | None:
        assert self._fd is not None and self._add is not None and self._fs_type is not None
        encoded = os.fsencode(path)
        if self._fs_type(encoded) not in LOCAL_FILESYSTEMS:
            return None  # a change made on another machine would be no event here
        wd = self._add(self._fd, encoded, FOLDER_MASK | IN_ONLYDIR | IN_DONT_FOLLOW)
        if wd < 0:
            code = self._errno() if self._errno is not None else 0
            if code in (errno.ENOSPC, errno.ENOMEM):
                self.reason = f"inotify_add_watch: {os.strerror(code)} (the watch limit)"
            return None  # a symlink (ENOTDIR), gone, unreadable, or the limit: stat it
        return int(wd)

    def _forget(self, path: str) -> None:
        """Stop covering ``path`` and everything under it."""
        prefix = path.rstrip("/") + "/"
        for known in [p for p in self._paths if p == path or p.startswith(prefix)]:
            self._targets.discard(known)
            wd = self._paths.pop(known)
            paths = self._wds.get(wd)
            if paths is not None:
                paths.discard(known)
                if not paths:
                    del self._wds[wd]
                    self._unwatch(wd)

    def _forget_all(self) -> None:
        for wd in list(self._wds):
            self._unwatch(wd)
        self._paths.clear()
        self._wds.clear()
        self._targets.clear()

    def _unwatch(self, wd: int) -> None:
        # no longer covering anything: its events would only bump the generation
        if self._fd is not None and self._remove is not None and os.getpid() == self._pid:
            self._remove(self._fd, wd)  # fails harmlessly for one the kernel already dropped

    def _usable(self) -> bool:
        """Open, and in the process that opened it: a forked child shares the parent's
        queue, so reading it (or changing its watches) would take the parent's events."""
        if self._fd is None:
            return False
        if os.getpid() != self._pid:
            self._fd = None  # before _fail: no inotify_rm_watch on the parent's queue
            self._fail("a forked process: the inotify queue is its parent's")
            return False
        return True

    def _fail(self, reason: str) -> None:
        """From now on not watched (marks taken before no longer match)."""
        self.reason = reason
        self._forget_all()
        if self._closer is not None:
            self._closer()  # in a forked child this closes only its own copy
        self._fd = None
        self.generation = next(_GENERATIONS)


_shared: FolderWatch | None = None
_shared_lock = threading.Lock()


def _plain_absolute(path: str) -> bool:
    return path.startswith("/") and not path.startswith("//") and os.path.normpath(path) == path

"""The audit log's side of the disk: the folder's ``.lock``, the newest day file, the tail.

``ChainWriter`` owns everything ``AuditLog.append`` does to the files: it keeps the lock
file and the newest day file open between appends (``O_CLOEXEC``, so no child inherits
them), remembers the chain's last line (hash and ``seq``), and decides on every append
whether that memory still describes the folder (the fast path: lock, two stats, write,
unlock) or must be rebuilt from disk (the slow path: reopen by path, read the last line).
It also turns the clock's reading into the day file's name and the ``ts`` text. Reading
the log back (``verify``, ``tail``) stays in ``kernel/trust/audit/log.py``.

The folder's mtime is trusted by the kernel's one settle rule (``store.files.settled``, on
the injected ``clock_ns``) with a window of its own: ``_MTIME_SETTLE_NS``, 50 ms where the
rule's default is 100 ms. Both are far above the few ms a coarse timestamp can hide a
change in; the shorter one only decides how soon after a folder change (a new day file)
appends take the fast path again, and is kept so that timing stays as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kiwi_mcp.kernel.store.files import settled
from kiwi_mcp.kernel.trust.audit.syncer import SYNCER
from kiwi_mcp.kernel.trust.encoding import compact_json

__all__ = ["GENESIS", "ChainWriter", "day_files", "parse_line"]

GENESIS: Final = "0" * 64
_FILE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\.jsonl")
_TAIL_CHUNK: Final = 8192
_MTIME_SETTLE_NS: Final = 50_000_000
_LOCK_FLAGS: Final = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
_DAY_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
_MILLIS: Final = tuple(f".{ms:03d}Z" for ms in range(1000))


def day_files(folder: Path) -> list[Path]:
    """The folder's day files, oldest first (none when the folder does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if _FILE_RE.fullmatch(p.name))


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """The record on one line, or None unless it is a JSON object with int seq, str prev."""
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    if type(value.get("seq")) is not int or not isinstance(value.get("prev"), str):
        return None
    return value


class _Held:
    """The open files and the chain's tail as this writer's last append left them."""

    __slots__ = (
        "day_fd",
        "digest",
        "folder_dev",
        "folder_ino",
        "folder_mtime_ns",
        "lock_fd",
        "name",
        "path",
        "seq",
        "size",
    )

    def __init__(
        self,
        *,
        lock_fd: int,
        day_fd: int,
        path: Path,
        folder: os.stat_result,
        size: int,
        digest: str,
        seq: int,
    ) -> None:
        self.lock_fd = lock_fd
        self.day_fd = day_fd
        self.name = path.name
        self.path = str(path)
        self.folder_dev = folder.st_dev
        self.folder_ino = folder.st_ino
        self.folder_mtime_ns = folder.st_mtime_ns
        self.size = size
        self.digest = digest
        self.seq = seq


class ChainWriter:
    """Appends chained lines to the day files of one folder, for one ``AuditLog``.

    Safe to share between threads (a mutex orders them: ``flock`` does not, on one shared
    file descriptor). A forked child forgets the parent's open files (see ``_after_fork``).
    ``slow_appends`` counts the appends that had to read the tail back from disk.
    ``clock_ns`` is the clock the folder's mtime is judged settled by.
    """

    def __init__(self, folder: Path, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.folder = folder
        self.clock_ns = clock_ns
        self.slow_appends = 0
        self._folder = os.fspath(folder)
        self._mutex = threading.Lock()
        self._held: _Held | None = None
        self._second: tuple[float, str, str] = (math.nan, "", "")  # (second, name, ts prefix)
        _LIVE.add(self)

    @property
    def is_open(self) -> bool:
        """Whether the files are held open, so the next append may take the fast path."""
        return self._held is not None

    def stamp(self, now: float) -> tuple[str, str]:
        """(day file name, ``ts`` text) for a clock reading: ``2025-01-01.jsonl``,
        ``2025-01-01T23:59:59.999Z``; UTC, to the millisecond (truncated), exactly as
        ``datetime.fromtimestamp(now, UTC)`` reads it, so both always name the same date.

        Raises OverflowError, ValueError or OSError for a reading ``datetime`` cannot hold.
        """
        # datetime's own rounding (CPython's _PyTime_DoubleToDenominator): the fraction, in
        # microseconds, half to even. Done by hand because building and formatting a
        # datetime was a tenth of a cold append; now the text is built once a second.
        frac, whole = math.modf(now)
        micros = round(frac * 1e6)
        if micros >= 1_000_000:
            micros -= 1_000_000
            whole += 1.0
        elif micros < 0:
            micros += 1_000_000
            whole -= 1.0
        second = self._second
        if second[0] != whole:
            moment = datetime.fromtimestamp(whole, UTC)
            date = moment.strftime("%Y-%m-%d")
            second = self._second = (whole, date + ".jsonl", moment.strftime(f"{date}T%H:%M:%S"))
        return second[1], second[2] + _MILLIS[micros // 1000]

    def append(self, now: float, record: Mapping[str, Any]) -> dict[str, Any]:
        """Write ``record`` plus ``ts``, ``seq``, ``prev`` as the chain's next line; returns it.

        Raises TypeError or ValueError when ``record`` is not JSON, OSError on I/O failure.
        """
        name, ts = self.stamp(now)
        with self._mutex:
            held = self._held
            # A newer day (or a clock that stepped back: the newest file is kept) or nothing
            # remembered decides at once; otherwise the folder is checked under the lock.
            if held is not None and name <= held.name:
                out = self._append_fast(held, ts, record)
                if out is not None:
                    return out
            return self._append_slow(name, ts, record)

    def close(self) -> None:
        """Close the open files; a later ``append`` opens them again."""
        with self._mutex:
            self._drop()

    def __del__(self, _close: Callable[[int], None] = os.close) -> None:
        # ``os.close`` is bound here: at interpreter exit this module's globals may be gone.
        held = getattr(self, "_held", None)
        if held is not None:
            _close(held.day_fd)
            _close(held.lock_fd)

    def _append_fast(
        self, held: _Held, ts: str, record: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Append through the open files, or None (nothing written) if they may be stale.

        As strict as reopening by path: every create, unlink or rename in the folder (a new
        day file, a deleted or replaced ``.lock`` or day file) sets the folder's mtime, so
        with the folder's inode and mtime as remembered, ``.lock`` and the day file's name
        still name the files these descriptors hold, and the flock taken here excludes every
        writer that opens ``.lock`` by path. The remembered mtime was read at least
        ``_MTIME_SETTLE_NS`` after it was set, so a later change cannot have left it equal
        (coarse timestamps). Any other writer's append grows the day file: a size other
        than ours means the tail must be read back; a link count of 0 means the file is
        gone whatever the folder says.
        """
        fcntl.flock(held.lock_fd, fcntl.LOCK_EX)
        try:
            try:
                folder = os.stat(self._folder)
                day = os.fstat(held.day_fd)
            except OSError:
                return None
            if (
                folder.st_mtime_ns != held.folder_mtime_ns
                or folder.st_ino != held.folder_ino
                or folder.st_dev != held.folder_dev
                or day.st_size != held.size
                or day.st_nlink == 0
            ):
                return None
            seq = held.seq + 1
            out = {**record, "ts": ts, "seq": seq, "prev": held.digest}
            line = compact_json(out)
            # A failed or partial write leaves ``held`` as it was: the size then differs
            # (or nothing was written), so the next append still finds the right tail.
            _write_all(held.day_fd, line + b"\n")
            held.size += len(line) + 1
            held.seq = seq
            held.digest = hashlib.sha256(line).hexdigest()
        finally:
            fcntl.flock(held.lock_fd, fcntl.LOCK_UN)
        SYNCER.request(held.path)
        return out

    def _append_slow(self, name: str, ts: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """Reopen everything by path, read the tail from disk, append, remember the result."""
        self.slow_appends += 1
        self._drop()
        lock_fd, checked_at, folder = _lock(self._folder, self.clock_ns)
        day_fd = -1
        try:
            last_path, last, torn = _last_line(day_files(self.folder))
            prev = hashlib.sha256(last).hexdigest() if last is not None else GENESIS
            seq = _seq_of(last) + 1
            # A clock that stepped back must not write behind the chain's newest file.
            if last_path is not None and last_path.name > name:
                target = last_path
            else:
                target = self.folder / name
            out = {**record, "ts": ts, "seq": seq, "prev": prev}
            line = compact_json(out)
            data = line + b"\n"
            if torn and target == last_path:
                data = b"\n" + data  # keep a torn last line from swallowing this one
            day_fd, created = _open_day(target, new=target != last_path)
            _write_all(day_fd, data)
            size = os.fstat(day_fd).st_size
            SYNCER.request(str(target))
            if created:
                _fsync_dir(self._folder)
            # Everything above was read after ``folder`` was: a later change shows in its
            # mtime. Creating the day file changed it, so that append cannot be remembered.
            elif settled(folder.st_mtime_ns, checked_at, window_ns=_MTIME_SETTLE_NS):
                self._held = _Held(
                    lock_fd=lock_fd,
                    day_fd=day_fd,
                    path=target,
                    folder=folder,
                    size=size,
                    digest=hashlib.sha256(line).hexdigest(),
                    seq=seq,
                )
        finally:
            if self._held is None:
                _close_quietly(day_fd, lock_fd)  # closing releases the flock
            else:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
        return out

    def _drop(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            _close_quietly(held.day_fd, held.lock_fd)

    def _after_fork(self) -> None:
        # The child shares the parent's open file descriptions, and flock sees them as one
        # holder: the child must lock through a ``.lock`` of its own. Its copies are closed
        # (never unlocked: LOCK_UN would release the parent's lock too).
        self._mutex = threading.Lock()
        self._drop()


_LIVE: Final[weakref.WeakSet[ChainWriter]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_LIVE):
        writer._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _lock(folder: str, clock_ns: Callable[[], int]) -> tuple[int, int, os.stat_result]:
    """Open ``<folder>/.lock`` by path and flock it (creating both if missing).

    Returns the descriptor, ``clock_ns()`` just before the folder was stat'ed, and that stat.
    The lock is checked to still be the file the path names *after* the folder's stat, so
    a replacement of ``.lock`` is either seen here (and the new one locked) or later in
    the folder's mtime.
    """
    path = os.path.join(folder, ".lock")
    while True:
        try:
            fd = os.open(path, _LOCK_FLAGS, 0o644)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(path, _LOCK_FLAGS, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            checked_at = clock_ns()
            folder_stat = os.stat(folder)
            held, named = os.fstat(fd), os.stat(path)
        except FileNotFoundError:
            os.close(fd)
            continue  # deleted between open and stat: lock whatever is there now
        except BaseException:
            os.close(fd)
            raise
        if (held.st_ino, held.st_dev) == (named.st_ino, named.st_dev):
            return fd, checked_at, folder_stat
        os.close(fd)


def _open_day(path: Path, *, new: bool) -> tuple[int, bool]:
    """The day file opened for appending, and whether this call created it."""
    if new:
        try:
            return os.open(path, _DAY_FLAGS | os.O_EXCL, 0o644), True
        except FileExistsError:
            pass
    return os.open(path, _DAY_FLAGS, 0o644), False


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written < len(data):  # a short write: rare (a signal, a full disk), so looped apart
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


def _fsync_dir(folder: str) -> None:
    """Put a new day file's folder entry on disk (once a day; the lines go via SYNCER)."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _close_quietly(*fds: int) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def _seq_of(raw: bytes | None) -> int:
    if raw is None:
        return 0
    record = parse_line(raw)
    return record["seq"] if record is not None else 0


def _last_line(files: list[Path]) -> tuple[Path | None, bytes | None, bool]:
    """(newest file, its last line without newline, whether that line lacks its newline);
    (newest, None, False) when all are empty."""
    for path in reversed(files):
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                continue
            handle.seek(end - 1)
            torn = handle.read(1) != b"\n"
            if not torn:
                end -= 1
            # Read backwards in chunks: the files grow all day, the last line is short.
            buf, pos = b"", end
            while pos > 0:
                step = min(_TAIL_CHUNK, pos)
                pos -= step
                handle.seek(pos)
                buf = handle.read(step) + buf
                cut = buf.rfind(b"\n")
                if cut != -1:
                    return path, buf[cut + 1 :], torn
            return path, buf, torn
    return (files[-1] if files else None), None, False

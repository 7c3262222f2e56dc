"""Crash-safe file writes shared by the kernel: atomic replace, folder locks, temp cleanup.

A write goes to ``.<name>.<pid>.<random>.tmp`` in the target's folder, is flushed and
fsynced, then ``os.replace``-d over the target, and the folder is fsynced so the rename
itself survives a crash. Readers therefore see the old bytes or the new ones, never a mix.
A writer killed half-way leaves only its temp file, which :func:`clean_stale_temps` removes
later (its pid is dead, or it is older than a minute): the lockfile store on each write,
``kiwi sign`` in every item folder before it signs. The name starts with a dot and ends in
``.tmp``, so the item store never takes a temp file for an item.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "clean_stale_temps", "ensure_private_dir", "exclusive_lock", "fsync_dir"]

_TEMP = re.compile(r"\..+\.(\d+)\.[0-9a-f]{12}\.tmp\Z")
_STALE_AFTER_S = 60.0


def ensure_private_dir(path: Path) -> None:
    """Make ``path`` (and parents) and set it to mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` from its creation.

    Raises:
        OSError: the folder is missing or not writable, the disk is full…
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed or widened nothing; be exact
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing) for the block.

    The kernel releases it when the process dies, so a killed holder never blocks others.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def clean_stale_temps(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove temp files left by crashed writers in ``folder``; returns what was removed.

    A temp is stale when the pid in its name is gone or it is older than a minute. Call it
    while holding the folder's lock where there is one; where there is none (item folders),
    a live writer's temp exists for the milliseconds of one ``atomic_write`` and is kept.
    """
    removed: list[Path] = []
    current = time.time() if now is None else now
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None:
            continue
        try:
            age = current - entry.stat().st_mtime
        except OSError:
            continue
        if _pid_alive(int(match.group(1))) and age < _STALE_AFTER_S:
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # kill(0, …) would address our own process group
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False  # gone, or no pid at all (a number no pid_t holds)
    except PermissionError:
        return True  # someone else's live process
    return True

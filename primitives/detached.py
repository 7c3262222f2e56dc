"""The subprocess primitive's detached mode (SPEC §6.1, ``spec.detach``): the child gets its
own session, ``/dev/null`` on stdin and the ``log`` file (appended to) on stdout and stderr,
and the call returns as soon as it runs. Nothing waits for it but a daemon thread that reaps
its exit status, so a long-lived kernel collects no zombies and no caller is ever held.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import threading
from datetime import UTC, datetime

from .errors import PrimitiveError
from .process import _start_error
from .process_spec import DetachedResult, ProcessSpec

__all__ = ["DetachedResult", "start_detached"]


def _make_private_folders(folder: str) -> None:
    """``mkdir -p`` with every folder it makes 0700 (``os.makedirs`` gives ``mode`` only to
    the last one)."""
    missing: list[str] = []
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for each in reversed(missing):
        try:
            os.mkdir(each, 0o700)
        except FileExistsError:
            if not os.path.isdir(each):
                raise


def _open_log(path: str) -> int:
    """The log's descriptor, opened for appending; its missing parent folders made 0700.

    A symlink, FIFO or other non-regular file at ``path`` is refused: the output of a child
    nobody watches must not be redirected somewhere else, nor block on a reader.
    """
    try:
        _make_private_folders(os.path.dirname(path))
        fd = os.open(
            path,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK,
            0o600,
        )
    except OSError as exc:
        reason = "it is a symlink" if exc.errno == errno.ELOOP else exc.strerror or str(exc)
        raise PrimitiveError(
            "EXECUTION_FAILED",
            f"cannot open the log {path!r}: {reason}",
            details={"log": path, "errno": exc.errno},
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PrimitiveError(
            "EXECUTION_FAILED",
            f"cannot open the log {path!r}: it is not a regular file",
            details={"log": path},
        )
    os.set_blocking(fd, True)
    return fd


def start_detached(spec: ProcessSpec) -> DetachedResult:
    """Start ``spec`` (with ``spec.detach``) and return once the command runs.

    The child has its own session (its pid is its group id), stdin from ``/dev/null``, stdout
    and stderr appended to ``spec.log``, exactly ``spec.env`` and ``spec.cwd``. It is never
    waited for, stopped or timed out; a daemon thread reaps it when it exits.

    Raises:
        PrimitiveError: ``CONFIG_INVALID`` when ``spec.detach`` is not set;
            ``EXECUTION_FAILED`` when the log cannot be opened or the command cannot be
            started (not found, not executable, bad cwd).
    """
    if not spec.detach or spec.log is None:
        raise PrimitiveError("CONFIG_INVALID", "detach: start_detached needs detach: true")
    log = _open_log(spec.log)
    try:
        # Popen returns once exec succeeded (it reads the child's exec error pipe).
        proc = subprocess.Popen(
            [spec.command, *spec.args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=spec.cwd,
            env=dict(spec.env),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise _start_error(spec, exc) from None
    finally:
        os.close(log)
    started_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # The only wait: collect the exit status so the child does not stay a zombie.
    threading.Thread(target=proc.wait, name=f"kiwi-reap-{proc.pid}", daemon=True).start()
    return DetachedResult(pid=proc.pid, started_at=started_at)

"""A child of the warm process becoming the client's ``kiwi`` process (see ``warm``).

It takes the client's standard streams, working folder, umask, environment, locale and
arguments, rebuilds ``sys.stdin``/``stdout``/``stderr`` as the client's interpreter had them
(encoding, errors, line buffering on a terminal), and runs ``main`` with ``argv=None`` as a
console script does. It ends as an interpreter would: ``SystemExit``'s code, other threads
joined, ``atexit`` run, the streams flushed.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import locale
import os
import sys
import threading

from kiwi_mcp.kernel.faces.cli import warm

__all__ = ["run"]


def run(client: int, fds: list[int], fields: list[bytes]) -> int:
    """Run the command ``fields`` (the request, see ``warm_server``) on the streams ``fds``,
    telling the ``client`` connection this process's pid first and the exit status last;
    returns that status."""
    os.write(client, b"pid %d\n" % os.getpid())
    cwd, umask = fields[2], int(fields[3])
    encodings = [f.decode() for f in fields[4:10]]
    argc = int(fields[10])
    argv = [os.fsdecode(a) for a in fields[11 : 11 + argc]]
    env = fields[11 + argc :]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(cwd)
    os.umask(umask)
    os.environb.clear()
    for entry in env:
        name, _, value = entry.partition(b"=")
        if name:
            os.environb[name] = value
    with contextlib.suppress(locale.Error):
        locale.setlocale(locale.LC_CTYPE, "")
    _streams(encodings)
    sys.argv = argv
    warm.served = True
    from kiwi_mcp.kernel.faces.cli.main import main

    try:
        code = _exit_code(main())
    except SystemExit as done:
        code = _exit_code(done.code)
    code = _finish(code)
    # the status is the client's as soon as the streams are let go: tearing this process
    # down (unmapping what the fork shared) is then off the command's path
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    with contextlib.suppress(OSError):
        os.write(client, b"exit %d\n" % code)
    return code


def _streams(encodings: list[str]) -> None:
    """The three text streams on fds 0–2 with the client's encodings and Python's buffering:
    stdout line-buffered on a terminal, stderr always line-buffered."""
    (in_enc, in_err, out_enc, out_err, err_enc, err_err) = encodings
    stdin = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=in_enc, errors=in_err
    )
    stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
        encoding=out_enc,
        errors=out_err,
        line_buffering=os.isatty(1),
    )
    stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding=err_enc,
        errors=err_err,
        line_buffering=True,
    )
    sys.stdin, sys.stdout, sys.stderr = stdin, stdout, stderr
    # what the interpreter started with, for code that restores them (as at start-up)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = stdin, stdout, stderr  # type: ignore[misc]


def _exit_code(code: object) -> int:
    """``sys.exit``'s argument as the interpreter reads it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        print(code, file=sys.stderr)
    return 1


def _finish(code: int) -> int:
    shutdown = getattr(threading, "_shutdown", None)  # joins non-daemon threads, as at exit
    if shutdown is not None:
        with contextlib.suppress(Exception):
            shutdown()
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            code = code or 120
        except (OSError, ValueError):
            pass
    return code

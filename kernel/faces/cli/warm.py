"""Hand a ``kiwi`` command to the warm process (``warm_server``), or say it was not taken.

Most of what a short command costs is importing the kernel (asyncio, PyYAML, the executor,
numpy for search), not running it. The warm process is a per-user interpreter that imported
all of that once; for each command it forks a child, which takes over this process's
standard streams (passed as file descriptors), its working folder, umask, environment and
arguments, runs ``main`` exactly as this process would, and exits. This process only waits,
forwards the signals it gets (Ctrl-C) to that child, and exits with its status.

It is taken only when nothing could differ:

* the warm process was started for this same Kiwi, interpreter, ``sys.path`` and interpreter
  flags (the *key*, which names its socket and which it checks again);
* none of its loaded Kiwi modules and none of the ``sys.path`` folders changed since it
  started (else it answers "stale", drains and exits, and a new one is started);
* the socket is in a folder only this user can enter, and (Linux) the peer is this user.

When no warm process answers, one is started in the background (its own session, stdio on
/dev/null) and the command runs here as before: nothing is ever run twice, since a command
is run here only when the warm process did not fork for it. ``KIWI_WARM=0`` turns all of this
off; ``kiwi serve`` and ``kiwi warm`` always run here.

Only built-in modules are imported (``_socket``, ``_signal``, ``zlib``): importing this
module must cost less than a millisecond of the start-up it saves.
"""

from __future__ import annotations

import os
import sys

from kiwi_mcp.kernel._version import __version__

__all__ = ["folder", "hand_over", "key_text", "served", "socket_name", "start"]

FORMAT = b"kiwi-warm 1"
#: commands that always run in this process: a long-lived server gains nothing from a warm
#: start, and ``warm`` manages the warm process itself
LOCAL_COMMANDS = frozenset({"serve", "warm"})
#: the environment the warm process itself starts with: what Python reads at start-up, never
#: the rest (a credential in the first caller's environment must not live on in it)
_START_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "KIWI_WARM_IDLE")
_AF_UNIX_MAX = 100

#: set in a child of the warm process, whose ``main`` must not hand the command over again
served = False


def folder() -> str | None:
    """The folder holding this user's warm sockets, made when missing; None when it is not
    a real folder owned by this user with no access for others (then nothing is handed over).

    ``KIWI_WARM_DIR``, else ``$XDG_RUNTIME_DIR/kiwi``, else ``/tmp/kiwi-<uid>``.
    """
    base = os.environ.get("KIWI_WARM_DIR")
    if not base:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        base = os.path.join(runtime, "kiwi") if os.path.isabs(runtime) else ""
        base = base or f"/tmp/kiwi-{os.getuid()}"
    try:
        os.mkdir(base, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        info = os.lstat(base)
    except OSError:
        return None
    private = info.st_uid == os.getuid() and not info.st_mode & 0o077
    return base if private and (info.st_mode & 0o170000) == 0o040000 else None


def key_text() -> str:
    """What a warm process must share with this one to run its commands."""
    f = sys.flags
    # utf8_mode is left out: a C locale coerced at start-up (PEP 538) leaves LC_CTYPE set
    # for the warm process, which then starts without it; the encodings it gives are in
    flags = (
        (f.optimize, f.dont_write_bytecode, f.no_user_site, f.no_site, f.ignore_environment),
        (f.verbose, f.bytes_warning, f.isolated, f.dev_mode, f.safe_path, f.int_max_str_digits),
        (f.hash_randomization, f.warn_default_encoding, f.debug, f.inspect, f.interactive),
        (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()),
        sorted(sys._xoptions.items()),
        sys.warnoptions,
    )
    return "\n".join(("kiwi-warm 1", __version__, sys.executable, repr(sys.path), repr(flags)))


def socket_name(key: str) -> str:
    """The file name (without suffix) of the warm process for ``key``."""
    import zlib

    data = key.encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def hand_over(command: str | None) -> None:
    """Run this process's command in the warm process and exit with its status; returns
    only when it was not taken there (then run it here). ``command`` is the subcommand,
    when known."""
    if served or command in LOCAL_COMMANDS or os.environ.get("KIWI_WARM", "1") == "0":
        return
    base = folder()
    if base is None:
        return
    key = key_text()
    name = socket_name(key)
    path = os.path.join(base, name + ".sock")
    if len(path) > _AF_UNIX_MAX:
        return
    try:
        request = _request(key)
    except (OSError, ValueError):  # a closed standard stream, a folder since removed
        return
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(path)
        header = len(request).to_bytes(4, "big")
        fds = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in (0, 1, 2))
        sock.sendmsg([header], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
        sock.sendall(request)
        lines = _Lines(sock)
        reply = lines.next()
    except OSError:
        sock.close()
        start(base, name, key)
        return
    if not reply.startswith(b"pid "):
        sock.close()
        if reply == b"stale":
            start(base, name, key)
        return
    code = _wait(lines, int(reply[4:]))
    # nothing of this process needs finalizing (it wrote nothing, started nothing): ending
    # now saves the interpreter's teardown, a tenth of a short command
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib is not imported on this path
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(code)


def _request(key: str) -> bytes:
    """The command as the warm process reads it: NUL-separated fields (see ``warm_server``)."""
    umask = os.umask(0o022)
    os.umask(umask)
    streams = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if stream is None:
            raise ValueError("a standard stream is closed")
        os.fstat(stream.fileno())
        streams += [stream.encoding, stream.errors or "strict"]
    fields = [FORMAT, key.encode("utf-8", "surrogateescape"), os.fsencode(os.getcwd())]
    fields += [b"%d" % umask, *(s.encode() for s in streams)]
    fields += [b"%d" % len(sys.argv), *(os.fsencode(a) for a in sys.argv)]
    fields += [k + b"=" + v for k, v in os.environb.items()]
    if any(b"\0" in f for f in fields):
        raise ValueError("a field holds NUL")
    return b"\0".join(fields)


class _Lines:
    """The reply lines of the warm process, read from its socket as they come."""

    def __init__(self, sock: object) -> None:
        self.sock = sock
        self.pending = b""

    def next(self) -> bytes:
        """The next line without its newline; b"" at the end of the stream."""
        while b"\n" not in self.pending:
            chunk = self.sock.recv(256)  # type: ignore[attr-defined]
            if not chunk:
                return b""
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line


def _wait(lines: _Lines, pid: int) -> int:
    """Wait for the warm child ``pid``'s status, forwarding the signals a terminal or a
    parent sends this process; exit as the child did (by the same signal, if it was one)."""
    import _signal  # type: ignore[import-not-found]  # signal's C half: no enum import

    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib is not imported on this path
            os.kill(pid, signum)
        except OSError:
            pass

    for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT):
        _signal.signal(signum, forward)
    try:
        status = lines.next()
    except OSError:
        status = b""
    kind, _, number = status.partition(b" ")
    if kind == b"exit" and number.isdigit():
        return int(number)
    if kind == b"signal" and number.isdigit():
        signum = int(number)
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return 128 + signum
    sys.stderr.write(
        "kiwi: the warm process ended before this command did; its output may be incomplete\n"
        "  hint: see 'kiwi warm status', or set KIWI_WARM=0 to run commands in-process\n"
    )
    return 1


def start(base: str, name: str, key: str) -> int | None:
    """Start the warm process for ``key`` in the background (its own session, stdio on
    /dev/null); its pid, or None when it could not be spawned. A second one started at the
    same time finds the first's lock and exits."""
    env = {k: v for k, v in os.environ.items() if k in _START_ENV or k.startswith("PYTHON")}
    code = (
        f"import sys; sys.path[:] = {sys.path!r}; "
        "from kiwi_mcp.kernel.faces.cli.warm_server import serve; "
        f"serve({base!r}, {name!r}, {key!r})"
    )
    null = os.devnull
    actions = [(os.POSIX_SPAWN_OPEN, fd, null, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        return os.posix_spawn(
            sys.executable, [sys.executable, "-c", code], env, file_actions=actions, setsid=True
        )
    except OSError:
        return None

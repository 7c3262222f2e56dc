"""The warm process: a per-user interpreter with the kernel imported, forking one child per
``kiwi`` command (the client side, and why, is ``warm``).

One process per key (Kiwi, interpreter, ``sys.path``, flags), found by its socket
``<folder>/<name>.sock`` and owned through an exclusive ``flock`` on ``<name>.lock``, which
a second one started at the same time fails to take (it exits). Its pid is in
``<name>.pid``, its own diagnostics in ``<name>.log``.

A request is a 4-byte length and the client's three standard streams (SCM_RIGHTS), then
NUL-separated fields: the format, the key, the working folder, the umask, the encoding and
errors of stdin, stdout and stderr, the argument count and ``sys.argv``, and the environment
as ``NAME=value``. The replies are lines: ``pid N`` once the child is forked, then
``exit N`` or ``signal N`` when it ends; or, instead of ``pid``, ``stale`` (a loaded module
or a ``sys.path`` folder changed: this process drains and exits) or ``other`` (another key).

The loop never blocks on one client: children are reaped on SIGCHLD (through the signal
wake-up fd), and a client that goes away before its child ends gets the child a SIGTERM.
It exits after ``KIWI_WARM_IDLE`` seconds (default 900) with no command, on SIGTERM
(``kiwi warm stop``) once its children are done, and when stale. The parent only imports:
it never runs kernel code, so no state of one command is there for the next.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import selectors
import signal
import socket
import sys
import time

from kiwi_mcp.kernel.faces.cli import warm, warm_wire

__all__ = ["serve"]

_PRELOAD = ("yaml", "httpx", "numpy", "usearch.index", "tantivy", "tokenizers", "jsonschema")


def serve(base: str, name: str, key: str) -> None:
    """Be the warm process for ``key`` until idle, stopped or stale (see the module doc)."""
    stem = os.path.join(base, name)
    lock = os.open(stem + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another one serves this key
    log = os.open(stem + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    if warm.key_text() != key:  # its commands keep running in-process
        print(
            f"kiwi warm: not started: this interpreter's key is\n{warm.key_text()}", file=sys.stderr
        )
        return
    _preload()
    # what was imported stays out of every collection: a child collecting would write to
    # (and so copy) every page of it
    gc.collect()
    gc.freeze()
    Server(stem, lock, key).run()


def _preload() -> None:
    """Import every kernel and primitives module and the heavy libraries, and load the
    bundled embedding model: what any command would import first (by name: the parent
    uses none of them)."""
    import importlib
    import pkgutil

    for name in ("kiwi_mcp.kernel", "kiwi_mcp.primitives"):
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, name + "."):
            if module.name.endswith("__main__"):
                continue
            try:
                importlib.import_module(module.name)
            except Exception as exc:  # an optional part missing: its command imports it itself
                print(f"kiwi warm: not preloaded: {module.name}: {exc}", file=sys.stderr)
    for library in _PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(library)
    from kiwi_mcp.kernel.ops.index import load_model

    with contextlib.suppress(Exception):
        load_model()


def _stamps() -> list[tuple[str, tuple[int, int]]]:
    """What makes this process stale when it changes: every loaded Kiwi module's file and
    every ``sys.path`` folder (an installed or removed package changes its entries)."""
    paths = {p for p in sys.path if p}
    for module_name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and module_name.startswith("kiwi_mcp"):
            paths.add(path)
    return [(path, _stamp(path)) for path in sorted(paths)]


def _stamp(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except OSError:
        return (-1, -1)
    return (info.st_mtime_ns, info.st_size)


class Server:
    """The accept-fork-reap loop of one warm process."""

    def __init__(self, stem: str, lock: int, key: str) -> None:
        self.stem = stem
        self.lock = lock
        self.key = key.encode("utf-8", "surrogateescape")
        self.stamps = _stamps()
        self.spare: tuple[int, socket.socket] | None = None
        self.in_flight: list[int] = []
        self.idle = _idle_seconds()
        self.children: dict[int, socket.socket] = {}
        self.selector = selectors.DefaultSelector()
        self.draining = False
        self.stop = False
        self.last = time.monotonic()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        with open(stem + ".pid", "w", encoding="ascii") as pid_file:
            pid_file.write(f"{os.getpid()}\n")  # before the socket, which says it is ready
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = stem + ".sock"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a dead one's: the lock says no live one serves this key
        self.listener.bind(path)
        os.chmod(path, 0o600)
        self.listener.listen(64)

    def run(self) -> None:
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop_requested)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        while True:
            if self.stop and not self.draining:
                self._drain()
            if self.draining and not self.children:
                break
            if self.spare is None and not self.draining and not self.children:
                # forked while no command runs, so it takes no CPU from one (2 cores are
                # common); a command arriving while others run forks its own at once
                self.spare = self._fork_spare()
            timeout = None if self.children else max(0.0, self.last + self.idle - time.monotonic())
            events = self.selector.select(timeout)
            if not events and not self.children:
                break  # idle
            for selected, _ in events:
                if selected.data == "accept":
                    self._accept()
                elif selected.data == "wake":
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_r, 512):
                            pass
                    self._reap()
                else:
                    self._client_readable(selected.data)
        self._drain()

    def _stop_requested(self, _signum: int, _frame: object) -> None:
        self.stop = True  # the loop drains: the wake-up fd has already ended its select

    def _drain(self) -> None:
        """Take no more commands: the socket and lock go at once (a new warm process can
        start), the running children finish."""
        if self.draining:
            return
        self.draining = True
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()
        for suffix in (".sock", ".pid"):
            with contextlib.suppress(OSError):
                os.unlink(self.stem + suffix)
        os.close(self.lock)
        if self.spare is not None:
            self.spare[1].close()  # the spare reads the end and exits
            self.spare = None

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        self.last = time.monotonic()
        conn.settimeout(5)
        try:
            fds, fields = warm_wire.read_request(conn)
        except (OSError, ValueError) as exc:
            print(f"kiwi warm: a request refused: {exc}", file=sys.stderr)
            conn.close()
            return
        self.in_flight = [conn.fileno(), *fds]  # a spare forked meanwhile closes them
        try:
            self._answer(conn, fds, fields)
        finally:
            self.in_flight = []
            for fd in fds:
                os.close(fd)

    def _answer(self, conn: socket.socket, fds: list[int], fields: list[bytes]) -> None:
        if fields[1] != self.key:
            warm_wire.reply(conn, b"other")
            conn.close()
            return
        if self._changed():
            self._drain()  # first: the lock is free for the one the client starts now
            warm_wire.reply(conn, b"stale")
            conn.close()
            return
        for _attempt in range(2):
            pid, pipe = self.spare or self._fork_spare()
            self.spare = None
            if warm_wire.hand(pipe, conn, fds, fields):
                break  # the child's first line to the client is its pid
        else:
            conn.close()
            return
        self.children[pid] = conn
        conn.setblocking(False)
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def _changed(self) -> bool:
        return any(_stamp(path) != stamp for path, stamp in self.stamps)

    def _fork_spare(self) -> tuple[int, socket.socket]:
        """A child forked ahead of the next command, waiting for it on a socket pair (the
        fork is then off every command's path)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._child(theirs)
        theirs.close()
        return pid, ours

    def _client_readable(self, pid: int) -> None:
        """A client speaks only by going away: its child is told to stop."""
        conn = self.children.get(pid)
        if conn is None:
            return
        with contextlib.suppress(BlockingIOError):
            if conn.recv(64):
                return
        self.selector.unregister(conn)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and self.spare[0] == pid:
                self.spare[1].close()
                self.spare = None
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            if os.WIFSIGNALED(status):
                line = b"signal %d" % os.WTERMSIG(status)
            else:
                line = b"exit %d" % os.waitstatus_to_exitcode(status)
            conn.setblocking(True)
            warm_wire.reply(conn, line)
            conn.close()
            self.last = time.monotonic()

    def _child(self, pipe: socket.socket) -> None:
        """In a spare: drop the server's parts, wait for a command, become the client's
        process and run it (never returns)."""
        code = 0
        try:
            signal.set_wakeup_fd(-1)
            for signum in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.selector.close()
            self.listener.close()
            for fd in (self.wake_r, self.wake_w, self.lock):
                os.close(fd)
            for conn in self.children.values():
                conn.close()
            if self.spare is not None:
                self.spare[1].close()
            for fd in self.in_flight:
                os.close(fd)
            handed = warm_wire.take(pipe)
            pipe.close()
            if handed is None:
                os._exit(0)  # the server ended, or the client went away first
            from kiwi_mcp.kernel.faces.cli import warm_child

            code = 1
            code = warm_child.run(*handed)
        except BaseException:  # nothing may return into the server's loop
            with contextlib.suppress(BaseException):
                sys.excepthook(*sys.exc_info())
        finally:
            os._exit(code)


def _idle_seconds() -> float:
    try:
        value = float(os.environ.get("KIWI_WARM_IDLE", "900"))
    except ValueError:
        return 900.0
    return value if value > 0 else 900.0

"""The subprocess primitive (SPEC §6.1): run one command, never through a shell.

The child gets exactly ``spec.env`` as its environment, its own session (so it and everything
it starts form one process group), stdin from ``spec.input`` or ``/dev/null``, and two pipes
that the event loop reads as data arrives: output past ``max_output`` is counted as truncated
and discarded, so a chatty child never blocks on a full pipe and memory stays bounded.

When the run ends — normally, on timeout, or because the awaiting task was cancelled — any
process still in the group gets SIGTERM, then SIGKILL after ``grace`` seconds. Pipes still held
open by a process that escaped the group are abandoned after a short settle time rather than
waited on. (A process that calls ``setsid`` itself leaves the group and is out of reach: that
needs a container or cgroup, which this primitive does not assume.)

The other mode, ``spec.detach``, is ``primitives/detached.py``.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from .errors import PrimitiveError, PrimitiveTimeout
from .process_spec import ProcessResult, ProcessSpec
from .sinks import EventCallback

__all__ = ["ProcessResult", "ProcessSpec", "run_process"]

_STDOUT, _STDERR = 1, 2
# How long to wait for pipes to close (and the exit status to arrive) once the group is dead.
_SETTLE_S = 0.5
# How often to look whether a signalled group is gone yet.
_POLL_S = 0.02


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str) -> tuple[bool, Any]:
    stripped = text.strip()
    if not stripped:
        return False, None
    try:
        return True, json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return False, None


class _Capture:
    """One output pipe: keeps the first ``cap`` bytes, counts the rest, optionally emits lines."""

    __slots__ = ("_cap", "_chunks", "_decoder", "_on_line", "_pending", "size", "truncated")

    def __init__(self, cap: int, on_line: Callable[[str], None] | None) -> None:
        self._cap = cap
        self._chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self._on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> None:
        room = self._cap - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self._chunks.append(data)
        self.size += len(data)
        if self._on_line is not None:
            self._emit(self._decoder.decode(data))

    def _emit(self, text: str) -> None:
        assert self._on_line is not None
        if "\n" not in text:
            self._pending += text
            return
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        for line in lines:
            self._on_line(line.removesuffix("\r"))

    def finish(self) -> None:
        """Emit a last line that had no newline."""
        if self._on_line is not None:
            self._pending += self._decoder.decode(b"", final=True)
            if self._pending:
                line, self._pending = self._pending, ""
                self._on_line(line.removesuffix("\r"))

    def text(self) -> str:
        return b"".join(self._chunks).decode("utf-8", errors="replace")


class _Protocol(asyncio.SubprocessProtocol):
    """Collects both pipes and notices the exit, without waiting on one for the other.

    (``asyncio.subprocess.Process.wait`` only returns once every pipe is closed, which a
    grandchild holding stdout can delay forever; the protocol sees the exit itself.)
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, spec: ProcessSpec, on_event: EventCallback | None
    ) -> None:
        self._on_event = on_event if spec.stream else None
        self.stdout = _Capture(spec.max_output, self._line if self._on_event else None)
        self.stderr = _Capture(spec.max_output, None)
        self.exited = loop.create_future()
        self.pipes_closed = {fd: loop.create_future() for fd in (_STDOUT, _STDERR)}
        self.done = loop.create_future()
        self.callback_error: BaseException | None = None

    def _line(self, line: str) -> None:
        if self.callback_error is not None or self._on_event is None:
            return
        try:
            self._on_event({"event": "stdout", "data": line})
        except Exception as exc:  # reported to the caller after the group is stopped
            self.callback_error = exc
            self._check_done(force=True)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.stdout if fd == _STDOUT else self.stderr).feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        future = self.pipes_closed.get(fd)
        if future is not None and not future.done():
            if fd == _STDOUT:
                self.stdout.finish()
            future.set_result(None)
        self._check_done()

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        self._check_done()

    def _check_done(self, *, force: bool = False) -> None:
        if self.done.done():
            return
        if force or (self.exited.done() and all(f.done() for f in self.pipes_closed.values())):
            self.done.set_result(None)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when no process is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # A member we may not signal (it changed uid): it is still there.
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group.

    ``killpg(pgid, 0)`` also counts zombies, and killed grandchildren stay zombies until
    init reaps them, which can take a while; on Linux, ``/proc`` tells them apart.
    """
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as file:
                stat = file.read()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ..." — comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[2] == b"%d" % pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


async def _wait_group_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True


async def _stop_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, give it ``grace`` seconds, SIGKILL whatever is left.

    The SIGKILL sits in ``finally`` so that even a second cancellation arriving during the
    grace period cannot leave the group running.
    """
    if not _group_alive(pgid):
        return
    try:
        if _signal_group(pgid, signal.SIGTERM):
            await _wait_group_gone(pgid, grace)
    finally:
        if _signal_group(pgid, signal.SIGKILL):
            # Killed processes vanish a moment later; zombies nobody reaps never do, so bound it.
            await _wait_group_gone(pgid, _SETTLE_S)


async def _settle(protocol: _Protocol) -> None:
    """Wait briefly for the exit status and EOF on both pipes; give up on pipes held elsewhere."""
    pending = [protocol.exited, *protocol.pipes_closed.values()]
    await asyncio.wait(pending, timeout=_SETTLE_S)


def _start_error(spec: ProcessSpec, exc: OSError) -> PrimitiveError:
    if isinstance(exc, FileNotFoundError) and spec.cwd is not None and exc.filename == spec.cwd:
        reason = f"working directory {spec.cwd!r} does not exist"
    elif isinstance(exc, NotADirectoryError) and spec.cwd is not None:
        reason = f"working directory {spec.cwd!r} is not a directory"
    elif isinstance(exc, FileNotFoundError):
        where = "" if "/" in spec.command else " on the child's PATH"
        reason = f"command not found{where}"
    elif isinstance(exc, PermissionError):
        reason = "permission denied (is it executable?)"
    else:
        reason = exc.strerror or type(exc).__name__
    return PrimitiveError(
        "EXECUTION_FAILED",
        f"cannot start {spec.command!r}: {reason}",
        details={"command": spec.command, "cwd": spec.cwd, "errno": exc.errno},
    )


async def run_process(spec: ProcessSpec, *, on_event: EventCallback | None = None) -> ProcessResult:
    """Run ``spec`` to completion and return what it printed and how it exited.

    The run is complete when the command has exited and its stdout and stderr are closed, so
    a background process it left writing to them is waited for (within ``spec.timeout``);
    whatever is still in the group after that is stopped.

    With ``spec.stream``, each complete stdout line (within ``max_output``) is also passed to
    ``on_event`` as ``{"event": "stdout", "data": line}`` while the process runs.

    Raises:
        PrimitiveError: ``EXECUTION_FAILED`` when the command cannot be started (not found,
            not executable, bad cwd); ``CONFIG_INVALID`` never (the spec checked itself).
        PrimitiveTimeout: the run exceeded ``spec.timeout``; ``.partial`` holds the output so
            far and the group has been stopped.
        asyncio.CancelledError: re-raised after the group is stopped.
        Exception: whatever ``on_event`` raised (the group is stopped first).
    """
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    protocol = _Protocol(loop, spec, on_event)
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            spec.command,
            *spec.args,
            stdin=asyncio.subprocess.PIPE if spec.input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.cwd,
            env=dict(spec.env),
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise _start_error(spec, exc) from None
    pgid = transport.get_pid()
    timed_out = False
    try:
        if spec.input is not None:
            stdin = transport.get_pipe_transport(0)
            if isinstance(stdin, asyncio.WriteTransport):
                stdin.write(spec.input.encode("utf-8"))
                stdin.write_eof()
        try:
            async with asyncio.timeout(spec.timeout):
                await protocol.done
        except TimeoutError:
            timed_out = True
    finally:
        try:
            await _stop_group(pgid, spec.grace)
            await _settle(protocol)
        finally:
            transport.close()

    returncode = transport.get_returncode()
    stdout = protocol.stdout.text()
    has_json, parsed = (False, None) if protocol.stdout.truncated else _parse_json(stdout)
    result = ProcessResult(
        exit_code=returncode if returncode is not None else -signal.SIGKILL,
        stdout=stdout,
        stderr=protocol.stderr.text(),
        stdout_truncated=protocol.stdout.truncated,
        stderr_truncated=protocol.stderr.truncated,
        duration_ms=(time.perf_counter() - started) * 1000.0,
        parsed=parsed,
        has_json=has_json,
    )
    if protocol.callback_error is not None:
        raise protocol.callback_error
    if timed_out:
        raise PrimitiveTimeout(
            f"{spec.command!r} did not finish within {spec.timeout:g} s; its process group "
            "was stopped",
            partial=result,
            details={"command": spec.command, "timeout": spec.timeout},
        )
    return result

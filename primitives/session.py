"""The subprocess primitive's ``session`` mode (SPEC §6.1, ``session: {protocol: jsonrpc-lines}``).

A child the kernel keeps alive and talks to: newline-delimited JSON on its stdin and stdout.
The same rules as a one-shot run hold for its whole life: exactly ``spec.env`` as its
environment, its own session and process group, never a shell, stderr drained (its last
``max_stderr`` bytes kept for errors) so the child never blocks on a full pipe, and one
message capped at ``max_message`` bytes. Closing ends stdin, gives the child ``grace``
seconds to exit, then stops the whole group (SIGTERM, grace, SIGKILL), so no orphan survives
a closed or dropped session.

Upstream stdio MCP servers run this way (SPEC §14); the MCP protocol itself is the kernel's
business, this module only moves lines.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import PrimitiveError
from .process import _start_error, _stop_group
from .process_spec import check_command

__all__ = ["LineSession", "SessionSpec", "open_session"]

PROTOCOLS = frozenset({"jsonrpc-lines"})
# How often to look whether the child has exited.
_POLL_S = 0.05


def _config_error(message: str) -> PrimitiveError:
    return PrimitiveError("CONFIG_INVALID", message)


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionSpec:
    """What to start and keep. ``env`` is the child's whole environment (never merged).

    Raises ``PrimitiveError("CONFIG_INVALID")`` naming the field when a value is unusable.
    """

    command: str
    args: tuple[str, ...] = ()
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    protocol: str = "jsonrpc-lines"
    max_message: int = 8 * 1024 * 1024
    max_stderr: int = 64 * 1024
    grace: float = 2.0

    def __post_init__(self) -> None:
        check_command(self.command, self.args, self.cwd, self.env)
        if self.protocol not in PROTOCOLS:
            raise _config_error(
                f"session.protocol: expected one of {sorted(PROTOCOLS)}, got {self.protocol!r}"
            )
        for name in ("max_message", "max_stderr"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _config_error(f"{name}: expected an integer ≥ 1, got {value!r}")
        if (
            isinstance(self.grace, bool)
            or not isinstance(self.grace, int | float)
            or self.grace < 0
        ):
            raise _config_error(f"grace: expected a number ≥ 0, got {self.grace!r}")
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))


class LineSession:
    """A running child exchanging JSON lines. Use ``async with`` or call ``aclose``.

    ``send`` and ``receive`` may be called from different tasks (one writer and one reader
    at a time each); ``aclose`` may be called from any task, more than once.
    """

    def __init__(self, spec: SessionSpec, process: asyncio.subprocess.Process) -> None:
        self.spec = spec
        self._process = process
        self.pid = process.pid
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._stderr_task = asyncio.create_task(
            self._drain_stderr(), name=f"kiwi-stderr-{self.pid}"
        )
        self._write_lock = asyncio.Lock()
        self._closed = False

    @property
    def returncode(self) -> int | None:
        """The exit status once the child has exited (negative: the signal), else None."""
        return self._process.returncode

    async def wait(self) -> int:
        """Wait until the child itself has exited (its group may live on); its exit status.

        (``Process.wait`` would also wait for every pipe to close, which a grandchild holding
        stdout delays forever; the exit status is there as soon as the child is reaped.)
        """
        while (code := self._process.returncode) is None:
            await asyncio.sleep(_POLL_S)
        return code

    def stderr_tail(self) -> str:
        """The last ``max_stderr`` bytes the child wrote to stderr, decoded with replacement."""
        return b"".join(self._stderr).decode("utf-8", errors="replace")

    async def _drain_stderr(self) -> None:
        stream = self._process.stderr
        assert stream is not None
        while chunk := await stream.read(65536):
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > self.spec.max_stderr and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())
            if self._stderr_size > self.spec.max_stderr:
                only = self._stderr.popleft()[-self.spec.max_stderr :]
                self._stderr.append(only)
                self._stderr_size = len(only)

    async def send(self, message: Any) -> None:
        """Write one JSON value as one line.

        Raises:
            PrimitiveError: ``EXECUTION_FAILED`` when the child's stdin is closed (it exited),
                ``CONFIG_INVALID`` when the value is not JSON or is over ``max_message``.
        """
        try:
            line = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _config_error(f"message: not JSON ({exc})") from None
        data = line.encode("utf-8") + b"\n"
        if len(data) > self.spec.max_message:
            raise _config_error(f"message: {len(data)} bytes, over max_message")
        stdin = self._process.stdin
        assert stdin is not None
        async with self._write_lock:
            try:
                stdin.write(data)
                await stdin.drain()
            except (ConnectionError, RuntimeError) as exc:
                raise self._gone(f"cannot write to it ({type(exc).__name__})") from None

    async def receive(self) -> Any | None:
        """The next JSON value the child wrote on one stdout line; None at end of output.

        Blank lines are skipped.

        Raises:
            PrimitiveError: ``EXECUTION_FAILED`` for a line that is not JSON or is over
                ``max_message`` (the session stays usable after a bad line, not after an
                overlong one).
        """
        stdout = self._process.stdout
        assert stdout is not None
        while True:
            try:
                raw = await stdout.readline()
            except ValueError:
                raise PrimitiveError(
                    "EXECUTION_FAILED",
                    f"{self.spec.command!r} wrote a message over max_message "
                    f"({self.spec.max_message} bytes)",
                ) from None
            if not raw:
                return None
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                return json.loads(text)
            except ValueError:
                raise PrimitiveError(
                    "EXECUTION_FAILED",
                    f"{self.spec.command!r} wrote a line that is not JSON: {text[:200]!r}",
                ) from None

    def _gone(self, why: str) -> PrimitiveError:
        code = self._process.returncode
        status = f" (exit code {code})" if code is not None else ""
        return PrimitiveError(
            "EXECUTION_FAILED",
            f"the session with {self.spec.command!r} has ended{status}: {why}",
            details={"command": self.spec.command, "exit_code": code},
        )

    async def aclose(self) -> None:
        """End the session: close stdin, wait ``grace`` for the exit, stop the group.

        Safe to call twice, and from a cancelled task: the group is stopped even then.
        """
        if self._closed:
            return
        self._closed = True
        try:
            stdin = self._process.stdin
            if stdin is not None and not stdin.is_closing():
                stdin.close()
            try:
                async with asyncio.timeout(self.spec.grace):
                    await self.wait()
            except TimeoutError:
                pass
        finally:
            try:
                await _stop_group(self.pid, self.spec.grace)
            finally:
                self._stderr_task.cancel()
                transport = getattr(self._process, "_transport", None)
                if transport is not None:
                    transport.close()

    async def __aenter__(self) -> LineSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def open_session(spec: SessionSpec) -> LineSession:
    """Start ``spec``'s command as a session child and return once it runs.

    Raises:
        PrimitiveError: ``EXECUTION_FAILED`` when the command cannot be started (not found,
            not executable, bad cwd).
    """
    try:
        process = await asyncio.create_subprocess_exec(
            spec.command,
            *spec.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=spec.cwd,
            env=dict(spec.env),
            start_new_session=True,
            close_fds=True,
            limit=spec.max_message,
        )
    except OSError as exc:
        raise _start_error(spec, exc) from None  # type: ignore[arg-type]
    return LineSession(spec, process)

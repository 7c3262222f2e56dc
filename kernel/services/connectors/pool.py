"""The upstream pool (SPEC §14): one MCP session per server per kernel.

Each connection is owned by one task that opens the transport and the SDK's
``ClientSession``, initializes, lists the tools, serves until asked to close, and closes it
all again — in that same task, so no anyio cancel scope is ever entered in one task and left
in another (the error other clients hit when a session is opened in one request handler and
closed in the next). Callers only talk to the live ``ClientSession`` and wait on events.

* Connect timeout: the handshake and the first ``tools/list`` must finish in
  ``connect_timeout``; a failed connect is tried again with backoff before it is reported.
* A connection whose server went away (its output ended) is dead; the next call reconnects.
  A call in flight when it died fails and is not re-sent (it may not be idempotent).
* ``notifications/tools/list_changed`` makes the owner re-list; ``tools`` is then the new
  listing, which the kernel compares with the pins before any call.
* Closing the pool closes every session; a stdio server's process group is stopped by the
  primitive (stdin closed, grace, SIGTERM, SIGKILL).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
import mcp_types
from mcp.client.session import ClientSession, IncomingMessage
from mcp.shared.dispatcher import ProgressFnT

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.errors import ExecutionFailed, ExecutionTimeout, KiwiError
from kiwi_mcp.kernel.services.connectors.pins import pin
from kiwi_mcp.kernel.services.connectors.records import ServerSpec
from kiwi_mcp.primitives.errors import PrimitiveError

__all__ = ["Connection", "ProgressHook", "UpstreamPool"]

logger = logging.getLogger("kiwi.mcp.client")

ProgressHook = ProgressFnT
_CLIENT_INFO = mcp_types.Implementation(name="kiwi", version=__version__)
_ATTEMPTS = 3
_BACKOFF_S = 0.25


def _leaf(error: BaseException | None) -> BaseException | None:
    """The first real error inside (nested) exception groups, which anyio task groups raise."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _wire(tool: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
    return dumped


class Connection:
    """One live session with one upstream server (see the module docstring)."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.tools: dict[str, dict[str, Any]] = {}
        #: each listed tool's pin, computed once per listing
        self.pins: dict[str, str] = {}
        #: counts listings: a caller can tell a re-list happened (``list_changed``)
        self.listings = 0
        self.stderr_tail: Callable[[], str] = lambda: ""
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._dead = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._ready.is_set() and not self._dead.is_set() and not self._closing

    async def start(self) -> None:
        """Open the session (in its own owner task) and wait until it is ready.

        Raises:
            ExecutionTimeout: not ready within ``connect_timeout``.
            ExecutionFailed: the server could not be started or the handshake failed.
        """
        self._task = asyncio.create_task(self._own(), name=f"kiwi-mcp-{self.spec.name}")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            # the owner task ends (with its error recorded) if the session never gets ready
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not self._ready.is_set():
            error = _leaf(self._error)
            await self.aclose()
            if isinstance(error, KiwiError):
                raise error
            raise self._connect_error(error)

    def _connect_error(self, error: BaseException | None) -> KiwiError:
        if isinstance(error, TimeoutError):
            return ExecutionTimeout(
                f"upstream {self.spec.name!r} did not finish the MCP handshake within "
                f"{self.spec.connect_timeout:g} s",
                hint=f"Check that mcp/servers/{self.spec.name} starts an MCP server "
                "('kiwi mcp tools' shows what it serves), or raise session.connect_timeout.",
            )
        if isinstance(error, PrimitiveError):
            return ExecutionFailed(error.message, details=error.details)
        what = f"{type(error).__name__}: {error}" if error is not None else "it ended"
        tail = self.stderr_tail().strip()[-400:]
        return ExecutionFailed(
            f"cannot connect to upstream {self.spec.name!r}: {what}",
            hint=f"Check mcp/servers/{self.spec.name} ('kiwi resolve mcp/servers/"
            f"{self.spec.name}'); the server's last stderr: {tail or '(none)'}",
        )

    async def _own(self) -> None:
        from kiwi_mcp.kernel.services.connectors.transport import (
            http_streams,
            line_session_streams,
        )

        spec = self.spec
        try:
            async with AsyncExitStack() as stack:
                if spec.transport == "stdio":
                    from kiwi_mcp.primitives.session import SessionSpec, open_session

                    assert spec.command is not None
                    line = await open_session(
                        SessionSpec(
                            command=spec.command, args=spec.args, cwd=spec.cwd, env=spec.env
                        )
                    )
                    stack.push_async_callback(line.aclose)
                    self.stderr_tail = line.stderr_tail
                    streams = await stack.enter_async_context(
                        line_session_streams(line, on_end=self._ended)
                    )
                else:
                    assert spec.url is not None
                    streams = await stack.enter_async_context(
                        http_streams(spec.url, headers=spec.headers, timeout=spec.call_timeout)
                    )
                session = await stack.enter_async_context(
                    ClientSession(
                        streams[0],
                        streams[1],
                        message_handler=self._on_message,
                        client_info=_CLIENT_INFO,
                    )
                )
                with anyio.fail_after(spec.connect_timeout):
                    await session.initialize()
                    await self._list(session)
                self._session = session
                self._ready.set()
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    if self._closing or self._dead.is_set():
                        break
                    try:
                        with anyio.fail_after(spec.connect_timeout):
                            await self._list(session)
                    except Exception as exc:  # keep serving the old listing, say why
                        logger.warning("upstream %s: re-listing tools failed: %s", spec.name, exc)
        except BaseException as exc:
            if not self._ready.is_set():
                self._error = exc
            if not isinstance(exc, Exception):
                raise
            logger.info("upstream %s: session ended: %s", spec.name, exc)
        finally:
            self._session = None
            self._dead.set()

    def _ended(self) -> None:
        self._dead.set()
        self._wake.set()

    async def _list(self, session: ClientSession) -> None:
        tools: dict[str, dict[str, Any]] = {}
        cursor: str | None = None
        while True:
            params = mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
            result = await session.list_tools(params=params)
            for tool in result.tools:
                tools[tool.name] = _wire(tool)
            cursor = result.next_cursor
            if not cursor:
                break
        self.tools = tools
        self.pins = {name: pin(tool) for name, tool in tools.items()}
        self.listings += 1

    async def relist(self) -> None:
        """Have the owner list the tools again and wait for it (within ``connect_timeout``):
        before a call is refused on a pin, the listing it is judged by is made current."""
        seen = self.listings
        self._wake.set()
        deadline = asyncio.get_running_loop().time() + self.spec.connect_timeout
        while self.listings == seen and self.alive:
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.01)

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._wake.set()
        elif isinstance(message, Exception):
            logger.info("upstream %s: %s", self.spec.name, message)

    async def call(
        self,
        name: str,
        arguments: Mapping[str, Any],
        *,
        timeout: float | None = None,
        on_progress: ProgressHook | None = None,
    ) -> mcp_types.CallToolResult:
        """One ``tools/call``. Cancelling the awaiting task abandons the request, and the
        SDK sends ``notifications/cancelled`` upstream.

        Raises:
            ExecutionTimeout: no answer within ``timeout`` (default ``call_timeout``).
            ExecutionFailed: the session is gone or the server answered with an error.
        """
        session = self._session
        if session is None or not self.alive:
            raise ExecutionFailed(f"the session with upstream {self.spec.name!r} has ended")
        limit = self.spec.call_timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                result = await session.call_tool(
                    name, dict(arguments), progress_callback=on_progress
                )
        except TimeoutError:
            raise ExecutionTimeout(
                f"upstream {self.spec.name!r} did not answer tools/call {name!r} within "
                f"{limit:g} s (the request was cancelled upstream)"
            ) from None
        except KiwiError:
            raise
        except Exception as exc:
            raise ExecutionFailed(
                f"upstream {self.spec.name!r} failed tools/call {name!r}: "
                f"{type(exc).__name__}: {exc}",
                hint="The upstream server refused the call at the protocol level; check the"
                f" arguments against 'kiwi show tool mcp/{self.spec.name}/…' or the server's"
                " own documentation.",
            ) from None
        if not isinstance(result, mcp_types.CallToolResult):
            raise ExecutionFailed(
                f"upstream {self.spec.name!r} answered tools/call {name!r} with a "
                f"{type(result).__name__}, which Kiwi does not handle"
            )
        return result

    async def aclose(self) -> None:
        """Ask the owner task to close the session and wait for it to finish."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


class UpstreamPool:
    """A kernel's connections, by server name. Not shared between event loops."""

    def __init__(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._connections: dict[str, Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._sleep = sleep
        #: how many sessions were opened (a test and the bench can see reuse)
        self.opened = 0

    def peek(self, name: str) -> Connection | None:
        """The live connection to ``name``, if any (never connects)."""
        connection = self._connections.get(name)
        return connection if connection is not None and connection.alive else None

    async def connection(self, spec: ServerSpec) -> Connection:
        """The live connection for ``spec``: kept while its ``fingerprint`` holds, else
        (re)opened, trying ``_ATTEMPTS`` times with doubling backoff.

        Raises:
            ExecutionFailed | ExecutionTimeout: the last attempt's error.
        """
        lock = self._locks.setdefault(spec.name, asyncio.Lock())
        async with lock:
            current = self._connections.get(spec.name)
            if current is not None:
                if current.alive and current.spec.fingerprint == spec.fingerprint:
                    return current
                del self._connections[spec.name]
                await current.aclose()
            delay = _BACKOFF_S
            for attempt in range(1, _ATTEMPTS + 1):
                connection = Connection(spec)
                try:
                    await connection.start()
                except ExecutionFailed as err:  # a timeout is not tried again: it took long
                    if attempt == _ATTEMPTS:
                        raise
                    logger.info("upstream %s: connect %d failed: %s", spec.name, attempt, err)
                    await self._sleep(delay)
                    delay *= 2
                    continue
                self.opened += 1
                self._connections[spec.name] = connection
                return connection
            raise AssertionError("unreachable")

    async def drop(self, name: str) -> None:
        """Close the connection to ``name`` (the next call reconnects)."""
        connection = self._connections.pop(name, None)
        if connection is not None:
            await connection.aclose()

    async def aclose(self) -> None:
        """Close every connection (each in its own owner task)."""
        connections, self._connections = list(self._connections.values()), {}
        await asyncio.gather(*(c.aclose() for c in connections), return_exceptions=True)

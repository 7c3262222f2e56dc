"""The stdio channel of ``kiwi serve``: MCP over a private copy of fd 0 and fd 1 (SPEC §10).

Our own, not ``mcp.server.stdio.stdio_server``, because that one hands the server an
exception for a line it cannot read and the line is gone, so the answer cannot carry the
request's id; and it reads ``"id": 1.5`` as a notification and runs it silently. Every line
goes through ``jsonrpc_input.read_message``: a message goes to the server, a refusal straight
back to the client, in order with the server's own answers (one writer serialises both).

It keeps the SDK's guarantees: while serving, fd 0 reads the null device and fd 1 is
stderr, so a stray read or print, ours or a child's, never touches the channel, which is
served from duplicates above fd 2 (close-on-exec, so children never inherit it) and put
back on exit; input is UTF-8 with undecodable bytes replaced; one message per line, in the
SDK's encoding. A blank line is not a message and is skipped without an answer.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO, TextIO

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage

from kiwi_mcp.kernel.faces.mcp.jsonrpc_input import Refusal, read_message

__all__ = ["stdio_channel"]

logger = logging.getLogger("kiwi.mcp")

_Outgoing = SessionMessage | Refusal


@contextlib.asynccontextmanager
async def stdio_channel() -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage], MemoryObjectSendStream[_Outgoing]]
]:
    """The server's read and write streams over this process's stdin and stdout.

    The read stream ends at stdin EOF; the writer drains what the server sent before it
    closed its write stream.

    Raises:
        OSError: fd 0 or fd 1 is not open.
    """
    with _claimed_stdio() as (wire_in, wire_out):
        to_server, from_wire = anyio.create_memory_object_stream[SessionMessage](0)
        to_wire, outgoing = anyio.create_memory_object_stream[_Outgoing](0)
        async with anyio.create_task_group() as tg:
            reading = anyio.CancelScope()
            tg.start_soon(_read, reading, wire_in, to_server, to_wire.clone())
            tg.start_soon(_write, wire_out, outgoing)
            try:
                yield from_wire, to_wire
            finally:
                # The server is done: stop reading (stdin may still be open) and let the
                # writer finish what is queued.
                reading.cancel()
                await to_wire.aclose()


@contextlib.contextmanager
def _claimed_stdio() -> Iterator[tuple[TextIO, BinaryIO]]:
    """fd 0 and fd 1 moved aside for the channel; put back on exit.

    Raises:
        OSError: fd 0 or fd 1 is not open (there is no channel to serve).
    """
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    try:
        wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        os.close(wire_in)
        raise
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
    finally:
        os.close(null)
    os.dup2(2, 1)
    try:
        # closefd=False: a reader thread may still block on the copy after we return, so
        # it is never closed (and its number never reused under that thread).
        yield (
            _text(os.fdopen(wire_in, "rb", closefd=False)),
            os.fdopen(wire_out, "wb", closefd=False),
        )
    finally:
        # A stray print still buffered belongs on stderr, where fd 1 points until now.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(wire_out, 1)
        os.dup2(wire_in, 0)


def _text(binary: BinaryIO) -> TextIO:
    # As the SDK: UTF-8 whatever the locale, undecodable bytes replaced rather than fatal.
    return io.TextIOWrapper(binary, encoding="utf-8", errors="replace")


async def _read(
    scope: anyio.CancelScope,
    wire_in: TextIO,
    to_server: MemoryObjectSendStream[SessionMessage],
    to_wire: MemoryObjectSendStream[_Outgoing],
) -> None:
    try:
        with scope, contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            while line := await anyio.to_thread.run_sync(wire_in.readline, abandon_on_cancel=True):
                if not line.strip():
                    continue
                found = read_message(line, what="line")
                if isinstance(found, Refusal):
                    # The line itself is not logged: it may hold anything the client sent.
                    logger.warning("answered an unreadable line with a JSON-RPC error")
                    await to_wire.send(found)
                else:
                    await to_server.send(SessionMessage(found))
    finally:
        # Even when cancelled before the first line: the writer ends once every sender is closed.
        to_server.close()
        to_wire.close()


async def _write(wire_out: BinaryIO, outgoing: MemoryObjectReceiveStream[_Outgoing]) -> None:
    broken = False
    async with outgoing:
        async for item in outgoing:
            if broken:
                continue  # keep draining, so the server never blocks on a gone client
            if isinstance(item, Refusal):
                text = item.to_json()
            else:
                text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            try:
                await anyio.to_thread.run_sync(_write_line, wire_out, text)
            except OSError:
                logger.warning("stdout is closed: the client went away; dropping output")
                broken = True


def _write_line(wire_out: BinaryIO, text: str) -> None:
    wire_out.write(text.encode("utf-8", "replace") + b"\n")
    wire_out.flush()

"""The MCP SDK's client streams over Kiwi's primitives (SPEC §14).

The protocol is the official SDK's ``ClientSession``; the bytes move through the primitives,
so the environment, kill and cap rules of ``subprocess`` (and the gate and audit in front of
it) hold for an upstream's whole life:

* stdio: a ``primitives/session.LineSession`` (``session: {protocol: jsonrpc-lines}``),
  one task reading its lines into the SDK's read stream, one writing the SDK's messages;
* Streamable HTTP: the SDK's transport over the ``httpx2`` client that
  ``primitives/http_session`` builds (redirects never followed, the configured headers).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from kiwi_mcp.primitives.errors import PrimitiveError
from kiwi_mcp.primitives.session import LineSession

__all__ = ["http_streams", "line_session_streams"]

logger = logging.getLogger("kiwi.mcp.client")


@asynccontextmanager
async def line_session_streams(
    session: LineSession, *, on_end: Callable[[], None]
) -> AsyncIterator[TransportStreams]:
    """The SDK's (read, write) streams over a line session; ``on_end`` is called once the
    child exited or its output ended, so the owner can notice at once."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def reader() -> None:
        try:
            async with read_writer:
                while True:
                    try:
                        value = await session.receive()
                    except PrimitiveError as exc:
                        if "max_message" in exc.message:
                            return  # the stream is out of step now: end the session
                        await read_writer.send(ValueError(exc.message))
                        continue
                    if value is None:
                        return
                    try:
                        message = mcp_types.jsonrpc_message_adapter.validate_python(
                            value, by_name=False
                        )
                    except ValidationError as exc:
                        await read_writer.send(exc)
                        continue
                    await read_writer.send(SessionMessage(message))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            on_end()

    async def writer() -> None:
        try:
            async with write_reader:
                async for item in write_reader:
                    wire = item.message.model_dump(by_alias=True, exclude_unset=True, mode="json")
                    await session.send(wire)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        except PrimitiveError as exc:
            logger.info("upstream %s: %s", session.spec.command, exc.message)
            await read_writer.aclose()

    async def watcher() -> None:
        # a child that died while a process it started still holds stdout open ends here
        await session.wait()
        on_end()

    async with anyio.create_task_group() as group:
        group.start_soon(reader)
        group.start_soon(writer)
        group.start_soon(watcher)
        try:
            yield read_stream, write_stream
        finally:
            group.cancel_scope.cancel()


@asynccontextmanager
async def http_streams(
    url: str, *, headers: Mapping[str, str], timeout: float
) -> AsyncIterator[TransportStreams]:
    """The SDK's Streamable HTTP streams over the primitive's HTTP session client."""
    from mcp.client.streamable_http import streamable_http_client

    from kiwi_mcp.primitives.http_session import session_client

    async with session_client(url=url, headers=headers, timeout=timeout) as client:
        streams: Any
        async with streamable_http_client(url, http_client=client) as streams:
            yield streams

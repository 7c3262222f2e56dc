"""Server-sent events on top of httpx-sse: turning a response into Kiwi event dicts.

httpx-sse parses the wire format (``event``, multi-line ``data`` joined with "\\n", ``id``
kept across events, ``retry``, comments ignored). Two things are added here:

* A last event not followed by a blank line is still delivered. httpx-sse (0.4) drops it, as the
  WHATWG algorithm does for browsers, but a server that closes right after its final ``data:``
  line meant that event; so at a clean end of the body one blank line is appended. (Only for
  an identity-encoded body; SSE requests ask for that.)
* Blocks that carry no data and no event name (a bare ``retry:`` or ``id:``) update the state
  but are not delivered, since there is nothing in them to act on.

Each delivered event is ``{"event": name or "message", "data": JSON value or raw string,
"id": last event id or None}``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource

__all__ = ["SseState", "error_message", "is_error", "parse_data", "read_events"]

# Characters a JSON text can start with; anything else is kept as a string without trying.
_JSON_START = frozenset('{["-0123456789tfn')
_MAX_MESSAGE = 500


class _TerminatedStream(httpx.AsyncByteStream):
    """The body, then one blank line once it has ended cleanly (see the module docstring)."""

    def __init__(self, inner: httpx.AsyncByteStream) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk
        yield b"\n\n"

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(slots=True)
class SseState:
    """What a stream told us that outlives one connection: for reconnecting after a break."""

    last_event_id: str | None = None
    retry_ms: int | None = None
    count: int = 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# NaN and Infinity are Python's extension, not JSON: such data stays a string.
_decoder = json.JSONDecoder(parse_constant=_reject_constant)


def parse_data(data: str) -> Any:
    """The data as a JSON value when it is valid JSON, else the string itself."""
    if not data or data[0] not in _JSON_START:
        return data
    # raw_decode skips json.loads' wrapper and whitespace regex: this runs once per event.
    try:
        value, end = _decoder.raw_decode(data)
    except ValueError:
        return data
    if end != len(data) and not data[end:].isspace():
        return data
    return value


def is_error(name: str, data: Any) -> bool:
    """Whether an event reports a failure: named ``error``, or Anthropic's
    ``{"type": "error", "error": {...}}``, or OpenAI's lone ``{"error": {...}}``."""
    if name == "error":
        return True
    if type(data) is not dict:
        return False
    if data.get("type") == "error":
        return True
    return len(data) == 1 and isinstance(data.get("error"), dict)


def error_message(event: dict[str, Any]) -> tuple[str, str | None]:
    """The provider's message and error type from an error event (message cut to a sane size)."""
    data = event["data"]
    kind: str | None = None
    message: Any = data
    if isinstance(data, dict):
        inner = data.get("error", data)
        if isinstance(inner, dict):
            kind = inner.get("type") if isinstance(inner.get("type"), str) else None
            message = inner.get("message", inner)
        else:
            message = inner
    text = message if isinstance(message, str) else json.dumps(message, default=str)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "…"
    return text or "(no message)", kind


async def read_events(
    response: httpx.Response, state: SseState, deliver: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Pass each event of ``response`` to ``deliver``, updating ``state``.

    Returns the first error event (delivered too; reading stops there), or None when the
    stream ended. The caller checks the content type first (httpx-sse raises otherwise).
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "identity" and isinstance(response.stream, httpx.AsyncByteStream):
        response.stream = _TerminatedStream(response.stream)
    # One loop with no generator of our own between httpx-sse and the sinks: this is the
    # per-event hot path.
    async with contextlib.aclosing(EventSource(response).aiter_sse()) as events:
        async for sse in events:
            name, data, event_id = sse.event, sse.data, sse.id
            if sse.retry is not None:
                state.retry_ms = sse.retry
            if event_id:
                state.last_event_id = event_id
            if not data and name == "message":
                continue
            value = parse_data(data)
            event = {"event": name, "data": value, "id": event_id or None}
            state.count += 1
            deliver(event)
            if is_error(name, value):
                return event
    return None

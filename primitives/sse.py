"""Server-sent events: turning a response body into Kiwi event dicts.

``SseParser`` reads body chunks by the rules of the WHATWG HTML standard ("Interpreting an
event stream"): lines end in CRLF, LF or CR; one leading byte order mark is skipped; ``data``
lines are joined with "\\n"; ``event`` names the event; ``id`` sets the last event id (unless it
holds NUL) and keeps it for the events after; ``retry`` sets the reconnection time (ASCII digits
only); lines starting with ":" are comments; a line without a colon is a field with an empty
value; one space after the colon is dropped; unknown fields are ignored; a blank line ends
the event. Two things differ from the standard, on purpose:

* A last event not followed by a blank line is still delivered when the body ends cleanly. The
  standard drops it (as httpx-sse does), but a server that closes right after its final
  ``data:`` line meant that event. A body cut by a broken connection loses it.
* What is delivered is decided by the data and the name: an event with neither data nor a name
  of its own (a bare ``retry:`` or ``id:``, an empty ``data:``) updates the state but is not
  delivered, since there is nothing in it to act on; an event with a name and no data (an
  ``event: ping`` alone) is delivered with ``""`` as its data, as Kiwi always did, where the
  standard drops every event without a ``data`` line.

Each delivered event is ``{"event": name or "message", "data": JSON value or raw string,
"id": last event id or None}``. The parser is ours rather than httpx-sse's because httpx-sse
decodes every line through two pure-Python decoders, which cost more than everything else an
event needs; here whole chunks are split and decoded by ``bytes``/``str`` methods at C speed.
``tests/primitives/test_sse_parser.py`` holds it to httpx-sse's results on random streams.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, cast

import httpx

__all__ = ["SseParser", "SseState", "error_message", "is_error", "parse_data", "read_events"]

# Characters a JSON text can start with; anything else is kept as a string without trying.
_JSON_START = frozenset('{["-0123456789tfn')
_MAX_MESSAGE = 500
_BOM = b"\xef\xbb\xbf"
_LF = 10


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
# Its C scanner, called directly where each event is read (raw_decode is a Python frame
# around it that only turns StopIteration into ValueError).
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


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


class SseParser:
    """Turns the chunks of one response body into events passed to ``deliver``.

    ``feed`` each chunk as it arrives, then call ``end`` once the body has ended cleanly.
    Both return the first error event (delivered too), after which the parser must not be fed
    again, or None. ``state`` is updated as events are read: ``count`` per delivered event,
    ``last_event_id`` when an event ends with a non-empty id, ``retry_ms`` per valid ``retry``.
    Whatever ``deliver`` raises passes through.
    """

    __slots__ = ("_after_cr", "_deliver", "_last_id", "_pending", "_start", "_state")

    def __init__(self, state: SseState, deliver: Callable[[dict[str, Any]], None]) -> None:
        self._state = state
        self._deliver = deliver
        # The start of the body while it could still be a byte order mark; None once past it.
        self._start: bytes | None = b""
        # Bytes of the event still open, line endings already made LF; never holding "\n\n".
        self._pending: list[bytes] = []
        # The last chunk ended in CR: an LF starting the next one belongs to it.
        self._after_cr = False
        self._last_id = ""

    def feed(self, chunk: bytes) -> dict[str, Any] | None:
        """Read one chunk of the body; deliver the events it completes."""
        if self._start is not None:
            chunk = self._start + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                self._start = chunk
                return None
            self._start = None
            if chunk.startswith(_BOM):
                chunk = chunk[len(_BOM) :]
        if self._after_cr:
            self._after_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # A CR ends its line now, not when the next chunk shows whether an LF follows.
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not chunk:
            return None
        pending = self._pending
        blank = chunk.rfind(b"\n\n")
        if blank >= 0:
            # Everything up to the last blank line is whole events; the rest stays open.
            body, rest = chunk[: blank + 2], chunk[blank + 2 :]
        elif pending and chunk[0] == _LF and pending[-1][-1] == _LF:
            body, rest = b"\n", chunk[1:]
        else:
            pending.append(chunk)
            return None
        if pending:
            body = b"".join(pending) + body
            pending.clear()
        if rest:
            pending.append(rest)
        # ``body`` ends with a line ending, so no UTF-8 sequence is cut.
        return self._events(body.decode("utf-8", "replace"))

    def end(self) -> dict[str, Any] | None:
        """The body ended cleanly: deliver an event still open as if a blank line followed."""
        if self._start:
            start, self._start = self._start, None
            self._pending.append(start)
        if not self._pending:
            return None
        body = b"".join(self._pending) + b"\n\n"
        self._pending.clear()
        return self._events(body.decode("utf-8", "replace"))

    def _events(self, text: str) -> dict[str, Any] | None:
        """Deliver the events of ``text``: whole events, LF line endings, ending in "\\n\\n"."""
        # One loop over the events, everything it touches bound to locals and the calls
        # inlined (parse_data, is_error): this is the per-event hot path.
        state, deliver, last_id = self._state, self._deliver, self._last_id
        json_start, scan = _JSON_START, _scan
        count = state.count
        name_line, line_name = "\n", ""  # no event starts with "\n"
        data_at = 1
        try:
            for block in text.split("\n\n"):
                if not block:
                    continue
                first = block[0]
                if first == "\n":
                    # Extra blank lines: events with nothing in them.
                    block = block.lstrip("\n")
                    if not block:
                        continue
                    first = block[0]
                # The common shapes first: ``event: x\ndata: y`` and ``data: y``. Providers
                # send runs of events with the same name, so the last ``event: x`` line is
                # kept: such an event costs one comparison and shares one name string.
                name: str | None = None
                if first == "e":
                    if block.startswith(name_line):
                        if block.startswith("data: ", data_at) and block.find("\n", data_at) < 0:
                            name, data = line_name, block[data_at + 6 :]
                    elif (
                        (line_end := block.find("\n")) > 0
                        and block.startswith("event: ")
                        and block.startswith("data: ", line_end + 1)
                        and block.find("\n", line_end + 1) < 0
                    ):
                        name, data = block[7:line_end] or "message", block[line_end + 7 :]
                        data_at = line_end + 1
                        name_line, line_name = block[:data_at], name
                elif first == "d" and block.startswith("data: ") and "\n" not in block:
                    name, data = "message", block[6:]
                if name is None:
                    name, data, last_id = self._fields(block, last_id)
                    self._last_id = last_id
                    if last_id:
                        state.last_event_id = last_id
                if not data:
                    if name == "message":
                        continue
                    value: Any = data
                elif data[0] in json_start:
                    try:
                        value, end = scan(data, 0)
                    except (ValueError, StopIteration):
                        value = data
                    else:
                        if end != len(data) and not data[end:].isspace():
                            value = data
                else:
                    value = data
                event = {"event": name, "data": value, "id": last_id or None}
                count += 1
                deliver(event)
                if name == "error" or (
                    type(value) is dict
                    and (
                        value.get("type") == "error"
                        or (len(value) == 1 and isinstance(value.get("error"), dict))
                    )
                ):
                    return event
        finally:
            state.count = count
        return None

    def _fields(self, block: str, last_id: str) -> tuple[str, str, str]:
        """Name, data and last event id after the lines of one event, in any shape."""
        name = ""
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if not field:
                continue  # a comment
            if value[:1] == " ":
                value = value[1:]
            if field == "data":
                data.append(value)
            elif field == "event":
                name = value
            elif field == "id":
                if "\0" not in value:
                    last_id = value
            elif field == "retry" and value.isascii() and value.isdigit():
                # int() refuses more than 4,300 digits; such a value is ignored like any other.
                with contextlib.suppress(ValueError):
                    self._state.retry_ms = int(value)
        return name or "message", "\n".join(data), last_id


async def read_events(
    response: httpx.Response, state: SseState, deliver: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """Pass each event of ``response`` to ``deliver``, updating ``state``.

    Returns the first error event (delivered too; reading stops there), or None when the
    stream ended. The caller checks the content type first. Raises what httpx raises while
    reading, and whatever ``deliver`` raises.
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    # An uncompressed body is read raw, skipping httpx's (identity) decoder per chunk.
    chunks = response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
    parser = SseParser(state, deliver)
    feed = parser.feed
    async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], chunks)) as body:
        async for chunk in body:
            event = feed(chunk)
            if event is not None:
                return event
    return parser.end()

"""What a fake model answers, in terms every wire format renders its own way.

A ``Turn`` is a successful answer (blocks of text, thinking or a tool call, a stop kind, usage,
and how the stream ends); a ``Fault`` is an HTTP error answer. The three wire modules turn them
into bytes: ``Wire`` is the face each of them offers the server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "CREATED",
    "Block",
    "Context",
    "Ending",
    "Fault",
    "FaultKind",
    "Stop",
    "Turn",
    "Usage",
    "Wire",
    "bearer",
    "compact",
    "sse",
]

# The "created" time of every fake answer: a fixed instant keeps the bodies deterministic.
CREATED = 1_700_000_000

BlockKind = Literal["text", "thinking", "tool"]
# end: the model finished; tool: it wants tool results; length: it ran out of output tokens;
# refusal: it (or a filter) declined.
Stop = Literal["end", "tool", "length", "refusal"]
# complete: the terminal event is sent. The others stop the stream after the last block's
# deltas: error / failed send the format's mid-stream error record, cut drops the connection,
# eof ends the body cleanly.
Ending = Literal["complete", "error", "failed", "cut", "eof"]
FaultKind = Literal["auth", "invalid", "not_found", "rate_limit", "overloaded", "quota", "server"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Block:
    """One content block: text deltas, thinking deltas, or a tool call's argument fragments."""

    kind: BlockKind
    pieces: tuple[str, ...]
    name: str = ""
    signature: str = ""

    @property
    def whole(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Token counts, each read in the provider's own sense.

    ``input`` is Anthropic's ``input_tokens`` (the uncached part) and OpenAI's prompt / input
    tokens (which include the cached ones); ``cached`` is Anthropic's cache reads and OpenAI's
    ``cached_tokens``; ``cache_write`` exists only for Anthropic.
    """

    input: int = 12
    output: int = 7
    cached: int = 3
    cache_write: int = 2
    reasoning: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Turn:
    """A 200 answer: see the module docstring."""

    blocks: tuple[Block, ...]
    stop: Stop = "end"
    ending: Ending = "complete"
    usage: Usage = field(default_factory=Usage)
    pings: bool = False
    unknown: bool = False
    gap: float = 0.0

    @property
    def complete(self) -> bool:
        return self.ending == "complete"

    @property
    def tool_count(self) -> int:
        return sum(1 for block in self.blocks if block.kind == "tool")


@dataclass(frozen=True, kw_only=True, slots=True)
class Fault:
    """An HTTP error answer; each wire maps ``kind`` to its status, type and code."""

    kind: FaultKind
    message: str = ""
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class Context:
    """Per-answer facts the server allocates: the model, the answer's number, tool numbers."""

    model: str
    number: int
    tool_numbers: tuple[int, ...] = ()


class Wire(Protocol):
    """One provider's wire format, as the server drives it."""

    path: str
    request_id_header: str
    ping: bytes

    def check(self, headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
        """The first thing wrong with the request (auth, required fields, tool pairing)."""
        ...

    def user_text(self, body: dict[str, Any]) -> str:
        """The text of the last user message ("" when there is none)."""
        ...

    def error(self, fault: Fault, request_id: str) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body for ``fault``."""
        ...

    def stream(self, turn: Turn, ctx: Context) -> Iterator[bytes]:
        """The SSE records of ``turn``, one ``bytes`` per record, in order."""
        ...

    def body(self, turn: Turn, ctx: Context) -> dict[str, Any]:
        """The non-streaming JSON body of ``turn``."""
        ...


def compact(value: Any) -> str:
    """JSON as the providers send it: no spaces, UTF-8 kept as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def sse(data: dict[str, Any], *, event: str | None = None) -> bytes:
    """One SSE record: ``event:`` (when named) and ``data:`` lines, then a blank line."""
    head = f"event: {event}\n" if event is not None else ""
    return f"{head}data: {compact(data)}\n\n".encode()


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None

"""The state of one turn being assembled (SPEC §12.3), shared by the two stream engines.

Blocks in order of appearance with their parts, usage replaced (never summed), the raw stop,
the error, and :meth:`TurnState.finish`, which turns them into one :class:`Turn`: a tool
call is offered for execution only when the turn stopped on ``tool``/``end``, its block was
closed and its arguments parse as a JSON object. The engines — typed events
(``assemble.Assembler``) and merged deltas (``chat_delta.feed_delta``) — only open, extend
and close blocks and take usage through these methods, so both keep the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiwi_mcp.kernel.core.llm.paths import Getter, lookup
from kiwi_mcp.kernel.core.llm.protocol import Protocol

__all__ = ["Block", "Turn", "TurnState", "none"]

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_RUNNABLE_STOPS = frozenset({"tool", "end"})


def none(value: Any) -> Any:
    """The getter of a path a protocol does not map."""
    return None


@dataclass(slots=True)
class Block:
    index: int
    kind: str
    call_id: str | None = None
    name: str | None = None
    parts: list[str] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    """One assembled turn: what SPEC §12.4's result ``data`` is made of."""

    text: str
    thinking: str
    tool_calls: tuple[Mapping[str, Any], ...]
    incomplete_tool_calls: tuple[Mapping[str, Any], ...]
    #: canonical stop, or ``incomplete`` (no terminal event) / ``error`` (an error event)
    stop: str
    stop_raw: str | None
    #: None when the stream was incomplete or failed: the counts are not known
    usage: Mapping[str, int] | None
    model: str | None
    error: Mapping[str, Any] | None
    events: int

    @property
    def complete(self) -> bool:
        return self.stop not in ("incomplete", "error")


class TurnState:
    """What the engines fold a stream into; :meth:`finish` once at the end."""

    __slots__ = (
        "_blocks",
        "_error",
        "_events",
        "_model",
        "_order",
        "_over",
        "_protocol",
        "_stop",
        "_terminal",
        "_usage",
    )

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol
        self._blocks: dict[Any, Block] = {}
        self._order: list[Block] = []
        self._usage: dict[str, int] = {}
        self._stop: str | None = None
        self._model: str | None = None
        self._terminal = False
        self._over = False  # terminal or failed: later events are ignored
        self._error: dict[str, Any] | None = None
        self._events = 0

    # --- state ---------------------------------------------------------------------------

    def _open(
        self,
        key: Any,
        kind: str,
        out: list[dict[str, Any]],
        data: Any = None,
        get: Mapping[str, Getter] | None = None,
    ) -> Block:
        block = Block(index=len(self._order), kind=kind)
        if kind == "tool_call" and get:
            call_id = get.get("call_id", none)(data)
            name = get.get("name", none)(data)
            block.call_id = call_id if isinstance(call_id, str) else None
            block.name = name if isinstance(name, str) else None
        self._blocks[key] = block
        self._order.append(block)
        event: dict[str, Any] = {"type": "block_start", "index": block.index, "kind": kind}
        if kind == "tool_call":
            event["call_id"] = block.call_id
            event["name"] = block.name
        out.append(event)
        return block

    @staticmethod
    def _delta(block: Block, name: str, value: str, out: list[dict[str, Any]]) -> None:
        if block.done or not value:
            return
        block.parts.append(value)
        if name == "args":
            out.append({"type": "tool_args_delta", "index": block.index, "fragment": value})
        elif name == "thinking":
            out.append({"type": "thinking_delta", "index": block.index, "text": value})
        else:
            out.append({"type": "text_delta", "index": block.index, "text": value})

    @staticmethod
    def _close(block: Block, out: list[dict[str, Any]]) -> None:
        if not block.done:
            block.done = True
            out.append({"type": "block_stop", "index": block.index})

    def _take_usage(self, usage: Any) -> bool:
        if not isinstance(usage, dict):
            return False
        m = self._protocol.usage
        taken = False
        for name, path in (
            ("input_tokens", m.input_tokens),
            ("output_tokens", m.output_tokens),
            ("cache_read_tokens", m.cache_read_tokens),
            ("cache_write_tokens", m.cache_write_tokens),
        ):
            value = lookup(usage, path)
            if isinstance(value, int) and not isinstance(value, bool):
                self._usage[name] = value  # replaced, never summed
                taken = True
        return taken

    def _end(self, out: list[dict[str, Any]]) -> None:
        for block in self._order:
            self._close(block, out)
        self._terminal = self._over = True
        out.append(
            {"type": "message_end", "stop": self._canonical_stop(), "usage": self._final_usage()}
        )

    def _fail(self, data: Any, get: Mapping[str, Getter], out: list[dict[str, Any]]) -> None:
        def text(name: str) -> str | None:
            value = get.get(name, none)(data)
            return value if isinstance(value, str) else None

        self._over = True
        self._error = {
            "type": "error",
            "provider_type": text("type"),
            "code": text("code"),
            "message": text("message") or "the provider sent an error event",
        }
        out.append(dict(self._error))

    def _canonical_stop(self) -> str:
        stop = self._protocol.stop.get(self._stop, "end") if self._stop is not None else "end"
        if stop == "end" and any(b.kind == "tool_call" for b in self._order):
            return "tool"  # Responses says "completed" whether or not it called a tool
        return stop

    def _final_usage(self) -> dict[str, int]:
        usage = {name: self._usage.get(name, 0) for name in _USAGE_FIELDS}
        if self._protocol.usage.input_includes_cache:
            cached = usage["cache_read_tokens"] + usage["cache_write_tokens"]
            usage["input_tokens"] = max(0, usage["input_tokens"] - cached)
        return usage

    # --- the turn ------------------------------------------------------------------------

    def finish(self) -> Turn:
        """The assembled turn, whatever the stream did (see :class:`Turn`)."""
        if self._error is not None:
            stop = "error"
        elif not self._terminal:
            stop = "incomplete"
        else:
            stop = self._canonical_stop()
        calls: list[dict[str, Any]] = []
        unfinished: list[dict[str, Any]] = []
        for block in self._order:
            if block.kind != "tool_call":
                continue
            raw = "".join(block.parts)
            call: dict[str, Any] = {"call_id": block.call_id, "name": block.name}
            try:
                arguments = json.loads(raw) if raw.strip() else {}
            except ValueError:
                arguments = None
            if stop not in _RUNNABLE_STOPS or not block.done:
                unfinished.append({**call, "arguments_text": raw, "reason": f"stop: {stop}"})
            elif not isinstance(arguments, dict) or not block.name:
                reason = "no name" if not block.name else "arguments are not a JSON object"
                unfinished.append({**call, "arguments_text": raw, "reason": reason})
            else:
                calls.append({**call, "arguments": arguments})
        return Turn(
            text="".join(p for b in self._order if b.kind == "text" for p in b.parts),
            thinking="".join(p for b in self._order if b.kind == "thinking" for p in b.parts),
            tool_calls=tuple(calls),
            incomplete_tool_calls=tuple(unfinished),
            stop=stop,
            stop_raw=self._stop,
            usage=self._final_usage() if stop not in ("incomplete", "error") else None,
            model=self._model,
            error=self._error,
            events=self._events,
        )

"""The stream assembler (SPEC §12.3): a protocol's stream mapping folds SSE events into
canonical events and, at the end, one assembled turn. Pure: events in, events and a turn out.

Canonical events: ``message_start{usage?, model?}``, ``block_start{index, kind, call_id?,
name?}``, ``text_delta{index, text}``, ``tool_args_delta{index, fragment}``,
``thinking_delta{index, text}``, ``block_stop{index}``, ``message_end{stop, usage}``,
``error{class?, provider_type, code, message}``. Block indexes are Kiwi's own, in order of
appearance, whatever keys the wire uses (Anthropic's ``index``, Responses' ``output_index``,
Chat's ``tool_calls[].index``).

The rules, each a bug some runtime in the field shipped: tool arguments accumulate per block
and are parsed once, at the block's end (empty and mid-escape fragments are just text until
then); unknown events, block types and fields are ignored; a usage count is replaced by a later
value, never added to it (Anthropic's ``output_tokens`` is cumulative); a stream without its
terminal event is ``incomplete`` with usage unknown; tool calls of a turn that did not stop on
``tool``/``end`` are never offered for execution (kept under ``incomplete_tool_calls``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kiwi_mcp.kernel.core.llm.paths import Getter, getter, lookup
from kiwi_mcp.kernel.core.llm.protocol import Action, Protocol

__all__ = ["Assembler", "Turn"]

_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_RUNNABLE_STOPS = frozenset({"tool", "end"})
_DELTA_KIND = {"text": "text", "args": "tool_call", "thinking": "thinking"}


_DELTA_EVENT = {"text": "text_delta", "args": "tool_args_delta", "thinking": "thinking_delta"}
_DELTA_KEY = {"text": "text", "args": "fragment", "thinking": "text"}
_Handler = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def _none(value: Any) -> Any:
    return None


@dataclass(slots=True)
class _Block:
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


class Assembler:
    """Feed each SSE event (``{"event", "data"}``) to :meth:`feed`; call :meth:`finish` once."""

    __slots__ = (
        "_blocks",
        "_error",
        "_event_type",
        "_events",
        "_handlers",
        "_merging",
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
        self._event_type = getter(protocol.event_type)
        self._blocks: dict[Any, _Block] = {}
        self._order: list[_Block] = []
        self._usage: dict[str, int] = {}
        self._stop: str | None = None
        self._model: str | None = None
        self._terminal = False
        self._over = False  # terminal or failed: later events are ignored
        self._merging = protocol.delta is not None
        self._error: dict[str, Any] | None = None
        self._events = 0
        self._handlers = {name: self._handler(acts) for name, acts in protocol.events.items()}

    # --- feeding -------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The canonical events of one wire event (often one, sometimes none or several)."""
        self._events += 1
        if self._over:
            return []  # nothing after the end counts
        data = event.get("data")
        if self._merging:
            return self._feed_delta(data)
        if type(data) is not dict:
            data = {}
        kind = self._event_type(data)
        handler = self._handlers.get(kind) if type(kind) is str else None
        if handler is None and kind is None:
            handler = self._handlers.get(str(event.get("event")))
        if handler is None:
            return []  # unknown (or ping): ignored
        out: list[dict[str, Any]] = []
        handler(data, out)
        return out

    def _handler(self, actions: tuple[Action, ...]) -> _Handler:
        """One event type's actions as one function; a typed delta (the event most streams
        are made of) unrolled into its own."""
        if len(actions) == 1 and actions[0].do == "delta" and actions[0].kinds:
            return self._typed_delta(actions[0])

        def run(data: dict[str, Any], out: list[dict[str, Any]]) -> None:
            for action in actions:
                self._act(action, data, out)

        return run

    def _typed_delta(self, action: Action) -> _Handler:
        get_index = action.get.get("index", _none)
        get_kind = action.get.get("kind", _none)
        fields = {
            wire: (name, action.get[name], _DELTA_EVENT[name])
            for wire, name in action.kinds.items()
            if name in action.get
        }
        blocks = self._blocks

        def delta(data: dict[str, Any], out: list[dict[str, Any]]) -> None:
            entry = fields.get(get_kind(data))
            if entry is None:
                return
            name, get_value, event_type = entry
            value = get_value(data)
            if type(value) is not str or not value:
                return
            key = get_index(data)
            block = blocks.get(key) or self._open(key, _DELTA_KIND[name], out)
            if not block.done:
                block.parts.append(value)
                out.append({"type": event_type, "index": block.index, _DELTA_KEY[name]: value})

        return delta

    def _act(self, action: Action, data: dict[str, Any], out: list[dict[str, Any]]) -> None:
        get = action.get
        do = action.do
        if do == "delta":  # the common event first
            key = get.get("index", _none)(data)
            if action.kinds:
                which = action.kinds.get(get.get("kind", _none)(data))
                if which is None or which not in get:
                    return
                value = get[which](data)
                if type(value) is str:
                    found = self._blocks.get(key) or self._open(key, _DELTA_KIND[which], out)
                    self._delta(found, which, value, out)
                return
            for name in ("text", "args", "thinking"):
                if name in get:
                    value = get[name](data)
                    if type(value) is str:
                        found = self._blocks.get(key) or self._open(key, _DELTA_KIND[name], out)
                        self._delta(found, name, value, out)
            return
        if do == "start":
            event: dict[str, Any] = {"type": "message_start"}
            model = get.get("model", _none)(data)
            if isinstance(model, str):
                self._model = model
                event["model"] = model
            if "usage" in get and self._take_usage(get["usage"](data)):
                event["usage"] = dict(self._usage)
            out.append(event)
        elif do == "block_start":
            key = get.get("index", _none)(data)
            wire_kind = get.get("kind", _none)(data)
            kind = action.kinds.get(str(wire_kind)) if action.kinds else "text"
            if kind is None:
                return  # a block type Kiwi does not use (server tools, citations…)
            block = self._open(key, kind, out, data, get)
            text = get.get("text", _none)(data)
            if isinstance(text, str) and text:
                self._delta(block, "text", text, out)
        elif do == "block_stop":
            stopped = self._blocks.get(get.get("index", _none)(data))
            if stopped is not None:
                self._close(stopped, out)
        elif do in ("stop", "end"):
            stop = get.get("stop", _none)(data)
            if isinstance(stop, str) and (do == "stop" or self._stop is None):
                self._stop = stop
            if "usage" in get:
                self._take_usage(get["usage"](data))
            if do == "end":
                self._end(out)
        elif do == "error":
            self._fail(data, get, out)

    def _feed_delta(self, data: Any) -> list[dict[str, Any]]:
        m = self._protocol.delta
        assert m is not None
        out: list[dict[str, Any]] = []
        if data == m.done:
            self._end(out)
            return out
        if not isinstance(data, dict):
            return out
        if lookup(data, m.error) is not None:
            self._fail(
                data,
                {
                    "type": getter((*m.error, "type")),
                    "code": getter((*m.error, "code")),
                    "message": getter((*m.error, "message")),
                },
                out,
            )
            return out
        model = lookup(data, m.model)
        if isinstance(model, str) and self._model is None:
            self._model = model
            out.append({"type": "message_start", "model": model})
        choices = lookup(data, m.choices)
        for choice in choices if isinstance(choices, list) else ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue  # one choice per call (n = 1)
            for path, kind, name in (
                (m.thinking, "thinking", "thinking"),
                (m.text, "text", "text"),
                (m.refusal, "text", "text"),
            ):
                value = lookup(choice, path)
                if isinstance(value, str) and value:
                    found = self._blocks.get(name) or self._open(name, kind, out)
                    self._delta(found, "thinking" if kind == "thinking" else "text", value, out)
            calls = lookup(choice, m.tool_calls)
            for call in calls if isinstance(calls, list) else ():
                if not isinstance(call, dict):
                    continue
                key = ("tool", lookup(call, m.tool_index))
                opened = self._blocks.get(key)
                if opened is None:
                    opened = self._open(
                        key,
                        "tool_call",
                        out,
                        call,
                        {"call_id": getter(m.call_id), "name": getter(m.name)},
                    )
                fragment = lookup(call, m.args)
                if isinstance(fragment, str):
                    self._delta(opened, "args", fragment, out)
            finish = lookup(choice, m.finish)
            if isinstance(finish, str):
                self._stop = finish
                for each in self._order:
                    self._close(each, out)
        self._take_usage(lookup(data, m.usage))
        return out

    # --- state ---------------------------------------------------------------------------

    def _open(
        self,
        key: Any,
        kind: str,
        out: list[dict[str, Any]],
        data: Any = None,
        get: Mapping[str, Getter] | None = None,
    ) -> _Block:
        block = _Block(index=len(self._order), kind=kind)
        if kind == "tool_call" and get:
            call_id = get.get("call_id", _none)(data)
            name = get.get("name", _none)(data)
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
    def _delta(block: _Block, name: str, value: str, out: list[dict[str, Any]]) -> None:
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
    def _close(block: _Block, out: list[dict[str, Any]]) -> None:
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
            value = get.get(name, _none)(data)
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

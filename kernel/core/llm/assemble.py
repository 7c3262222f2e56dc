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

from collections.abc import Callable, Mapping
from typing import Any

from kiwi_mcp.kernel.core.llm.chat_delta import feed_delta
from kiwi_mcp.kernel.core.llm.paths import getter, lookup
from kiwi_mcp.kernel.core.llm.protocol import Action, Protocol
from kiwi_mcp.kernel.core.llm.turn_state import Turn, TurnState, none

__all__ = ["Assembler", "Turn"]

_DELTA_KIND = {"text": "text", "args": "tool_call", "thinking": "thinking"}


_DELTA_EVENT = {"text": "text_delta", "args": "tool_args_delta", "thinking": "thinking_delta"}
_DELTA_KEY = {"text": "text", "args": "fragment", "thinking": "text"}
_Handler = Callable[[dict[str, Any], list[dict[str, Any]]], None]


class Assembler(TurnState):
    """Feed each SSE event (``{"event", "data"}``) to :meth:`feed`; call :meth:`finish` once.

    Typed-event streams (Anthropic, Responses) are this class's engine: each event type's
    actions compiled once into a handler; merged-delta streams go to ``chat_delta``."""

    __slots__ = ("_event_type", "_handlers", "_merging")

    def __init__(self, protocol: Protocol) -> None:
        super().__init__(protocol)
        self._event_type = getter(protocol.event_type)
        self._merging = protocol.delta is not None
        self._handlers = {name: self._handler(acts) for name, acts in protocol.events.items()}

    # --- feeding -------------------------------------------------------------------------

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The canonical events of one wire event (often one, sometimes none or several)."""
        self._events += 1
        if self._over:
            return []  # nothing after the end counts
        data = event.get("data")
        if self._merging:
            return feed_delta(self, data)
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
        get_index = action.get.get("index", none)
        get_kind = action.get.get("kind", none)
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
            key = get.get("index", none)(data)
            if action.kinds:
                which = action.kinds.get(get.get("kind", none)(data))
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
            model = get.get("model", none)(data)
            if isinstance(model, str):
                self._model = model
                event["model"] = model
            if "usage" in get and self._take_usage(get["usage"](data)):
                event["usage"] = dict(self._usage)
            out.append(event)
        elif do == "block_start":
            key = get.get("index", none)(data)
            wire_kind = get.get("kind", none)(data)
            kind = action.kinds.get(str(wire_kind)) if action.kinds else "text"
            if kind is None:
                return  # a block type Kiwi does not use (server tools, citations…)
            block = self._open(key, kind, out, data, get)
            text = get.get("text", none)(data)
            if isinstance(text, str) and text:
                self._delta(block, "text", text, out)
        elif do == "block_stop":
            stopped = self._blocks.get(get.get("index", none)(data))
            if stopped is not None:
                self._close(stopped, out)
        elif do in ("stop", "end"):
            stop = get.get("stop", none)(data)
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

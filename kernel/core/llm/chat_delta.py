"""The second stream engine: streams of merged deltas (SPEC §12.3; OpenAI Chat Completions).

Such a stream has no typed events: each chunk carries ``choices[0].delta`` with text,
refusal, reasoning or ``tool_calls[]`` fragments keyed by their own ``index``, the last one a
``finish_reason``, and ``[DONE]`` ends it. The protocol's ``delta:`` mapping names those paths;
a chunk is folded into the :class:`~.turn_state.TurnState` through the same open / delta /
close / usage / end / fail steps the typed engine uses.
"""

from __future__ import annotations

from typing import Any

from kiwi_mcp.kernel.core.llm.paths import getter, lookup
from kiwi_mcp.kernel.core.llm.turn_state import TurnState

__all__ = ["feed_delta"]


def feed_delta(state: TurnState, data: Any) -> list[dict[str, Any]]:
    """The canonical events of one merged-delta chunk, folded into ``state``."""
    m = state._protocol.delta
    assert m is not None
    out: list[dict[str, Any]] = []
    if data == m.done:
        state._end(out)
        return out
    if not isinstance(data, dict):
        return out
    if lookup(data, m.error) is not None:
        state._fail(
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
    if isinstance(model, str) and state._model is None:
        state._model = model
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
                found = state._blocks.get(name) or state._open(name, kind, out)
                state._delta(found, "thinking" if kind == "thinking" else "text", value, out)
        calls = lookup(choice, m.tool_calls)
        for call in calls if isinstance(calls, list) else ():
            if not isinstance(call, dict):
                continue
            key = ("tool", lookup(call, m.tool_index))
            opened = state._blocks.get(key)
            if opened is None:
                opened = state._open(
                    key,
                    "tool_call",
                    out,
                    call,
                    {"call_id": getter(m.call_id), "name": getter(m.name)},
                )
            fragment = lookup(call, m.args)
            if isinstance(fragment, str):
                state._delta(opened, "args", fragment, out)
        finish = lookup(choice, m.finish)
        if isinstance(finish, str):
            state._stop = finish
            for each in state._order:
                state._close(each, out)
    state._take_usage(lookup(data, m.usage))
    return out

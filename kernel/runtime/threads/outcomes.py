"""How a thread's run ends (SPEC §13.1, §13.3): the ``Outcome`` a runner records, and the
pure reading of a final answer — its declared ``<outputs>``, or an answer the runner had not
yet recorded when it stopped."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kiwi_mcp.kernel.errors import ContextExceeded, LimitExceeded

__all__ = ["Outcome", "find_outputs", "limit_outcome", "money", "unfinished_final"]

_JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How a run of the loop ended: the status to record, and its result or error."""

    status: str
    result: Any = None
    error: Mapping[str, Any] | None = None


def unfinished_final(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last ``llm_turn`` when it was a final answer (no tool calls) that nothing came
    after: the runner stopped before it recorded the outcome."""
    for event in reversed(events):
        kind = event.get("type")
        if kind in ("user_message", "tool_result", "tool_intent", "compacted"):
            return None
        if kind == "llm_turn":
            payload = dict(event.get("payload") or {})
            return None if payload.get("tool_calls") else payload
    return None


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def find_outputs(text: str, wanted: tuple[str, ...]) -> dict[str, Any] | None:
    """The declared outputs from the final answer: a JSON object (alone, or in a fenced
    block) holding every one of them."""
    candidates = [text.strip(), *(m.group(1) for m in _JSON_BLOCK.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict) and all(key in value for key in wanted):
            return {key: value[key] for key in wanted}
    return None


def limit_outcome(err: LimitExceeded | ContextExceeded) -> Outcome:
    """The outcome of a run a limit stopped (nothing was sent for the turn it refused)."""
    return Outcome(status="limit_exceeded", error=err.to_dict())

"""The pure parts of a thread (SPEC §13): limits read from a directive, the worst case a turn
may cost, the names a thread's LLM sees for tools, and the provider history rebuilt from a
transcript's events — with every tool call answered, whatever happened to the runner.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Final

from kiwi_mcp.kernel.errors import ParseError

__all__ = [
    "COMPACTED",
    "CONTEXT_POLICIES",
    "DEFAULT_TURNS",
    "args_sha256",
    "compaction",
    "estimate_tokens",
    "history",
    "loop_detections",
    "not_started",
    "parse_limits",
    "repeats",
    "unanswered",
    "wire_name",
    "worst_case_usd",
]

#: SPEC/llm-wire R7: between OpenAI's 10 and Letta's 50
DEFAULT_TURNS: Final = 25
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_UNITS: Final = MappingProxyType({None: 1.0, "s": 1.0, "m": 60.0, "h": 3600.0})
_INTS = ("turns", "tokens", "spawns", "depth")
_MILLION = Decimal(1_000_000)
#: ``<limits context=…>``: what a turn that would not fit the model's window does
CONTEXT_POLICIES: Final = ("compact", "fail")
COMPACTED: Final = (
    "[compacted: this tool result ({chars} characters) was dropped from the conversation "
    "to fit the model's context window; the thread's transcript keeps it]"
)


def _bad(field: str, wanted: str, got: str) -> ParseError:
    return ParseError(
        f'<limits {field}="{got}">: wanted {wanted}',
        hint='e.g. <limits turns="10" tokens="200000" spend="0.50" duration="10m"/>',
        details={"field": field},
    )


def parse_limits(attrs: Mapping[str, str]) -> dict[str, Any]:
    """A directive's ``<limits>`` as values: turns (default 25), tokens, spend (USD Decimal),
    duration (seconds; ``90``, ``90s``, ``10m``, ``2h``), spawns, depth, and context
    (``compact``, the default, or ``fail``: what a turn over the context window does).

    Raises:
        ParseError: an unknown attribute or a value that is not what it should be.
    """
    out: dict[str, Any] = {"turns": DEFAULT_TURNS, "context": "compact"}
    for key, text in attrs.items():
        if key in _INTS:
            if not text.strip().isdigit():
                raise _bad(key, "a whole number", text)
            out[key] = int(text)
        elif key == "spend":
            try:
                spend = Decimal(text.strip().lstrip("$"))
            except InvalidOperation:
                raise _bad(key, 'USD as a decimal, e.g. "0.50"', text) from None
            if not spend.is_finite() or spend < 0:
                raise _bad(key, "a finite amount ≥ 0", text)
            out["spend_usd"] = spend
        elif key == "duration":
            found = _DURATION.match(text)
            if found is None:
                raise _bad(key, "seconds, or a number with s, m or h", text)
            out["duration_s"] = float(found[1]) * _UNITS[found[2]]
        elif key == "context":
            if text.strip() not in CONTEXT_POLICIES:
                raise _bad(key, " or ".join(CONTEXT_POLICIES), text)
            out["context"] = text.strip()
        else:
            raise _bad(key, "one of turns, tokens, spend, duration, spawns, depth, context", text)
    return out


def wire_name(tool_id: str) -> str:
    """A tool id as a name every provider accepts (``web/fetch`` → ``web__fetch``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", tool_id.replace("/", "__"))[:64]


def args_sha256(arguments: Mapping[str, Any]) -> str:
    """SHA-256 of a call's arguments as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def estimate_tokens(value: Any) -> int:
    """A generous count of the tokens ``value`` takes as input (4 characters a token, plus
    a little per message): the reservation must not be too small."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return len(text) // 3 + 16


def worst_case_usd(
    prices: Mapping[str, str] | None, input_tokens: int, max_tokens: int
) -> Decimal | None:
    """The most one LLM call can cost: every input token uncached, ``max_tokens`` output;
    None when the price is unknown."""
    if not prices:
        return None
    price_in = Decimal(str(prices["input"]))
    price_out = Decimal(str(prices["output"]))
    write = Decimal(str(prices.get("cache_write", prices["input"])))
    return (max(price_in, write) * input_tokens + price_out * max_tokens) / _MILLION


def unanswered(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``tool_intent`` payloads that have no ``tool_result`` (the journal's open calls)."""
    open_calls: dict[str, dict[str, Any]] = {}
    for event in events:
        payload = event.get("payload") or {}
        if event.get("type") == "tool_intent":
            open_calls[str(payload.get("call_id"))] = dict(payload)
        elif event.get("type") == "tool_result":
            open_calls.pop(str(payload.get("call_id")), None)
    return list(open_calls.values())


def not_started(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The last ``llm_turn``'s tool calls that have neither an intent nor a result: the
    runner stopped before it began them, so running them now cannot repeat an effect."""
    calls: list[dict[str, Any]] = []
    seen: set[str] = set()
    for event in events:
        payload = event.get("payload") or {}
        kind = event.get("type")
        if kind == "llm_turn":
            calls = [dict(call) for call in payload.get("tool_calls") or ()]
            seen = set()
        elif kind in ("tool_intent", "tool_result"):
            seen.add(str(payload.get("call_id")))
    return [call for call in calls if str(call.get("call_id")) not in seen]


def repeats(calls: Sequence[tuple[str, str]], window: int) -> int:
    """How many of the last ``window`` calls equal the last one (0 with no calls)."""
    if not calls:
        return 0
    recent = calls[-window:]
    return recent.count(calls[-1])


def loop_detections(events: Iterable[Mapping[str, Any]], times: int, window: int) -> int | None:
    """None unless the last intent's (tool, args hash) is ``times`` of the last ``window``
    intents; then how many ``loop_detected`` events came before."""
    events = list(events)
    calls = [
        (
            str((e.get("payload") or {}).get("tool")),
            str((e.get("payload") or {}).get("args_sha256")),
        )
        for e in events
        if e.get("type") == "tool_intent"
    ]
    if repeats(calls, window) < times:
        return None
    return sum(1 for e in events if e.get("type") == "loop_detected")


def compaction(messages: list[dict[str, Any]], excess: int) -> list[str] | None:
    """The call ids whose results, dropped oldest first, free ``excess`` input tokens; the
    last message (the newest results, or the prompt) is always kept whole. None when
    dropping every older result is not enough."""
    chosen: list[str] = []
    freed = 0
    for message in messages[:-1]:
        if message["role"] != "user":
            continue
        for block in message["content"]:
            if block.get("type") != "tool_result" or str(block["content"]).startswith(
                "[compacted:"
            ):
                continue
            text = str(block["content"])
            freed += len(text) // 3 - len(COMPACTED.format(chars=len(text))) // 3
            chosen.append(str(block["call_id"]))
            if freed >= excess:
                return chosen
    return None


def history(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The canonical messages (SPEC §12.4) a transcript amounts to: the user's prompt, each
    ``llm_turn`` as an assistant message, each turn's ``tool_result``s as the next user
    message. A call the transcript has no result for gets an error result saying so, so the
    history a provider sees is always valid (every tool call answered). Results a
    ``compacted`` event names are replaced by a note saying so."""
    events = list(events)
    dropped = {
        str(call_id)
        for event in events
        if event.get("type") == "compacted"
        for call_id in (event.get("payload") or {}).get("call_ids") or ()
    }
    messages: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # the last turn's calls, in order
    results: dict[str, dict[str, Any]] = {}

    def close_turn() -> None:
        if not pending:
            return
        blocks = []
        for call in pending:
            found = results.get(call["call_id"])
            if found is None:
                found = {
                    "content": "no result: the runner stopped before this call finished; "
                    "it was not run again",
                    "is_error": True,
                }
            content = found["content"]
            if call["call_id"] in dropped:
                content = COMPACTED.format(chars=len(content))
            blocks.append(
                {
                    "type": "tool_result",
                    "call_id": call["call_id"],
                    "content": content,
                    "is_error": found["is_error"],
                }
            )
        messages.append({"role": "user", "content": blocks})
        pending.clear()
        results.clear()

    for event in events:
        kind = event.get("type")
        payload = event.get("payload") or {}
        if kind == "user_message":
            close_turn()
            block = {"type": "text", "text": str(payload.get("text", ""))}
            if messages and messages[-1]["role"] == "user":
                messages[-1]["content"].append(block)  # after tool results: one user turn
            else:
                messages.append({"role": "user", "content": [block]})
        elif kind == "llm_turn":
            close_turn()
            content: list[dict[str, Any]] = []
            if payload.get("text"):
                content.append({"type": "text", "text": str(payload["text"])})
            for call in payload.get("tool_calls") or ():
                content.append(
                    {
                        "type": "tool_call",
                        "call_id": call["call_id"],
                        "name": call["name"],
                        "arguments": call.get("arguments") or {},
                    }
                )
                pending.append(call)
            if content:
                messages.append({"role": "assistant", "content": content})
        elif kind == "tool_result":
            results[str(payload.get("call_id"))] = {
                "content": str(payload.get("content", "")),
                "is_error": bool(payload.get("is_error", False)),
            }
    close_turn()
    return messages

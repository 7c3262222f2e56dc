"""The Anthropic Messages wire (``POST /v1/messages``), as llm-wire.md §5.1 describes it.

Named SSE records whose JSON ``type`` is the event name: ``message_start``, per content block
``content_block_start`` / ``_delta`` / ``_stop``, ``message_delta`` (stop reason, cumulative
output tokens), ``message_stop``. Errors are ``{"type": "error", "error": {...},
"request_id": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from tests.support.fake_llm.turns import Block, Context, Fault, Turn, bearer, sse

__all__ = ["AnthropicWire"]

VERSIONS = ("2023-06-01", "2026-10-21")

_STOP = {"end": "end_turn", "tool": "tool_use", "length": "max_tokens", "refusal": "refusal"}
# kind -> (status, error.type, default message)
_FAULTS = {
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "invalid": (400, "invalid_request_error", "invalid request"),
    "not_found": (404, "not_found_error", "not found"),
    "rate_limit": (429, "rate_limit_error", "This request would exceed your rate limit."),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "quota": (402, "billing_error", "Your credit balance is too low; add credits to go on."),
    "server": (500, "api_error", "Internal server error"),
}


def _event(data: dict[str, Any]) -> bytes:
    return sse(data, event=data["type"])


def _tool_id(number: int) -> str:
    return f"toolu_{number}"


class AnthropicWire:
    path = "/v1/messages"
    request_id_header = "request-id"
    ping = b'event: ping\ndata: {"type": "ping"}\n\n'

    def check(self, headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
        key = headers.get("x-api-key") or bearer(headers)
        if not key:
            return Fault(kind="auth", message="x-api-key header is required")
        if key == "bad-key":
            return Fault(kind="auth", message="invalid x-api-key")
        version = headers.get("anthropic-version")
        if not version:
            return Fault(kind="invalid", message="anthropic-version: header is required")
        if version not in VERSIONS:
            return Fault(
                kind="invalid",
                message=f"anthropic-version: unknown version {version!r}; send 2023-06-01",
            )
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return Fault(kind="invalid", message=f"{name}: Field required")
        if not isinstance(body["model"], str):
            return Fault(kind="invalid", message="model: Input should be a valid string")
        messages = body["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return Fault(kind="invalid", message="messages: Input should be a valid list")
        return _check_pairing(messages)

    def user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages", [])):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            texts = [
                part.get("text", "")
                for part in content or []
                if isinstance(part, dict) and part.get("type") == "text"
            ]
            if texts:
                return "".join(texts)
        return ""

    def error(self, fault: Fault, request_id: str) -> tuple[int, dict[str, Any]]:
        status, kind, default = _FAULTS[fault.kind]
        error = {"type": kind, "message": fault.message or default}
        return status, {"type": "error", "error": error, "request_id": request_id}

    def stream(self, turn: Turn, ctx: Context) -> Iterator[bytes]:
        usage = turn.usage
        start_usage: dict[str, Any] = {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cached,
            "output_tokens": 1,  # a placeholder; message_delta has the real, cumulative count
            "service_tier": "standard",
        }
        message = _message(ctx, [], None, start_usage)
        if turn.unknown:
            message["container"] = None
            start_usage["inference_geo"] = "fake"
        yield _event({"type": "message_start", "message": message})
        if turn.unknown:
            yield _event({"type": "content_block_magic", "index": 0, "sparkle": {"level": 3}})
        tool_numbers = iter(ctx.tool_numbers)
        last = len(turn.blocks) - 1
        for index, block in enumerate(turn.blocks):
            number = next(tool_numbers) if block.kind == "tool" else 0
            yield from self._block(index, block, number, turn.unknown)
            if index < last or turn.complete:
                yield _event({"type": "content_block_stop", "index": index})
        if turn.ending in ("error", "failed"):
            error = {"type": "overloaded_error", "message": "Overloaded"}
            yield _event({"type": "error", "error": error})
        if not turn.complete:
            return
        delta = {"stop_reason": _STOP[turn.stop], "stop_sequence": None}
        final_usage = {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cached,
            "output_tokens": usage.output,
        }
        yield _event({"type": "message_delta", "delta": delta, "usage": final_usage})
        yield _event({"type": "message_stop"})

    def _block(self, index: int, block: Block, number: int, unknown: bool) -> Iterator[bytes]:
        start: dict[str, Any]
        if block.kind == "text":
            start, delta_type, field = {"type": "text", "text": ""}, "text_delta", "text"
        elif block.kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            delta_type, field = "thinking_delta", "thinking"
        else:
            start = {"type": "tool_use", "id": _tool_id(number), "name": block.name, "input": {}}
            # The current API adds this to tool_use blocks; clients must not mind.
            start["caller"] = {"type": "direct"}
            delta_type, field = "input_json_delta", "partial_json"
        yield _event({"type": "content_block_start", "index": index, "content_block": start})
        for piece in block.pieces:
            delta: dict[str, Any] = {"type": delta_type, field: piece}
            if unknown:
                delta["future_field"] = "ignore me"
            yield _event({"type": "content_block_delta", "index": index, "delta": delta})
        if block.kind == "thinking":
            delta = {"type": "signature_delta", "signature": block.signature}
            yield _event({"type": "content_block_delta", "index": index, "delta": delta})

    def body(self, turn: Turn, ctx: Context) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        tool_numbers = iter(ctx.tool_numbers)
        for block in turn.blocks:
            if block.kind == "text":
                content.append({"type": "text", "text": block.whole})
            elif block.kind == "thinking":
                content.append(
                    {"type": "thinking", "thinking": block.whole, "signature": block.signature}
                )
            else:
                try:
                    arguments = json.loads(block.whole)
                except ValueError:  # cut by max_tokens
                    arguments = {}
                content.append(
                    {
                        "type": "tool_use",
                        "id": _tool_id(next(tool_numbers)),
                        "name": block.name,
                        "input": arguments,
                    }
                )
        usage = turn.usage
        final_usage = {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_write,
            "cache_read_input_tokens": usage.cached,
            "output_tokens": usage.output,
            "service_tier": "standard",
        }
        return _message(ctx, content, _STOP[turn.stop], final_usage)


def _message(
    ctx: Context, content: list[dict[str, Any]], stop: str | None, usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": f"msg_{ctx.number}",
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }


def _check_pairing(messages: list[dict[str, Any]]) -> Fault | None:
    """Every tool_use needs a tool_result in the next (user) message, and the reverse."""
    asked: set[str] = set()
    for i, message in enumerate(messages):
        blocks = message.get("content")
        blocks = [b for b in blocks if isinstance(b, dict)] if isinstance(blocks, list) else []
        if message.get("role") == "user":
            answered = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
            stray = [str(tid) for tid in answered if tid not in asked]
            if stray:
                return Fault(
                    kind="invalid",
                    message=f"messages.{i}.content: tool_result blocks for unknown tool_use "
                    f"ids: {', '.join(stray)}. Each tool_result must answer a tool_use block "
                    "of the previous assistant message.",
                )
            missing = sorted(asked - set(answered))
        else:
            missing = sorted(asked)
        if missing:
            return Fault(
                kind="invalid",
                message=f"messages.{i - 1}: tool_use ids without a tool_result block in the next "
                f"message: {', '.join(missing)}. Each tool_use block needs a tool_result block "
                "at the start of the following user message.",
            )
        asked = set()
        if message.get("role") == "assistant":
            asked = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
    if asked:
        return Fault(
            kind="invalid",
            message=f"messages.{len(messages) - 1}: tool_use ids without a tool_result block "
            f"in the next message: {', '.join(sorted(asked))}. Send the tool results in a "
            "user message after it.",
        )
    return None

"""The OpenAI Chat Completions wire (``POST /v1/chat/completions``), llm-wire.md §5.2.

``data:``-only SSE records of ``chat.completion.chunk`` objects, then ``data: [DONE]``. Tool
call fragments are keyed by ``tool_calls[].index``; the finishing chunk has an empty delta and
the ``finish_reason``; the usage comes in one more chunk with ``"choices": []`` (all others
carry ``"usage": null``). Errors are ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from tests.support.fake_llm.turns import CREATED, Block, Context, Fault, Turn, Usage, bearer, sse

__all__ = ["ChatWire", "openai_check", "openai_error"]

DONE = b"data: [DONE]\n\n"

_FINISH = {"end": "stop", "tool": "tool_calls", "length": "length", "refusal": "content_filter"}
# kind -> (status, type, code, default message)
_FAULTS: dict[str, tuple[int, str, str | None, str]] = {
    "auth": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    "invalid": (400, "invalid_request_error", None, "invalid request"),
    "not_found": (404, "invalid_request_error", "model_not_found", "model not found"),
    "rate_limit": (
        429,
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests; try again after the time in retry-after.",
    ),
    "overloaded": (503, "server_error", None, "The server is overloaded or not ready yet."),
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    ),
    "server": (500, "server_error", None, "The server had an error processing your request."),
}
MIDSTREAM_ERROR = {
    "message": "The server is overloaded. Please try again later.",
    "type": "server_error",
    "param": None,
    "code": None,
}


def openai_error(fault: Fault) -> tuple[int, dict[str, Any]]:
    """The status and ``{"error": {...}}`` body both OpenAI wires send for ``fault``."""
    status, kind, code, default = _FAULTS[fault.kind]
    error = {"message": fault.message or default, "type": kind, "param": fault.param, "code": code}
    return status, {"error": error}


def openai_check(headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
    """The checks both OpenAI wires share: a bearer key that is not "bad-key", a model."""
    key = bearer(headers)
    if key is None:
        return Fault(
            kind="auth",
            message="You didn't provide an API key: send it as 'Authorization: Bearer <key>'.",
        )
    if key == "bad-key":
        return Fault(kind="auth", message=f"Incorrect API key provided: {key}.")
    if not isinstance(body.get("model"), str):
        return Fault(kind="invalid", message="Missing required parameter: 'model'.", param="model")
    return None


def usage_object(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(number: int) -> str:
    return f"call_{number}"


class ChatWire:
    path = "/v1/chat/completions"
    request_id_header = "x-request-id"
    ping = b": ping\n\n"

    def check(self, headers: Mapping[str, str], body: dict[str, Any]) -> Fault | None:
        fault = openai_check(headers, body)
        if fault is not None:
            return fault
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return Fault(
                kind="invalid", message="Missing required parameter: 'messages'.", param="messages"
            )
        options = body.get("stream_options")
        if body.get("stream") is True and not (
            isinstance(options, dict) and options.get("include_usage") is True
        ):
            return Fault(
                kind="invalid",
                message="stream_options.include_usage must be true when streaming: without it "
                "the final usage chunk is not sent (the fake insists; the real API just omits "
                "the usage).",
                param="stream_options.include_usage",
            )
        return _check_pairing(messages)

    def user_text(self, body: dict[str, Any]) -> str:
        for message in reversed(body.get("messages", [])):
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(
                part.get("text", "")
                for part in content or []
                if isinstance(part, dict) and part.get("type") == "text"
            )
        return ""

    def error(self, fault: Fault, request_id: str) -> tuple[int, dict[str, Any]]:
        return openai_error(fault)

    def stream(self, turn: Turn, ctx: Context) -> Iterator[bytes]:
        base: dict[str, Any] = {
            "id": f"chatcmpl-{ctx.number}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": ctx.model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if turn.unknown:
            base["obfuscation"] = "xq3"

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            if turn.unknown:
                delta = {**delta, "future_field": "ignore me"}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            record = {**base, "choices": [choice]}
            if not turn.unknown:  # the 2024 recordings have no usage key in these chunks
                record["usage"] = None
            return sse(record)

        for delta in _deltas(turn, ctx):
            yield chunk(delta)
        if turn.ending in ("error", "failed"):
            yield sse({"error": MIDSTREAM_ERROR})
        if not turn.complete:
            return
        yield chunk({}, _FINISH[turn.stop])
        yield sse({**base, "choices": [], "usage": usage_object(turn.usage)})
        yield DONE

    def body(self, turn: Turn, ctx: Context) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        texts = [block.whole for block in turn.blocks if block.kind == "text"]
        if texts:
            message["content"] = "".join(texts)
        thoughts = [block.whole for block in turn.blocks if block.kind == "thinking"]
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        tools = [block for block in turn.blocks if block.kind == "tool"]
        if tools:
            message["tool_calls"] = [
                {
                    "id": _call_id(number),
                    "type": "function",
                    "function": {"name": block.name, "arguments": block.whole},
                }
                for block, number in zip(tools, ctx.tool_numbers, strict=True)
            ]
        finish = _FINISH[turn.stop]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        return {
            "id": f"chatcmpl-{ctx.number}",
            "object": "chat.completion",
            "created": CREATED,
            "model": ctx.model,
            "choices": [choice],
            "usage": usage_object(turn.usage),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }


def _deltas(turn: Turn, ctx: Context) -> Iterator[dict[str, Any]]:
    """The choice deltas of ``turn``: the role first, text and reasoning in order, then the
    tool calls (parallel ones interleaved by fragment, as recorded streams show)."""
    tools = [block for block in turn.blocks if block.kind == "tool"]
    others = [block for block in turn.blocks if block.kind != "tool"]
    if others:
        yield {"role": "assistant", "content": "", "refusal": None}
    for block in others:
        field = "content" if block.kind == "text" else "reasoning_content"
        for piece in block.pieces:
            yield {field: piece}
    calls: list[list[dict[str, Any]]] = []
    for index, (block, number) in enumerate(zip(tools, ctx.tool_numbers, strict=True)):
        calls.append(_fragments(index, block, number))
    first = not others
    for fragment in itertools.chain.from_iterable(itertools.zip_longest(*calls)):
        if fragment is None:
            continue
        delta: dict[str, Any] = {"tool_calls": [fragment]}
        if first:
            delta = {"role": "assistant", "content": None, **delta, "refusal": None}
            first = False
        yield delta


def _fragments(index: int, block: Block, number: int) -> list[dict[str, Any]]:
    head, *rest = block.pieces or ("",)
    header = {
        "index": index,
        "id": _call_id(number),
        "type": "function",
        "function": {"name": block.name, "arguments": head},
    }
    return [header, *({"index": index, "function": {"arguments": p}} for p in rest)]


def _check_pairing(messages: list[dict[str, Any]]) -> Fault | None:
    """An assistant message with tool_calls must be followed by a tool message for each id;
    a tool message must answer such a message."""
    pending: list[str] = []
    answerable: set[str] = set()
    asked_at = -1
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in answerable:
                return Fault(
                    kind="invalid",
                    message=f"Invalid parameter: messages with role 'tool' must answer a "
                    f"preceding message with 'tool_calls' (messages.[{i}] answers {call_id!r}).",
                    param=f"messages.[{i}].role",
                )
            pending = [p for p in pending if p != call_id]
            continue
        if pending:
            break
        calls = message.get("tool_calls") if role == "assistant" else None
        if isinstance(calls, list) and calls:
            pending = [str(c.get("id")) for c in calls if isinstance(c, dict)]
            answerable, asked_at = set(pending), i
        else:
            answerable = set()
    if pending:
        return Fault(
            kind="invalid",
            message="An assistant message with 'tool_calls' must be followed by tool messages "
            "answering each 'tool_call_id'. These tool_call_ids have no answer: "
            f"{', '.join(pending)}.",
            param=f"messages.[{asked_at}].role",
        )
    return None

"""The canonical request (SPEC §12.4), checked field by field, and the wire body a protocol's
``request`` map builds from it.

Canonical: ``{model, system?, prompt? | messages: [{role: user | assistant, content: [{type:
text, text} | {type: tool_call, call_id, name, arguments} | {type: tool_result, call_id,
content, is_error}]}], tools?: [{name, description, parameters}], max_tokens?, temperature?}``.
A history in which a tool call has no result (or a result no call) is refused here, before
any provider sees it: every provider rejects such a history, and a resumed thread must never
send one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.core.llm.paths import fill
from kiwi_mcp.kernel.core.llm.protocol import RequestMap
from kiwi_mcp.kernel.errors import ParamsInvalid

__all__ = ["CanonicalRequest", "build_body", "canonical_request"]

_ROLES = ("user", "assistant")
_BLOCKS = ("text", "tool_call", "tool_result")


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    model: str
    system: str | None
    messages: tuple[Mapping[str, Any], ...]
    tools: tuple[Mapping[str, Any], ...]
    max_tokens: int | None
    temperature: float | None


def _bad(field: str, wanted: str, got: Any) -> ParamsInvalid:
    shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:77] + "..."
    return ParamsInvalid(
        f"params {field}: wanted {wanted}, got {shown}",
        hint="The canonical request is SPEC §12.4: model, prompt or messages, tools, "
        "max_tokens, temperature.",
        details={"field": field},
    )


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _bad(field, "a string", value)
    return value


def _block(raw: Any, field: str, role: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise _bad(field, "a content block (a mapping with 'type')", raw)
    kind = raw.get("type")
    if kind not in _BLOCKS:
        raise _bad(f"{field}.type", "text, tool_call or tool_result", kind)
    if kind == "text":
        return {"type": "text", "text": _text(raw.get("text"), f"{field}.text")}
    call_id = _text(raw.get("call_id"), f"{field}.call_id")
    if kind == "tool_call":
        if role != "assistant":
            raise _bad(f"{field}.type", "tool_call only in an assistant message", kind)
        arguments = raw.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise _bad(f"{field}.arguments", "an object", arguments)
        name = _text(raw.get("name"), f"{field}.name")
        return {"type": "tool_call", "call_id": call_id, "name": name, "arguments": arguments}
    if role != "user":
        raise _bad(f"{field}.type", "tool_result only in a user message", kind)
    content = raw.get("content", "")
    if not isinstance(content, str):
        content = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    is_error = raw.get("is_error", False)
    if not isinstance(is_error, bool):
        raise _bad(f"{field}.is_error", "true or false", is_error)
    return {"type": "tool_result", "call_id": call_id, "content": content, "is_error": is_error}


def _messages(params: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    prompt, raw = params.get("prompt"), params.get("messages")
    if prompt is not None and raw is not None:
        raise _bad("prompt", "either prompt or messages, not both", prompt)
    if prompt is not None:
        return ({"role": "user", "content": [{"type": "text", "text": _text(prompt, "prompt")}]},)
    if not isinstance(raw, list) or not raw:
        raise _bad("messages", "a non-empty list of messages (or 'prompt')", raw)
    out = []
    for i, message in enumerate(raw):
        field = f"messages[{i}]"
        if not isinstance(message, Mapping):
            raise _bad(field, "a mapping with role and content", message)
        role = message.get("role")
        if role not in _ROLES:
            raise _bad(f"{field}.role", "user or assistant", role)
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list) or not content:
            raise _bad(f"{field}.content", "a string or a non-empty list of blocks", content)
        blocks = [_block(b, f"{field}.content[{j}]", role) for j, b in enumerate(content)]
        out.append({"role": role, "content": blocks})
    _check_pairing(out)
    return tuple(out)


def _check_pairing(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered in the next message, and every result answers a call."""
    pending: dict[str, int] = {}
    for i, message in enumerate(messages):
        results = {b["call_id"] for b in message["content"] if b["type"] == "tool_result"}
        for call_id in results:
            if call_id not in pending:
                raise _bad(
                    f"messages[{i}]",
                    f"a tool_result for a call made just before "
                    f"(no tool_call {call_id!r} precedes it)",
                    call_id,
                )
        if pending and set(pending) - results:
            missing = sorted(set(pending) - results)[0]
            raise _bad(
                f"messages[{pending[missing]}]",
                f"a tool_result for every tool_call in the next message ({missing!r} has none)",
                missing,
            )
        pending = {b["call_id"]: i for b in message["content"] if b["type"] == "tool_call"}
    if pending:
        missing = sorted(pending)[0]
        raise _bad(
            f"messages[{pending[missing]}]",
            f"a tool_result for every tool_call (the history ends with {missing!r} unanswered)",
            missing,
        )


def _tools(raw: Any) -> tuple[dict[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad("tools", "a list of {name, description, parameters}", raw)
    out = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, Mapping):
            raise _bad(f"tools[{i}]", "a mapping", tool)
        parameters = tool.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, Mapping):
            raise _bad(f"tools[{i}].parameters", "a JSON Schema object", parameters)
        out.append(
            {
                "name": _text(tool.get("name"), f"tools[{i}].name"),
                "description": _text(tool.get("description", ""), f"tools[{i}].description"),
                "parameters": dict(parameters),
            }
        )
    return tuple(out)


def _number_text(value: Any, kind: type[int] | type[float]) -> Any:
    """A number given as its decimal text (``kiwi run -p max_tokens=50`` of a provider that
    declares no parameters) as the number; anything else as it is, for the check to name."""
    if isinstance(value, str):
        try:
            return kind(value.strip())
        except ValueError:
            return value
    return value


def canonical_request(params: Mapping[str, Any]) -> CanonicalRequest:
    """``params`` checked as the canonical request.

    Raises:
        ParamsInvalid: the first field that is wrong, named with what was wanted.
    """
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "a model name (e.g. claude-sonnet-4-5)", model)
    system = params.get("system")
    if system is not None:
        _text(system, "system")
    max_tokens = _number_text(params.get("max_tokens"), int)
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _bad("max_tokens", "a positive integer", max_tokens)
    temperature = _number_text(params.get("temperature"), float)
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float)
    ):
        raise _bad("temperature", "a number", temperature)
    return CanonicalRequest(
        model=model,
        system=system,
        messages=_messages(params),
        tools=_tools(params.get("tools")),
        max_tokens=max_tokens,
        temperature=None if temperature is None else float(temperature),
    )


def _call_values(block: Mapping[str, Any]) -> dict[str, Any]:
    arguments = dict(block.get("arguments") or {})
    return {
        **block,
        "arguments": arguments,
        "arguments_json": json.dumps(arguments, ensure_ascii=False, separators=(",", ":")),
    }


def _wire_messages(request: CanonicalRequest, m: RequestMap) -> list[Any]:
    out: list[Any] = []
    if request.system is not None and m.system == "message":
        out.append({"role": m.system_role, "content": request.system})
    for message in request.messages:
        role = m.roles.get(message["role"], message["role"])
        texts = [b for b in message["content"] if b["type"] == "text"]
        calls = [b for b in message["content"] if b["type"] == "tool_call"]
        results = [b for b in message["content"] if b["type"] == "tool_result"]
        blocks: list[Any] = []
        entries: list[Any] = []
        for result in results:
            filled = fill(m.tool_result, result)
            (blocks if m.tool_result_place == "block" else entries).append(filled)
        if m.text == "blocks":
            blocks.extend(fill(m.text_block, b) for b in texts)
        wire: dict[str, Any] = {"role": role}
        if m.text == "string" and texts:
            wire["content"] = "".join(b["text"] for b in texts)
        if m.tool_call_place == "block":
            blocks.extend(fill(m.tool_call, _call_values(b)) for b in calls)
        elif m.tool_call_place == "field" and calls:
            wire[m.tool_call_field] = [fill(m.tool_call, _call_values(b)) for b in calls]
            wire.setdefault("content", None)
        if blocks:
            wire["content"] = blocks
        out.extend(entries)  # results as their own entries come before this message's rest
        if "content" in wire or m.tool_call_field in wire:
            out.append(wire)
        if m.tool_call_place == "entry":
            out.extend(fill(m.tool_call, _call_values(b)) for b in calls)
    return out


def build_body(
    request: CanonicalRequest, m: RequestMap, *, max_tokens: int | None
) -> dict[str, Any]:
    """The JSON body for one call: the protocol's constant ``body`` plus the request's parts."""
    body: dict[str, Any] = json.loads(json.dumps(m.body))  # a fresh copy of the constants
    body[m.model] = request.model
    if request.system is not None and m.system == "field":
        body[m.system_field] = request.system
    body[m.messages] = _wire_messages(request, m)
    if request.tools:
        body[m.tools] = [fill(m.tool, tool) for tool in request.tools]
    body[m.max_tokens] = request.max_tokens or max_tokens or m.max_tokens_default
    if request.temperature is not None:
        body[m.temperature] = request.temperature
    return body

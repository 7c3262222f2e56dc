"""What a ``tools/call`` answers (SPEC §10): the envelope as ``structuredContent`` and a text
block made for a model — ``data`` as JSON, or ``CODE: message. hint``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from kiwi_mcp.kernel.faces.mcp.hints import for_mcp

__all__ = ["internal_error", "model_text", "tool_result"]

_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False)


def model_text(envelope: Mapping[str, Any]) -> str:
    """The text block a model reads (SPEC §10): ``data`` as JSON, or ``CODE: message. hint``."""
    if envelope.get("ok"):
        data = envelope.get("data")
        try:
            return _PLAIN_JSON.encode(data)
        except TypeError:
            return json.dumps(data, ensure_ascii=False, default=str)
    error = envelope.get("error") or {}
    message = str(error.get("message", "")).rstrip(". ")
    hint = str(error.get("hint") or "").strip()
    return f"{error.get('code', 'INTERNAL_ERROR')}: {message}." + (f" {hint}" if hint else "")


def tool_result(envelope: Mapping[str, Any]) -> types.CallToolResult:
    try:
        # Only JSON's own types: the structured copy is plain JSON as it is.
        _PLAIN_JSON.encode(envelope)
        structured = dict(envelope)
    except TypeError:
        # Something JSON cannot hold (shown as its str): re-read it as plain JSON.
        structured = json.loads(json.dumps(envelope, ensure_ascii=False, default=str))
    error = structured.get("error")
    if isinstance(error, Mapping) and error.get("hint"):
        # The kernel's hints name CLI commands; the model is told the MCP call, or who to ask.
        structured["error"] = {**error, "hint": for_mcp(str(error["hint"]))}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=model_text(structured))],
        structured_content=structured,
        is_error=not envelope.get("ok", False),
    )


def internal_error(tool: str, exc: BaseException) -> dict[str, Any]:
    return {
        "ok": False,
        "data": None,
        "error": {
            "code": "INTERNAL_ERROR",
            # The type only: an exception's text may carry paths or values not meant for clients.
            "message": f"internal error in '{tool}' ({type(exc).__name__}); "
            "the details are in the server's log",
            "hint": "Retry once; if it repeats, ask the operator to run the server with "
            "KIWI_LOG=DEBUG and report it.",
            "chain": [],
            "at": None,
        },
        "meta": {"tool": tool},
    }

"""A tool result carries the envelope as ``structuredContent`` and a text block made for a model
(SPEC §10): ``data`` as the same JSON, or ``CODE: message. hint``, whatever the envelope holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.faces.mcp.results import tool_result as _result


def _wire(envelope: dict[str, Any]) -> tuple[Any, Any]:
    result = _result(envelope)
    sent = json.loads(result.model_dump_json(by_alias=True, exclude_none=True))
    return sent["content"][0]["text"], sent["structuredContent"]


@pytest.mark.parametrize(
    "data",
    [
        {"n": 1, "s": "åß", "f": 1.5, "none": None, "list": [1, [2]]},
        {"tuple": (1, (2, None)), "nested": {"t": (True,)}},
        {"path": Path("/tmp/x"), "set_like": frozenset({1})},
        {1: "int key", "k": {2: (3,)}},
    ],
    ids=["plain", "tuples", "not-json-types", "int-keys"],
)
def test_the_text_is_the_data_as_the_same_json_the_structured_copy_holds(
    data: dict[Any, Any],
) -> None:
    envelope = {"ok": True, "data": data, "error": None, "meta": {"chain": ["t"]}}
    text, structured = _wire(envelope)
    assert json.loads(text) == structured["data"]
    assert structured["meta"] == {"chain": ["t"]}
    assert _result(envelope).is_error is False


def test_a_failed_envelope_is_an_error_result_whose_text_says_code_message_and_hint() -> None:
    error = {"code": "ITEM_NOT_FOUND", "message": "no tool 'x'.", "hint": "Call search first."}
    envelope = {"ok": False, "data": None, "error": error, "meta": {}}
    assert _result(envelope).is_error is True
    text, structured = _wire(envelope)
    assert structured == envelope
    assert text == "ITEM_NOT_FOUND: no tool 'x'. Call search first."

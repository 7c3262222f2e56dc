"""A tool result carries the envelope twice: as text and as ``structuredContent``; both say the
same JSON, whatever the envelope holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.faces.mcp.server import _result


def _wire(envelope: dict[str, Any]) -> tuple[Any, Any]:
    result = _result(envelope)
    sent = json.loads(result.model_dump_json(by_alias=True, exclude_none=True))
    return json.loads(sent["content"][0]["text"]), sent["structuredContent"]


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
def test_text_and_structured_content_are_the_same_json(data: dict[Any, Any]) -> None:
    envelope = {"ok": True, "data": data, "error": None, "meta": {"chain": ["t"]}}
    text, structured = _wire(envelope)
    assert text == structured
    assert _result(envelope).is_error is False


def test_a_failed_envelope_is_an_error_result() -> None:
    envelope = {"ok": False, "data": None, "error": {"code": "X"}, "meta": {}}
    assert _result(envelope).is_error is True
    text, structured = _wire(envelope)
    assert text == structured == envelope

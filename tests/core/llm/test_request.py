"""The canonical request is checked field by field, and each protocol's map puts its parts
where that provider wants them (SPEC §12.4, llm-wire.md §5.4)."""

from __future__ import annotations

from typing import Any

import pytest

from kiwi_mcp.kernel.core.llm.request import build_body, canonical_request
from kiwi_mcp.kernel.errors import ParamsInvalid
from tests.core.llm.protocols import protocol

HISTORY: dict[str, Any] = {
    "model": "m",
    "system": "Be brief.",
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_call",
                    "call_id": "c1",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                },
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "call_id": "c1", "content": {"temp": 21}}],
        },
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    "max_tokens": 100,
}


def _body(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return build_body(canonical_request(params), protocol(name).request, max_tokens=None)


def test_anthropic_body() -> None:
    body = _body("anthropic_messages", HISTORY)
    assert body["system"] == "Be brief." and body["stream"] is True
    assert body["max_tokens"] == 100
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "c1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "c1",
                "content": '{"temp":21}',
                "is_error": False,
            }
        ],
    }
    assert body["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}


def test_chat_body() -> None:
    body = _body("openai_chat", HISTORY)
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assistant = body["messages"][2]
    assert assistant["content"] == "Checking."
    assert assistant["tool_calls"] == [
        {
            "id": "c1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "c1", "content": '{"temp":21}'}
    assert len(body["messages"]) == 4  # the results-only user message is no message
    assert body["max_completion_tokens"] == 100


def test_responses_body() -> None:
    body = _body("openai_responses", HISTORY)
    assert body["instructions"] == "Be brief."
    items = body["input"]
    assert items[0] == {"role": "user", "content": "Weather in Paris?"}
    assert items[1] == {"role": "assistant", "content": "Checking."}
    assert items[2] == {
        "type": "function_call",
        "call_id": "c1",
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert items[3] == {"type": "function_call_output", "call_id": "c1", "output": '{"temp":21}'}


def test_prompt_is_one_user_message_and_max_tokens_defaults() -> None:
    body = _body("anthropic_messages", {"model": "m", "prompt": "hi"})
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert body["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"model": ""}, "model"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"prompt": "x"}, "prompt"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_call", "call_id": "a", "name": "n"}],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        ({"tools": [{"description": "no name"}]}, "tools[0].name"),
    ],
)
def test_a_bad_field_is_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ParamsInvalid) as caught:
        canonical_request({**HISTORY, **change})
    assert caught.value.details["field"] == field


def test_a_tool_call_without_its_result_is_refused_before_any_provider_sees_it() -> None:
    orphan = {**HISTORY, "messages": HISTORY["messages"][:2]}
    with pytest.raises(ParamsInvalid) as caught:
        canonical_request(orphan)
    assert "unanswered" in caught.value.message
    stray = {**HISTORY, "messages": [HISTORY["messages"][0], HISTORY["messages"][2]]}
    with pytest.raises(ParamsInvalid, match="no tool_call 'c1' precedes it"):
        canonical_request(stray)

"""The assembler folds each protocol's stream into canonical events and one turn (SPEC §12.3),
and the turn is the same however the bytes were split on the way."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.llm.assemble import Assembler, Turn
from kiwi_mcp.primitives.sse import SseParser, SseState
from tests.core.llm.protocols import protocol, sse


def _a(kind: str, **data: Any) -> tuple[str, str]:
    return kind, json.dumps({"type": kind, **data})


ANTHROPIC_TOOL = [
    _a(
        "message_start",
        message={
            "id": "m",
            "model": "claude-x",
            "usage": {
                "input_tokens": 120,
                "cache_read_input_tokens": 5,
                "cache_creation_input_tokens": 2,
                "output_tokens": 1,
            },
        },
    ),
    _a("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    ("ping", '{"type": "ping"}'),
    _a("content_block_delta", index=0, delta={"type": "text_delta", "text": "Checking."}),
    _a("content_block_stop", index=0),
    _a(
        "content_block_start",
        index=1,
        content_block={
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_weather",
            "input": {},
            "caller": {"type": "direct"},
        },
    ),
    _a("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
    _a(
        "content_block_delta",
        index=1,
        delta={"type": "input_json_delta", "partial_json": '{"city": "Pa'},
    ),
    _a("content_block_magic", index=1, surprise=True),
    _a(
        "content_block_delta",
        index=1,
        delta={"type": "input_json_delta", "partial_json": 'ris\\"x\\""}'},
    ),
    _a("content_block_stop", index=1),
    _a("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 40}),
    _a("message_delta", delta={}, usage={"output_tokens": 42}),
    _a("message_stop"),
]


def _turn(name: str, wire: bytes, cuts: list[int] | None = None) -> tuple[Turn, list[Any]]:
    assembler = Assembler(protocol(name))
    canonical: list[Any] = []
    parser = SseParser(SseState(), lambda event: canonical.extend(assembler.feed(event)))
    points = sorted(set(cuts or []))
    start = 0
    for point in [*points, len(wire)]:
        parser.feed(wire[start:point])
        start = point
    parser.end()
    return assembler.finish(), canonical


def test_anthropic_text_then_a_tool_call_with_cumulative_usage() -> None:
    turn, events = _turn("anthropic_messages", sse(ANTHROPIC_TOOL))
    assert turn.text == "Checking."
    assert turn.tool_calls == (
        {"call_id": "toolu_1", "name": "get_weather", "arguments": {"city": 'Paris"x"'}},
    )
    assert turn.stop == "tool" and turn.stop_raw == "tool_use"
    # the last output count, never 1 + 40 + 42
    assert turn.usage == {
        "input_tokens": 120,
        "output_tokens": 42,
        "cache_read_tokens": 5,
        "cache_write_tokens": 2,
    }
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_end"
    assert kinds.count("tool_args_delta") == 2  # the empty fragment is no event
    assert {
        "type": "block_start",
        "index": 1,
        "kind": "tool_call",
        "call_id": "toolu_1",
        "name": "get_weather",
    } in events


def test_a_stream_without_its_terminal_event_is_incomplete_with_usage_unknown() -> None:
    turn, _ = _turn("anthropic_messages", sse(ANTHROPIC_TOOL[:-3]))
    assert turn.stop == "incomplete" and turn.usage is None
    assert turn.tool_calls == ()
    assert turn.incomplete_tool_calls[0]["name"] == "get_weather"


def test_a_length_stop_never_offers_its_half_written_tool_call() -> None:
    events = [
        *ANTHROPIC_TOOL[:8],
        _a("message_delta", delta={"stop_reason": "max_tokens"}, usage={"output_tokens": 9}),
        _a("message_stop"),
    ]
    turn, _ = _turn("anthropic_messages", sse(events))
    assert turn.stop == "length" and turn.tool_calls == ()
    assert turn.incomplete_tool_calls[0]["arguments_text"] == '{"city": "Pa'


def test_an_error_event_in_the_stream_is_a_typed_error() -> None:
    events = [
        *ANTHROPIC_TOOL[:4],
        (
            "error",
            json.dumps(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            ),
        ),
    ]
    turn, canonical = _turn("anthropic_messages", sse(events))
    assert turn.stop == "error" and turn.usage is None
    assert turn.error == {
        "type": "error",
        "provider_type": "overloaded_error",
        "code": None,
        "message": "Overloaded",
    }
    assert canonical[-1]["type"] == "error"


def _chat(
    delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None, choices: bool = True
) -> tuple[None, str]:
    chunk: dict[str, Any] = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else [],
        "usage": usage,
    }
    return None, json.dumps(chunk)


CHAT_PARALLEL = [
    _chat(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        }
    ),
    _chat(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": '{"zo'},
                }
            ]
        }
    ),
    _chat({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":"Pa'}}]}),
    _chat({"tool_calls": [{"index": 1, "function": {"arguments": 'ne":"UTC"}'}}]}),
    _chat({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}),
    _chat({}, "tool_calls"),
    _chat(
        None,
        usage={
            "prompt_tokens": 44,
            "completion_tokens": 16,
            "total_tokens": 60,
            "prompt_tokens_details": {"cached_tokens": 4},
        },
        choices=False,
    ),
    (None, "[DONE]"),
]


def test_chat_parallel_calls_interleaved_by_index() -> None:
    turn, _ = _turn("openai_chat", sse(CHAT_PARALLEL))
    assert [(c["call_id"], c["arguments"]) for c in turn.tool_calls] == [
        ("call_0", {"city": "Paris"}),
        ("call_1", {"zone": "UTC"}),
    ]
    assert turn.stop == "tool"
    # prompt_tokens includes the cached ones; canonical input does not
    assert turn.usage == {
        "input_tokens": 40,
        "output_tokens": 16,
        "cache_read_tokens": 4,
        "cache_write_tokens": 0,
    }


def test_chat_without_done_is_incomplete() -> None:
    turn, _ = _turn("openai_chat", sse(CHAT_PARALLEL[:-1]))
    assert turn.stop == "incomplete" and turn.tool_calls == ()


def _r(kind: str, **data: Any) -> tuple[str, str]:
    return kind, json.dumps({"type": kind, **data})


RESPONSES = [
    _r("response.created", response={"id": "r", "model": "gpt-x", "status": "in_progress"}),
    _r("response.metadata", anything=1),
    _r("response.output_item.added", output_index=0, item={"type": "message", "id": "m"}),
    _r("response.output_text.delta", output_index=0, content_index=0, delta="Hi "),
    _r("response.output_text.delta", output_index=0, content_index=0, delta="there"),
    _r("response.output_item.done", output_index=0, item={"type": "message"}),
    _r(
        "response.output_item.added",
        output_index=1,
        item={
            "type": "function_call",
            "id": "fc",
            "call_id": "call_9",
            "name": "get_capital",
            "arguments": "",
        },
    ),
    _r("response.function_call_arguments.delta", output_index=1, item_id="fc", delta='{"country":'),
    _r("response.function_call_arguments.delta", output_index=1, item_id="fc", delta='"France"}'),
    _r("response.output_item.done", output_index=1, item={"type": "function_call"}),
    _r(
        "response.completed",
        response={
            "status": "completed",
            "usage": {
                "input_tokens": 255,
                "input_tokens_details": {"cached_tokens": 5},
                "output_tokens": 16,
                "total_tokens": 271,
            },
        },
    ),
]


def test_responses_items_keyed_by_output_index_with_call_id() -> None:
    turn, _ = _turn("openai_responses", sse(RESPONSES))
    assert turn.text == "Hi there"
    assert turn.tool_calls == (
        {"call_id": "call_9", "name": "get_capital", "arguments": {"country": "France"}},
    )
    assert turn.stop == "tool"  # "completed" with a call
    assert turn.usage is not None and turn.usage["input_tokens"] == 250


def test_responses_incomplete_for_max_output_tokens_is_a_length_stop() -> None:
    events = [
        *RESPONSES[:8],
        _r(
            "response.incomplete",
            response={
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
                "usage": {"input_tokens": 10, "output_tokens": 3},
            },
        ),
    ]
    turn, _ = _turn("openai_responses", sse(events))
    assert turn.stop == "length" and turn.tool_calls == ()
    assert turn.incomplete_tool_calls[0]["call_id"] == "call_9"


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
def test_the_same_turn_however_the_bytes_are_split(cuts: list[int]) -> None:
    for name, events in (
        ("anthropic_messages", ANTHROPIC_TOOL),
        ("openai_chat", CHAT_PARALLEL),
        ("openai_responses", RESPONSES),
    ):
        wire = sse(events)
        whole, whole_events = _turn(name, wire)
        split, split_events = _turn(name, wire, [c % (len(wire) + 1) for c in cuts])
        assert split == whole and split_events == whole_events

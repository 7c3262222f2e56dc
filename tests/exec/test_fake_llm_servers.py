"""The fake LLM servers speak each provider's wire: framing, events, usage, errors, checks."""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiwi_mcp.primitives.sse import SseParser, SseState
from tests.support.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parents[2]
WIRES = ("anthropic", "chat", "responses")
PATHS = {"anthropic": "/v1/messages", "chat": "/v1/chat/completions", "responses": "/v1/responses"}
HEADERS = {
    "anthropic": {"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
    "chat": {"authorization": "Bearer test-key"},
    "responses": {"authorization": "Bearer test-key"},
}
ORPHANS: dict[str, list[dict[str, Any]]] = {
    "anthropic": [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}],
        },
    ],
    "chat": [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
    ],
    "responses": [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": "call_9", "name": "get_weather", "arguments": "{}"},
    ],
}
SPLIT_ARGS = {"path": 'C:\\dir\\"q".txt', "text": "é\n", "n": 12}


@dataclass(frozen=True, kw_only=True, slots=True)
class Streamed:
    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[dict[str, Any]]

    def names(self) -> list[str]:
        return [event["event"] for event in self.events]

    def data(self, name: str) -> list[Any]:
        return [event["data"] for event in self.events if event["event"] == name]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture
def client(fake: FakeLLM) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.base_url, timeout=httpx.Timeout(5.0)) as http:
        yield http


def body(
    wire: str,
    model: str,
    *,
    text: str = "hello",
    stream: bool = True,
    history: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    if wire == "responses":
        items = [*history, {"role": "user", "content": text}] if history else text
        return {"model": model, "stream": stream, "input": items}
    payload = {
        "model": model,
        "stream": stream,
        "messages": [*history, {"role": "user", "content": text}],
    }
    if wire == "anthropic":
        payload["max_tokens"] = 256
    elif stream:
        payload["stream_options"] = {"include_usage": True}
    return payload


def post(
    client: httpx.Client, wire: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(
        PATHS[wire], headers=HEADERS[wire] if headers is None else headers, json=payload
    )


def stream(client: httpx.Client, wire: str, model: str, **kwargs: Any) -> Streamed:
    events: list[dict[str, Any]] = []
    parser = SseParser(SseState(), events.append)
    chunks: list[bytes] = []
    payload = body(wire, model, **kwargs)
    with client.stream("POST", PATHS[wire], headers=HEADERS[wire], json=payload) as response:
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            parser.feed(chunk)
        parser.end()
    return Streamed(
        status=response.status_code, headers=response.headers, raw=b"".join(chunks), events=events
    )


def records(raw: bytes) -> list[bytes]:
    return [record for record in raw.split(b"\n\n") if record]


def test_anthropic_text_stream_sends_named_events_in_the_documented_order(
    client: httpx.Client,
) -> None:
    got = stream(client, "anthropic", "fake-text")

    assert got.status == 200
    assert got.headers["content-type"].startswith("text/event-stream")
    assert got.headers["request-id"]
    assert got.raw.startswith(b'event: message_start\ndata: {"type":"message_start"')
    assert all(record.startswith(b"event: ") for record in records(got.raw))
    assert all(event["data"]["type"] == event["event"] for event in got.events)
    names = got.names()
    deltas = names.count("content_block_delta")
    assert deltas >= 3
    assert names == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * deltas,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    text = "".join(d["delta"]["text"] for d in got.data("content_block_delta"))
    assert text == "You said: hello"
    start_usage = got.data("message_start")[0]["message"]["usage"]
    assert start_usage["input_tokens"] == 12
    assert start_usage["cache_read_input_tokens"] == 3
    assert start_usage["cache_creation_input_tokens"] == 2
    assert start_usage["output_tokens"] == 1
    final = got.data("message_delta")[0]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] == 7


def test_chat_text_stream_is_data_only_and_ends_with_a_usage_chunk_then_done(
    client: httpx.Client,
) -> None:
    got = stream(client, "chat", "fake-text")

    assert got.status == 200
    assert got.headers["content-type"].startswith("text/event-stream")
    assert got.headers["x-request-id"]
    assert all(record.startswith(b"data: ") for record in records(got.raw))
    assert got.raw.endswith(b"\n\ndata: [DONE]\n\n")
    *chunks, usage_chunk, done = [event["data"] for event in got.events]
    assert done == "[DONE]"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 12
    assert usage_chunk["usage"]["completion_tokens"] == 7
    assert usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert all(chunk["usage"] is None for chunk in chunks)
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[0]["role"] == "assistant"
    pieces = [delta["content"] for delta in deltas[1:-1]]
    assert len(pieces) >= 3
    assert "".join(pieces) == "You said: hello"
    assert deltas[-1] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_responses_text_stream_numbers_its_events_and_has_usage_only_at_the_end(
    client: httpx.Client,
) -> None:
    got = stream(client, "responses", "fake-text")

    assert got.status == 200
    assert got.headers["x-request-id"]
    assert all(record.startswith(b"event: ") for record in records(got.raw))
    assert all(event["data"]["type"] == event["event"] for event in got.events)
    assert [e["data"]["sequence_number"] for e in got.events] == list(range(len(got.events)))
    names = got.names()
    assert names[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert names[-1] == "response.completed"
    assert names.count("response.output_text.delta") >= 3
    text = "".join(d["delta"] for d in got.data("response.output_text.delta"))
    assert text == "You said: hello"
    *before, last = [event["data"] for event in got.events]
    assert all(data.get("response", {}).get("usage") is None for data in before)
    assert last["response"]["status"] == "completed"
    assert last["response"]["usage"]["input_tokens"] == 12
    assert last["response"]["usage"]["output_tokens"] == 7
    assert last["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 3


def tool_call(wire: str, got: Streamed) -> tuple[str, str, list[str], str]:
    """The first tool call of a stream: (name, id, argument fragments, stop reason)."""
    if wire == "anthropic":
        start = next(
            d for d in got.data("content_block_start") if d["content_block"]["type"] == "tool_use"
        )
        block = start["content_block"]
        fragments = [
            d["delta"]["partial_json"]
            for d in got.data("content_block_delta")
            if d["index"] == start["index"]
        ]
        return (
            block["name"],
            block["id"],
            fragments,
            got.data("message_delta")[0]["delta"]["stop_reason"],
        )
    if wire == "chat":
        calls = [
            call
            for event in got.events[:-1]
            for choice in event["data"]["choices"]
            for call in choice["delta"].get("tool_calls", [])
            if call["index"] == 0
        ]
        finish = [c["finish_reason"] for e in got.events[:-1] for c in e["data"]["choices"]]
        head = calls[0]
        fragments = [call["function"]["arguments"] for call in calls]
        return head["function"]["name"], head["id"], fragments, finish[-1]
    added = next(
        d for d in got.data("response.output_item.added") if d["item"]["type"] == "function_call"
    )
    item = added["item"]
    fragments = [
        d["delta"]
        for d in got.data("response.function_call_arguments.delta")
        if d["item_id"] == item["id"]
    ]
    return item["name"], item["call_id"], fragments, got.events[-1]["data"]["response"]["status"]


@pytest.mark.parametrize(
    ("model", "name", "arguments"),
    [
        ("fake-tool", "get_weather", {"city": "Paris"}),
        ("fake-split-json", "write_file", SPLIT_ARGS),
    ],
)
@pytest.mark.parametrize("wire", WIRES)
def test_a_tool_call_arrives_in_fragments_starting_with_an_empty_one(
    client: httpx.Client, wire: str, model: str, name: str, arguments: dict[str, Any]
) -> None:
    got = stream(client, wire, model)

    got_name, call_id, fragments, stop = tool_call(wire, got)
    assert got_name == name
    assert call_id == {"anthropic": "toolu_1", "chat": "call_1", "responses": "call_1"}[wire]
    assert fragments[0] == ""
    assert len(fragments) >= 3
    assert json.loads("".join(fragments)) == arguments
    assert stop == {"anthropic": "tool_use", "chat": "tool_calls", "responses": "completed"}[wire]


@pytest.mark.parametrize("wire", WIRES)
def test_a_429_names_its_delay_and_the_next_request_succeeds(
    client: httpx.Client, wire: str
) -> None:
    first = post(client, wire, body(wire, "fake-429-ms", stream=False))
    second = post(client, wire, body(wire, "fake-429-ms", stream=False))

    assert first.status_code == 429
    assert first.headers["retry-after-ms"] == "20"
    if wire == "anthropic":
        assert first.json() == {
            "type": "error",
            "error": {"type": "rate_limit_error", "message": first.json()["error"]["message"]},
            "request_id": first.headers["request-id"],
        }
    else:
        error = first.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["code"] == "rate_limit_exceeded"
    assert second.status_code == 200


def test_chat_streaming_without_include_usage_is_refused(client: httpx.Client) -> None:
    payload = body("chat", "fake-text")
    del payload["stream_options"]

    response = post(client, "chat", payload)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "stream_options.include_usage"
    assert "include_usage" in error["message"]


@pytest.mark.parametrize("wire", WIRES)
def test_the_bad_key_is_refused_in_the_provider_shape(client: httpx.Client, wire: str) -> None:
    headers = {**HEADERS[wire], "x-api-key": "bad-key", "authorization": "Bearer bad-key"}
    if wire == "anthropic":
        del headers["authorization"]

    response = post(client, wire, body(wire, "fake-text"), headers)

    assert response.status_code == 401
    if wire == "anthropic":
        assert response.json()["error"]["type"] == "authentication_error"
    else:
        assert response.json()["error"]["code"] == "invalid_api_key"


def test_anthropic_requires_the_version_header(client: httpx.Client) -> None:
    response = post(client, "anthropic", body("anthropic", "fake-text"), {"x-api-key": "k"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }


@pytest.mark.parametrize("wire", WIRES)
def test_a_history_with_an_unanswered_tool_call_is_refused(client: httpx.Client, wire: str) -> None:
    response = post(client, wire, body(wire, "fake-text", history=ORPHANS[wire]))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert ("toolu_9" if wire == "anthropic" else "call_9") in error["message"]


@pytest.mark.parametrize("wire", WIRES)
def test_an_unknown_model_is_a_404_naming_the_scenarios(client: httpx.Client, wire: str) -> None:
    response = post(client, wire, body(wire, "gpt-nothing"))

    assert response.status_code == 404
    assert "fake-text" in response.json()["error"]["message"]


def test_scripted_turns_play_in_order_and_the_last_one_repeats(
    fake: FakeLLM, client: httpx.Client
) -> None:
    fake.script(
        "my-model",
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"text": "Sunny."},
        ],
    )
    asked = stream(client, "chat", "my-model", text="weather?")
    name, call_id, fragments, stop = tool_call("chat", asked)
    assert (name, call_id, json.loads("".join(fragments)), stop) == (
        "get_weather",
        "call_1",
        {"city": "Oslo"},
        "tool_calls",
    )
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "12 C"},
    ]
    payload = body("chat", "my-model", stream=False)
    payload["messages"] = history

    answers = [post(client, "chat", payload).json() for _ in range(2)]

    assert [a["choices"][0]["message"]["content"] for a in answers] == ["Sunny.", "Sunny."]
    recorded = fake.requests
    assert [r.path for r in recorded] == ["/v1/chat/completions"] * 3
    assert recorded[0].headers["authorization"] == "Bearer test-key"
    assert recorded[1].json["messages"] == history
    fake.reset()
    assert fake.requests == []
    again = stream(client, "chat", "my-model", text="weather?")
    assert tool_call("chat", again)[1] == "call_1"


def test_a_cut_stream_breaks_the_connection_and_an_eof_stream_just_ends(
    client: httpx.Client,
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, "chat", "fake-cut")

    ended = stream(client, "chat", "fake-eof")

    assert ended.status == 200
    assert b"[DONE]" not in ended.raw
    assert ended.events


def test_a_midstream_error_is_the_last_event_and_carries_no_usage(client: httpx.Client) -> None:
    got = stream(client, "anthropic", "fake-midstream-error")

    assert got.names() == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "error",
    ]
    assert got.events[-1]["data"]["error"] == {"type": "overloaded_error", "message": "Overloaded"}


def test_pings_interleave_without_changing_the_answer(client: httpx.Client) -> None:
    plain = stream(client, "anthropic", "fake-text")
    pinged = stream(client, "anthropic", "fake-ping")
    chat = stream(client, "chat", "fake-ping")

    assert b'event: ping\ndata: {"type": "ping"}\n\n' in pinged.raw
    assert pinged.names().count("ping") >= 3
    answer = [e for e in pinged.events if e["event"] != "ping"]
    assert [e["event"] for e in answer] == plain.names()
    assert b"\n\n: ping\n\n" in chat.raw
    assert chat.events[-1]["data"] == "[DONE]"


def test_the_standalone_server_prints_its_url_and_answers() -> None:
    command = [sys.executable, "-m", "tests.support.fake_llm", "--port", "0"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20.0)
            assert ready, "the fake did not print its address"
            line = process.stdout.readline().strip()
            prefix = "fake-llm: listening on "
            assert line.startswith(prefix)
            with httpx.Client(base_url=line.removeprefix(prefix), timeout=5.0) as http:
                response = post(http, "anthropic", body("anthropic", "fake-text", stream=False))
            assert response.json()["content"] == [{"type": "text", "text": "You said: hello"}]
        finally:
            process.terminate()
            process.wait(timeout=10)

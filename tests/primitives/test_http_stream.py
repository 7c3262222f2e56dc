"""Server-sent event streams through the http_client primitive, into sinks."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.primitives import (
    FileSink,
    HttpSpec,
    NullSink,
    PrimitiveError,
    PrimitiveHttpError,
    PrimitiveTimeout,
    RetryPolicy,
    ReturnSink,
    Sink,
)
from kiwi_mcp.primitives.http_client import HttpClient
from tests.support.http_server import LoopbackServer, Pause, Response

FIXTURES = Path(__file__).parent / "fixtures" / "sse"
STREAMS = sorted(p.stem for p in FIXTURES.glob("*.sse"))


def stream(
    url: str,
    *,
    sinks: tuple[Sink, ...] = (),
    on_event: Any = None,
    method: str = "POST",
    timeout: float = 5.0,
    retry: RetryPolicy | None = None,
    sleep: Any = None,
) -> Any:
    spec = HttpSpec(
        url=url,
        method=method,
        json={"stream": True},
        stream=True,
        timeout=timeout,
        retry=retry or RetryPolicy(),
    )

    async def main() -> Any:
        client_args = {"sleep": sleep} if sleep is not None else {}
        async with HttpClient(**client_args) as client:
            return await client.request(spec, sinks=sinks, on_event=on_event)

    return asyncio.run(main())


def split_every(text: str, size: int) -> list[str | Pause]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def split_every_bytes(data: bytes, size: int) -> list[bytes | Pause]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_recorded_provider_streams_parse_into_the_expected_events(
    http_server: LoopbackServer, name: str, chunk_size: int | None
) -> None:
    wire = (FIXTURES / f"{name}.sse").read_bytes().decode()
    expected = json.loads((FIXTURES / f"{name}.expected.json").read_text())
    chunks = [wire] if chunk_size is None else split_every(wire, chunk_size)
    http_server.route("POST", "/v1/stream", Response.sse(chunks))
    sink = ReturnSink()
    seen: list[dict[str, Any]] = []
    result = stream(http_server.url + "/v1/stream", sinks=(sink,), on_event=seen.append)
    assert sink.result() == {"events": expected, "dropped": 0}
    assert seen == expected
    assert (result.status, result.body, result.event_count) == (200, None, len(expected))
    assert sink.closed
    assert http_server.requests[0].headers["accept"] == "text/event-stream"


def test_the_status_is_checked_before_the_stream_is_read(http_server: LoopbackServer) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    http_server.route("POST", "/s", Response.json(overloaded, status=529))
    sink = ReturnSink()
    with pytest.raises(PrimitiveHttpError) as caught:
        stream(http_server.url + "/s", sinks=(sink,))
    assert (caught.value.status, caught.value.details["body"]) == (529, overloaded)
    assert (sink.events, sink.closed) == ([], True)


def test_an_error_event_mid_stream_raises_after_the_events_before_it_were_delivered(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.route(
        "POST",
        "/s",
        Response.sse(
            [
                'event: message_start\ndata: {"type": "message_start"}\n\n',
                'event: ping\ndata: {"type": "ping"}\n\n',
                "event: error\n"
                'data: {"type": "error", "error": {"type": "overloaded_error", '
                '"message": "Overloaded"}}\n\n',
                'event: message_stop\ndata: {"type": "message_stop"}\n\n',
            ]
        ),
    )
    returned, filed = ReturnSink(), FileSink(tmp_path / "events.jsonl")
    with pytest.raises(PrimitiveHttpError) as caught:
        stream(http_server.url + "/s", sinks=(returned, filed))
    host = http_server.url.removeprefix("http://")
    assert caught.value.message == f"{host} sent an error event in the stream: Overloaded"
    assert caught.value.details["error_type"] == "overloaded_error"
    assert [e["event"] for e in returned.events] == ["message_start", "ping", "error"]
    assert returned.closed and filed.closed
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["message_start", "ping", "error"]


def test_an_openai_style_error_object_in_the_data_raises(http_server: LoopbackServer) -> None:
    http_server.route(
        "POST",
        "/s",
        Response.sse(
            [
                'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n',
                'data: {"error": {"message": "The server had an error", '
                '"type": "server_error"}}\n\n',
            ]
        ),
    )
    with pytest.raises(PrimitiveHttpError) as caught:
        stream(http_server.url + "/s")
    assert caught.value.message.endswith(
        "sent an error event in the stream: The server had an error"
    )
    assert caught.value.details["error_type"] == "server_error"


def test_a_stalled_stream_ends_at_the_read_timeout(http_server: LoopbackServer) -> None:
    http_server.route("POST", "/s", Response.sse(["data: 1\n\n", Pause(30.0), "data: 2\n\n"]))
    sink = ReturnSink()
    started = time.monotonic()
    with pytest.raises(PrimitiveTimeout) as caught:
        stream(http_server.url + "/s", sinks=(sink,), timeout=0.4)
    assert caught.value.code == "TIMEOUT"
    assert time.monotonic() - started < 3.0
    assert (sink.events, sink.closed) == ([{"event": "message", "data": 1, "id": None}], True)


def test_a_reply_that_is_not_an_event_stream_is_an_http_error(http_server: LoopbackServer) -> None:
    http_server.route("POST", "/s", Response.json({"id": "not streamed"}))
    with pytest.raises(PrimitiveHttpError) as caught:
        stream(http_server.url + "/s")
    host = http_server.url.removeprefix("http://")
    assert (
        caught.value.message == f"{host} answered 200 with 'application/json', not an event stream"
    )
    assert caught.value.details["body"] == {"id": "not streamed"}


def test_a_hundred_thousand_events_reach_a_file_sink_with_none_lost(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    total = 100_000
    events = [f'id: {i}\ndata: {{"n": {i}}}\n\n' for i in range(total)]
    http_server.route(
        "GET",
        "/firehose",
        Response.sse(["".join(events[i : i + 2000]) for i in range(0, total, 2000)]),
    )
    path = tmp_path / "deep" / "er" / "events.jsonl"
    capped, counted = ReturnSink(max_events=1000), NullSink()
    result = stream(
        http_server.url + "/firehose", method="GET", sinks=(FileSink(path), capped, counted)
    )
    assert result.event_count == total
    lines = path.read_text().splitlines()
    assert len(lines) == total
    assert all(
        json.loads(line) == {"event": "message", "data": {"n": i}, "id": str(i)}
        for i, line in enumerate(lines)
    )
    assert (len(capped.events), capped.dropped, counted.count) == (1000, total - 1000, total)


def test_a_broken_idempotent_stream_is_resumed_with_last_event_id(
    http_server: LoopbackServer,
) -> None:
    http_server.route(
        "GET",
        "/s",
        [
            Response.sse(["retry: 40\nid: 1\ndata: a\n\n", "id: 2\ndata: b\n\n"], abort=True),
            Response.sse(["id: 3\ndata: c\n\n"]),
        ],
    )
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    sink = ReturnSink()
    result = stream(
        http_server.url + "/s",
        method="GET",
        sinks=(sink,),
        retry=RetryPolicy(attempts=2),
        sleep=sleep,
    )
    assert [e["data"] for e in sink.events] == ["a", "b", "c"]
    assert (result.attempts, result.event_count, delays) == (2, 3, [0.04])
    assert "last-event-id" not in http_server.requests[0].headers
    assert http_server.requests[1].headers["last-event-id"] == "2"


def test_a_broken_post_stream_is_not_sent_again(http_server: LoopbackServer) -> None:
    http_server.route("POST", "/s", Response.sse(["data: a\n\n"], abort=True))
    sink = ReturnSink()
    with pytest.raises(PrimitiveError) as caught:
        stream(http_server.url + "/s", sinks=(sink,), retry=RetryPolicy(attempts=3))
    host = http_server.url.removeprefix("http://")
    assert caught.value.code == "HTTP_ERROR"
    assert caught.value.message.startswith(
        f"the connection to {host} broke while reading the response: RemoteProtocolError"
    )
    assert (len(http_server.requests), len(sink.events)) == (1, 1)


class ExplodingSink:
    def __init__(self) -> None:
        self.closed = False

    def write(self, event: dict[str, Any]) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        self.closed = True


def test_a_failing_sink_fails_the_request_and_every_sink_is_still_closed(
    http_server: LoopbackServer,
) -> None:
    http_server.route("POST", "/s", Response.sse(["data: 1\n\n", "data: 2\n\n"]))
    exploding, kept = ExplodingSink(), ReturnSink()
    with pytest.raises(PrimitiveError) as caught:
        stream(http_server.url + "/s", sinks=(kept, exploding))
    assert (caught.value.code, caught.value.message) == (
        "EXECUTION_FAILED",
        "sink ExplodingSink failed: OSError: disk full",
    )
    assert exploding.closed and kept.closed
    assert len(kept.events) == 1


def test_cancelling_a_stream_closes_the_sinks_and_re_raises(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.route("GET", "/s", Response.sse(["data: 1\n\n", Pause(30.0)]))
    path = tmp_path / "events.jsonl"

    async def main() -> FileSink:
        sink = FileSink(path)
        first = asyncio.Event()
        async with HttpClient() as client:
            task = asyncio.create_task(
                client.request(
                    HttpSpec(url=http_server.url + "/s", stream=True),
                    sinks=(sink,),
                    on_event=lambda event: first.set(),
                )
            )
            await asyncio.wait_for(first.wait(), 5.0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, 2.0)
        return sink

    sink = asyncio.run(main())
    assert sink.closed
    assert path.read_text() == '{"event":"message","data":1,"id":null}\n'


def test_a_last_event_without_a_trailing_blank_line_is_still_delivered(
    http_server: LoopbackServer,
) -> None:
    http_server.route("POST", "/s", Response.sse(["data: first\n\n", "event: end\ndata: [DONE]"]))
    sink = ReturnSink()
    stream(http_server.url + "/s", sinks=(sink,))
    assert sink.events == [
        {"event": "message", "data": "first", "id": None},
        {"event": "end", "data": "[DONE]", "id": None},
    ]


def test_a_stream_cut_mid_event_does_not_deliver_the_partial_event(
    http_server: LoopbackServer,
) -> None:
    http_server.route("POST", "/s", Response.sse(["data: whole\n\n", "data: half"], abort=True))
    sink = ReturnSink()
    with pytest.raises(PrimitiveError):
        stream(http_server.url + "/s", sinks=(sink,))
    assert [e["data"] for e in sink.events] == ["whole"]


def test_a_compressed_stream_is_decoded_and_its_last_event_delivered(
    http_server: LoopbackServer,
) -> None:
    # Kiwi asks for an uncompressed body; a server may compress all the same.
    wire = gzip.compress('data: {"n": 1}\r\n\r\nevent: end\r\ndata: é'.encode())
    http_server.route(
        "POST",
        "/s",
        Response.sse(split_every_bytes(wire, 5), headers={"Content-Encoding": "gzip"}),
    )
    sink = ReturnSink()
    stream(http_server.url + "/s", sinks=(sink,))
    assert sink.events == [
        {"event": "message", "data": {"n": 1}, "id": None},
        {"event": "end", "data": "é", "id": None},
    ]

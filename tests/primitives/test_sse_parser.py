"""Kiwi's SSE parser: each rule of the event-stream format, and a differential test that holds
it to httpx-sse on random streams cut into random chunks."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from kiwi_mcp.primitives.sse import SseParser, SseState, is_error, parse_data

Events = list[dict[str, Any]]


def parse(*chunks: bytes | str, clean_end: bool = True) -> tuple[Events, SseState]:
    """The events and state after feeding ``chunks`` (stopping at an error event)."""
    events: Events = []
    state = SseState()
    parser = SseParser(state, events.append)
    for chunk in chunks:
        if parser.feed(chunk.encode() if isinstance(chunk, str) else chunk) is not None:
            return events, state
    if clean_end:
        parser.end()
    return events, state


def message(data: Any, *, event: str = "message", id: str | None = None) -> dict[str, Any]:
    return {"event": event, "data": data, "id": id}


# --- the rules, one by one ------------------------------------------------------------------


def test_data_lines_are_joined_with_newlines() -> None:
    assert parse("data: a\ndata: b\ndata:\ndata: c\n\n")[0] == [message("a\nb\n\nc")]


def test_the_event_field_names_the_event_and_an_empty_name_is_message() -> None:
    events, _ = parse("event: ping\ndata: 1\n\nevent:\ndata: 2\n\nevent: \ndata: 3\n\n")
    assert events == [message(1, event="ping"), message(2), message(3)]


def test_the_last_event_name_in_an_event_wins() -> None:
    assert parse("event: a\nevent: b\ndata: x\n\n")[0] == [message("x", event="b")]


def test_an_event_name_does_not_carry_over_to_the_next_event() -> None:
    assert parse("event: a\ndata: 1\n\ndata: 2\n\n")[0] == [
        message(1, event="a"),
        message(2),
    ]


def test_the_id_is_kept_for_the_events_after_it_and_recorded_in_the_state() -> None:
    events, state = parse("id: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n")
    assert events == [message("a", id="7"), message("b", id="7"), message("c", id="8")]
    assert state.last_event_id == "8"


def test_an_id_holding_nul_is_ignored() -> None:
    events, state = parse("id: 1\n\nid: 2\0x\ndata: a\n\n")
    assert (events, state.last_event_id) == ([message("a", id="1")], "1")


def test_an_empty_id_clears_the_events_id_but_the_state_keeps_the_last_one() -> None:
    events, state = parse("id: 1\ndata: a\n\nid:\ndata: b\n\n")
    assert events == [message("a", id="1"), message("b")]
    assert state.last_event_id == "1"


def test_the_id_in_the_state_is_the_one_an_event_ends_with() -> None:
    assert parse("id: 1\nid:\ndata: a\n\n")[1].last_event_id is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("retry: 2500", 2500),
        ("retry:0", 0),
        ("retry: 007", 7),
        ("retry: +5", None),
        ("retry: -1", None),
        ("retry:  5", None),
        ("retry: 5 ", None),
        ("retry: 1_000", None),
        ("retry: \u0663", None),  # ARABIC-INDIC DIGIT THREE: a digit, but not ASCII
        ("retry: 1.5", None),
        ("retry:", None),
        ("retry", None),
        ("retry: " + "9" * 5000, None),  # longer than int() accepts
    ],
)
def test_retry_takes_ascii_digits_only(line: str, expected: int | None) -> None:
    events, state = parse(line + "\n\n")
    assert (events, state.retry_ms) == ([], expected)


def test_a_later_invalid_retry_keeps_the_earlier_value() -> None:
    assert parse("retry: 10\n\nretry: x\n\n")[1].retry_ms == 10


def test_comment_lines_are_ignored() -> None:
    assert parse(": hello\ndata: a\n:data: b\n:\n\n")[0] == [message("a")]


def test_a_stream_of_comments_only_delivers_nothing() -> None:
    assert parse(": keep-alive\n\n: keep-alive\n\n")[0] == []


def test_a_field_without_a_colon_has_an_empty_value() -> None:
    assert parse("data\ndata\ndata: x\n\n")[0] == [message("\n\nx")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert parse("data:  two\n\ndata:none\n\ndata:\tTab\n\n")[0] == [
        message(" two"),
        message("none"),
        message("\tTab"),
    ]


def test_only_the_first_colon_separates_the_field() -> None:
    assert parse("data: a: b\n\nevent: x:y\ndata: 1\n\n")[0] == [
        message("a: b"),
        message(1, event="x:y"),
    ]


def test_unknown_fields_and_field_names_with_other_spelling_are_ignored() -> None:
    assert parse("foo: 1\nDATA: 2\ndata : 3\n data: 4\ndata: 5\n\n")[0] == [message(5)]


def test_one_byte_order_mark_at_the_start_is_skipped() -> None:
    bom = "\ufeff"
    assert parse(f"{bom}data: a\n\n")[0] == [message("a")]
    # A second one is part of the first line, whose field is then not ``data``.
    assert parse(f"{bom}{bom}data: a\n\ndata: b\n\n")[0] == [message("b")]
    assert parse(f"data: a\n\n{bom}data: b\n\n")[0] == [message("a")]


def test_a_byte_order_mark_split_across_chunks_is_still_skipped() -> None:
    assert parse(b"\xef", b"\xbb", b"\xbfdata: a\n\n")[0] == [message("a")]
    assert parse(b"\xef\xbb", b"\xbfdata: a", b"\n\n")[0] == [message("a")]


def test_a_body_that_is_only_part_of_a_byte_order_mark_delivers_nothing() -> None:
    assert parse(b"\xef\xbb")[0] == []


@pytest.mark.parametrize("newline", ["\n", "\r", "\r\n"])
def test_every_line_ending_works(newline: str) -> None:
    text = f"event: a{newline}data: 1{newline}data: 2{newline}{newline}data: 3{newline}{newline}"
    assert parse(text)[0] == [message("1\n2", event="a"), message(3)]


def test_line_endings_may_be_mixed() -> None:
    assert parse("data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r")[0] == [
        message("a\nb\nc"),
        message("d"),
    ]


def test_a_crlf_split_across_chunks_is_one_line_ending() -> None:
    assert parse("data: a\r", "\ndata: b\r", "\n\r", "\n")[0] == [message("a\nb")]


def test_a_cr_ending_a_chunk_ends_its_line_at_once() -> None:
    events: Events = []
    parser = SseParser(SseState(), events.append)
    parser.feed(b"data: a\r\r")
    assert events == [message("a")]
    parser.feed(b"\ndata: b\r\n\r\n")
    assert events == [message("a"), message("b")]


def test_a_blank_line_split_across_chunks_ends_the_event() -> None:
    events: Events = []
    parser = SseParser(SseState(), events.append)
    parser.feed(b"data: a\n")
    parser.feed(b"data: b\n")
    assert events == []
    parser.feed(b"\ndata: c")
    assert events == [message("a\nb")]


def test_many_blank_lines_deliver_nothing_more() -> None:
    assert parse("\n\n\ndata: a\n\n\n\n\ndata: b\n\n\n")[0] == [message("a"), message("b")]


def test_a_multi_byte_character_split_across_chunks_is_decoded_whole() -> None:
    wire = "data: é中😀\n\n".encode()
    for cut in range(len(wire) + 1):
        assert parse(wire[:cut], wire[cut:])[0] == [message("é中😀")], cut


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    assert parse(b"data: a\xffb\xe2\x82\n\n")[0] == [message("a\ufffdb\ufffd")]


def test_an_event_without_data_or_a_name_is_not_delivered_but_updates_the_state() -> None:
    events, state = parse("id: 3\n\nretry: 5\n\ndata:\n\nevent: message\ndata\n\n")
    assert (events, state.last_event_id, state.retry_ms, state.count) == ([], "3", 5, 0)


def test_an_event_with_a_name_and_no_data_is_delivered_with_empty_data() -> None:
    assert parse("event: ping\n\n")[0] == [message("", event="ping")]


def test_a_last_event_without_a_blank_line_is_delivered_at_a_clean_end() -> None:
    for tail in ("data: last", "data: last\n", "data: last\r", "event: x\ndata: last\r\n"):
        events, _ = parse("data: first\n\n", tail)
        assert [e["data"] for e in events] == ["first", "last"], tail


def test_a_last_event_without_a_blank_line_is_lost_when_the_body_breaks() -> None:
    events, state = parse("data: first\n\n", "id: 9\ndata: last\n", clean_end=False)
    assert (events, state.last_event_id) == ([message("first")], None)


def test_the_data_is_json_when_it_is_json_and_the_string_otherwise() -> None:
    wire = "".join(
        f"data: {data}\n\n"
        for data in ('{"a": [1]}', "3.5", "true", "null", '"s"', "[DONE]", "NaN", "-Infinity")
    )
    wire += 'data: {"a": 1} \n\ndata: 1 2\n\ndata: {\ndata: }\n\ndata:  7\n\n'
    assert [e["data"] for e in parse(wire)[0]] == [
        {"a": [1]},
        3.5,
        True,
        None,
        "s",
        "[DONE]",
        "NaN",
        "-Infinity",
        {"a": 1},
        "1 2",
        {},
        " 7",
    ]


def test_the_count_counts_delivered_events() -> None:
    assert parse("data: 1\n\nid: 2\n\nevent: e\n\n")[1].count == 2


@pytest.mark.parametrize(
    "error",
    [
        "event: error\ndata: boom\n\n",
        "event: error\n\n",
        'data: {"type": "error", "error": {"message": "m"}}\n\n',
        'data: {"error": {"message": "m"}}\n\n',
    ],
)
def test_reading_stops_at_an_error_event(error: str) -> None:
    events: Events = []
    state = SseState()
    parser = SseParser(state, events.append)
    found = parser.feed(f"data: 1\n\n{error}data: 2\n\n".encode())
    assert found is not None and events == [message(1), found]
    assert state.count == 2


def test_an_error_event_at_the_end_is_returned_by_end() -> None:
    parser = SseParser(SseState(), lambda event: None)
    assert parser.feed(b"data: 1\n\nevent: error\ndata: x") is None
    assert parser.end() == message("x", event="error")


def test_what_deliver_raises_passes_through_with_the_event_counted() -> None:
    def deliver(event: dict[str, Any]) -> None:
        raise OSError("disk full")

    state = SseState()
    with pytest.raises(OSError, match="disk full"):
        SseParser(state, deliver).feed(b"data: 1\n\ndata: 2\n\n")
    assert state.count == 1


# --- differential: the same events as httpx-sse ---------------------------------------------


def reference(body: bytes) -> tuple[Events, SseState]:
    """What Kiwi delivered when it was built on httpx-sse, plus the WHATWG rules httpx-sse
    skips: the byte order mark and ``retry`` with ASCII digits only.

    Uses httpx-sse's line splitter and event decoder directly (not exported, but what its
    ``EventSource`` runs), so the reference needs no HTTP.
    """
    text = body.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    # Kiwi's first addition: a blank line after a body that ended cleanly.
    splitter = SSELineDecoder()
    lines = splitter.decode(text + "\n\n") + splitter.flush()
    decoder = SSEDecoder()
    events: Events = []
    state = SseState()
    for line in lines:
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "retry" and not (value.isascii() and value.isdigit()):
            continue  # httpx-sse takes whatever int() takes
        sse = decoder.decode(line)
        if sse is None:
            continue
        if sse.retry is not None:
            state.retry_ms = sse.retry
        if sse.id:
            state.last_event_id = sse.id
        # Kiwi's second addition: nothing to act on, nothing delivered.
        if not sse.data and sse.event == "message":
            continue
        value = parse_data(sse.data)
        events.append({"event": sse.event, "data": value, "id": sse.id or None})
        state.count += 1
        if is_error(sse.event, value):
            break
    return events, state


_TEXT = st.text(alphabet='ab :{}[]",.-019\0\ufeff\ufffd\u00e9\u4e2d\U0001f600', max_size=8)
_JSONISH = st.sampled_from(
    [
        '{"a": 1}',
        "[1, 2]",
        "3.5",
        "NaN",
        "-Infinity",
        '"s"',
        "true",
        "null",
        "1 ",
        " 1",
        "1 x",
        "{",
        "[DONE]",
        '{"type": "error"}',
        '{"error": {"message": "m"}}',
    ]
)
_NEWLINE = st.sampled_from([b"\n", b"\r", b"\r\n"])
_NOT_UTF8 = st.sampled_from([b"\xff", b"\xe2\x82", b"\xc3", b"\x80", b"\xef\xbb\xbf"])
_VALUE = st.one_of(
    _TEXT.map(str.encode),
    _JSONISH.map(str.encode),
    st.tuples(_TEXT, _NOT_UTF8, _TEXT).map(lambda t: t[0].encode() + t[1] + t[2].encode()),
)
_FIELD = st.one_of(
    st.tuples(st.just(b"data"), _VALUE),
    st.tuples(st.just(b"data"), _VALUE),
    st.tuples(st.just(b"event"), _VALUE | st.sampled_from([b"ping", b"message", b"error", b""])),
    st.tuples(st.just(b"id"), _VALUE | st.sampled_from([b"", b"7", b"a\0b"])),
    st.tuples(
        st.just(b"retry"),
        st.integers(0, 10**6).map(lambda n: str(n).encode())
        | st.sampled_from([b"+5", b" 7", b"\xd9\xa3", b"1_0", b"-1", b"", b"x"]),
    ),
    st.tuples(
        st.sampled_from([b"dat", b"DATA", b"data ", b"\xef\xbb\xbfdata", b"\xc3\xa9"]), _VALUE
    ),
)
_FIELD_LINE = st.tuples(_FIELD, st.sampled_from([b": ", b":", b""])).map(
    lambda t: t[0][0] + (t[1] + t[0][1] if t[1] else b"")
)
_LINE = st.one_of(
    _FIELD_LINE,
    _FIELD_LINE,
    st.just(b""),
    _TEXT.map(lambda t: b":" + t.encode()),
)
# The shapes providers send (``event: x`` then ``data: y``), so the fast paths are exercised
# along with their near misses.
_TYPICAL = st.tuples(
    st.lists(
        st.sampled_from([b"event: e", b"event: error", b"event: ", b"event:", b"id: 5", b":c"]),
        max_size=2,
    ),
    st.lists(_VALUE.map(lambda v: b"data: " + v), min_size=1, max_size=3),
    st.sampled_from([[b""], [b"", b""], []]),
).map(lambda t: t[0] + t[1] + t[2])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """A body: maybe a byte order mark, lines each with its own ending (LF, CR or CRLF), and
    a last line that may have none."""
    parts = [b"\xef\xbb\xbf"] if draw(st.booleans()) else []
    for lines in draw(st.lists(_LINE.map(lambda line: [line]) | _TYPICAL, max_size=12)):
        for line in lines:
            parts += [line, draw(_NEWLINE)]
    parts.append(draw(_LINE))
    return b"".join(parts)


@settings(max_examples=400)
@given(body=event_streams(), data=st.data())
def test_random_streams_in_random_chunks_give_the_events_httpx_sse_gives(
    body: bytes, data: st.DataObject
) -> None:
    if data.draw(st.booleans(), label="one byte at a time"):
        cuts = list(range(1, len(body)))
    else:
        cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body))), label="cuts")))
    bounds = [0, *cuts, len(body)]
    chunks = [body[a:b] for a, b in itertools.pairwise(bounds)]
    events, state = parse(*chunks)
    expected, expected_state = reference(body)
    assert events == expected
    assert state == expected_state


@pytest.mark.parametrize(
    "wire",
    [
        "data: a\r\n\r\ndata: b\r\n",
        "\ufeffevent: x\rdata: \u00e9\r\rid: 1\ndata: 2",
        "data: a\n\r\ndata: b\r\n\rdata: c",
        "retry: 10\n:c\nid\ndata\n\n\n",
    ],
)
def test_hand_picked_streams_cut_at_every_byte_give_the_events_httpx_sse_gives(
    wire: str,
) -> None:
    body = wire.encode()
    expected = reference(body)
    for cut in range(len(body) + 1):
        assert parse(body[:cut], body[cut:]) == expected, cut
    assert parse(*(body[i : i + 1] for i in range(len(body)))) == expected

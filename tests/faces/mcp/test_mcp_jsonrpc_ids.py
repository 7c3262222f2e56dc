"""``jsonrpc_input``: which message a line or body holds, and the answer owed when none."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.faces.mcp.jsonrpc_input import (
    MAX_BATCH,
    Refusal,
    answer_id,
    read_message,
    scan_id,
)
from tests.faces.mcp.jsonrpc_cases import INVALID, MALFORMED_LINES, PARSE_ERROR


def refusal_of(data: str | bytes) -> Refusal:
    found = read_message(data, what="line")
    assert isinstance(found, Refusal), found
    return found


def wire(refusal: Refusal) -> Any:
    return json.loads(refusal.to_json())


@pytest.mark.parametrize(
    ("value", "owed"),
    [
        ("a", "a"),
        ("", ""),
        (0, 0),
        (-7, -7),
        (10**30, 10**30),
        (7.0, 7),
        (-0.0, 0),
        (float(2**53), 2**53),
        (float(2**53) * 2, None),
        (1.5, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        (False, None),
        (None, None),
        ({}, None),
        ([], None),
        ([1], None),
    ],
)
def test_an_answer_carries_a_string_or_integer_id_and_null_for_anything_else(
    value: object, owed: object
) -> None:
    assert answer_id(value) == owed
    assert type(answer_id(value)) is type(owed)


@pytest.mark.parametrize(
    ("line", "owed"), MALFORMED_LINES, ids=[c[0].decode(errors="replace") for c in MALFORMED_LINES]
)
def test_each_malformed_line_is_refused_with_the_id_it_owes(
    line: bytes, owed: str | int | None
) -> None:
    # What the transports decode a line to: UTF-8, undecodable bytes replaced.
    answers = wire(refusal_of(line.decode(errors="replace")))
    answers = answers if isinstance(answers, list) else [answers]
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(owed, INVALID)]


def test_a_well_formed_request_is_the_request() -> None:
    found = read_message('{"jsonrpc":"2.0","id":"x","method":"ping","params":{}}', what="line")
    assert found == types.JSONRPCRequest(jsonrpc="2.0", id="x", method="ping", params={})


@pytest.mark.parametrize(
    "line",
    [
        '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":3,"result":{}}',
        '{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}',
    ],
)
def test_notifications_and_responses_pass_as_messages(line: str) -> None:
    assert not isinstance(read_message(line, what="line"), Refusal)


@pytest.mark.parametrize(
    "line",
    [
        '{"jsonrpc":"2.0","id":1.5,"method":"notifications/initialized"}',
        '{"jsonrpc":"2.0","id":null,"method":"ping"}',
        '{"jsonrpc":"2.0","id":NaN,"method":"ping"}',
    ],
)
def test_an_object_with_an_id_member_is_never_taken_for_a_notification(line: str) -> None:
    answers = wire(refusal_of(line))
    assert answers["error"]["code"] in (INVALID, PARSE_ERROR)
    assert answers["id"] is None


def test_each_reason_names_the_first_member_that_is_wrong() -> None:
    def message(line: str) -> str:
        text: str = wire(refusal_of(line))["error"]["message"]
        return text

    assert message('{"id":1,"method":"ping"}') == 'Invalid Request: "jsonrpc" must be "2.0"'
    assert message('{"jsonrpc":"2.0","id":true,"method":"ping"}') == (
        'Invalid Request: "id" must be a string or an integer'
    )
    assert message('{"jsonrpc":"2.0","id":1}') == 'Invalid Request: "method" must be a string'
    assert message('{"jsonrpc":"2.0","id":1,"method":"m","params":[1]}') == (
        'Invalid Request: "params" must be an object'
    )
    assert message('{"jsonrpc":"2.0","id":1,"result":[]}') == (
        "Invalid Request: not a JSON-RPC 2.0 request, notification or response"
    )
    assert message("1") == "Invalid Request: expected a JSON object"


@pytest.mark.parametrize("what", ["line", "body"])
@pytest.mark.parametrize("data", ["", "{", "NaN", '{"id":"\\ud800"}', b"\xff", "[1,]"])
def test_text_that_is_not_json_is_a_parse_error_with_id_null(data: str | bytes, what: str) -> None:
    # (none of these names a readable id; see the scan_id tests below for those that do)
    found = read_message(data, what=what)  # type: ignore[arg-type]
    assert isinstance(found, Refusal)
    assert wire(found) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": PARSE_ERROR, "message": f"Parse error: the {what} is not JSON"},
    }


def test_a_batch_answers_its_requests_and_malformed_elements_and_skips_the_rest() -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "result": {}},
        {"jsonrpc": "2.0", "id": "b", "method": 5},
        {"jsonrpc": "2.0", "id": 2.5, "method": "ping"},
        {"method": 5},
        "x",
    ]
    refusal = refusal_of(json.dumps(batch))
    assert refusal.batch
    assert [(a["id"], a["error"]["code"]) for a in wire(refusal)] == [
        (1, INVALID),
        ("b", INVALID),
        (None, INVALID),
        (None, INVALID),
        (None, INVALID),
    ]


@pytest.mark.parametrize(
    "batch",
    [[], [{"jsonrpc": "2.0", "method": "notifications/initialized"}], [1] * (MAX_BATCH + 1)],
)
def test_an_empty_a_silent_or_an_oversized_batch_gets_one_answer_with_id_null(
    batch: list[Any],
) -> None:
    answer = wire(refusal_of(json.dumps(batch)))
    assert answer["id"] is None
    assert answer["error"] == {
        "code": INVALID,
        "message": "Invalid Request: MCP does not take JSON-RPC batches; send each message alone",
    }


ids = st.one_of(st.text(max_size=20), st.integers())
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=5),
    st.just([]),
    st.just({}),
)


@given(
    id_=ids,
    members=st.dictionaries(
        st.sampled_from(["jsonrpc", "method", "params", "extra"]),
        st.one_of(junk, st.just("2.0"), st.just("ping"), st.just({"a": 1})),
    ),
)
def test_a_request_with_a_readable_id_is_taken_or_answered_with_exactly_that_id(
    id_: str | int, members: dict[str, Any]
) -> None:
    found = read_message(json.dumps({**members, "id": id_}), what="line")
    if isinstance(found, Refusal):
        assert not found.batch
        assert found.answers[0].id == id_
        # json.dumps writes Infinity/NaN, which is not JSON: a parse error, still with the id
        assert found.answers[0].error.code in (INVALID, PARSE_ERROR)
    else:
        assert isinstance(found, types.JSONRPCRequest)
        assert found.id == id_


@given(st.one_of(st.text(), st.binary()))
def test_any_input_is_a_message_or_a_refusal_that_encodes(data: str | bytes) -> None:
    found = read_message(data, what="body")
    if isinstance(found, Refusal):
        assert found.answers
        json.loads(found.to_json())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"jsonrpc":"2.0","id":7,"method":"x"}', (True, 7)),
        ('{"a":{"id":3},"id":"q"}', (True, "q")),
        ('{"a":[1,{"id":3}] , "id" : -12}', (True, -12)),
        ('{"b":"\\"id\\":1","id":2}', (True, 2)),
        ('{"id":1.5}', (True, None)),
        ('{"id":"\\ud800"}', (True, None)),
        ('{"id":true}', (True, None)),
        ('{"jsonrpc":"2.0"}', (False, None)),
        ('[{"id":1}]', (False, None)),
        ("NaN", (False, None)),
        ('{"id":', (True, None)),
    ],
)
def test_scan_id_reads_only_the_top_level_id(text: str, expected: tuple[bool, object]) -> None:
    assert scan_id(text) == expected


def test_scan_id_reads_an_integer_longer_than_int_conversion_allows() -> None:
    found, owed = scan_id('{"id":' + "12345" * 1000 + "}")
    assert found and isinstance(owed, int) and owed % 100000 == 12345

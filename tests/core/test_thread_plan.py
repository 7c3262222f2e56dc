"""The pure parts of a thread (kernel/core/thread_plan.py), without disk: limits, names,
worst cases, and the provider history a transcript amounts to — every call answered,
compacted results replaced, calls that never began found."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.core.thread_plan import (
    COMPACTED,
    DEFAULT_TURNS,
    args_sha256,
    compaction,
    history,
    not_started,
    parse_limits,
    unanswered,
    wire_name,
    worst_case_usd,
)
from kiwi_mcp.kernel.errors import ParseError


def ev(kind: str, **payload: Any) -> dict[str, Any]:
    return {"type": kind, "payload": payload}


def turn(*call_ids: str, text: str = "") -> dict[str, Any]:
    calls = [{"call_id": c, "name": "note", "arguments": {"n": c}} for c in call_ids]
    return ev("llm_turn", text=text, tool_calls=calls, stop="tool" if calls else "end")


def result(call_id: str, content: str = "ok") -> dict[str, Any]:
    return ev("tool_result", call_id=call_id, content=content, is_error=False)


def test_limits_parse_every_attribute() -> None:
    got = parse_limits(
        {
            "turns": "3",
            "tokens": "900",
            "spend": "$0.50",
            "duration": "2m",
            "spawns": "1",
            "depth": "0",
            "context": "fail",
        }
    )
    assert got == {
        "turns": 3,
        "tokens": 900,
        "spend_usd": Decimal("0.50"),
        "duration_s": 120.0,
        "spawns": 1,
        "depth": 0,
        "context": "fail",
    }
    assert parse_limits({}) == {"turns": DEFAULT_TURNS, "context": "compact"}
    assert parse_limits({"duration": "1.5h"})["duration_s"] == 5400.0


@pytest.mark.parametrize(
    ("key", "value", "wanted"),
    [
        ("turns", "-1", "a whole number"),
        ("spend", "lots", "USD as a decimal"),
        ("spend", "-1", "a finite amount"),
        ("duration", "10 days", "seconds, or a number"),
        ("context", "summarise", "compact or fail"),
        ("budget", "1", "one of turns"),
    ],
)
def test_bad_limits_name_the_field_and_what_was_wanted(key: str, value: str, wanted: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_limits({key: value})
    assert caught.value.details["field"] == key
    assert wanted in caught.value.message
    assert f'{key}="{value}"' in caught.value.message


def test_wire_names_and_argument_hashes() -> None:
    assert wire_name("web/fetch") == "web__fetch"
    assert wire_name("a.b c/d") == "a_b_c__d"
    assert len(wire_name("x/" * 60)) == 64
    assert args_sha256({"b": 1, "a": "é"}) == args_sha256({"a": "é", "b": 1})
    assert args_sha256({"a": 1}) != args_sha256({"a": 2})


def test_worst_case_takes_the_dearer_input_price() -> None:
    prices = {"input": "1.00", "output": "2.00", "cache_write": "1.25"}
    assert worst_case_usd(prices, 1000, 500) == Decimal("0.00225")
    assert worst_case_usd({"input": "3", "output": "15"}, 1_000_000, 0) == Decimal(3)
    assert worst_case_usd(None, 10, 10) is None


def test_open_and_never_started_calls() -> None:
    events = [
        ev("user_message", text="go"),
        turn("c1", "c2", "c3"),
        ev("tool_intent", call_id="c1", tool="note"),
        result("c1"),
        ev("tool_intent", call_id="c2", tool="note"),
    ]
    assert [i["call_id"] for i in unanswered(events)] == ["c2"]
    assert [c["call_id"] for c in not_started(events)] == ["c3"]
    assert not_started([*events, turn()]) == []  # a later turn supersedes
    assert not_started([ev("user_message", text="go")]) == []


def test_history_answers_every_call_and_replaces_compacted_results() -> None:
    events = [
        ev("user_message", text="go"),
        turn("c1", text="first"),
        result("c1", "x" * 90),
        ev("compacted", call_ids=["c1"]),
        turn("c2"),
        ev("tool_intent", call_id="c2", tool="note"),
    ]
    messages = history(events)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"][0] == {"type": "text", "text": "first"}
    first = messages[2]["content"][0]
    assert first["call_id"] == "c1"
    assert first["content"] == COMPACTED.format(chars=90)
    missing = messages[4]["content"][0]
    assert missing["call_id"] == "c2" and missing["is_error"] is True
    assert "not run again" in missing["content"]


def test_compaction_drops_the_oldest_results_and_keeps_the_last_message() -> None:
    events = [ev("user_message", text="go")]
    for n in range(3):
        events += [turn(f"c{n}"), result(f"c{n}", "y" * 3000)]
    messages = history(events)
    assert compaction(messages, 100) == ["c0"]
    assert compaction(messages, 1500) == ["c0", "c1"]
    assert compaction(messages, 3000) is None  # c2's result is the last message: kept
    compacted = history([*events, ev("compacted", call_ids=["c0"])])
    assert compaction(compacted, 100) == ["c1"]  # a compacted result is not counted twice


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.lists(st.booleans(), max_size=4)),
        min_size=1,
        max_size=6,
    )
)
def test_every_tool_call_in_a_history_has_exactly_one_result(
    shape: list[tuple[int, list[bool]]],
) -> None:
    events: list[dict[str, Any]] = [ev("user_message", text="go")]
    serial = 0
    for _, answered in shape:
        ids = [f"c{serial + i}" for i in range(len(answered))]
        serial += len(answered)
        events.append(turn(*ids))
        events += [result(i) for i, done in zip(ids, answered, strict=True) if done]
    calls: list[str] = []
    answers: list[str] = []
    for message in history(events):
        for block in message["content"]:
            if block["type"] == "tool_call":
                calls.append(block["call_id"])
            elif block["type"] == "tool_result":
                answers.append(block["call_id"])
    assert calls == answers


def test_loop_detections_count_the_same_call_in_a_window() -> None:
    from kiwi_mcp.kernel.core.thread_plan import loop_detections, repeats

    def intent(tool: str, digest: str) -> dict[str, Any]:
        return ev("tool_intent", tool=tool, args_sha256=digest)

    same = [intent("note", "h1")] * 2
    assert loop_detections(same, 3, 10) is None
    looping = [*same, intent("other", "h2"), intent("note", "h1")]
    assert loop_detections(looping, 3, 10) == 0
    told = [*looping, ev("loop_detected"), intent("note", "h1")]
    assert loop_detections(told, 3, 10) == 1
    spread = [intent("note", "h1"), *[intent("x", str(n)) for n in range(9)], *same]
    assert loop_detections(spread, 3, 10) is None  # the first fell out of the window
    assert repeats([], 10) == 0

"""The context window (SPEC §13.3): a turn that would not fit compacts the oldest tool
results (a ``compacted`` event names them) or, with ``<limits context="fail"/>``, ends the
thread ``limit_exceeded`` with ``CONTEXT_EXCEEDED`` — before any request that cannot fit."""

from __future__ import annotations

import json

from tests.runtime.threads.conftest import TINY_WINDOW, ThreadProject


def _long_note(tag: str) -> dict[str, object]:
    text = tag + ":" + "x" * 4500
    return {"tool_calls": [{"name": "note", "arguments": {"text": text}}]}


def test_the_oldest_results_are_compacted_to_fit(threads: ThreadProject) -> None:
    threads.fake.script("tiny", [_long_note("a"), _long_note("b"), {"text": "done"}])
    thread_id = threads.start(threads.directive(model="tiny"))
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert len(threads.notes()) == 2
    compacted = [e["payload"] for e in threads.events(thread_id) if e["type"] == "compacted"]
    assert len(compacted) == 1, compacted
    first_call = threads.events(thread_id)
    intents = [e["payload"]["call_id"] for e in first_call if e["type"] == "tool_intent"]
    assert compacted[0]["call_ids"] == [intents[0]]
    third = threads.fake.requests[2].json
    results = [
        b
        for m in third["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
        if b.get("type") == "tool_result"
    ]
    assert len(results) == 2
    assert "[compacted:" in json.dumps(results[0]["content"])
    assert "b:xxxx" in json.dumps(results[1]["content"])
    for request in threads.fake.requests:
        assert len(json.dumps(request.json)) // 3 + 16 <= TINY_WINDOW


def test_context_fail_ends_the_thread_without_sending(threads: ThreadProject) -> None:
    threads.fake.script("tiny", [_long_note("a"), _long_note("b"), {"text": "done"}])
    directive = threads.directive(model="tiny", extra=' context="fail"')
    record = threads.wait(threads.start(directive))
    assert record["status"] == "limit_exceeded", record
    assert record["error"]["code"] == "CONTEXT_EXCEEDED"
    assert len(threads.fake.requests) == 2  # the third would not have fitted
    assert len(threads.notes()) == 2

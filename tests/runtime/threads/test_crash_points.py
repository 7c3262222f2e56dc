"""SIGKILL of the runner at each journal point, then ``kiwi threads resume`` (SPEC §13.5):
the runner kills itself on cue (``KIWI_THREAD_CRASH_AFTER``), the side effects are counted in
notes.txt, and the provider history stays valid (every tool call answered)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.runtime.threads.conftest import ThreadProject

CALL = {"text": "Noting it.", "tool_calls": [{"name": "note", "arguments": {"text": "once"}}]}
DONE = {"text": "done"}


def _crash_then_resume(threads: ThreadProject, point: str, script: list[Any]) -> str:
    threads.fake.script("worker", script)
    directive = threads.directive()
    done = threads.kiwi(
        "--json", "threads", "start", directive, env={"KIWI_THREAD_CRASH_AFTER": point}
    )
    assert done.returncode == 0, done.stderr
    thread_id = str(json.loads(done.stdout)["thread_id"])
    record = threads.wait(thread_id, "orphaned")
    assert record["transcript"]["verified"], record["transcript"]
    assert [e for e in threads.events(thread_id) if e["type"] == point]
    assert not [e for e in threads.events(thread_id) if e["type"] == "thread_finished"]
    resumed = threads.kiwi("threads", "resume", thread_id)
    assert resumed.returncode == 0, resumed.stderr
    return thread_id


def _every_call_answered(threads: ThreadProject) -> None:
    for request in threads.fake.requests:
        calls, answers = set(), set()
        for message in request.json["messages"]:
            for block in message["content"] if isinstance(message["content"], list) else ():
                if block.get("type") == "tool_use":
                    calls.add(block["id"])
                elif block.get("type") == "tool_result":
                    answers.add(block["tool_use_id"])
        assert calls == answers, request.json["messages"]


@pytest.mark.parametrize(
    ("point", "script"),
    [
        # mid-stream: the first answer is lost with the runner and asked for again
        ("llm_delta", [CALL, CALL, DONE]),
        # after the answer, before the first intent: the call never began, so it runs now
        ("llm_turn", [CALL, DONE]),
        # after the result: it is reused, not run again
        ("tool_result", [CALL, DONE]),
    ],
)
def test_a_crash_then_resume_runs_the_side_effect_exactly_once(
    threads: ThreadProject, point: str, script: list[Any]
) -> None:
    thread_id = _crash_then_resume(threads, point, script)
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == ["once"]
    assert record["result"]["text"] == "done"
    assert record["transcript"]["verified"]
    assert len(threads.fake.requests) == len(script)
    _every_call_answered(threads)
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds.count("tool_result") == 1
    assert "thread_resumed" in kinds


def test_a_crash_after_the_intent_pauses_and_never_runs_the_call_twice(
    threads: ThreadProject,
) -> None:
    thread_id = _crash_then_resume(threads, "tool_intent", [CALL, DONE])
    record = threads.wait(thread_id, "paused")
    assert "outcome_unknown" in record["flags"]
    assert record["error"]["code"] == "OUTCOME_UNKNOWN"
    assert threads.notes() == []  # killed before the call ran, and not run on resume
    assert threads.kiwi("threads", "resume", thread_id, "--unknown-as-error").returncode == 0
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == []
    _every_call_answered(threads)
    last = threads.fake.requests[-1].json["messages"][-1]["content"][0]
    assert last["type"] == "tool_result" and last["is_error"] is True
    assert "OUTCOME_UNKNOWN" in json.dumps(last["content"])

"""Threads end to end through the real CLI (SPEC §13): a detached runner, the fake LLM
playing scripted turns, the journal, budgets, a tampered transcript, crash and resume."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.runtime.threads.conftest import ThreadProject

NOTE_CALL = {"tool_calls": [{"name": "note", "arguments": {"text": "first note"}}]}


def test_a_thread_runs_its_directive_to_completion(threads: ThreadProject) -> None:
    threads.fake.script("worker", [NOTE_CALL, {"text": "done"}])
    directive = threads.directive()
    thread_id = threads.start(directive, "-p", "topic=kiwis")
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert record["result"]["text"] == "done"
    assert record["transcript"]["verified"] is True
    assert threads.notes() == ["first note"]
    first, second = threads.fake.requests[-2:]
    assert "kiwis" in json.dumps(first.json["messages"])
    assert any(
        b.get("type") == "tool_result"
        for m in second.json["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
    )
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds.index("tool_intent") < kinds.index("tool_result") < kinds.index("checkpoint")
    assert kinds[-2:] == ["thread_finished", "checkpoint"]
    assert float(record["spend_usd"]) > 0


def test_a_budget_too_small_sends_no_request(threads: ThreadProject) -> None:
    threads.fake.script("worker", [{"text": "done"}])
    directive = threads.directive(spend="0.000001")
    record = threads.wait(threads.start(directive))
    assert record["status"] == "limit_exceeded"
    assert record["error"]["code"] == "LIMIT_EXCEEDED"
    assert threads.fake.requests == []


def test_a_changed_transcript_line_is_detected(threads: ThreadProject) -> None:
    threads.fake.script("worker", [{"text": "done"}])
    thread_id = threads.start(threads.directive())
    threads.wait(thread_id)
    path = threads.project.root / ".ai" / "threads" / thread_id / "transcript.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("done", "DONE") if "done" in lines[2] else lines[2] + " "
    path.write_text("\n".join(lines) + "\n")
    done = threads.kiwi("--json", "threads", "show", thread_id)
    assert done.returncode == 1
    assert json.loads(done.stdout)["transcript"]["first_bad_seq"] == 3


def test_killed_after_a_result_resumes_without_repeating_the_side_effect(
    threads: ThreadProject,
) -> None:
    # turn 2 trickles, so the runner is mid-stream when it is killed
    threads.fake.script("worker", [NOTE_CALL, {"scenario": "fake-trickle"}, {"text": "done"}])
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_result")
    threads.wait_event(thread_id, "llm_request")  # of turn 1; turn 2's follows at once
    threads.kill_runner(thread_id)
    done = threads.kiwi("threads", "resume", thread_id)
    assert done.returncode == 0, done.stderr
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == ["first note"]
    assert record["transcript"]["verified"]


def test_killed_during_a_call_pauses_on_the_unknown_outcome(threads: ThreadProject) -> None:
    slow = {"tool_calls": [{"name": "note", "arguments": {"text": "slow", "sleep": 60}}]}
    threads.fake.script("worker", [slow, {"text": "done"}])
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_intent")
    import time

    deadline = time.monotonic() + 30
    while threads.notes() != ["slow"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    threads.kill_runner(thread_id)
    assert threads.kiwi("threads", "resume", thread_id).returncode == 0
    record = threads.wait(thread_id, "paused")
    assert "outcome_unknown" in record["flags"]
    assert threads.kiwi("threads", "resume", thread_id, "--unknown-as-error").returncode == 0
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == ["slow"]  # never run twice
    results = [e for e in threads.events(thread_id) if e["type"] == "tool_result"]
    assert results[-1]["payload"]["code"] == "OUTCOME_UNKNOWN"


def test_ten_threads_on_one_registry(threads: ThreadProject) -> None:
    threads.fake.script("worker", [{"text": "done"}])
    directive = threads.directive()
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda _: threads.start(directive), range(10)))
    assert len(set(ids)) == 10
    for thread_id in ids:
        assert threads.wait(thread_id)["status"] == "completed"
    listed = json.loads(threads.kiwi("--json", "threads", "list").stdout)["threads"]
    assert {t["thread_id"] for t in listed} >= set(ids)


def test_cancel_stops_a_running_thread(threads: ThreadProject) -> None:
    slow = {"tool_calls": [{"name": "note", "arguments": {"text": "slow", "sleep": 60}}]}
    threads.fake.script("worker", [slow, {"text": "done"}])
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_intent")
    assert threads.kiwi("threads", "cancel", thread_id).returncode == 0
    assert threads.wait(thread_id)["status"] == "cancelled"

"""Thread control through the real CLI (SPEC §13.4, §13.8): pause at a turn boundary and
resume, inject (and a stale inject refused), cancel after the turn, escalate, and the loop
detector. A ``gate`` tool holds a turn open until the test releases it, so each request
lands while the runner is mid-turn — ordering by files, not by timing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.runtime.threads.conftest import ThreadProject

GATE = {"tool_calls": [{"name": "gate", "arguments": {"tag": "one"}}]}
NOTE = {"tool_calls": [{"name": "note", "arguments": {"text": "again"}}]}
DONE = {"text": "done"}


def _texts(request: Any) -> str:
    return json.dumps(request.json["messages"])


def _held(threads: ThreadProject, script: list[Any]) -> str:
    """A thread whose first turn is held open in the gate tool."""
    threads.fake.script("worker", script)
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_intent")
    return thread_id


def test_pause_at_the_boundary_then_resume(threads: ThreadProject) -> None:
    thread_id = _held(threads, [GATE, DONE])
    done = threads.kiwi("--json", "threads", "pause", thread_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["control"] == "pause"
    threads.release()
    record = threads.wait(thread_id, "paused")
    assert threads.notes() == ["gate one"]  # the call in flight finished first
    assert len(threads.fake.requests) == 1  # and no new turn began
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds[-2:] == ["thread_paused", "checkpoint"]
    assert record["transcript"]["verified"]
    assert threads.kiwi("threads", "resume", thread_id).returncode == 0
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert len(threads.fake.requests) == 2


def test_inject_reaches_the_model_and_a_stale_one_is_refused(threads: ThreadProject) -> None:
    thread_id = _held(threads, [GATE, DONE])
    stale = threads.kiwi("--json", "threads", "inject", thread_id, "old news", "--expect-turn", "0")
    assert stale.returncode != 0
    error = json.loads(stale.stdout)["error"]
    assert error["code"] == "THREAD_STATE" and "turn 1, not 0" in error["message"]
    done = threads.kiwi("threads", "inject", thread_id, "use the blue one", "--expect-turn", "1")
    assert done.returncode == 0, done.stderr
    threads.release()
    assert threads.wait(thread_id)["status"] == "completed"
    second = _texts(threads.fake.requests[1])
    assert "use the blue one" in second and "old news" not in second
    last = threads.fake.requests[1].json["messages"][-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "text"]  # one user turn
    controls = [e["payload"] for e in threads.events(thread_id) if e["type"] == "control"]
    assert controls == [
        {"op": "inject", "text": "use the blue one", "expect_turn": 1, "refused": False}
    ]


def test_cancel_after_the_turn_lets_the_call_finish(threads: ThreadProject) -> None:
    thread_id = _held(threads, [GATE, DONE])
    assert threads.kiwi("threads", "cancel", thread_id, "--after-turn").returncode == 0
    threads.release()
    record = threads.wait(thread_id)
    assert record["status"] == "cancelled", record
    assert threads.notes() == ["gate one"]
    results = [e for e in threads.events(thread_id) if e["type"] == "tool_result"]
    assert results and results[0]["payload"]["is_error"] is False
    assert len(threads.fake.requests) == 1


def test_control_of_an_ended_thread_is_refused(threads: ThreadProject) -> None:
    threads.fake.script("worker", [DONE])
    thread_id = threads.start(threads.directive())
    threads.wait(thread_id)
    done = threads.kiwi("--json", "threads", "pause", thread_id)
    assert done.returncode != 0
    assert "already ended completed" in json.loads(done.stdout)["error"]["message"]


def test_escalate_pauses_with_a_flag(threads: ThreadProject) -> None:
    help_call = {
        "tool_calls": [
            {"name": "help", "arguments": {"action": "escalate", "reason": "need a human"}}
        ]
    }
    threads.fake.script("worker", [help_call, DONE])
    thread_id = threads.start(threads.directive())
    record = threads.wait(thread_id, "paused")
    assert "escalate" in record["flags"]
    assert record["error"]["code"] == "ESCALATED"
    assert "need a human" in record["error"]["message"]
    signals = [e["payload"] for e in threads.events(thread_id) if e["type"] == "signal"]
    assert signals == [{"action": "escalate", "reason": "need a human"}]


def test_a_loop_is_told_once_then_paused(threads: ThreadProject) -> None:
    threads.fake.script("worker", [NOTE, NOTE, NOTE, NOTE, DONE])
    thread_id = threads.start(threads.directive(turns=8))
    record = threads.wait(thread_id, "paused")
    assert "loop" in record["flags"]
    assert record["error"]["code"] == "LOOP_DETECTED"
    assert threads.notes() == ["again"] * 4
    results = [e["payload"] for e in threads.events(thread_id) if e["type"] == "tool_result"]
    told = ["help with action" in r["content"] for r in results]
    assert told == [False, False, True, False]  # told once; the next repeat pauses
    assert "help with action" in _texts(threads.fake.requests[3])
    assert len(threads.fake.requests) == 4  # paused before a fifth turn


def test_cancel_while_streaming_stops_the_runner(threads: ThreadProject) -> None:
    import os
    import time

    threads.fake.script("worker", [{"scenario": "fake-trickle"}])
    topic = " ".join(f"word{n}" for n in range(200))  # echoed back slowly: minutes of stream
    thread_id = threads.start(threads.directive(), "-p", f"topic={topic}")
    threads.wait_event(thread_id, "llm_delta")
    pid = threads.show(thread_id)["pid"]
    assert threads.kiwi("threads", "cancel", thread_id).returncode == 0
    record = threads.wait(thread_id)
    assert record["status"] == "cancelled", record
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert "llm_turn" not in kinds  # the stream was cut, not finished
    deadline = time.monotonic() + 30  # a hang guard: the runner exits once it has recorded
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        assert time.monotonic() < deadline, "the runner is still alive"
        time.sleep(0.05)


def test_a_policy_changed_between_turns_fails_the_thread_closed(threads: ThreadProject) -> None:
    from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES

    policy = threads.project.root / ".ai" / "config" / "policy.yaml"
    policy.parent.mkdir(parents=True, exist_ok=True)
    policy.write_text(
        "version: 1\ncapabilities:\n" + "".join(f'  - "{c}"\n' for c in DEFAULT_CAPABILITIES)
    )
    assert threads.kiwi("sign", "policy").returncode == 0
    thread_id = _held(threads, [GATE, NOTE, DONE])
    policy.write_text(policy.read_text() + "approve: []\n")  # changed after it was signed
    threads.release()
    record = threads.wait(thread_id)
    # the next effect (the LLM request itself) is refused: no second turn, no second call
    assert record["status"] == "failed", record
    assert record["error"]["code"] == "PERMISSION_DENIED", record["error"]
    assert "changed after it was signed" in record["error"]["message"]
    assert len(threads.fake.requests) == 1
    assert threads.notes() == ["gate one"]

"""Human approval (SPEC §13.6, §13.5) through the real CLI: a thread stops at a call that
needs approval (``require_approval`` or a policy ``approve:`` rule) until ``kiwi approve`` or
``kiwi reject`` decides it, or it expires; decisions are signed and a forged one is refused;
cancel resolves what waits; an unknown outcome after a crash is re-run or answered."""

from __future__ import annotations

import base64
import json
import os
import signal
import sqlite3
import time
from typing import Any

import pytest

from kiwi_mcp.kernel.core.thread_plan import args_sha256
from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES, parse_approval_rules
from tests.runtime.threads.conftest import ThreadProject

GUARDED = '''"""Append a note, but only once a human approved the call."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
REQUIRE_APPROVAL = True
PARAMETERS = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


def execute(params, context):
    import pathlib
    with (pathlib.Path(context["project_path"]) / "notes.txt").open("a") as handle:
        handle.write(params["text"] + "\\n")
    return {"noted": params["text"]}
'''

DIRECTIVE = """\
# Careful

```xml
<directive name="careful" version="1.0.0">
  <metadata>
    <description>Call tools that may need a human's approval</description>
    <model provider="fakeprov" id="worker" max_tokens="500"/>
    <limits turns="8" spend="1.00"/>
    <permissions>
      {permissions}<execute resource="process" command="python"/>
    </permissions>
    <tools>{tools}</tools>
  </metadata>
</directive>
```

Do what you are asked, carefully.
"""

DONE = {"text": "done"}


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def _careful(threads: ThreadProject, script: list[Any], *, grant: tuple[str, ...] = ("guarded",)):
    """Start a thread of a directive offering ``guarded`` and ``note``, whose token executes
    only the tools in ``grant``."""
    threads.project.write_tool("guarded.py", GUARDED)
    threads.project.sign()
    path = threads.project.root / ".ai" / "directives" / "demo" / "careful.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        DIRECTIVE.format(
            permissions="".join(f'<execute resource="tool" id="{t}"/>' for t in grant),
            tools='<tool id="guarded"/><tool id="note"/>',
        )
    )
    assert threads.kiwi("sign", "directive", "demo/careful").returncode == 0
    threads.fake.script("worker", script)
    return threads.start("demo/careful")


def _policy(threads: ThreadProject, *, approve: tuple[str, ...] = (), timeout: float = 0) -> None:
    lines = ["version: 1", "capabilities:", *(f'  - "{c}"' for c in DEFAULT_CAPABILITIES)]
    if approve:
        lines += ["approve:", *(f'  - "{c}"' for c in approve)]
    if timeout:
        lines.append(f"approval_timeout: {timeout}")
    path = threads.project.root / ".ai" / "config" / "policy.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    done = threads.kiwi("sign", "policy")
    assert done.returncode == 0, done.stderr


def _waiting(threads: ThreadProject, thread_id: str) -> list[dict[str, Any]]:
    """The thread's pending approvals, once it waits on one."""
    record = threads.wait(thread_id, "waiting_approval")
    assert record["pending_approvals"], record
    return list(record["pending_approvals"])


def _kiwi_json(threads: ThreadProject, *args: str) -> tuple[int, dict[str, Any]]:
    done = threads.kiwi("--json", *args)
    return done.returncode, json.loads(done.stdout)


def _results(threads: ThreadProject, thread_id: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in threads.events(thread_id) if e["type"] == "tool_result"]


def _db(threads: ThreadProject) -> sqlite3.Connection:
    return sqlite3.connect(threads.project.root / ".ai" / "threads" / "registry.db")


def test_a_call_that_needs_approval_waits_and_runs_once_approved(threads: ThreadProject) -> None:
    thread_id = _careful(threads, [_call("guarded", text="hello"), DONE])
    (pending,) = _waiting(threads, thread_id)
    assert pending["tool"] == "guarded"
    assert pending["args_sha256"] == args_sha256({"text": "hello"})
    assert pending["capability"] == "tool.execute:guarded"
    assert pending["expires_at"] > time.time()
    assert threads.notes() == []
    assert "tool_intent" not in [e["type"] for e in threads.events(thread_id)]
    code, listed = _kiwi_json(threads, "threads", "list", "--status", "waiting_approval")
    assert [t["thread_id"] for t in listed["threads"]] == [thread_id]
    assert listed["threads"][0]["pending_approvals"] == [pending]
    code, data = _kiwi_json(threads, "approve", thread_id)
    assert code == 0, data
    assert data["decision"] == "approved" and data["call_id"] == pending["call_id"]
    assert data["resumed"] is False  # the waiting runner took it
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert record["pending_approvals"] == []
    assert threads.notes() == ["hello"]
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds.index("approval_requested") < kinds.index("approval_decided")
    assert kinds.index("approval_decided") < kinds.index("tool_intent")
    decided = next(e for e in threads.events(thread_id) if e["type"] == "approval_decided")
    assert decided["payload"]["verified"] is True and decided["payload"]["edited"] is False


def test_approved_with_edited_args_the_call_runs_with_those(threads: ThreadProject) -> None:
    thread_id = _careful(threads, [_call("guarded", text="rm -rf /"), DONE])
    _waiting(threads, thread_id)
    code, data = _kiwi_json(threads, "approve", thread_id, "--args", '{"text": "ls"}')
    assert code == 0, data
    assert data["edited"] is True and data["args_sha256"] == args_sha256({"text": "ls"})
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == ["ls"]
    intent = next(e for e in threads.events(thread_id) if e["type"] == "tool_intent")
    assert intent["payload"]["arguments"] == {"text": "ls"}


def test_edited_args_the_gate_refuses_answer_permission_denied(threads: ThreadProject) -> None:
    wrapped = _call("execute", item_type="tool", item_id="guarded", parameters={"text": "x"})
    thread_id = _careful(threads, [wrapped, DONE])
    (pending,) = _waiting(threads, thread_id)
    assert pending["tool"] == "guarded"  # Kiwi's execute of a tool is reviewed as that tool
    edited = '{"item_type": "tool", "item_id": "gate", "parameters": {}}'
    code, data = _kiwi_json(threads, "approve", thread_id, "--args", edited)
    assert code == 0, data
    assert threads.wait(thread_id)["status"] == "completed"
    (result,) = _results(threads, thread_id)
    assert result["is_error"] and result["code"] == "PERMISSION_DENIED"
    assert "tool.execute:gate" in result["content"]
    assert "PERMISSION_DENIED" in json.dumps(threads.fake.requests[-1].json["messages"])
    assert threads.notes() == []


def test_a_rejection_is_the_tool_error_the_model_reads(threads: ThreadProject) -> None:
    thread_id = _careful(threads, [_call("guarded", text="deploy"), DONE])
    _waiting(threads, thread_id)
    done = threads.kiwi("reject", thread_id, "--message", "not on a Friday")
    assert done.returncode == 0, done.stderr
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == []
    (result,) = _results(threads, thread_id)
    assert result == {
        "call_id": result["call_id"],
        "tool": "guarded",
        "is_error": True,
        "content": "APPROVAL_REJECTED: not on a Friday",
        "code": "APPROVAL_REJECTED",
    }
    assert "APPROVAL_REJECTED: not on a Friday" in json.dumps(threads.fake.requests[-1].json)


def test_an_approval_nobody_answers_expires_and_the_model_is_told(threads: ThreadProject) -> None:
    _policy(threads, timeout=0.3)
    thread_id = _careful(threads, [_call("guarded", text="later"), DONE])
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == []
    (result,) = _results(threads, thread_id)
    assert result["code"] == "APPROVAL_EXPIRED"
    assert "no one approved this call" in json.dumps(threads.fake.requests[-1].json)
    decided = [e["payload"] for e in threads.events(thread_id) if e["type"] == "approval_decided"]
    assert [d["decision"] for d in decided] == ["expired"]
    code, data = _kiwi_json(threads, "approve", thread_id, result["call_id"])
    assert code == 1 and data["error"]["code"] == "THREAD_STATE"


def test_cancel_resolves_a_pending_approval(threads: ThreadProject) -> None:
    thread_id = _careful(threads, [_call("guarded", text="never"), DONE])
    _waiting(threads, thread_id)
    assert threads.kiwi("threads", "cancel", thread_id).returncode == 0
    record = threads.wait(thread_id)
    assert record["status"] == "cancelled" and record["pending_approvals"] == []
    with _db(threads) as db:
        assert db.execute("SELECT decision FROM approvals").fetchall() == [("cancelled",)]
    assert threads.notes() == []
    code, data = _kiwi_json(threads, "approve", thread_id)
    assert code == 1 and "already ended cancelled" in data["error"]["message"]


def test_for_thread_adds_the_capability_and_the_next_call_is_not_asked(
    threads: ThreadProject,
) -> None:
    _policy(threads, approve=("tool.execute:note",))
    script = [_call("note", text="one"), _call("note", text="two"), DONE]
    thread_id = _careful(threads, script, grant=())  # the token may not run note
    (pending,) = _waiting(threads, thread_id)
    assert pending["capability"] == "tool.execute:note"
    folder = threads.project.root / ".ai" / "threads" / thread_id
    before = _token(folder.joinpath("token").read_text())
    assert "tool.execute:note" not in before["caps"]
    code, data = _kiwi_json(threads, "approve", thread_id, "--for-thread")
    assert code == 0 and data["for_thread"] == "tool.execute:note", data
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == ["one", "two"]
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds.count("approval_requested") == 1
    after = _token(folder.joinpath("token").read_text())
    assert after["caps"] == [*before["caps"], "tool.execute:note"]
    assert (after["exp"], after["sub"]) == (before["exp"], before["sub"])
    assert record["token_id"] == after["jti"] != before["jti"]


def _token(text: str) -> dict[str, Any]:
    head = text.strip().split(".")[0]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return data


def test_a_policy_rule_stops_an_effect_and_search_is_never_asked(threads: ThreadProject) -> None:
    _policy(threads, approve=("process.exec:python",))
    note = {"tool_calls": [{"name": "note", "arguments": {"text": "first note"}}]}
    threads.fake.script("worker", [_call("search", query="note"), note, DONE])
    thread_id = threads.start(threads.directive())
    (pending,) = _waiting(threads, thread_id)
    assert (pending["tool"], pending["capability"]) == ("note", "process.exec:python")
    assert [r["tool"] for r in _results(threads, thread_id)] == ["search"]  # ran unasked
    assert threads.kiwi("approve", thread_id, pending["call_id"]).returncode == 0
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == ["first note"]


def test_a_decision_written_straight_into_the_registry_is_refused(threads: ThreadProject) -> None:
    thread_id = _careful(threads, [_call("guarded", text="forged"), DONE])
    _waiting(threads, thread_id)
    fingerprint = json.loads(threads.kiwi("--json", "keys", "show").stdout)["fingerprint"]
    with _db(threads) as db:
        db.execute(
            "UPDATE approvals SET decision = 'approved', approver = ?, signature = 'c2lnbmVk', "
            "decided_at = ? WHERE thread_id = ?",
            (fingerprint, time.time(), thread_id),
        )
    record = threads.wait(thread_id)
    assert record["status"] == "completed", record
    assert threads.notes() == []
    assert "approval_invalid" in record["flags"]
    (result,) = _results(threads, thread_id)
    assert result["code"] == "APPROVAL_INVALID"
    decided = next(e for e in threads.events(thread_id) if e["type"] == "approval_decided")
    assert decided["payload"]["verified"] is False


def test_approving_after_the_runner_died_resumes_the_thread(threads: ThreadProject) -> None:
    from kiwi_mcp.kernel.runtime.threads.start import _alive

    thread_id = _careful(threads, [_call("guarded", text="late"), DONE])
    _waiting(threads, thread_id)
    pid = threads.show(thread_id)["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, "the killed runner did not go"
        time.sleep(0.05)
    code, data = _kiwi_json(threads, "approve", thread_id)
    assert code == 0 and data["resumed"] is True, data
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == ["late"]
    kinds = [e["type"] for e in threads.events(thread_id)]
    assert kinds.count("approval_requested") == 1  # the decided row was found, not asked anew


def test_approve_says_clearly_what_is_wrong(threads: ThreadProject) -> None:
    code, data = _kiwi_json(threads, "approve", "no_such_thread")
    assert code == 1 and data["error"]["code"] == "THREAD_NOT_FOUND"
    thread_id = _careful(threads, [_call("guarded", text="x"), DONE])
    (pending,) = _waiting(threads, thread_id)
    code, data = _kiwi_json(threads, "approve", thread_id, "--args", '{"text": ')
    assert code == 2 and data["error"]["message"].startswith("--args: not valid JSON (line 1")
    code, data = _kiwi_json(threads, "approve", thread_id, "--args", "[1]")
    assert (
        data["error"]["message"] == "--args: wanted a JSON object of the call's arguments, got list"
    )
    code, data = _kiwi_json(threads, "approve", thread_id, "toolu_999")
    assert code == 1 and data["error"]["details"]["reason"] == "nothing_pending"
    with _db(threads) as db:  # a second pending row (as a child's would be)
        db.execute(
            "INSERT INTO approvals (thread_id, call_id, tool, args_sha256, requested_at, "
            "expires_at) VALUES (?, 'other_call', 'note', 'x', ?, ?)",
            (thread_id, time.time(), time.time() + 600),
        )
    code, data = _kiwi_json(threads, "approve", thread_id)
    assert code == 2 and "2 calls wait for approval" in data["error"]["message"]
    assert (
        pending["call_id"] in data["error"]["message"] and "other_call" in data["error"]["message"]
    )
    assert threads.kiwi("reject", thread_id, pending["call_id"]).returncode == 0
    assert threads.wait(thread_id)["status"] == "completed"
    code, data = _kiwi_json(threads, "reject", thread_id, pending["call_id"])
    assert code == 1 and data["error"]["code"] == "THREAD_STATE"


def _paused_on_an_unknown_outcome(threads: ThreadProject) -> str:
    slow = {"tool_calls": [{"name": "note", "arguments": {"text": "slow", "sleep": 60}}]}
    threads.fake.script("worker", [slow, DONE])
    thread_id = threads.start(threads.directive())
    threads.wait_event(thread_id, "tool_intent")
    deadline = time.monotonic() + 30
    while threads.notes() != ["slow"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    threads.kill_runner(thread_id)
    assert threads.kiwi("threads", "resume", thread_id).returncode == 0
    record = threads.wait(thread_id, "paused")
    assert record["error"]["code"] == "OUTCOME_UNKNOWN", record
    return thread_id


def test_an_unknown_outcome_approved_runs_again(threads: ThreadProject) -> None:
    thread_id = _paused_on_an_unknown_outcome(threads)
    code, data = _kiwi_json(threads, "approve", thread_id, "--args", '{"text": "again"}')
    assert code == 0, data
    assert (data["kind"], data["resumed"]) == ("unknown", True)
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == ["slow", "again"]
    (result,) = _results(threads, thread_id)
    assert result["is_error"] is False and "again" in result["content"]


def test_an_unknown_outcome_rejected_tells_the_model_it_failed(threads: ThreadProject) -> None:
    thread_id = _paused_on_an_unknown_outcome(threads)
    done = threads.kiwi("reject", thread_id, "--message", "it did not go through")
    assert done.returncode == 0, done.stderr
    assert threads.wait(thread_id)["status"] == "completed"
    assert threads.notes() == ["slow"]  # never run twice
    (result,) = _results(threads, thread_id)
    assert result["content"] == "APPROVAL_REJECTED: it did not go through"
    assert "it did not go through" in json.dumps(threads.fake.requests[-1].json)


# --- the policy's rules, as values -------------------------------------------------------


def _rules(text: str) -> Any:
    return parse_approval_rules(f'version: 1\ncapabilities: ["tool.execute:**"]\n{text}'.encode())


@pytest.mark.parametrize(
    ("rule", "exercised", "asked"),
    [
        ("process.exec:rm", ["tool.execute:x", "process.exec:rm"], ["process.exec:rm"]),
        ("process.exec:*", ["process.exec:git"], ["process.exec:git"]),
        ("process.exec:rm", ["process.exec:ls"], []),
        ("fs.write:secrets/**", ["fs.write:**"], ["fs.write:**"]),  # it may write there
        ("net.http:*.example.com", ["net.http:api.example.com"], ["net.http:api.example.com"]),
    ],
)
def test_an_approve_rule_asks_for_the_capabilities_it_overlaps(
    rule: str, exercised: list[str], asked: list[str]
) -> None:
    assert _rules(f'approve: ["{rule}"]\n').triggered(exercised) == asked


def test_the_approval_timeout_defaults_to_an_hour_and_can_be_set() -> None:
    assert _rules("").timeout_s == 3600.0
    assert _rules("approval_timeout: 90\n").timeout_s == 90.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("approve: process.exec:rm\n", "approve: expected a list, got str"),
        ('approve: ["proc.exec:rm"]\n', "approve[0]: unknown capability 'proc.exec:rm'"),
        ("approval_timeout: 0\n", "approval_timeout: expected a positive number of seconds"),
        ("approval_timeout: soon\n", "approval_timeout: expected a positive number of seconds"),
    ],
)
def test_a_bad_approve_rule_names_the_field(text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        _rules(text)
    assert info.value.message.startswith(f".ai/config/policy.yaml: {message}")

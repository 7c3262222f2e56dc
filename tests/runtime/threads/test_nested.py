"""Nested threads (SPEC §13.7): a thread with ``spawn.thread`` starts a child through
``execute(…, thread: true)``; the child's token is an attenuation of the parent's (asking
for more gets PERMISSION_DENIED results), its limits are carved from the parent's, and
children running at once never overspend the root's ledger."""

from __future__ import annotations

import json
from typing import Any

from tests.runtime.threads.conftest import ThreadProject

PARENT = """\
# Boss

```xml
<directive name="boss" version="1.0.0">
  <metadata>
    <description>Hand the work to a child thread</description>
    <model provider="fakeprov" id="worker" max_tokens="500"/>
    <limits turns="4" tokens="{tokens}" depth="{depth}"/>
    <permissions>
      <spawn/><execute resource="directive" id="demo/*"/>
      <execute resource="tool" id="threads/*"/><execute resource="tool" id="note"/>
      <execute resource="process" command="python"/>
    </permissions>
  </metadata>
</directive>
```

Start the helper directive as a thread.
"""

CHILD = """\
# Helper

```xml
<directive name="helper" version="1.0.0">
  <metadata>
    <description>Note something (and try the gate)</description>
    <model provider="fakeprov" id="tiny" max_tokens="500"/>
    <limits turns="4"/>
    <permissions>
      <execute resource="tool" id="note"/><execute resource="tool" id="gate"/>
      <execute resource="process" command="python"/>
    </permissions>
    <tools><tool id="note"/><tool id="gate"/></tools>
  </metadata>
</directive>
```

Note that you helped.
"""

SPAWN = {
    "name": "execute",
    "arguments": {"item_type": "directive", "item_id": "demo/helper", "thread": True},
}


def _write(threads: ThreadProject, tokens: int = 100000, depth: int = 1) -> None:
    folder = threads.project.root / ".ai" / "directives" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "boss.md").write_text(PARENT.format(tokens=tokens, depth=depth))
    (folder / "helper.md").write_text(CHILD)
    for name in ("boss", "helper"):
        done = threads.kiwi("sign", "directive", f"demo/{name}")
        assert done.returncode == 0, done.stderr


def _children(threads: ThreadProject, parent: str) -> list[dict[str, Any]]:
    listed = json.loads(threads.kiwi("--json", "threads", "list").stdout)["threads"]
    return [t for t in listed if t["parent"] == parent]


def test_a_child_gets_no_more_than_its_parent(threads: ThreadProject) -> None:
    _write(threads)
    threads.fake.script("worker", [{"tool_calls": [SPAWN]}, {"text": "handed over"}])
    gate = {"tool_calls": [{"name": "gate", "arguments": {"tag": "child"}}]}
    note = {"tool_calls": [{"name": "note", "arguments": {"text": "child"}}]}
    threads.fake.script("tiny", [gate, note, {"text": "child done"}])
    parent = threads.start("demo/boss")
    assert threads.wait(parent)["status"] == "completed"
    (child,) = _children(threads, parent)
    record = threads.wait(child["thread_id"])
    assert record["status"] == "completed", record
    assert record["root"] == parent and record["caller"] == f"thread:{parent}"
    started = threads.events(child["thread_id"])[0]["payload"]
    assert "tool.execute:gate" not in started["capabilities"]
    assert "tool.execute:note" in started["capabilities"]
    assert started["limits"]["depth"] == 0  # one less than the parent's
    results = [
        e["payload"] for e in threads.events(child["thread_id"]) if e["type"] == "tool_result"
    ]
    assert results[0]["code"] == "PERMISSION_DENIED" and "gate" in results[0]["content"]
    assert threads.notes() == ["child"]  # the gate never ran
    kinds = [e["type"] for e in threads.events(parent)]
    assert "child_started" in kinds
    spawn_result = next(e["payload"] for e in threads.events(parent) if e["type"] == "tool_result")
    assert child["thread_id"] in spawn_result["content"]


def test_a_parent_at_depth_zero_cannot_spawn(threads: ThreadProject) -> None:
    _write(threads, depth=0)
    threads.fake.script("worker", [{"tool_calls": [SPAWN]}, {"text": "could not"}])
    parent = threads.start("demo/boss")
    assert threads.wait(parent)["status"] == "completed"
    assert _children(threads, parent) == []
    result = next(e["payload"] for e in threads.events(parent) if e["type"] == "tool_result")
    assert result["is_error"] and result["code"] == "LIMIT_EXCEEDED"
    assert "may not nest deeper" in result["content"]


def test_concurrent_children_never_overspend_the_root(threads: ThreadProject) -> None:
    # Each child reserves ~1,560 tokens for its turn and spends ~470; the root's 2,400 hold
    # the parent's first turn and two children at most, however they interleave.
    cap = 2400
    _write(threads, tokens=cap)
    calls = [{**SPAWN, "arguments": {**SPAWN["arguments"], "parameters": {}}} for _ in range(3)]
    threads.fake.script("worker", [{"tool_calls": calls}, {"text": "all started"}])
    threads.fake.script("tiny", [{"text": "child done", "output_tokens": 450}])
    parent = threads.start("demo/boss")
    threads.wait(parent)
    children = _children(threads, parent)
    assert len(children) == 3
    ended = [threads.wait(c["thread_id"]) for c in children]
    root = threads.show(parent)
    assert root["tokens"] <= cap
    assert sum(c["tokens"] for c in ended) <= root["tokens"]
    statuses = sorted(c["status"] for c in ended)
    assert "limit_exceeded" in statuses, ended
    assert set(statuses) <= {"completed", "limit_exceeded"}
    for child in ended:
        assert child["limits"]["tokens"] is not None and child["limits"]["tokens"] <= cap
        if child["status"] == "limit_exceeded":
            assert child["error"]["details"]["limit"] == "tokens"


def test_starting_a_child_can_need_an_approval(threads: ThreadProject) -> None:
    from tests.runtime.threads.test_approvals import _policy

    _write(threads)
    _policy(threads, approve=("spawn.thread",))
    threads.fake.script("worker", [{"tool_calls": [SPAWN]}, {"text": "handed over"}])
    threads.fake.script("tiny", [{"text": "child done"}])
    parent = threads.start("demo/boss")
    record = threads.wait(parent, "waiting_approval")
    (pending,) = record["pending_approvals"]
    assert pending["tool"] == "demo/helper" and pending["capability"] == "spawn.thread"
    assert _children(threads, parent) == []  # nothing started before the approval
    done = threads.kiwi("approve", parent)
    assert done.returncode == 0, done.stderr
    assert threads.wait(parent)["status"] == "completed"
    (child,) = _children(threads, parent)
    assert threads.wait(child["thread_id"])["status"] == "completed"

"""Fork and replay (SPEC §13.4) through the real CLI: a fork goes on from a verified seq of
another thread's transcript without re-running what came before; a replay runs the recorded
calls that cannot repeat an effect again, without the LLM, and says whether they match."""

from __future__ import annotations

import json

from tests.runtime.threads.conftest import ThreadProject

PEEK = '''"""Read value.txt (a read-only tool whose answer the test can change)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
ANNOTATIONS = {"read_only": True}
PARAMETERS = {"type": "object", "properties": {}}


def execute(params, context):
    import pathlib
    return {"value": (pathlib.Path(context["project_path"]) / "value.txt").read_text()}
'''

DIRECTIVE = """\
# Looker

```xml
<directive name="looker" version="1.0.0">
  <metadata>
    <description>Peek, note, finish</description>
    <model provider="fakeprov" id="worker" max_tokens="500"/>
    <limits turns="6"/>
    <permissions>
      <execute resource="tool" id="peek"/><execute resource="tool" id="note"/>
      <execute resource="process" command="python"/>
    </permissions>
    <tools><tool id="peek"/><tool id="note"/></tools>
  </metadata>
</directive>
```

Peek, then note what you saw.
"""

SCRIPT = [
    {"tool_calls": [{"name": "peek", "arguments": {}}]},
    {"tool_calls": [{"name": "note", "arguments": {"text": "saw it"}}]},
    {"text": "done"},
]


def _looker(threads: ThreadProject) -> str:
    threads.project.write_tool("peek.py", PEEK)
    threads.project.sign()
    (threads.project.root / "value.txt").write_text("42")
    path = threads.project.root / ".ai" / "directives" / "demo" / "looker.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DIRECTIVE)
    assert threads.kiwi("sign", "directive", "demo/looker").returncode == 0
    threads.fake.script("worker", SCRIPT)
    thread_id = threads.start("demo/looker")
    assert threads.wait(thread_id)["status"] == "completed"
    return thread_id


def test_a_fork_goes_on_from_the_seq_it_was_cut_at(threads: ThreadProject) -> None:
    source = _looker(threads)
    first_result = next(e for e in threads.events(source) if e["type"] == "tool_result")
    threads.fake.reset()
    threads.fake.script("worker", [{"text": "forked and done"}])
    done = threads.kiwi("--json", "threads", "fork", source, "--at", str(first_result["seq"]))
    assert done.returncode == 0, done.stdout + done.stderr
    fork = json.loads(done.stdout)
    assert fork["forked_from"] == source
    record = threads.wait(fork["thread_id"])
    assert record["status"] == "completed", record
    assert record["result"]["text"] == "forked and done"
    assert record["transcript"]["verified"]
    assert threads.notes() == ["saw it"]  # from the source only: nothing before the cut re-ran
    (request,) = threads.fake.requests
    sent = json.dumps(request.json["messages"])
    assert "42" in sent and "saw it" not in sent  # the history up to the cut, no further
    started = threads.events(fork["thread_id"])[0]["payload"]
    assert started["forked_from"] == {"thread_id": source, "seq": first_result["seq"]}


def test_a_fork_past_a_changed_line_is_refused(threads: ThreadProject) -> None:
    source = _looker(threads)
    path = threads.project.root / ".ai" / "threads" / source / "transcript.jsonl"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"', "'", 1)
    path.write_text("\n".join(lines) + "\n")
    done = threads.kiwi("--json", "threads", "fork", source, "--at", "8")
    assert done.returncode != 0
    assert json.loads(done.stdout)["error"]["code"] == "TRANSCRIPT_TAMPERED"


def test_replay_reruns_only_what_cannot_repeat_an_effect(threads: ThreadProject) -> None:
    source = _looker(threads)
    asked = len(threads.fake.requests)
    done = threads.kiwi("--json", "threads", "replay", source)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    outcomes = [(c["tool"], c["outcome"]) for c in report["calls"]]
    assert outcomes == [("peek", "same"), ("note", "not re-run (it may have an effect)")]
    assert report["same"] is True and report["re_run"] == 1 and report["turns"] == 3
    assert len(threads.fake.requests) == asked  # no LLM call
    assert threads.notes() == ["saw it"]
    (threads.project.root / "value.txt").write_text("43")
    changed = threads.kiwi("--json", "threads", "replay", source)
    assert changed.returncode == 1
    assert json.loads(changed.stdout)["calls"][0]["outcome"] == "differs"


def test_replay_says_when_a_call_it_did_not_re_run_would_be_refused_now(
    threads: ThreadProject,
) -> None:
    source = _looker(threads)
    before = json.loads(threads.kiwi("--json", "threads", "replay", source).stdout)
    assert [c.get("gate") for c in before["calls"]] == [None, "allowed"]
    note = next((threads.project.root / ".ai" / "tools").rglob("note.py"))
    note.write_text(note.read_text() + "\n# changed after signing\n")
    done = threads.kiwi("--json", "threads", "replay", source)
    assert done.returncode == 1, done.stdout
    report = json.loads(done.stdout)
    entry = report["calls"][1]
    assert entry["tool"] == "note" and entry["gate"] == "refused", entry
    assert entry["refused"]["code"] == "INTEGRITY_FAILED", entry
    assert report["same"] is False
    assert threads.notes() == ["saw it"]  # planned, never run

"""A project with a priced provider on the fake LLM, tools with side effects we can count, and
a directive that uses them: what the thread tests start, kill, resume and check."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.project import Project, project  # noqa: F401 - a fixture

PROVIDER = """\
version: "1.0.0"
tool_type: llm_provider
executor_id: llm/protocols/anthropic_messages
description: The fake provider, priced
config:
  url: "{url}/v1/messages"
  headers: {{anthropic-version: "2023-06-01"}}
  models:
    worker:
      context_window: 200000
      max_output: 4096
      pricing: {{input: "1.00", output: "2.00"}}
    tiny:
      context_window: {tiny_window}
      max_output: 500
      pricing: {{input: "1.00", output: "2.00"}}
auth: {{service: fakeprov, header: x-api-key, scheme: ""}}
requires: ["net.http:127.0.0.1"]
"""

#: the ``tiny`` model's context window: the prompt and one long note fit, two do not
TINY_WINDOW = 6500

NOTE = '''"""Append a note to notes.txt (a side effect the tests count)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {"text": {"type": "string"},
              "sleep": {"type": "number"}}, "required": ["text"]}


def execute(params, context):
    import pathlib, time
    path = pathlib.Path(context["project_path"]) / "notes.txt"
    with path.open("a") as handle:
        handle.write(params["text"] + "\\n")
    time.sleep(params.get("sleep", 0))
    return {"noted": params["text"]}
'''

GATE = '''"""Wait until the test creates release.txt (at most a minute), then record the call."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {"tag": {"type": "string"}}}


def execute(params, context):
    import pathlib, time
    root = pathlib.Path(context["project_path"])
    deadline = time.monotonic() + 60
    while not (root / "release.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    with (root / "notes.txt").open("a") as handle:
        handle.write("gate " + params.get("tag", "") + "\\n")
    return {"released": True}
'''

DIRECTIVE = """\
# Worker

```xml
<directive name="worker" version="1.0.0">
  <metadata>
    <description>Write a note, then say done</description>
    <model provider="fakeprov" id="{model}" max_tokens="500"/>
    <limits turns="{turns}" spend="{spend}"{extra}/>
    <permissions>
      <execute resource="tool" id="note"/><execute resource="tool" id="gate"/>
      <execute resource="process" command="python"/>
    </permissions>
    <tools><tool id="note"/><tool id="gate"/></tools>
  </metadata>
  <inputs><input name="topic" type="string" required="false">What to note</input></inputs>
</directive>
```

Write a note about ${{inputs.topic}} with the note tool, then say done.
"""


@dataclass
class ThreadProject:
    project: Project
    fake: FakeLLM

    def kiwi(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return self.project.kiwi(*args, env=env)

    def directive(
        self,
        name: str = "worker",
        *,
        model: str = "worker",
        turns: int = 6,
        spend: str = "1.00",
        extra: str = "",
    ) -> str:
        path = self.project.root / ".ai" / "directives" / "demo" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            DIRECTIVE.format(model=model, turns=turns, spend=spend, extra=extra).replace(
                'name="worker"', f'name="{name}"'
            )
        )
        done = self.kiwi("sign", "directive", f"demo/{name}")
        assert done.returncode == 0, done.stderr
        return f"demo/{name}"

    def start(self, directive: str, *args: str) -> str:
        done = self.kiwi("--json", "threads", "start", directive, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        data = json.loads(done.stdout)
        assert data["status"] == "spawned"
        return str(data["thread_id"])

    def show(self, thread_id: str) -> dict[str, Any]:
        done = self.kiwi("--json", "threads", "show", thread_id)
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def wait(self, thread_id: str, *statuses: str, timeout: float = 90.0) -> dict[str, Any]:
        """Poll until the thread is in one of ``statuses`` (a hang guard, not a timing check)."""
        wanted = statuses or ("completed", "failed", "cancelled", "limit_exceeded")
        deadline = time.monotonic() + timeout
        while True:
            record = self.show(thread_id)
            if record["status"] in wanted:
                return record
            if time.monotonic() > deadline:
                log = self.project.root / ".ai" / "threads" / thread_id / "runner.log"
                raise AssertionError(
                    f"{thread_id} still {record['status']}: {record}\n"
                    f"{log.read_text() if log.exists() else ''}"
                )
            time.sleep(0.1)

    def events(self, thread_id: str) -> list[dict[str, Any]]:
        path = self.project.root / ".ai" / "threads" / thread_id / "transcript.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def wait_event(self, thread_id: str, kind: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["type"] == kind for e in self._safe_events(thread_id)):
            assert time.monotonic() < deadline, f"no {kind} event in {thread_id}"
            time.sleep(0.05)

    def _safe_events(self, thread_id: str) -> list[dict[str, Any]]:
        try:
            return self.events(thread_id)
        except (FileNotFoundError, json.JSONDecodeError):
            return []

    def release(self) -> None:
        """Let a waiting ``gate`` call finish."""
        (self.project.root / "release.txt").write_text("go")

    def notes(self) -> list[str]:
        path = self.project.root / "notes.txt"
        return path.read_text().splitlines() if path.exists() else []

    def kill_runner(self, thread_id: str) -> None:
        pid = self.show(thread_id)["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.show(thread_id)["status"] != "orphaned":
            assert time.monotonic() < deadline, "the killed runner never showed as orphaned"
            time.sleep(0.05)


@pytest.fixture
def threads(project: Project) -> Iterator[ThreadProject]:  # noqa: F811
    with FakeLLM() as fake:
        project.write_tool(
            "llm/providers/fakeprov.yaml",
            PROVIDER.format(url=fake.base_url, tiny_window=TINY_WINDOW),
        )
        project.write_tool("note.py", NOTE)
        project.write_tool("gate.py", GATE)
        project.sign()
        done = project.kiwi("auth", "signin", "fakeprov", "--token-stdin", stdin="sk-thread")
        assert done.returncode == 0, done.stderr
        yield ThreadProject(project=project, fake=fake)

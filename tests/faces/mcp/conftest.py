"""A real, signed project and ways to reach ``kiwi serve``: in process, over stdio, over HTTP.

The project holds a Python tool, an HTTP tool (pointed at a loopback server by a param), a
tool that streams lines, a tool that sleeps in a process group (for cancellation), a
directive with inputs and a knowledge entry; everything is signed with a key made for the
test in its own user space, and ``KIWI_VERIFY`` stays at its default, ``signed``.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from mcp import StdioServerParameters

from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.trust.keys import KeyStore
from tests.support.http_server import http_server

__all__ = ["McpProject", "ServedHttp", "http_server", "mcp_project", "served_http"]

KIWI = str(Path(sys.executable).with_name("kiwi"))
PY = sys.executable

GREET = '''\
"""Greet someone by name."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


def execute(params, context):
    print("this line goes to stderr, never onto the MCP channel")
    return {"greeting": f"Hello, {params['name']}!"}
'''

WEATHER = """\
version: "1.0.0"
executor_id: primitives/http_client
description: Current weather for a city from a weather service
parameters:
  type: object
  properties: {base: {type: string}, city: {type: string}}
  required: [base, city]
  additionalProperties: false
config:
  method: GET
  url: "${params.base}/weather"
  query: {city: "${params.city}"}
"""

STREAM_SCRIPT = "for i in range(3):\n    print(f'line {i}', flush=True)\n"
SLEEP_SCRIPT = (
    "import json, os, subprocess, time\n"
    "child = subprocess.Popen(['sleep', '120'])\n"
    "print(json.dumps({'pid': os.getpid(), 'child': child.pid}), flush=True)\n"
    "time.sleep(120)\n"
)


def _subprocess_tool(description: str, script: str) -> str:
    import json

    return (
        'version: "1.0.0"\n'
        "executor_id: primitives/subprocess\n"
        f"description: {description}\n"
        "config:\n"
        f"  command: {json.dumps(PY)}\n"
        f"  args: {json.dumps(['-c', script])}\n"
        "  stream: true\n"
        "  timeout: 200\n"
    )


REVIEW = """\
# Review a change

```xml
<directive name="review" version="1.0.0">
  <metadata>
    <description>Review a change for style and safety</description>
    <category>code</category>
  </metadata>
  <inputs>
    <input name="path" type="string" required="true">File to review</input>
    <input name="depth" type="integer" default="2">How deep to look</input>
    <input name="strict" type="boolean">Fail on warnings</input>
  </inputs>
  <outputs><output name="findings"/></outputs>
</directive>
```

Review ${inputs.path} at depth ${inputs.depth} (strict: ${inputs.strict}).
Shell variables such as ${HOME} stay as written, and $${inputs.path} is literal.
"""

STYLE = """\
---
title: House style
tags: [style, python]
---
Prefer small functions. Name things after the glossary.
"""


@dataclass
class McpProject:
    """A signed project and its user space, with the environment the server runs in."""

    root: Path
    user: Path
    env: dict[str, str]
    made: list[Path] = field(default_factory=list)

    def write(self, rel: str, text: str) -> Path:
        """Write ``<project>/.ai/<rel>``."""
        path = self.root / ".ai" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def sign_all(self) -> None:
        """Sign every project item, and the policy if there is one, with the user's key (what
        'kiwi sign <kind> "**"' and 'kiwi sign policy' do: the operator's acts, ungated)."""
        from kiwi_mcp.kernel.ops.policy import sign_policy
        from kiwi_mcp.kernel.ops.sign import sign_items

        kernel = self.contexts().kernel()
        for kind in ("tool", "directive", "knowledge"):
            sign_items(kernel.store, self.user, kind, "**", caps=None)
        if (self.root / ".ai" / "config" / "policy.yaml").exists():
            sign_policy(self.root, self.user)

    def contexts(self) -> ProjectContexts:
        """In-process per-project kernels, with this project as the default."""
        return ProjectContexts(self.root, env=self.env)

    def stdio(self) -> StdioServerParameters:
        """How the SDK client starts ``kiwi serve`` on stdio for this project."""
        return StdioServerParameters(
            command=KIWI, args=["--project", str(self.root), "serve"], env=self.env
        )


@pytest.fixture
def mcp_project(tmp_path: Path) -> McpProject:
    root = tmp_path / "project"
    user = tmp_path / "user"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KIWI_USER_SPACE": str(user),
        "KIWI_AUTH_BACKEND": "file",
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
    }
    project = McpProject(root=root, user=user, env=env)
    project.write("tools/greet.py", GREET)
    project.write("tools/weather.yaml", WEATHER)
    project.write("tools/streamer.yaml", _subprocess_tool("Print three lines", STREAM_SCRIPT))
    project.write("tools/sleeper.yaml", _subprocess_tool("Sleep for two minutes", SLEEP_SCRIPT))
    project.write("directives/code/review.md", REVIEW)
    project.write("knowledge/style.md", STYLE)
    project.write(
        "config/policy.yaml",
        "version: 1\ncapabilities: ['tool.execute:**', 'directive.execute:**', "
        "'knowledge.load:**', 'net.http:**', 'process.exec:*', 'fs.read:**', 'fs.write:**', "
        "'tool.sign:**', 'directive.sign:**', 'knowledge.sign:**']\n",
    )
    KeyStore(user).init()
    project.sign_all()
    return project


class Lines:
    """Lines of a child's pipe, read by a thread so a test can wait with a timeout."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            self._queue.put(line)
        self._queue.put(b"")

    def next(self, timeout: float = 30.0) -> bytes:
        """The next line (``b""`` at end of stream); raises queue.Empty after ``timeout``."""
        return self._queue.get(timeout=timeout)


@dataclass
class ServedHttp:
    """``kiwi serve --http`` running for a test."""

    process: subprocess.Popen[bytes]
    url: str
    stderr: Lines


@pytest.fixture
def served_http(mcp_project: McpProject) -> Iterator[ServedHttp]:
    process = subprocess.Popen(
        [KIWI, "--project", str(mcp_project.root), "serve", "--http", "--port", "0"],
        env=mcp_project.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    lines = Lines(process.stderr)
    try:
        url = ""
        while not url:
            line = lines.next(timeout=30).decode()
            assert line, "kiwi serve --http exited before announcing its URL"
            found = re.search(r"at (http://127\.0\.0\.1:\d+/mcp)$", line.strip())
            url = found.group(1) if found else ""
        yield ServedHttp(process=process, url=url, stderr=lines)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def envelope_of(result: Any) -> dict[str, Any]:
    """The envelope a tool result carries, checked to be the same in text and structure."""
    import json

    structured = result.structured_content
    assert isinstance(structured, dict)
    text = result.content[0].text
    if structured["ok"]:  # SPEC §10: the text block is data as JSON, or CODE: message. hint
        assert json.loads(text) == structured["data"]
    else:
        error = structured["error"]
        assert text.startswith(f"{error['code']}: {error['message'].rstrip('. ')}.")
        assert text.endswith(error["hint"].strip())
    assert result.is_error is (not structured["ok"])
    return structured

"""A streamed HTTP chain through the kernel: SSE events into return and file sinks."""

from __future__ import annotations

import json

from tests.support.http_server import LoopbackServer, Pause, Response
from tests.support.project import Project

STREAM_TOOL = """\
version: "1.0.0"
executor_id: primitives/http_client
parameters: {type: object, properties: {out: {type: string, default: "logs/stream.jsonl"}}}
config:
  method: POST
  url: "${BASE}/stream"
  json: {stream: true}
  stream:
    transport: sse
    sinks: [{type: return, max_events: 2}, {type: file, path: "${params.out}"}]
"""

EVENTS = [
    'event: delta\ndata: {"text": "Hel"}\n\n',
    Pause(0.01),
    'event: delta\ndata: {"text": "lo"}\n\n',
    "data: line one\ndata: line two\n\n",
    "data: [DONE]\n\n",
]


def test_events_reach_the_return_and_file_sinks(project: Project) -> None:
    project.write_tool("chat.yaml", STREAM_TOOL)
    project.sign()
    with LoopbackServer() as server:
        server.route("POST", "/stream", Response.sse(EVENTS))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        done = project.kiwi("--json", "run", "chat")
    envelope = json.loads(done.stdout)
    assert envelope["ok"], done.stdout + done.stderr
    assert envelope["data"]["dropped"] == 2
    assert [e["data"] for e in envelope["data"]["events"]] == [{"text": "Hel"}, {"text": "lo"}]
    assert envelope["meta"]["http"]["events"] == 4
    lines = (project.root / "logs" / "stream.jsonl").read_text().splitlines()
    assert [json.loads(line)["data"] for line in lines] == [
        {"text": "Hel"},
        {"text": "lo"},
        "line one\nline two",
        "[DONE]",
    ]


def test_a_file_sink_outside_the_project_is_refused(project: Project, tmp_path: object) -> None:
    project.write_tool("chat.yaml", STREAM_TOOL)
    project.sign()
    with LoopbackServer() as server:
        server.route("POST", "/stream", Response.sse(EVENTS))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        done = project.kiwi("--json", "run", "chat", "-p", "out=../escape.jsonl")
        assert server.requests == []
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert "fs.write:" in error["message"] and "escape.jsonl" in error["message"]

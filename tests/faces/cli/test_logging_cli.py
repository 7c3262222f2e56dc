"""Logs people can see (SPEC §11): ``KIWI_LOG`` is checked, ``KIWI_LOG_FILE`` and ``serve
--log-file`` get one INFO line per call, through the real ``kiwi``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.project import KIWI, Project

HELLO = '''"""Say hello."""
__version__ = "1.0.0"
__executor_id__ = "runtimes/python"

def execute(params, context):
    return {"hi": params.get("name", "you")}
'''


def test_an_unknown_kiwi_log_value_is_a_usage_error(project: Project) -> None:
    done = project.kiwi("search", "x", env={"KIWI_LOG": "loud"})
    assert done.returncode == 2
    assert "KIWI_LOG='loud' is not a log level" in done.stderr
    assert project.kiwi("search", "x", env={"KIWI_LOG": "info"}).returncode == 0


def test_kiwi_log_file_gets_one_info_line_per_call(project: Project, tmp_path: Path) -> None:
    project.write_tool("hello.py", HELLO)
    project.sign()
    log = tmp_path / "kiwi.log"
    for name in ("a", "b"):
        done = project.kiwi("run", "hello", "-p", f"name={name}", env={"KIWI_LOG_FILE": str(log)})
        assert done.returncode == 0, done.stderr
    lines = [line for line in log.read_text().splitlines() if "kiwi.call" in line]
    assert len(lines) == 2
    assert all("INFO kiwi.call: hello hello > runtimes/python" in line for line in lines)
    assert all(" ok " in line and line.endswith("ms") for line in lines)
    assert "name=a" not in log.read_text()  # params are never logged


def test_serve_log_file_records_each_mcp_call(project: Project, tmp_path: Path) -> None:
    project.write_tool("hello.py", HELLO)
    project.sign()
    log = tmp_path / "serve.log"
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "execute", "arguments": {"item_type": "tool", "item_id": "hello"}},
        },
    ]
    server = subprocess.Popen(
        [KIWI, "--project", str(project.root), "serve", "--log-file", str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=project.env,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    answers = []
    for request in requests:
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        if "id" in request:  # wait for its answer: stdin EOF would cancel a running call
            answers.append(json.loads(server.stdout.readline()))
    server.stdin.close()
    assert server.wait(timeout=60) == 0
    assert [a.get("id") for a in answers] == [1, 2]
    assert answers[1]["result"]["structuredContent"]["ok"] is True
    assert "INFO kiwi.call: hello hello > runtimes/python > primitives/subprocess ok" in (
        log.read_text()
    )


def test_stdio_serve_on_a_terminal_says_it_waits_for_an_mcp_client(project: Project) -> None:
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        server = subprocess.Popen(
            [KIWI, "--project", str(project.root), "serve"],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=project.env,
        )
        os.write(leader, b"\x04")  # Ctrl-D: end of input on the terminal
        _, err = server.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert b"waiting for an MCP client" in err
    piped = subprocess.run(
        [KIWI, "--project", str(project.root), "serve"],
        input=b"",
        capture_output=True,
        env=project.env,
        timeout=60,
    )
    assert b"waiting" not in piped.stderr


def test_audit_tail_prints_one_human_line_per_record_and_follows_new_ones(
    project: Project,
) -> None:
    project.write_tool("hello.py", HELLO)
    project.sign()
    assert project.kiwi("run", "hello").returncode == 0
    shown = project.kiwi("audit", "tail", "-n", "1").stdout.strip()
    clock, kind, item, outcome, took = shown.split(" ")
    assert len(clock) == 8 and clock[2] == clock[5] == ":"
    assert (kind, item, outcome) == ("tool", "hello", "ok") and took.endswith("ms")
    follower = subprocess.Popen(
        [KIWI, "--project", str(project.root), "audit", "tail", "-n", "1", "-f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=project.env,
        text=True,
    )
    try:
        assert follower.stdout is not None
        assert _line(follower).split(" ")[1:3] == ["tool", "hello"]  # the last one
        assert project.kiwi("run", "nope").returncode == 1
        followed = _line(follower).strip()  # waits until the new record lands
        assert followed.split(" ")[1:4] == ["tool", "nope", "ITEM_NOT_FOUND"]
    finally:
        follower.kill()
        follower.wait(timeout=30)


def _line(process: subprocess.Popen[str]) -> str:
    """The next stdout line, with a hang guard (not a timing assertion)."""
    import select

    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    assert ready, "no line within 60 s"
    return process.stdout.readline()

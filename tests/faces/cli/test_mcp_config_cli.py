"""``kiwi mcp config <host> [--write]`` through the real ``kiwi``: the entry names this kiwi
and the project by absolute path, passes the settings a host would drop, merges into the
host's file, and really starts a server that answers ``tools/list``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.project import KIWI, Project


def test_the_printed_entry_names_this_kiwi_the_project_and_the_user_space(
    project: Project,
) -> None:
    done = project.kiwi("--json", "mcp", "config", "claude-code")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    server = entry["mcpServers"]["kiwi"]
    assert server["command"] == KIWI and Path(server["command"]).is_absolute()
    assert server["args"] == ["--project", str(project.root.resolve()), "serve"]
    # every KIWI_* setting that is not the default, since hosts forward few variables
    assert server["env"] == {
        "KIWI_USER_SPACE": project.env["KIWI_USER_SPACE"],
        "KIWI_AUTH_BACKEND": "file",
    }
    assert entry["path"] == str(project.root.resolve() / ".mcp.json")
    assert entry["command_line"].startswith("claude mcp add kiwi --scope project -e KIWI_USER")


def test_write_merges_into_the_hosts_file_and_keeps_its_other_servers(project: Project) -> None:
    path = project.root / ".vscode" / "mcp.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"servers": {"other": {"command": "x"}}, "inputs": []}))
    first = project.kiwi("mcp", "config", "vscode", "--write")
    assert first.returncode == 0, first.stderr
    assert f"wrote {path.resolve()}" in first.stderr
    written = json.loads(path.read_text())
    assert set(written["servers"]) == {"other", "kiwi"} and written["inputs"] == []
    assert written["servers"]["kiwi"]["type"] == "stdio"
    again = project.kiwi("mcp", "config", "vscode", "--write")
    assert "already there" in again.stderr


def test_a_host_file_that_is_not_json_is_left_alone(project: Project) -> None:
    path = project.root / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text("{ not json")
    done = project.kiwi("--json", "mcp", "config", "cursor", "--write")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "PARSE_ERROR"
    assert path.read_text() == "{ not json"


def test_the_written_entry_starts_a_server_that_lists_the_five_tools(project: Project) -> None:
    done = project.kiwi("mcp", "config", "cursor", "--write")
    assert done.returncode == 0, done.stderr
    server = json.loads((project.root / ".cursor" / "mcp.json").read_text())["mcpServers"]["kiwi"]
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "host", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    # a host passes only what the entry says (and PATH): nothing of the test's environment
    started = subprocess.Popen(
        [server["command"], *server["args"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project.root), "KIWI_WARM": "0", **server["env"]},
        cwd="/",
        text=True,
    )
    assert started.stdin is not None and started.stdout is not None
    answers = {}
    for request in requests:
        started.stdin.write(json.dumps(request) + "\n")
        started.stdin.flush()
        if "id" in request:  # its answer first: stdin EOF would cancel what still runs
            answer = json.loads(started.stdout.readline())
            answers[answer["id"]] = answer
    started.stdin.close()
    assert started.wait(timeout=60) == 0
    names = [tool["name"] for tool in answers[2]["result"]["tools"]]
    assert names[:5] == ["search", "load", "execute", "sign", "help"]

"""``kiwi doctor`` through the real ``kiwi``: every check named, a live MCP handshake, and
each failure with its hint."""

from __future__ import annotations

import json

from tests.support.project import Project


def test_a_healthy_project_passes_every_check_including_a_live_handshake(
    project: Project,
) -> None:
    assert project.kiwi("init").returncode == 0
    done = project.kiwi("--json", "doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    names = [check["name"] for check in report["checks"]]
    assert names == [
        "platform",
        "user space",
        "trust store",
        "keyring",
        "policy",
        "items",
        "index",
        "mcp handshake",
    ]
    assert report["ok"] is True
    handshake = report["checks"][-1]["detail"]
    assert "initialize" in handshake and "5 tools" in handshake


def test_a_changed_tool_and_an_edited_policy_fail_with_their_hints(project: Project) -> None:
    assert project.kiwi("init").returncode == 0
    (project.tools / "hello.py").write_text((project.tools / "hello.py").read_text() + "x = 1\n")
    policy = project.root / ".ai/config/policy.yaml"
    policy.write_text(policy.read_text() + '  - "tool.sign:**"\n')
    done = project.kiwi("doctor")
    assert done.returncode == 1
    assert "FAIL items: 1 tool(s); unsigned or unverifiable: tool hello: INTEGRITY_FAILED" in (
        done.stdout
    )
    assert "FAIL policy: the policy .ai/config/policy.yaml changed after it was signed" in (
        done.stdout
    )
    assert "hint: Ask the operator to review .ai/config/policy.yaml and run 'kiwi sign policy'" in (
        done.stdout
    )
    assert "ok   mcp handshake" in done.stdout  # the server still starts: agents get refusals

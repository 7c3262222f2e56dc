"""Trust model v2 over MCP (SPEC §9.3–§9.5, §10), through ``kiwi serve`` on stdio and the
official SDK client: agents act within the policy, only on the projects the server serves,
under a policy the operator signed, and nothing runs that the audit log cannot record."""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from tests.faces.mcp.conftest import KIWI, McpProject, envelope_of

MARKER_TOOL = """\
version: "1.0.0"
executor_id: primitives/subprocess
description: Touch a marker file
config:
  command: touch
  args: ["{marker}"]
"""


def _client(project: McpProject, body: Callable[[Client], Awaitable[Any]], *roots: Path) -> Any:
    args = [a for root in roots or (project.root,) for a in ("--project", str(root))]
    params = StdioServerParameters(command=KIWI, args=[*args, "serve"], env=project.env)

    async def main() -> Any:
        async with Client(params, read_timeout_seconds=60) as client:
            return await body(client)

    return anyio.run(main)


def _call(project: McpProject, tool: str, arguments: dict[str, Any], *roots: Path) -> Any:
    async def body(client: Client) -> Any:
        return envelope_of(await client.call_tool(tool, arguments))

    return _client(project, body, *roots)


def _default_policy(project: McpProject) -> None:
    """No policy file: agents get SPEC §9.4's defaults."""
    (project.root / ".ai/config/policy.yaml").unlink()


def test_the_sign_tool_is_annotated_destructive(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        return await client.list_tools()

    listed = _client(mcp_project, body)
    sign = next(tool for tool in listed.tools if tool.name == "sign")
    assert sign.annotations is not None and sign.annotations.destructive_hint is True
    assert "<kind>.sign:<id>" in (sign.description or "")


def test_an_agent_cannot_bless_a_changed_file_under_the_default_policy(
    mcp_project: McpProject,
) -> None:
    _default_policy(mcp_project)
    path = mcp_project.root / ".ai/tools/greet.py"
    path.write_text(path.read_text() + "\n# edited after signing\n")

    async def body(client: Client) -> Any:
        ran = envelope_of(
            await client.call_tool(
                "execute", {"item_type": "tool", "item_id": "greet", "parameters": {"name": "x"}}
            )
        )
        signed = envelope_of(
            await client.call_tool("sign", {"item_type": "tool", "item_id": "greet"})
        )
        return ran, signed

    ran, signed = _client(mcp_project, body)
    assert ran["error"]["code"] == "INTEGRITY_FAILED"
    assert signed["error"]["code"] == "PERMISSION_DENIED"
    assert signed["error"]["details"]["missing"] == ["tool.sign:greet"]
    assert "operator" in signed["error"]["hint"]
    assert "# kiwi:signed:" in path.read_text() and path.read_text().endswith("signing\n")


def test_a_project_path_the_server_does_not_serve_is_denied_and_leaves_no_trace(
    mcp_project: McpProject, tmp_path: Path
) -> None:
    other = tmp_path / "elsewhere"
    (other / ".ai/tools").mkdir(parents=True)
    envelope = _call(
        mcp_project,
        "execute",
        {"item_type": "tool", "item_id": "greet", "project_path": str(other)},
    )
    assert envelope["error"]["code"] == "PERMISSION_DENIED"
    assert "not a project this server serves" in envelope["error"]["message"]
    assert "--project" in envelope["error"]["hint"]
    assert str(mcp_project.root) not in json.dumps(envelope)  # nothing of the disk is shown
    # it never picked that folder's (absent) policy, nor wrote an audit log there
    assert not (other / ".ai/logs").exists()
    assert not (tmp_path / "nowhere").exists()
    missing = _call(
        mcp_project, "search", {"query": "x", "project_path": str(tmp_path / "nowhere")}
    )
    assert missing["error"]["code"] == "PERMISSION_DENIED"


def test_a_server_serves_each_project_it_was_started_for_with_its_own_audit_log(
    mcp_project: McpProject, tmp_path: Path
) -> None:
    second = tmp_path / "second"
    (second / ".ai/tools").mkdir(parents=True)
    shutil.copy(mcp_project.root / ".ai/tools/greet.py", second / ".ai/tools/greet.py")
    link = tmp_path / "link-to-second"
    link.symlink_to(second)

    async def body(client: Client) -> Any:
        first = await client.call_tool(
            "execute", {"item_type": "tool", "item_id": "greet", "parameters": {"name": "A"}}
        )
        other = await client.call_tool(
            "execute",
            {
                "item_type": "tool",
                "item_id": "greet",
                "parameters": {"name": "B"},
                "project_path": str(link),
            },
        )
        return envelope_of(first), envelope_of(other)

    first, other = _client(mcp_project, body, mcp_project.root, second)
    assert first["data"] == {"greeting": "Hello, A!"}
    assert other["data"] == {"greeting": "Hello, B!"}
    for root in (mcp_project.root, second):
        lines = [
            json.loads(line)
            for path in (root / ".ai/logs/audit").glob("*.jsonl")
            for line in path.read_text().splitlines()
        ]
        assert [line["item"] for line in lines] == ["greet"]


def test_an_unsigned_policy_refuses_every_agent_call_with_the_sign_policy_hint(
    mcp_project: McpProject,
) -> None:
    policy = mcp_project.root / ".ai/config/policy.yaml"
    policy.write_text(policy.read_text() + "  # widened by someone\n")

    async def body(client: Client) -> Any:
        out = {}
        for tool, args in [
            ("search", {"query": "greet"}),
            ("load", {"item_type": "tool", "item_id": "greet"}),
            ("execute", {"item_type": "tool", "item_id": "greet", "parameters": {"name": "x"}}),
            ("execute", {"item_type": "knowledge", "item_id": "style"}),
            ("sign", {"item_type": "tool", "item_id": "greet"}),
        ]:
            out[f"{tool} {args.get('item_type', '')}"] = envelope_of(
                await client.call_tool(tool, args)
            )
        out["help"] = envelope_of(await client.call_tool("help", {}))
        return out

    results = _client(mcp_project, body)
    assert results.pop("help")["ok"] is True
    for name, envelope in results.items():
        assert envelope["error"]["code"] == "PERMISSION_DENIED", name
        assert "changed after it was signed" in envelope["error"]["message"], name
        assert "kiwi sign policy" in envelope["error"]["hint"], name


def test_an_unwritable_audit_log_refuses_the_call_before_the_effect(
    mcp_project: McpProject, tmp_path: Path
) -> None:
    marker = tmp_path / "effect-happened"
    mcp_project.write("tools/touch.yaml", MARKER_TOOL.format(marker=marker))
    mcp_project.sign_all()
    logs = mcp_project.root / ".ai/logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.write_text("not a folder: the audit log cannot be created\n")
    envelope = _call(mcp_project, "execute", {"item_type": "tool", "item_id": "touch"})
    assert envelope["error"]["code"] == "AUDIT_UNAVAILABLE"
    assert ".ai/logs/audit" in envelope["error"]["message"]
    assert not marker.exists()

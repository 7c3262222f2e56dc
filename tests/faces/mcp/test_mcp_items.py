"""The five tools, prompts and resources on the real server object, driven in process.

The server is the one ``kiwi serve`` runs (``build_server``), reached through the SDK's
in-process client; tools still run as real subprocesses and files are real files.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
from kiwi_mcp.kernel.faces.mcp.server import build_server
from tests.faces.mcp.conftest import GREET, McpProject, envelope_of


def serve(contexts: ProjectContexts, body: Callable[[Client], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Client(build_server(contexts)) as client:
            return await body(client)

    return anyio.run(main)


def call(project: McpProject, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    async def body(client: Client) -> Any:
        return await client.call_tool(tool, arguments)

    return envelope_of(serve(project.contexts(), body))


def test_load_returns_the_parsed_item_the_raw_file_and_what_it_shadows(
    mcp_project: McpProject,
) -> None:
    mcp_project.write("tools/examples/hello.py", GREET)
    mcp_project.sign_all()
    envelope = call(mcp_project, "load", {"item_type": "tool", "item_id": "examples/hello"})
    data = envelope["data"]
    assert data["space"] == "project"
    assert data["item"]["executor_id"] == "runtimes/python"
    assert data["raw"].startswith("# kiwi:signed:v1:")
    assert data["integrity"] == {"status": "verified"}
    assert [shadow["space"] for shadow in data["shadowed"]] == ["system"]


def test_load_reports_a_tampered_file_as_failed_integrity(mcp_project: McpProject) -> None:
    path = mcp_project.root / ".ai/tools/greet.py"
    path.write_text(path.read_text() + "\n# edited after signing\n")
    data = call(mcp_project, "load", {"item_type": "tool", "item_id": "greet"})["data"]
    assert data["integrity"]["status"] == "failed"
    assert data["integrity"]["code"] == "INTEGRITY_FAILED"


def test_load_copies_a_system_item_into_the_project_and_never_overwrites(
    mcp_project: McpProject,
) -> None:
    arguments = {"item_type": "tool", "item_id": "examples/http_json", "destination": "project"}
    first = call(mcp_project, "load", arguments)
    target = mcp_project.root / ".ai/tools/examples/http_json.yaml"
    assert first["data"]["copied_to"]["path"] == str(target)
    assert target.is_file()
    again = call(mcp_project, "load", arguments)
    assert again["error"]["code"] == "USAGE_ERROR"
    assert (
        again["error"]["message"]
        == f"{first['data']['kind']} examples/http_json already lives in the project space"
    )


def test_load_refuses_to_write_into_the_system_space(mcp_project: McpProject) -> None:
    envelope = call(
        mcp_project, "load", {"item_type": "tool", "item_id": "greet", "destination": "system"}
    )
    assert envelope["error"]["code"] == "USAGE_ERROR"
    assert envelope["error"]["message"] == (
        "arguments.destination: the system space is read-only (it ships with Kiwi)"
    )


def test_a_directive_returns_its_instructions_with_inputs_filled_in(
    mcp_project: McpProject,
) -> None:
    envelope = call(
        mcp_project,
        "execute",
        {"item_type": "directive", "item_id": "review", "parameters": {"path": "app.py"}},
    )
    data = envelope["data"]
    assert data["mode"] == "inline"
    assert data["inputs"] == {"path": "app.py", "depth": "2"}
    assert data["instructions"].splitlines()[-2:] == [
        "Review app.py at depth 2 (strict: ).",
        "Shell variables such as ${HOME} stay as written, and ${inputs.path} is literal.",
    ]
    assert envelope["meta"]["chain"] == ["code/review"]


def test_a_directive_refuses_missing_and_unknown_inputs(mcp_project: McpProject) -> None:
    envelope = call(
        mcp_project,
        "execute",
        {"item_type": "directive", "item_id": "review", "parameters": {"paht": "x", "strict": 1}},
    )
    error = envelope["error"]
    assert error["code"] == "PARAMS_INVALID"
    assert error["message"] == (
        "invalid inputs for directive code/review: inputs.paht: unknown input (declared: path, "
        "depth, strict); inputs.path: required but missing; inputs.strict: expected true or "
        "false, got 1"
    )


def test_a_knowledge_entry_is_returned_by_execute(mcp_project: McpProject) -> None:
    envelope = call(mcp_project, "execute", {"item_type": "knowledge", "item_id": "style"})
    entry = envelope["data"]["entry"]
    assert entry["title"] == "House style"
    assert entry["body"].startswith("Prefer small functions.")


def test_thread_true_needs_spawn_thread_which_this_policy_does_not_grant(
    mcp_project: McpProject,
) -> None:
    envelope = call(
        mcp_project,
        "execute",
        {"item_type": "directive", "item_id": "review", "parameters": {}, "thread": True},
    )
    assert envelope["error"]["code"] == "PERMISSION_DENIED"
    assert "spawn.thread" in envelope["error"]["message"]
    assert not (mcp_project.root / ".ai" / "threads").exists()  # nothing registered


def test_dry_run_resolves_and_validates_without_running(mcp_project: McpProject) -> None:
    envelope = call(
        mcp_project,
        "execute",
        {"item_type": "tool", "item_id": "greet", "parameters": {"name": "Ada"}, "dry_run": True},
    )
    assert envelope["data"]["dry_run"] is True
    assert envelope["data"]["params"] == {"name": "Ada"}
    assert "process" not in envelope["meta"]
    invalid = call(
        mcp_project,
        "execute",
        {"item_type": "tool", "item_id": "greet", "parameters": {}, "dry_run": True},
    )
    assert invalid["error"]["code"] == "PARAMS_INVALID"


def test_an_unsigned_tool_is_refused_until_signed_through_mcp(mcp_project: McpProject) -> None:
    mcp_project.write("tools/fresh.py", GREET)
    run = {"item_type": "tool", "item_id": "fresh", "parameters": {"name": "Cy"}}

    async def body(client: Client) -> Any:
        before = await client.call_tool("execute", run)
        signed = await client.call_tool("sign", {"item_type": "tool", "item_id": "fre*"})
        after = await client.call_tool("execute", run)
        return before, signed, after

    before, signed, after = serve(mcp_project.contexts(), body)
    assert envelope_of(before)["error"]["code"] == "SIGNATURE_MISSING"
    assert [s["id"] for s in envelope_of(signed)["data"]["signed"]] == ["fresh"]
    assert envelope_of(after)["data"] == {"greeting": "Hello, Cy!"}


def test_sign_needs_the_capability(mcp_project: McpProject) -> None:
    mcp_project.write("config/policy.yaml", "version: 1\ncapabilities: ['tool.execute:**']\n")
    mcp_project.sign_all()
    envelope = call(mcp_project, "sign", {"item_type": "tool", "item_id": "greet"})
    assert envelope["error"]["code"] == "PERMISSION_DENIED"
    assert envelope["error"]["message"].startswith("missing capability tool.sign:greet")


def test_help_lists_topics_and_records_signals_in_the_audit_log(mcp_project: McpProject) -> None:
    overview = call(mcp_project, "help", {})
    assert "execute" in overview["data"]["topics"]
    unknown = call(mcp_project, "help", {"topic": "cooking"})
    assert unknown["error"]["code"] == "USAGE_ERROR"
    stuck = call(mcp_project, "help", {"action": "stuck", "reason": "the API keeps saying 401"})
    assert stuck["data"]["recorded"] is True
    lines = [
        json.loads(line)
        for path in sorted((mcp_project.root / ".ai/logs/audit").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    signal = lines[-1]
    assert signal["seq"] == stuck["data"]["audit_seq"]
    assert signal["signal"] == {"action": "stuck", "reason": "the API keeps saying 401"}
    assert signal["decision"] == "signal"


def test_directives_are_prompts_and_knowledge_entries_are_resources(
    mcp_project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        prompts = await client.list_prompts()
        prompt = await client.get_prompt("code/review", {"path": "lib.py", "depth": "5"})
        resources = await client.list_resources()
        resource = await client.read_resource("kiwi://knowledge/style")
        return prompts, prompt, resources, resource

    prompts, prompt, resources, resource = serve(mcp_project.contexts(), body)
    listed = {p.name: p for p in prompts.prompts}
    assert [(a.name, a.required) for a in listed["code/review"].arguments] == [
        ("path", True),
        ("depth", False),
        ("strict", False),
    ]
    assert "Review lib.py at depth 5" in prompt.messages[0].content.text
    # the project's entry, and the system's thread guide
    assert [r.uri for r in resources.resources] == [
        "kiwi://knowledge/style",
        "kiwi://knowledge/threads/agent_guide",
    ]
    assert resource.contents[0].text.startswith("---\ntitle: House style")


def test_reading_a_missing_resource_is_resource_not_found(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("kiwi://knowledge/nowhere")
        return caught.value

    error = serve(mcp_project.contexts(), body)
    assert error.error.code == -32002


def test_project_path_picks_another_served_project_and_must_be_absolute(
    mcp_project: McpProject, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    (other / ".ai/knowledge").mkdir(parents=True)
    (other / ".ai/knowledge/only-here.md").write_text("Only in the other project: zanzibar.\n")
    # unsigned: a result only where the policy lets unsigned items verify (SPEC §15)
    contexts = ProjectContexts(
        [mcp_project.root, other], env={**mcp_project.env, "KIWI_VERIFY": "hash"}
    )

    async def body(client: Client) -> Any:
        found = await client.call_tool("search", {"query": "zanzibar", "project_path": str(other)})
        relative = await client.call_tool("search", {"query": "x", "project_path": "other"})
        return found, relative

    found, relative = serve(contexts, body)
    hits = envelope_of(found)["data"]["hits"]
    assert [(h["id"], h["space"]) for h in hits] == [("only-here", "project")]
    assert envelope_of(relative)["error"]["message"] == (
        "arguments.project_path: expected an absolute path, got 'other'"
    )
    assert contexts.kernel(str(other)) is contexts.kernel(str(other))


def test_an_unexpected_failure_is_an_internal_error_without_a_traceback(
    mcp_project: McpProject,
) -> None:
    policy = mcp_project.root / ".ai/config/policy.yaml"
    policy.unlink()
    policy.mkdir()  # reading the policy now fails with an OSError, not a KiwiError
    envelope = call(
        mcp_project,
        "execute",
        {"item_type": "tool", "item_id": "greet", "parameters": {"name": "Ada"}},
    )
    assert envelope["error"]["code"] == "INTERNAL_ERROR"
    assert envelope["error"]["message"] == (
        "internal error in 'execute' (IsADirectoryError); the details are in the server's log"
    )
    assert "Traceback" not in json.dumps(envelope)


def test_search_reports_what_the_index_left_out_without_absolute_paths(
    mcp_project: McpProject,
) -> None:
    (mcp_project.root / ".ai/tools/loop.yaml").symlink_to("loop.yaml")
    envelope = call(mcp_project, "search", {"query": "greet"})
    assert [hit["id"] for hit in envelope["data"]["hits"]][:1] == ["greet"]
    skipped = envelope["data"]["skipped"]
    assert [(e["kind"], e["space"], e["path"]) for e in skipped] == [
        ("tool", "project", "tools/loop.yaml")
    ]
    assert skipped[0]["reason"]
    assert str(mcp_project.root) not in json.dumps(skipped)


def test_search_says_how_many_items_it_left_out_for_not_verifying(
    mcp_project: McpProject,
) -> None:
    (mcp_project.root / ".ai/tools/unsigned_greet.yaml").write_text(
        'version: "1.0.0"\nexecutor_id: primitives/subprocess\n'
        "description: Greet without a signature\nconfig: {command: echo}\n"
    )
    envelope = call(mcp_project, "search", {"query": "greet"})
    assert "unsigned_greet" not in [hit["id"] for hit in envelope["data"]["hits"]]
    left_out = envelope["data"]["left_out"]
    assert left_out["count"] == 1
    assert "KIWI_VERIFY=signed" in left_out["why"]
    assert "kiwi index status" in left_out["hint"]


def test_resource_templates_are_answered_and_empty(mcp_project: McpProject) -> None:
    async def body(client: Client) -> Any:
        return await client.list_resource_templates()

    assert serve(mcp_project.contexts(), body).resource_templates == []


def test_every_listed_schema_is_portable_no_type_lists_and_every_property_typed(
    mcp_project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        return await client.list_tools()

    problems: list[str] = []

    def walk(schema: Any, where: str) -> None:
        if isinstance(schema, dict):
            if isinstance(schema.get("type"), list):
                problems.append(f"{where}: type list {schema['type']}")
            for name, sub in (schema.get("properties") or {}).items():
                if not any(key in sub for key in ("type", "anyOf", "oneOf", "enum", "const")):
                    problems.append(f"{where}.{name}: untyped")
            for key, sub in schema.items():
                walk(sub, f"{where}/{key}")
        elif isinstance(schema, list):
            for index, sub in enumerate(schema):
                walk(sub, f"{where}[{index}]")

    for tool in serve(mcp_project.contexts(), body).tools:
        walk(tool.input_schema, f"{tool.name}.input")
        walk(tool.output_schema, f"{tool.name}.output")
    assert problems == []

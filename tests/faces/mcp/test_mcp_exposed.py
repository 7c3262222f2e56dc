"""``kiwi serve --expose <tool-id>``: project tools listed as MCP tools of their own.

Driven like a host drives Kiwi: the official SDK client over a real stdio subprocess; the
start-up refusals run ``kiwi serve`` and read its exit code and stderr.
"""

from __future__ import annotations

import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from kiwi_mcp.kernel.faces.mcp.exposed import expose_tools
from kiwi_mcp.kernel.faces.mcp.server import build_server
from tests.faces.mcp.conftest import GREET, KIWI, McpProject, envelope_of

FAIL = '''\
"""Always fail."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    raise RuntimeError("the check failed on purpose")
'''
EXPOSED = ("greet", "checks/fail", "streamer")


def serve_exposed(
    project: McpProject, body: Callable[[Client], Awaitable[Any]], exposed: tuple[str, ...]
) -> Any:
    args = ["--project", str(project.root), "serve"]
    for tool_id in exposed:
        args += ["--expose", tool_id]
    server = StdioServerParameters(command=KIWI, args=args, env=project.env)

    async def main() -> Any:
        async with Client(server, read_timeout_seconds=60) as client:
            return await body(client)

    return anyio.run(main)


@pytest.fixture
def project(mcp_project: McpProject) -> McpProject:
    mcp_project.write("tools/checks/fail.py", FAIL)
    mcp_project.sign_all()
    return mcp_project


def test_tools_list_offers_the_five_then_each_exposed_tool_with_its_parameters(
    project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        return await client.list_tools()

    listed = serve_exposed(project, body, EXPOSED).tools
    assert [tool.name for tool in listed] == [
        "search",
        "load",
        "execute",
        "sign",
        "help",
        "greet",
        "checks.fail",
        "streamer",
    ]
    greet, fail, streamer = listed[5:]
    assert greet.title == "greet"
    assert greet.description == "Greet someone by name."
    assert greet.input_schema == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    assert greet.output_schema == listed[2].output_schema
    assert greet.annotations is not None
    assert greet.annotations.read_only_hint is False
    assert greet.annotations.open_world_hint is True
    assert fail.title == "checks/fail"
    # A tool without parameters takes no arguments.
    assert streamer.input_schema == {"type": "object", "additionalProperties": False}
    assert streamer.description == "Print three lines"


def test_calling_an_exposed_tool_runs_it_as_execute_does(project: McpProject) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("greet", {"name": "Ada"})

    envelope = envelope_of(serve_exposed(project, body, EXPOSED))
    assert envelope["ok"] is True
    assert envelope["data"] == {"greeting": "Hello, Ada!"}
    assert envelope["meta"]["chain"] == ["greet", "runtimes/python", "primitives/subprocess"]
    assert "project" not in envelope["meta"]


def test_a_failing_exposed_tool_is_an_error_result_with_the_envelope(
    project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("checks.fail", {})

    result = serve_exposed(project, body, EXPOSED)
    assert result.is_error is True
    envelope = envelope_of(result)
    assert envelope["error"]["code"] == "EXECUTION_FAILED"
    assert envelope["error"]["message"] == "RuntimeError: the check failed on purpose"
    assert envelope["meta"]["chain"][0] == "checks/fail"


def test_bad_arguments_of_an_exposed_tool_are_the_kernels_params_invalid(
    project: McpProject,
) -> None:
    async def body(client: Client) -> Any:
        return await client.call_tool("greet", {"name": 3})

    error = envelope_of(serve_exposed(project, body, EXPOSED))["error"]
    assert error["code"] == "PARAMS_INVALID"
    assert error["details"]["errors"] == [
        {"path": "params.name", "problem": "3 is not of type 'string'"}
    ]
    assert "params.name" in error["message"]


def test_an_exposed_streaming_tool_reports_progress(project: McpProject) -> None:
    seen: list[tuple[float, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, message))

    async def body(client: Client) -> Any:
        return await client.call_tool("streamer", {}, progress_callback=on_progress)

    envelope = envelope_of(serve_exposed(project, body, EXPOSED))
    assert envelope["data"] == {"stdout": "line 0\nline 1\nline 2\n"}
    assert seen == [(1.0, "line 0"), (2.0, "line 1"), (3.0, "line 2")]


def test_an_unexposed_tool_name_is_still_a_protocol_error(project: McpProject) -> None:
    async def body(client: Client) -> Any:
        with pytest.raises(MCPError) as caught:
            await client.call_tool("weather", {})
        return caught.value

    error = serve_exposed(project, body, EXPOSED)
    assert error.error.code == -32602
    assert error.error.message == "Unknown tool: 'weather'"


def test_the_http_transport_knows_the_input_schema_of_an_exposed_tool(
    project: McpProject,
) -> None:
    contexts = project.contexts()
    server = build_server(contexts, expose_tools(contexts, ["greet"]))
    assert server.get_tool_input_schema is not None
    schema = server.get_tool_input_schema("greet")
    assert schema is not None
    assert schema["required"] == ["name"]
    assert server.get_tool_input_schema("weather") is None


REFUSALS = {
    "missing": (
        ["missing/tool"],
        "kiwi: [USAGE_ERROR] --expose missing/tool: cannot expose it: [ITEM_NOT_FOUND] no tool "
        "'missing/tool' in the project/user/system spaces\n"
        "  hint: Run 'kiwi search <words>' to find the item's id. Or drop "
        "'--expose missing/tool'.\n",
    ),
    "clash-with-the-five": (
        ["help"],
        "kiwi: [USAGE_ERROR] --expose help: its MCP name 'help' is one of Kiwi's own tools "
        "(search, load, execute, sign, help)\n"
        "  hint: Call it through 'execute' (item_id 'help'), or move it into a folder "
        "(e.g. .ai/tools/<folder>/help) so its name differs.\n",
    ),
    "clash-between-two": (
        ["team/greet", "team.greet"],
        "kiwi: [USAGE_ERROR] --expose team.greet: tools 'team/greet' and 'team.greet' would "
        "both be named 'team.greet'\n"
        "  hint: Expose only one of them; call the other through 'execute'.\n",
    ),
    "twice": (
        ["greet", "greet"],
        "kiwi: [USAGE_ERROR] --expose greet: tool 'greet' is exposed twice\n"
        "  hint: Give each tool one --expose.\n",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_serve_refuses_a_tool_it_cannot_expose_with_a_usage_error(
    project: McpProject, case: str
) -> None:
    for rel in ("tools/help.py", "tools/team/greet.py", "tools/team.greet.py"):
        project.write(rel, GREET)
    project.sign_all()
    exposed, message = REFUSALS[case]
    args = [KIWI, "--project", str(project.root), "serve"]
    for tool_id in exposed:
        args += ["--expose", tool_id]
    done = subprocess.run(
        args, env=project.env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode() == message


def test_serve_refuses_to_expose_a_tool_that_does_not_verify(project: McpProject) -> None:
    path = project.root / ".ai/tools/greet.py"
    path.write_text(path.read_text() + "\n# edited after signing\n")
    done = subprocess.run(
        [KIWI, "--project", str(project.root), "serve", "--http", "--expose", "greet"],
        env=project.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    first = done.stderr.decode().splitlines()[0]
    assert first.startswith(
        "kiwi: [USAGE_ERROR] --expose greet: cannot expose it: [INTEGRITY_FAILED] tool 'greet' "
        "changed after it was signed"
    )
    assert "serving MCP" not in done.stderr.decode()

"""The executor's permission gate, from the CLI, with a project policy (SPEC §9.4)."""

from __future__ import annotations

import json

from tests.support.http_server import LoopbackServer, Response
from tests.support.project import Project

HTTP_TOOL = """\
version: "1.0.0"
executor_id: primitives/http_client
config: {url: "${BASE}/hit"}
"""

PY_TOOL = """__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
REQUIRES = ["fs.write:secret/**"]

def execute(params, context):
    return {}
"""


def _policy(project: Project, caps: list[str]) -> None:
    project.write_policy(caps)


def _last_audit(project: Project) -> dict[str, object]:
    done = project.kiwi("--json", "audit", "tail", "-n", "1")
    line = json.loads(done.stdout)["records"][-1]
    assert isinstance(line, dict)
    return line


def test_a_host_outside_the_policy_is_refused_before_any_request(project: Project) -> None:
    project.write_tool("hit.yaml", HTTP_TOOL)
    project.sign()
    _policy(project, ["tool.execute:**", "net.http:allowed.example.test"])
    with LoopbackServer() as server:
        server.route("GET", "/hit", Response.json({"hit": True}))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        done = project.kiwi("--json", "run", "hit")
        assert server.requests == []
    envelope = json.loads(done.stdout)
    assert done.returncode == 1
    assert envelope["error"]["code"] == "PERMISSION_DENIED"
    port = server.url.rsplit(":", 1)[1]
    assert f"net.http:127.0.0.1:{port}" in envelope["error"]["message"]
    audit = _last_audit(project)
    assert audit["decision"] == "deny"
    assert audit["reason"] == "PERMISSION_DENIED"


def test_the_same_tool_runs_when_the_host_is_granted(project: Project) -> None:
    project.write_tool("hit.yaml", HTTP_TOOL)
    project.sign()
    _policy(project, ["tool.execute:**", "net.http:127.0.0.1"])
    with LoopbackServer() as server:
        server.route("GET", "/hit", Response.json({"hit": True}))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        done = project.kiwi("--json", "run", "hit")
        assert len(server.requests) == 1
    assert json.loads(done.stdout)["data"] == {"hit": True}
    assert _last_audit(project)["decision"] == "allow"


def test_a_command_outside_process_exec_is_refused(project: Project) -> None:
    project.write_tool("job.py", PY_TOOL)
    project.sign()
    _policy(project, ["tool.execute:**", "process.exec:bash", "fs.write:secret/**"])
    done = project.kiwi("--json", "run", "job")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert "process.exec:python" in error["message"]


def test_a_link_requirement_outside_the_policy_is_refused(project: Project) -> None:
    project.write_tool("job.py", PY_TOOL)
    project.sign()
    _policy(project, ["tool.execute:**", "process.exec:*", "fs.read:**"])
    done = project.kiwi("--json", "run", "job")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert error["message"].startswith("missing capability fs.write:secret/**")
    assert error["details"]["missing"] == ["fs.write:secret/**"]


def test_a_bad_policy_file_names_the_field_and_is_never_signed(project: Project) -> None:
    project.write_tool("hit.yaml", HTTP_TOOL)
    project.sign()
    project.write_policy(["tool.execute:**", "net.htp:x"], sign=False)
    signing = project.kiwi("sign", "policy")
    assert signing.returncode == 1 and "capabilities[1]" in signing.stderr
    done = project.kiwi("run", "hit")
    assert done.returncode == 1
    assert "policy.yaml" in done.stderr and "capabilities[1]" in done.stderr


def test_the_caller_needs_tool_execute_for_the_asked_tool(project: Project) -> None:
    project.write_tool("hit.yaml", HTTP_TOOL)
    project.sign()
    _policy(project, ["tool.execute:other/**", "net.http:**"])
    done = project.kiwi("--json", "run", "hit")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert error["details"]["missing"] == ["tool.execute:hit"]

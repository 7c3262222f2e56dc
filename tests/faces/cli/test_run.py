"""``kiwi run`` end to end: real subprocesses, a real loopback HTTP server, real files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.http_server import LoopbackServer, Response
from tests.support.project import Project

PY_TOOL = '''"""Add two numbers."""
__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "number"}, "flag": {"type": "boolean"},
                   "opts": {"type": "object", "properties": {"depth": {"type": "integer"}}}},
    "required": ["a"],
}

def execute(params, context):
    print("noise on stdout goes to stderr")
    return {"sum": params["a"] + params.get("b", 0), "flag": params.get("flag"),
            "opts": params.get("opts"), "tool_id": context["tool_id"],
            "project": context["project_path"]}
'''

HTTP_TOOL = """\
version: "1.0.0"
executor_id: primitives/http_client
parameters:
  type: object
  properties: {city: {type: string}, days: {type: integer, default: 2}}
  required: [city]
config:
  method: POST
  url: "${BASE}/forecast"
  query: {q: "${params.city}"}
  headers: {X-City: "${params.city}"}
  json: {city: "${params.city}", days: "${params.days}"}
"""

BASH_TOOL = """\
#!/usr/bin/env bash
# kiwi:
# version: "1.0.0"
# executor_id: runtimes/bash
# parameters: {type: object, properties: {name: {type: string}, n: {type: integer}}}
input=$(cat)
printf '{"stdin": %s, "name": "%s", "n": "%s"}' "$input" "$KIWI_PARAM_NAME" "$KIWI_PARAM_N"
"""


def test_a_python_tool_runs_through_runtimes_python_with_coerced_params(project: Project) -> None:
    project.write_tool("math/add.py", PY_TOOL)
    project.sign()
    done = project.kiwi(
        "--json", "run", "add", "-p", "a=2", "-p", "b=0.5", "-p", "flag=true", "-p", "opts.depth=3"
    )
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["ok"] is True
    assert envelope["error"] is None
    assert envelope["data"] == {
        "sum": 2.5,
        "flag": True,
        "opts": {"depth": 3},
        "tool_id": "math/add",
        "project": str(project.root),
    }
    assert envelope["meta"]["chain"] == ["math/add", "runtimes/python", "primitives/subprocess"]
    assert envelope["meta"]["process"]["stderr"].startswith("noise on stdout goes to stderr")


SITE_TOOL = """\
__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    import sys

    stdlib_only = "yaml" not in sys.modules
    import yaml  # in the interpreter's site-packages only: site must run now

    return {
        "no_site_flag": sys.flags.no_site,
        "stdlib_only_before": stdlib_only,
        "yaml": yaml.safe_load("a: 1"),
        "builtins": [callable(exit), callable(quit), callable(help)],
        "site_packages_on_path": any("site-packages" in entry for entry in sys.path),
    }
"""


def test_the_runner_starts_without_site_and_finds_site_packages_when_needed(
    project: Project,
) -> None:
    project.write_tool("uses_yaml.py", SITE_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "uses_yaml")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data == {
        "no_site_flag": 1,
        "stdlib_only_before": True,
        "yaml": {"a": 1},
        "builtins": [True, True, True],
        "site_packages_on_path": True,
    }


def test_json_output_is_exactly_the_envelope(project: Project) -> None:
    project.write_tool("add.py", PY_TOOL)
    project.sign()
    done = project.kiwi("run", "add", "--params", '{"a": 1}', "--json")
    envelope = json.loads(done.stdout)
    assert set(envelope) == {"ok", "data", "error", "meta"}
    assert {"chain", "duration_ms", "primitive"} <= set(envelope["meta"])


def test_a_yaml_http_tool_templates_query_headers_and_body(project: Project) -> None:
    project.write_tool("forecast.yaml", HTTP_TOOL)
    project.sign()
    with LoopbackServer() as server:
        server.route("POST", "/forecast", Response.json({"sunny": True}))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        done = project.kiwi("--json", "run", "forecast", "-p", "city=Oslo")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["data"] == {"sunny": True}
        [request] = server.requests
    assert request.query == {"q": "Oslo"}
    assert request.headers["X-City"] == "Oslo"
    assert request.json() == {"city": "Oslo", "days": 2}


def test_a_bash_tool_reads_params_json_on_stdin_and_as_env(project: Project) -> None:
    project.write_tool("greet.sh", BASH_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "greet", "-p", "name=Ada", "-p", "n=3")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"] == {
        "stdin": {"name": "Ada", "n": 3},
        "name": "Ada",
        "n": "3",
    }


def test_a_failed_run_exits_1_with_code_and_hint(project: Project) -> None:
    project.write_tool("add.py", PY_TOOL)
    project.sign()
    done = project.kiwi("run", "add", "-p", "b=1")
    assert done.returncode == 1
    assert "[PARAMS_INVALID]" in done.stderr
    assert "params.a: required but missing" in done.stderr
    assert "hint:" in done.stderr
    done = project.kiwi("--json", "run", "add")
    assert done.returncode == 1
    assert json.loads(done.stdout)["error"]["code"] == "PARAMS_INVALID"


def test_usage_errors_exit_2(project: Project) -> None:
    project.write_tool("add.py", PY_TOOL)
    project.sign()
    assert project.kiwi("run").returncode == 2
    bad = project.kiwi("run", "add", "-p", "a=notanumber")
    assert bad.returncode == 2
    assert "expected integer" in bad.stderr
    assert project.kiwi("run", "add", "--params", "{nope").returncode == 2


def test_an_unsigned_project_tool_does_not_run_under_the_default_policy(project: Project) -> None:
    project.write_tool("add.py", PY_TOOL)
    done = project.kiwi("run", "add", "-p", "a=1")
    assert done.returncode == 1
    assert "[SIGNATURE_MISSING]" in done.stderr
    assert "kiwi sign tool add" in done.stderr
    relaxed = project.kiwi("run", "add", "-p", "a=1", env={"KIWI_VERIFY": "hash"})
    assert relaxed.returncode == 0
    assert "unsigned" in relaxed.stderr


def test_a_tool_whose_body_writes_a_file_is_never_executed_by_resolve_show_or_search(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    project.write_tool(
        "sneaky.py",
        f'"""A sneaky tool."""\nopen({str(marker)!r}, "w").write("x")\n'
        '__version__ = "1.0.0"\n__executor_id__ = "runtimes/python"\n'
        "def execute(params, context):\n    return {}\n",
    )
    project.sign()
    assert project.kiwi("resolve", "sneaky").returncode == 0
    assert project.kiwi("show", "tool", "sneaky").returncode == 0
    found = project.kiwi("--json", "search", "sneaky")
    assert [hit["id"] for hit in json.loads(found.stdout)] == ["sneaky"]
    assert not marker.exists()


def test_resolve_reports_spaces_shadowed_files_and_the_final_config(project: Project) -> None:
    project.write_tool("forecast.yaml", HTTP_TOOL)
    user_tool = project.user / "tools" / "forecast.yaml"
    user_tool.parent.mkdir(parents=True)
    user_tool.write_text(HTTP_TOOL)
    project.sign()
    (project.root / ".env").write_text("BASE=http://127.0.0.1:9\n")
    done = project.kiwi("--json", "resolve", "forecast", "-p", "city=Oslo")
    report = json.loads(done.stdout)
    assert report["chain"] == ["forecast", "primitives/http_client"]
    assert [link["space"] for link in report["links"]] == ["project", "system"]
    assert report["links"][0]["shadowed"][0]["space"] == "user"
    assert report["config"]["url"] == "http://127.0.0.1:9/forecast"
    assert report["config"]["json"] == {"city": "Oslo", "days": 2}


def test_help_does_not_import_the_mcp_sdk_or_httpx(project: Project) -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom kiwi_mcp.kernel.faces.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('mcp', 'httpx', 'jsonschema', 'cryptography') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().endswith("[]"), done.stderr


JS_TOOL = """\
// kiwi:
// version: "1.0.0"
// executor_id: runtimes/node
// parameters: {type: object, properties: {n: {type: integer}}}
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const params = JSON.parse(input);
  process.stdout.write(JSON.stringify({ double: params.n * 2 }));
});
"""

SCRIPT_TOOL = '''"""A plain script: params JSON on stdin, anything on stdout."""
__version__ = "1.0.0"
__executor_id__ = "runtimes/python_script"
import json, sys
print("got", json.load(sys.stdin)["word"])
'''


def test_a_node_tool_runs_through_runtimes_node(project: Project) -> None:
    import shutil

    if shutil.which("node") is None:
        import pytest

        pytest.skip("node is not installed")
    project.write_tool("double.js", JS_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "double", "-p", "n=21")
    assert json.loads(done.stdout)["data"] == {"double": 42}, done.stderr


def test_a_plain_script_output_that_is_not_json_comes_back_as_stdout(project: Project) -> None:
    project.write_tool("say.py", SCRIPT_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "say", "-p", "word=kiwi")
    assert json.loads(done.stdout)["data"] == {"stdout": "got kiwi\n"}, done.stderr
    assert project.kiwi("run", "say", "-p", "word=kiwi").stdout == "got kiwi\n"


def test_show_and_search_report_spaces_and_shadowing(project: Project) -> None:
    project.write_tool("add.py", PY_TOOL)
    shown = json.loads(project.kiwi("--json", "show", "tool", "add").stdout)
    assert shown["space"] == "project"
    assert shown["item"]["parameters"]["required"] == ["a"]
    hits = json.loads(project.kiwi("--json", "search", "python", "--kind", "tool").stdout)
    assert hits[0]["id"] == "runtimes/python"
    missing = project.kiwi("show", "tool", "nope")
    assert missing.returncode == 1 and "[ITEM_NOT_FOUND]" in missing.stderr


FAILING_TOOL = """__version__ = "1.0.0"
__executor_id__ = "runtimes/python"

def execute(params, context):
    if params.get("mode") == "raise":
        raise RuntimeError("the tool broke")
    if params.get("mode") == "set":
        return {"bad": {1, 2}}
    return {"echo": params["text"], "n": 1.25}

async def _unused():
    return None
"""


def test_tool_failures_become_execution_failed_with_the_tools_message(project: Project) -> None:
    project.write_tool("flaky.py", FAILING_TOOL)
    project.sign()
    raised = json.loads(project.kiwi("--json", "run", "flaky", "-p", "mode=raise").stdout)
    assert raised["error"]["code"] == "EXECUTION_FAILED"
    assert raised["error"]["message"] == "RuntimeError: the tool broke"
    assert "Traceback" in raised["error"]["details"]["process"]["stderr"]
    bad = json.loads(project.kiwi("--json", "run", "flaky", "-p", "mode=set").stdout)
    assert bad["error"]["message"] == "TypeError: set is not JSON serializable"
    text = "naïve — ünïcode ✓"
    good = json.loads(project.kiwi("--json", "run", "flaky", "-p", f"text={text}").stdout)
    assert good["data"] == {"echo": text, "n": 1.25}

"""Secrets reach the request and nothing else (SPEC §8.2; issue 4's acceptance)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.http_server import LoopbackServer, RecordedRequest, Response
from tests.support.project import Project

DOTENV_SECRET = "dotenv-secret-7Hq2Lz"
STORE_SECRET = "store-secret-Pw9xK3"
AUTH_TOKEN = "oauth-token-Vb4nM8"
SECRETS = (DOTENV_SECRET, STORE_SECRET, AUTH_TOKEN)

TOOL = """\
version: "1.0.0"
executor_id: primitives/http_client
parameters: {type: object, properties: {fail: {type: boolean, default: false}}}
config:
  method: POST
  url: "${BASE}/api"
  query: {fail: "${params.fail}"}
  headers: {X-Api-Key: "${secrets.API_KEY}"}
  json: {store: "${secrets.STORE_KEY}"}
secrets: [API_KEY, STORE_KEY]
auth: {service: weather, scope: read}
"""

ENV_TOOL = """__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
import os

def execute(params, context):
    return {"env": dict(os.environ)}
"""


def _answer(request: RecordedRequest) -> Response:
    if request.query.get("fail") == "true":
        # a careless server echoing what it got: the error must still be redacted
        return Response.json({"echo": request.headers.get("X-Api-Key")}, status=500)
    return Response.json({"ok": "yes"})


def _all_text_under(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def test_secrets_reach_the_request_and_appear_nowhere_else(project: Project) -> None:
    project.write_tool("api.yaml", TOOL)
    project.sign()
    for service, token in (("STORE_KEY", STORE_SECRET), ("weather", AUTH_TOKEN)):
        done = project.kiwi(
            "auth", "signin", service, "--token-stdin", "--scopes", "read", stdin=token + "\n"
        )
        assert done.returncode == 0, done.stderr
    outputs: list[str] = []
    with LoopbackServer() as server:
        server.route("POST", "/api", _answer)
        (project.root / ".env").write_text(f"BASE={server.url}\nAPI_KEY={DOTENV_SECRET}\n")
        debug = {"KIWI_LOG": "DEBUG"}
        ok = project.kiwi("--json", "run", "api", env=debug)
        failed = project.kiwi("--json", "run", "api", "-p", "fail=true", env=debug)
        human = project.kiwi("run", "api", "-p", "fail=true", env=debug)
        resolved = project.kiwi("--json", "resolve", "api", env=debug)
        resolved_text = project.kiwi("resolve", "api")
        status = project.kiwi("auth", "status")
        requests = server.requests
    for done in (ok, failed, human, resolved, resolved_text, status):
        outputs += [done.stdout, done.stderr]
    assert json.loads(ok.stdout)["data"] == {"ok": "yes"}, ok.stderr
    assert json.loads(failed.stdout)["error"]["code"] == "HTTP_ERROR"
    assert requests[0].headers["X-Api-Key"] == DOTENV_SECRET
    assert requests[0].json() == {"store": STORE_SECRET}
    assert requests[0].headers["Authorization"] == f"Bearer {AUTH_TOKEN}"
    assert "***" in failed.stdout  # the echoed key was scrubbed, not dropped
    files = _all_text_under(project.root / ".ai")
    assert "params_sha256" in files  # the audit log is there and was searched
    for secret in SECRETS:
        for text in outputs:
            assert secret not in text
        assert secret not in files


def test_host_variables_outside_the_allow_list_never_reach_a_tool(project: Project) -> None:
    project.write_tool("env.py", ENV_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "env", env={"KIWI_TEST_LEAK": "leaked", "LANG": "C.UTF-8"})
    env = json.loads(done.stdout)["data"]["env"]
    assert "KIWI_TEST_LEAK" not in env
    assert env["LANG"] == "C.UTF-8"
    assert env["KIWI_TOOL_ID"] == "env"
    assert "KIWI_USER_SPACE" not in env


def test_an_expired_token_without_refresh_asks_to_sign_in(project: Project) -> None:
    project.write_tool("api.yaml", TOOL)
    project.sign()
    (project.root / ".env").write_text(f"BASE=http://127.0.0.1:9\nAPI_KEY={DOTENV_SECRET}\n")
    project.kiwi("auth", "signin", "STORE_KEY", "--token-stdin", stdin=STORE_SECRET + "\n")
    project.kiwi(
        "auth",
        "signin",
        "weather",
        "--token-stdin",
        "--scopes",
        "read",
        "--expires-in",
        "-10",
        stdin=AUTH_TOKEN + "\n",
    )
    done = project.kiwi("--json", "run", "api")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "AUTH_REQUIRED"
    assert "kiwi auth signin weather" in error["hint"] + error["message"]


ORIGIN_TOOL = """\
version: "1.0.0"
executor_id: primitives/http_client
parameters:
  type: object
  properties: {base: {type: string}}
  required: [base]
config: {method: GET, url: "${params.base}/api"}
auth: {service: site, per_origin: true}
"""


def test_a_per_origin_credential_goes_only_to_its_own_host(project: Project) -> None:
    project.write_tool("site.yaml", ORIGIN_TOOL)
    project.sign()
    with LoopbackServer() as mine, LoopbackServer() as other:
        for server in (mine, other):
            server.route("GET", "/api", lambda _: Response.json({"ok": "yes"}))
        service = f"site:127.0.0.1:{mine.port}"
        signin = project.kiwi("auth", "signin", service, "--token-stdin", stdin=AUTH_TOKEN + "\n")
        assert signin.returncode == 0, signin.stderr
        ok = project.kiwi("--json", "run", "site", "-p", f"base={mine.url}")
        refused = project.kiwi("--json", "run", "site", "-p", f"base={other.url}")
        mine_got, other_got = mine.requests, other.requests
    assert json.loads(ok.stdout)["data"] == {"ok": "yes"}, ok.stderr
    assert mine_got[0].headers["Authorization"] == f"Bearer {AUTH_TOKEN}"
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "AUTH_REQUIRED"
    assert f"site:127.0.0.1:{other.port}" in error["message"]
    assert other_got == []  # nothing was sent without, or with another host's, credential
    assert AUTH_TOKEN not in ok.stdout + ok.stderr + refused.stdout + refused.stderr


def test_per_origin_must_be_true_or_false(project: Project) -> None:
    project.write_tool("site.yaml", ORIGIN_TOOL.replace("per_origin: true", "per_origin: yes-ish"))
    done = project.kiwi("--json", "sign", "tool", "site")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "PARSE_ERROR", error
    assert "auth.per_origin" in error["message"] and "true or false" in error["message"]

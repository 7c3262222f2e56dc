"""The operator and the agents, from the real ``kiwi`` (SPEC §9.3–§9.5, §11): the operator's
acts are ungated, ``kiwi run`` is held to the agents' signed policy unless ``--as-operator``
lifts it (and the audit log says so), Kiwi's own state is outside every ``fs.*`` glob, and
nothing runs that the audit log cannot record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.support.http_server import LoopbackServer, Response
from tests.support.project import Project

TOUCH = """\
version: "1.0.0"
executor_id: primitives/subprocess
config:
  command: touch
  args: ["{marker}"]
"""

SINK = """\
version: "1.0.0"
executor_id: primitives/http_client
parameters: {type: object, properties: {out: {type: string}}}
config:
  method: GET
  url: "${BASE}/events"
  stream:
    transport: sse
    sinks: [{type: return}, {type: file, path: "${params.out}"}]
"""


def _last_audit(project: Project) -> dict[str, object]:
    done = project.kiwi("--json", "audit", "tail", "-n", "1")
    record = json.loads(done.stdout)["records"][-1]
    assert isinstance(record, dict)
    return record


def test_kiwi_init_writes_a_signed_default_policy_and_hello_runs_under_it(
    project: Project,
) -> None:
    done = project.kiwi("init")
    assert done.returncode == 0, done.stderr
    policy = project.root / ".ai/config/policy.yaml"
    assert policy.read_text().startswith("# kiwi:signed:v1:")
    assert "tool.sign" not in policy.read_text()
    ran = project.kiwi("--json", "run", "hello", "-p", "name=Ada")
    assert json.loads(ran.stdout)["data"] == {"greeting": "Hello, Ada!"}


def test_an_edited_policy_refuses_kiwi_run_until_the_operator_signs_it(
    project: Project,
) -> None:
    assert project.kiwi("init").returncode == 0
    policy = project.root / ".ai/config/policy.yaml"
    policy.write_text(policy.read_text() + '  - "tool.sign:**"\n')
    refused = project.kiwi("--json", "run", "hello")
    assert refused.returncode == 1
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "PERMISSION_DENIED"
    assert "changed after it was signed" in error["message"]
    assert "kiwi sign policy" in error["hint"]
    assert _last_audit(project)["decision"] == "deny"
    signed = project.kiwi("--json", "sign", "policy")
    assert signed.returncode == 0, signed.stderr
    assert "tool.sign:**" in json.loads(signed.stdout)["capabilities"]
    assert project.kiwi("run", "hello").returncode == 0


def test_an_unsigned_policy_runs_under_verify_hash_with_a_warning(project: Project) -> None:
    project.write_policy(["tool.execute:**", "process.exec:*", "fs.read:**"], sign=False)
    assert project.kiwi("init").returncode == 0  # an existing policy is never re-signed
    refused = project.kiwi("run", "hello")
    assert refused.returncode == 1 and "is not signed" in refused.stderr
    ran = project.kiwi("run", "hello", env={"KIWI_VERIFY": "hash", "KIWI_LOG": "WARNING"})
    assert ran.returncode == 0, ran.stderr
    assert "kiwi sign policy" in ran.stderr


def test_the_operator_signs_from_the_cli_although_the_policy_grants_no_signing(
    project: Project,
) -> None:
    project.write_policy(["tool.execute:**"])
    project.write_tool("nested/deep/t.yaml", TOUCH.format(marker="x"))
    done = project.kiwi("--json", "sign", "tool", "**")
    assert done.returncode == 0, done.stderr
    assert [entry["id"] for entry in json.loads(done.stdout)] == ["nested/deep/t"]


def test_kiwi_run_is_held_to_the_agents_policy_and_as_operator_lifts_it_on_the_record(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    project.write_tool("touch.yaml", TOUCH.format(marker=marker))
    project.sign()
    project.write_policy(["tool.execute:**", "process.exec:python3"])
    refused = project.kiwi("--json", "run", "touch")
    assert json.loads(refused.stdout)["error"]["details"]["missing"] == ["process.exec:touch"]
    assert not marker.exists()
    assert "as_operator" not in _last_audit(project)
    ran = project.kiwi("--json", "run", "touch", "--as-operator")
    assert ran.returncode == 0, ran.stderr
    assert marker.exists()
    assert "running as the operator" in ran.stderr
    record = _last_audit(project)
    assert record["as_operator"] is True and record["outcome"] == "ok"


def test_no_fs_glob_reaches_kiwis_own_state(project: Project) -> None:
    project.write_tool("sink.yaml", SINK)
    project.sign()
    project.write_policy(["tool.execute:**", "net.http:**", "fs.write:**"])
    with LoopbackServer() as server:
        server.route("GET", "/events", Response.sse(["data: x\n\n"]))
        (project.root / ".env").write_text(f"BASE={server.url}\n")
        outcomes = {}
        for out in [".ai/config/policy.yaml", ".ai/logs/audit/forged.jsonl", "out/ok.jsonl"]:
            done = project.kiwi("--json", "run", "sink", "-p", f"out={out}")
            outcomes[out] = json.loads(done.stdout)
    for out in (".ai/config/policy.yaml", ".ai/logs/audit/forged.jsonl"):
        assert outcomes[out]["error"]["code"] == "PERMISSION_DENIED", out
        assert f"fs.write:{out}" in outcomes[out]["error"]["message"]
    assert outcomes["out/ok.jsonl"]["ok"] is True
    assert not (project.root / ".ai/logs/audit/forged.jsonl").exists()


def test_an_unwritable_audit_log_refuses_kiwi_run_and_still_prints_the_envelope(
    project: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    project.write_tool("touch.yaml", TOUCH.format(marker=marker))
    project.sign()
    logs = project.root / ".ai/logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.write_text("a file where the log folder should be\n")
    done = project.kiwi("--json", "run", "touch", "--as-operator")
    assert done.returncode == 1
    envelope = json.loads(done.stdout)
    assert envelope["error"]["code"] == "AUDIT_UNAVAILABLE"
    assert "the audit log .ai/logs/audit cannot take a record" in envelope["error"]["message"]
    assert not marker.exists()


def test_project_must_name_an_existing_folder_and_only_serve_takes_several(
    project: Project, tmp_path: Path
) -> None:
    missing = project.kiwi("--project", str(tmp_path / "nope"), "run", "hello")
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    twice = project.kiwi("--project", str(project.root), "--project", str(tmp_path), "run", "x")
    assert twice.returncode == 2 and "only 'kiwi serve'" in twice.stderr

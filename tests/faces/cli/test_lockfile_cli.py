"""``kiwi lockfile`` and the execution-time lockfile policy (SPEC §8.3; issue 4)."""

from __future__ import annotations

import json

from tests.support.project import Project

RUNTIME = (
    'version: "1.0.0"\ntool_type: runtime\nexecutor_id: runtimes/python\nconfig: {timeout: 60}\n'
)
TOOL = """__version__ = "1.0.0"
__executor_id__ = "runtimes/mine"

def execute(params, context):
    return {"tool": context["tool_id"]}
"""


def _setup(project: Project) -> None:
    project.write_tool("runtimes/mine.yaml", RUNTIME)
    project.write_tool("job_a.py", TOOL)
    project.write_tool("job_b.py", TOOL)
    project.sign()


def test_freeze_then_a_locked_run_succeeds_and_refreezing_is_byte_identical(
    project: Project,
) -> None:
    _setup(project)
    assert project.kiwi("lockfile", "freeze", "job_a").returncode == 0
    path = project.root / ".ai" / "lockfiles" / "job_a@1.0.0.lock.json"
    first = path.read_bytes()
    locked = json.loads(first)
    assert [link["id"] for link in locked["chain"]] == [
        "job_a",
        "runtimes/mine",
        "runtimes/python",
        "primitives/subprocess",
    ]
    done = project.kiwi("--json", "run", "job_a", "--locked")
    envelope = json.loads(done.stdout)
    assert envelope["ok"], done.stdout
    assert envelope["meta"]["lockfile"] == "ok"
    assert project.kiwi("lockfile", "freeze", "job_a").returncode == 0
    assert path.read_bytes() == first


def test_a_re_signed_runtime_edit_fails_strict_naming_the_link_and_both_hashes(
    project: Project,
) -> None:
    _setup(project)
    project.kiwi("lockfile", "freeze", "job_a")
    before = json.loads((project.root / ".ai/lockfiles/job_a@1.0.0.lock.json").read_text())
    old_hash = before["chain"][1]["integrity"]
    project.write_tool("runtimes/mine.yaml", RUNTIME.replace("60", "61"))
    project.sign()
    strict = project.kiwi("--json", "run", "job_a", "--locked")
    error = json.loads(strict.stdout)["error"]
    assert strict.returncode == 1
    assert error["code"] == "LOCKFILE_MISMATCH"
    [drift] = error["details"]["drifts"]
    assert drift["link_id"] == "runtimes/mine"
    assert drift["field"] == "integrity"
    assert drift["locked"] == old_hash and drift["current"] != old_hash
    assert f"runtimes/mine: integrity {old_hash} (locked) → {drift['current']}" in error["message"]
    env_strict = project.kiwi("--json", "run", "job_a", env={"KIWI_LOCKFILE": "strict"})
    assert json.loads(env_strict.stdout)["error"]["code"] == "LOCKFILE_MISMATCH"
    warn = project.kiwi("run", "job_a")
    assert warn.returncode == 0
    assert "lockfile drift" in warn.stderr and "runtimes/mine" in warn.stderr
    validate = project.kiwi("lockfile", "validate", "job_a")
    assert validate.returncode == 1 and "runtimes/mine: integrity" in validate.stdout


def test_refresh_refreezes_every_dependant(project: Project) -> None:
    _setup(project)
    project.kiwi("lockfile", "freeze", "job_a")
    project.kiwi("lockfile", "freeze", "job_b")
    project.write_tool("runtimes/mine.yaml", RUNTIME.replace("60", "62"))
    project.sign()
    assert project.kiwi("lockfile", "validate", "job_b").returncode == 1
    done = project.kiwi("--json", "lockfile", "refresh", "runtimes/mine")
    assert sorted(e["id"] for e in json.loads(done.stdout)["refreshed"]) == ["job_a", "job_b"]
    for tool in ("job_a", "job_b"):
        assert project.kiwi("lockfile", "validate", tool).returncode == 0
    listed = json.loads(project.kiwi("--json", "lockfile", "list").stdout)
    assert sorted(e["id"] for e in listed) == ["job_a", "job_b"]


def test_a_locked_run_without_a_lockfile_says_how_to_make_one(project: Project) -> None:
    _setup(project)
    done = project.kiwi("run", "job_a", "--locked")
    assert done.returncode == 1
    assert "[LOCKFILE_MISMATCH] no lockfile for job_a@1.0.0" in done.stderr
    assert "kiwi lockfile freeze job_a" in done.stderr


def test_a_tampered_chain_is_never_frozen(project: Project) -> None:
    _setup(project)
    with (project.tools / "runtimes" / "mine.yaml").open("a") as handle:
        handle.write("# unsigned edit\n")
    done = project.kiwi("lockfile", "freeze", "job_a")
    assert done.returncode == 1
    assert "INTEGRITY_FAILED" in done.stderr
    assert not (project.root / ".ai" / "lockfiles" / "job_a@1.0.0.lock.json").exists()

"""A kernel keeps each tool's prepared chain only while every file it came from is unchanged.

``Kernel.prepare`` (resolution, verification, lockfile, environment) is reused between calls
while its witness's paths keep their stat signatures (``kernel/store/files.py``). Each test
changes one input on disk — the tool, an extra file, a shadowing runtime, a dotenv file, a
venv, a lockfile, the trusted keys — and checks the next plan sees it. Each runs twice: with
the change made right after a call (inside the timestamp granularity: nothing may be kept)
and after the prepared chain was kept (``settled``: the test first proves it was reused).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.exec.plan import Plan
from kiwi_mcp.kernel.store.settings import Settings
from tests.support.clocks import SettleClock
from tests.support.project import Project

TOOL = '''"""Echo, with an env value and a helper file."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
CONFIG = {"env": {"GREETING": "${GREETING:-none}"}}
FILES = ["helper.txt"]


def execute(params, context):
    return {"said": params.get("say", "hi")}
'''

SYSTEM_RUNTIMES = Path(__file__).resolve().parents[2] / ".ai" / "tools" / "runtimes"


def _kernel(project: Project, clock: SettleClock) -> Kernel:
    return Kernel(Settings.from_environment(project.root, env=project.env), clock_ns=clock)


def _plan(kernel: Kernel) -> Plan:
    return asyncio.run(kernel.plan("echo", {}))


def _error(kernel: Kernel) -> str:
    with pytest.raises(KiwiError) as caught:
        _plan(kernel)
    return caught.value.code


@pytest.fixture
def echo(project: Project) -> Project:
    project.write_tool("echo.py", TOOL)
    project.write_tool("helper.txt", "help\n")
    project.sign("echo")
    return project


def _warm(kernel: Kernel, clock: SettleClock, settled: bool) -> Plan:
    """Plan once; with ``settled``, step the clock and show the prepared chain is now reused."""
    if settled:
        clock.settle()
    plan = _plan(kernel)
    if settled:
        kept = kernel.prepare("echo")
        assert kernel.prepare("echo") is kept, "a settled, unchanged chain must be reused"
    return plan


def test_an_unchanged_chain_is_prepared_once(echo: Project) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    assert asyncio.run(kernel.execute("echo", {}))["ok"]  # the first call makes .ai/logs
    clock.settle()
    first = kernel.prepare("echo")
    assert kernel.prepare("echo") is first
    for say in ("yo", "ya"):  # what a call writes (audit line, caches) changes nothing watched
        assert asyncio.run(kernel.execute("echo", {"say": say}))["data"] == {"said": say}
        assert kernel.prepare("echo") is first


def test_a_chain_whose_files_just_changed_is_not_kept(echo: Project) -> None:
    clock = SettleClock()
    clock.settle()  # only the change below is fresh
    kernel = _kernel(echo, clock)
    (echo.tools / "new.txt").write_text("x")  # the tools folder changed a moment ago
    assert kernel.prepare("echo") is not kernel.prepare("echo")


def _same_size_tool_edit(project: Project) -> None:
    path = project.tools / "echo.py"
    path.write_text(path.read_text().replace('"hi"', '"ho"'))


def _helper_edit(project: Project) -> None:
    (project.tools / "helper.txt").write_text("hack\n")


def _key_removed(project: Project) -> None:
    listed = project.kiwi("--json", "trust", "list")
    for entry in json.loads(listed.stdout)["trusted"]:
        assert project.kiwi("trust", "remove", entry["fingerprint"]).returncode == 0


@pytest.mark.parametrize("settled", [False, True], ids=["at-once", "settled"])
@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_same_size_tool_edit, "INTEGRITY_FAILED"),
        (_helper_edit, "INTEGRITY_FAILED"),
        (_key_removed, "SIGNATURE_UNTRUSTED"),
    ],
    ids=["tool-edited", "extra-file-edited", "key-removed"],
)
def test_a_tampered_input_is_refused_at_the_next_call(
    echo: Project, settled: bool, change: Callable[[Project], None], code: str
) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    _warm(kernel, clock, settled)
    change(echo)
    assert _error(kernel) == code


@pytest.mark.parametrize("settled", [False, True], ids=["at-once", "settled"])
@pytest.mark.parametrize("where", ["project/.env", "project/.ai/.env", "user/.env"])
def test_a_new_dotenv_value_is_used_at_the_next_call(
    echo: Project, settled: bool, where: str
) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    assert _warm(kernel, clock, settled).config["env"]["GREETING"] == "none"
    base = echo.root if where.startswith("project") else echo.user
    path = base / where.split("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("GREETING=hello\n")
    assert _plan(kernel).config["env"]["GREETING"] == "hello"


@pytest.mark.parametrize("settled", [False, True], ids=["at-once", "settled"])
def test_a_new_venv_is_used_at_the_next_call(echo: Project, settled: bool) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    assert "VIRTUAL_ENV" not in _warm(kernel, clock, settled).env
    python = echo.root / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    os.symlink(sys.executable, python)
    plan = _plan(kernel)
    assert plan.config["command"] == str(python)
    assert plan.env["VIRTUAL_ENV"] == str(echo.root / ".venv")


@pytest.mark.parametrize("settled", [False, True], ids=["at-once", "settled"])
def test_a_shadowing_runtime_is_used_at_the_next_call(echo: Project, settled: bool) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    assert _warm(kernel, clock, settled).chain.links[1].file.space == "system"
    ours = echo.tools / "runtimes"
    ours.mkdir()
    for name in ("python.yaml", "_python_runner.py"):
        shutil.copy(SYSTEM_RUNTIMES / name, ours / name)
    echo.sign("runtimes/python")
    assert _plan(kernel).chain.links[1].file.space == "project"


@pytest.mark.parametrize("settled", [False, True], ids=["at-once", "settled"])
def test_a_new_lockfile_counts_at_the_next_call(echo: Project, settled: bool) -> None:
    clock = SettleClock()
    kernel = _kernel(echo, clock)
    assert _warm(kernel, clock, settled).lockfile.status == "absent"
    frozen = echo.kiwi("lockfile", "freeze", "echo")
    assert frozen.returncode == 0, frozen.stderr
    assert _plan(kernel).lockfile.status == "ok"
    if settled:
        clock.settle()
        assert _plan(kernel).lockfile.status == "ok"
    _same_size_tool_edit(echo)
    echo.sign("echo")
    plan = _plan(kernel)
    assert plan.lockfile.status == "drift"
    assert any("lockfile drift" in warning for warning in plan.warnings)


def test_a_change_off_the_chains_path_keeps_it_prepared(echo: Project) -> None:
    """Freshness depends only on the chain's own files and folders (issue 14): a new tool in
    another folder, or another tool edited, is not a reason to prepare again."""
    clock = SettleClock()
    for n in range(20):
        echo.write_tool(f"others/o{n}.yaml", "version: 1.0.0\nexecutor_id: x\n")
    clock.settle()
    kernel = _kernel(echo, clock)
    assert asyncio.run(kernel.execute("echo", {}))["ok"]
    clock.settle()
    kept = kernel.prepare("echo")
    assert kernel.prepare("echo") is kept
    echo.write_tool("others/o3.yaml", "version: 1.0.1\nexecutor_id: x\n")
    echo.write_tool("others/more/new.yaml", "version: 1.0.0\nexecutor_id: x\n")
    clock.settle()
    assert kernel.prepare("echo") is kept
    echo.write_tool("echo.yaml", "version: 1.0.0\nexecutor_id: x\n")  # a second file for it
    assert _error(kernel) == "AMBIGUOUS_ID"

"""A kernel that lives across calls (as in ``kiwi serve``) sees every change made meanwhile.

The kernel remembers file contents by stat signature, verdicts by content hash, the policy
and the trusted keys; none of that may let a changed file, a removed key or a narrowed
policy go unnoticed on the next call — including a change made right after the last call
(inside the timestamp granularity) and a same-size edit.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.settings import Settings
from tests.support.clocks import SettleClock
from tests.support.project import Project

TOOL = '''"""Echo."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    return {"said": params.get("say", "hi")}
'''


def _kernel(project: Project, clock: SettleClock) -> Kernel:
    return Kernel(Settings.from_environment(project.root, env=project.env), clock_ns=clock)


def _run(kernel: Kernel, **params: Any) -> dict[str, Any]:
    return asyncio.run(kernel.execute("echo", params))


def _signed(project: Project) -> Path:
    path = project.write_tool("echo.py", TOOL)
    project.sign("echo")
    return path


def test_an_edit_right_after_a_call_is_refused(project: Project) -> None:
    path = _signed(project)
    kernel = _kernel(project, SettleClock())
    assert _run(kernel)["data"] == {"said": "hi"}
    path.write_text(path.read_text().replace('"hi"', '"ho"'))  # same size, no settling
    envelope = _run(kernel)
    assert envelope["error"]["code"] == "INTEGRITY_FAILED", envelope


def test_a_same_size_edit_after_the_file_settled_is_refused(project: Project) -> None:
    path = _signed(project)
    clock = SettleClock()
    kernel = _kernel(project, clock)
    clock.settle()
    assert _run(kernel)["ok"]
    assert _run(kernel)["ok"]  # now answered from the remembered bytes
    before = path.stat()
    path.write_text(path.read_text().replace('"hi"', '"ho"'))
    assert path.stat().st_size == before.st_size
    envelope = _run(kernel)
    assert envelope["error"]["code"] == "INTEGRITY_FAILED", envelope


def test_a_key_removed_by_another_process_counts_at_the_next_call(project: Project) -> None:
    _signed(project)
    clock = SettleClock()
    kernel = _kernel(project, clock)
    clock.settle()
    assert _run(kernel)["ok"]
    listed = project.kiwi("--json", "trust", "list")
    assert listed.returncode == 0, listed.stderr
    fingerprints = [entry["fingerprint"] for entry in json.loads(listed.stdout)["trusted"]]
    for fp in fingerprints:
        removed = project.kiwi("trust", "remove", fp)
        assert removed.returncode == 0, removed.stderr
    envelope = _run(kernel)
    assert envelope["error"]["code"] == "SIGNATURE_UNTRUSTED", envelope


def test_a_narrowed_policy_counts_at_the_next_call(project: Project) -> None:
    _signed(project)
    kernel = _kernel(project, SettleClock())
    assert _run(kernel)["ok"]
    policy = project.root / ".ai" / "config" / "policy.yaml"
    policy.parent.mkdir(parents=True)
    policy.write_text("version: 1\ncapabilities: ['tool.execute:other']\n")
    envelope = _run(kernel)
    assert envelope["error"]["code"] == "PERMISSION_DENIED", envelope
    policy.unlink()
    assert _run(kernel)["ok"]

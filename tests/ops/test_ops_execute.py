"""``ops.execute``: a tool through the executor, a directive inline, a knowledge entry, and
thread mode refused — each envelope as the MCP face and ``kiwi run`` return it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiwi_mcp.kernel.core.ids import Kind
from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.ops.admin import audit_folder, audit_tail
from kiwi_mcp.kernel.ops.execute import execute
from tests.ops.conftest import Workspace


def _execute(workspace: Workspace, kind: Kind, item_id: str, **kw: Any) -> dict[str, Any]:
    kernel = workspace.kernel()
    parameters = kw.pop("parameters", {})

    async def go() -> dict[str, Any]:
        try:
            return await execute(kernel, kind, item_id, parameters, **kw)
        finally:
            await kernel.aclose()

    return asyncio.run(go())


def _audit_lines(workspace: Workspace) -> list[dict[str, Any]]:
    return audit_tail(audit_folder(workspace.root), 10)


def test_a_tool_runs_through_the_executor(workspace: Workspace) -> None:
    envelope = _execute(workspace, "tool", "echo", parameters={"say": "ho"})
    assert envelope["ok"], envelope
    assert envelope["data"] == {"said": "ho"}
    assert envelope["meta"]["chain"][0] == "echo"


def test_a_directive_executes_inline_with_its_instructions_rendered(
    workspace: Workspace,
) -> None:
    envelope = _execute(workspace, "directive", "review", parameters={"path": "a.py"})
    assert envelope["ok"], envelope
    assert "Review a.py carefully." in envelope["data"]["instructions"]
    assert "dry_run" not in envelope["data"]
    meta = envelope["meta"]
    assert (meta["chain"], meta["space"], meta["primitive"]) == (["review"], "project", None)
    assert isinstance(meta["duration_ms"], float)
    (record,) = _audit_lines(workspace)
    assert (record["item"], record["outcome"]) == ("directive:review", "ok")


def test_a_dry_run_of_a_directive_says_so_in_its_data(workspace: Workspace) -> None:
    envelope = _execute(workspace, "directive", "review", parameters={"path": "a.py"}, dry_run=True)
    assert envelope["data"]["dry_run"] is True


def test_a_knowledge_entry_executes_as_itself(workspace: Workspace) -> None:
    envelope = _execute(workspace, "knowledge", "style")
    assert envelope["ok"], envelope
    assert envelope["data"]["kind"] == "knowledge"
    assert envelope["data"]["entry"]["title"] == "House style"


def test_a_tampered_knowledge_entry_is_an_error_envelope_and_still_audited(
    workspace: Workspace,
) -> None:
    path = workspace.root / ".ai/knowledge/style.md"
    path.write_text(path.read_text() + "Also: no globals.\n")
    envelope = _execute(workspace, "knowledge", "style")
    assert not envelope["ok"]
    assert envelope["error"]["code"] == "INTEGRITY_FAILED"
    assert envelope["meta"]["chain"] == []
    (record,) = _audit_lines(workspace)
    assert (record["item"], record["outcome"]) == ("knowledge:style", "INTEGRITY_FAILED")


def test_missing_directive_inputs_are_params_invalid(workspace: Workspace) -> None:
    envelope = _execute(workspace, "directive", "review")
    assert envelope["error"]["code"] == "PARAMS_INVALID"
    assert envelope["meta"]["chain"] == ["review"]


@pytest.mark.parametrize("kind", ["tool", "directive", "knowledge"])
def test_thread_mode_is_not_available_for_any_kind(workspace: Workspace, kind: Kind) -> None:
    with pytest.raises(KiwiError) as caught:
        _execute(workspace, kind, "anything", thread=True)
    assert caught.value.code == "NOT_AVAILABLE"
    assert caught.value.details == {"feature": "threads"}

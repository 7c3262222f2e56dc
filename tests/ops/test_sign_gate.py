"""``sign_items``: the operator signs ungated, an agent needs ``<kind>.sign:<id>`` (SPEC §9.3);
patterns are checked as ids (issue #12)."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.errors import InvalidId, PermissionDenied
from kiwi_mcp.kernel.ops.sign import sign_items
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from tests.ops.conftest import ECHO, Workspace


def test_caps_none_is_the_operator_signing_ungated(workspace: Workspace) -> None:
    path = workspace.write("tools/fresh.py", ECHO.replace("hi", "hello"))
    kernel = workspace.kernel()
    signed = sign_items(kernel.store, workspace.user, "tool", "fresh", caps=None)
    assert [(s.id, s.changed) for s in signed] == [("fresh", True)]
    assert path.read_text().startswith("# kiwi:signed:v1:")


def test_an_agent_without_the_sign_capability_is_denied_with_a_hint_for_the_operator(
    workspace: Workspace,
) -> None:
    workspace.write("tools/fresh.py", ECHO.replace("hi", "hello"))
    workspace.write("tools/other.py", ECHO.replace("hi", "hey"))
    kernel = workspace.kernel()
    caps = CapabilitySet.from_strings(["tool.execute:**", "tool.sign:echo"])
    with pytest.raises(PermissionDenied) as info:
        sign_items(kernel.store, workspace.user, "tool", "**", caps=caps)
    error = info.value
    assert error.message == "missing capability tool.sign:fresh, tool.sign:other"
    assert error.details == {"missing": ["tool.sign:fresh", "tool.sign:other"]}
    assert error.hint == (
        "Signing is the operator's act: ask the operator to run 'kiwi sign tool fresh', "
        "'kiwi sign tool other'."
    )


def test_an_agent_holding_the_capability_signs(workspace: Workspace) -> None:
    workspace.write("tools/fresh.py", ECHO.replace("hi", "hello"))
    kernel = workspace.kernel()
    caps = CapabilitySet.from_strings(["tool.sign:fresh"])
    signed = sign_items(kernel.store, workspace.user, "tool", "fresh", caps=caps)
    assert [s.id for s in signed] == ["fresh"]


def test_caps_must_be_passed_explicitly(workspace: Workspace) -> None:
    kernel = workspace.kernel()
    with pytest.raises(TypeError):
        sign_items(kernel.store, workspace.user, "tool", "echo")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "bad", ["../x", "a/./b", "/abs", "a//b", "", "a\x00b", "a" * 5000], ids=lambda s: repr(s[:12])
)
def test_a_malformed_pattern_is_invalid_id_before_anything_is_read(
    workspace: Workspace, bad: str
) -> None:
    kernel = workspace.kernel()
    with pytest.raises(InvalidId) as info:
        sign_items(kernel.store, workspace.user, "tool", bad, caps=None)
    assert "runtimes/python" in info.value.hint


def test_signing_one_id_touches_that_item_and_lists_nothing(workspace: Workspace) -> None:
    for n in range(10):
        workspace.write(f"tools/crowd/c{n}.py", ECHO)
    path = workspace.write("tools/deep/one.py", ECHO.replace("hi", "one"))
    kernel = workspace.kernel()
    signed = sign_items(kernel.store, workspace.user, "tool", "deep/one", caps=None)
    assert [(s.id, s.changed) for s in signed] == [("deep/one", True)]
    assert path.read_text().startswith("# kiwi:signed:v1:")
    assert kernel.store._index == {}  # found by its path: no space was listed
    assert (
        not (workspace.root / ".ai" / "tools" / "crowd" / "c1.py")
        .read_text()
        .startswith("# kiwi:signed")
    )

"""``ops.lockfiles``: freeze, validate, list, prune and refresh over real lockfiles."""

from __future__ import annotations

import json

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.ops.lockfiles import freeze, list_lockfiles, prune, refresh, validate
from tests.ops.conftest import ECHO, Workspace

DAY = 86400.0


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_freeze_writes_the_verified_chain_and_validate_then_finds_no_drift(
    workspace: Workspace,
) -> None:
    kernel = workspace.kernel()
    frozen = freeze(kernel, "echo")
    assert frozen.path == workspace.root / ".ai/lockfiles/echo@1.0.0.lock.json"
    assert frozen.chain[0] == "echo" and frozen.chain[-1].startswith("primitives/")
    locked = json.loads(frozen.path.read_text())
    assert [link["id"] for link in locked["chain"]] == list(frozen.chain)
    check = validate(kernel, "echo")
    assert (check.id, check.version, check.found) == ("echo", "1.0.0", True)
    assert (check.status, check.ok, check.drifts) == ("ok", True, ())


def test_refreezing_an_unchanged_chain_is_byte_identical(workspace: Workspace) -> None:
    first = freeze(workspace.kernel(), "echo").path.read_bytes()
    assert freeze(workspace.kernel(), "echo").path.read_bytes() == first


def test_a_changed_and_re_signed_link_is_drift_naming_the_link_and_both_hashes(
    workspace: Workspace,
) -> None:
    path = freeze(workspace.kernel(), "echo").path
    old = json.loads(path.read_text())["chain"][0]["integrity"]
    workspace.write("tools/echo.py", ECHO.replace('"hi"', '"ho"'))
    workspace.sign()
    check = validate(workspace.kernel(), "echo")
    assert (check.status, check.ok) == ("drift", False)
    (drift,) = check.drifts
    assert (drift.link_id, drift.field, drift.locked) == ("echo", "integrity", old)
    assert drift.current is not None and drift.current != old


def test_validate_without_a_lockfile_reports_it_absent(workspace: Workspace) -> None:
    check = validate(workspace.kernel(), "echo")
    assert (check.status, check.found, check.ok) == ("absent", False, False)


def test_freeze_refuses_a_tampered_chain_and_writes_nothing(workspace: Workspace) -> None:
    path = workspace.root / ".ai/tools/echo.py"
    path.write_text(path.read_text() + "\n# edited after signing\n")
    with pytest.raises(KiwiError) as caught:
        freeze(workspace.kernel(), "echo")
    assert caught.value.code == "INTEGRITY_FAILED"
    assert caught.value.at == "echo"
    assert not (workspace.root / ".ai/lockfiles").exists()


def test_refresh_refreezes_every_lockfile_whose_chain_holds_the_link(
    workspace: Workspace,
) -> None:
    workspace.write("tools/echo2.py", ECHO)
    workspace.sign()
    kernel = workspace.kernel()
    freeze(kernel, "echo")
    freeze(kernel, "echo2")
    done = {entry.id: entry for entry in refresh(kernel, "runtimes/python")}
    assert sorted(done) == ["echo", "echo2"]
    assert done["echo"].to_dict() == {
        "id": "echo",
        "path": str(workspace.root / ".ai/lockfiles/echo@1.0.0.lock.json"),
        "chain": list(done["echo"].chain),
    }
    assert [entry.id for entry in refresh(kernel, "echo2")] == ["echo2"]


def test_prune_removes_only_lockfiles_frozen_longer_ago_than_asked(workspace: Workspace) -> None:
    clock = Clock(1_800_000_000.0)
    kernel = workspace.kernel(clock=clock)
    path = freeze(kernel, "echo").path
    (entry,) = list_lockfiles(kernel)
    assert (entry.id, entry.version, entry.path, entry.shadowed) == ("echo", "1.0.0", path, False)
    clock.now += 2 * DAY
    assert prune(kernel, 3) == []
    assert prune(kernel, 1) == [path]
    assert not path.exists()
    assert list_lockfiles(kernel) == []

"""``ops.load``: reading, loading, copying into a space and loading for use, on real files."""

from __future__ import annotations

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.ops.load import load, load_verified, offered, read, read_knowledge
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from tests.ops.conftest import ECHO, Workspace


def test_load_reports_a_signed_item_as_verified_with_its_raw_file(workspace: Workspace) -> None:
    report = load(workspace.kernel(), "tool", "echo")
    data = report.to_dict()
    assert (data["kind"], data["id"], data["space"]) == ("tool", "echo", "project")
    assert data["integrity"] == {"status": "verified"}
    assert data["raw"].startswith("# kiwi:signed:v1:")
    assert data["sha256"] == report.loaded.sha256
    assert "copied_to" not in data


def test_load_reports_a_tampered_file_as_failed_integrity_instead_of_raising(
    workspace: Workspace,
) -> None:
    path = workspace.root / ".ai/tools/echo.py"
    path.write_text(path.read_text() + "\n# edited after signing\n")
    integrity = load(workspace.kernel(), "tool", "echo").integrity
    assert integrity.status == "failed"
    assert integrity.code == "INTEGRITY_FAILED"
    assert integrity.to_dict() == {
        "status": "failed",
        "code": "INTEGRITY_FAILED",
        "message": integrity.message,
    }


def test_load_copies_a_user_item_into_the_project_where_it_verifies_again(
    workspace: Workspace,
) -> None:
    workspace.write("tools/shared/echo2.py", ECHO, space="user")
    workspace.sign()
    kernel = workspace.kernel()
    report = load(kernel, "tool", "shared/echo2", destination="project")
    target = workspace.root / ".ai/tools/shared/echo2.py"
    assert report.loaded.file.space == "user"
    assert report.copied is not None
    assert report.copied.to_dict() == {
        "space": "project",
        "path": str(target),
        "files": [str(target)],
    }
    assert target.read_bytes() == (workspace.user / "tools/shared/echo2.py").read_bytes()
    again = load(kernel, "tool", "shared/echo2")
    assert again.loaded.file.space == "project"
    assert [f.space for f in again.loaded.located.shadowed] == ["user"]
    assert again.integrity.status == "verified"


def test_a_second_copy_refuses_to_overwrite_the_first(workspace: Workspace) -> None:
    workspace.write("tools/shared/echo2.py", ECHO, space="user")
    workspace.sign()
    kernel = workspace.kernel()
    load(kernel, "tool", "shared/echo2", destination="project")
    with pytest.raises(KiwiError) as caught:
        load(kernel, "tool", "shared/echo2", within=("user",), destination="project")
    target = workspace.root / ".ai/tools/shared/echo2.py"
    assert caught.value.code == "USAGE_ERROR"
    assert caught.value.message == f"refusing to overwrite {target}"
    assert caught.value.details == {"existing": [str(target)]}


def test_copying_into_the_space_the_item_lives_in_is_a_usage_error(workspace: Workspace) -> None:
    with pytest.raises(KiwiError) as caught:
        load(workspace.kernel(), "tool", "echo", destination="project")
    assert caught.value.code == "USAGE_ERROR"
    assert caught.value.message == "tool echo already lives in the project space"


def test_copying_into_the_project_needs_fs_write_on_the_target(workspace: Workspace) -> None:
    workspace.write("tools/shared/echo2.py", ECHO, space="user")
    workspace.sign()
    kernel = workspace.kernel(caps=CapabilitySet.from_strings(["tool.execute:**"]))
    with pytest.raises(KiwiError) as caught:
        load(kernel, "tool", "shared/echo2", destination="project")
    assert caught.value.code == "PERMISSION_DENIED"
    assert caught.value.details == {"missing": ["fs.write:.ai/tools/shared/echo2.py"]}
    assert not (workspace.root / ".ai/tools/shared").exists()


def test_load_without_the_load_capability_is_permission_denied(workspace: Workspace) -> None:
    kernel = workspace.kernel(caps=CapabilitySet.from_strings(["directive.execute:**"]))
    with pytest.raises(KiwiError) as caught:
        load(kernel, "tool", "echo")
    assert caught.value.code == "PERMISSION_DENIED"
    assert caught.value.message == "missing capability tool.load:echo"


def test_read_sees_a_file_added_after_the_kernel_first_looked(workspace: Workspace) -> None:
    kernel = workspace.kernel()
    with pytest.raises(KiwiError) as caught:
        read(kernel, "tool", "later")
    assert caught.value.code == "ITEM_NOT_FOUND"
    workspace.write("tools/later.py", ECHO)
    assert read(kernel, "tool", "later").file.id == "later"


def test_load_verified_returns_the_item_and_raises_for_a_tampered_one(
    workspace: Workspace,
) -> None:
    kernel = workspace.kernel()
    verified = load_verified(kernel, "directive", "review")
    assert verified.loaded.file.id == "review" and verified.warning is None
    path = workspace.root / ".ai/directives/review.md"
    path.write_text(path.read_text().replace("carefully", "quickly"))
    with pytest.raises(KiwiError) as caught:
        load_verified(workspace.kernel(), "directive", "review")
    assert caught.value.code == "INTEGRITY_FAILED"


def test_load_verified_checks_the_execute_capability_of_a_directive(workspace: Workspace) -> None:
    kernel = workspace.kernel(caps=CapabilitySet.from_strings(["knowledge.load:**"]))
    with pytest.raises(KiwiError) as caught:
        load_verified(kernel, "directive", "review")
    assert caught.value.code == "PERMISSION_DENIED"
    assert caught.value.details == {"missing": ["directive.execute:review"]}


def test_read_knowledge_is_the_entry_without_its_signature_line(workspace: Workspace) -> None:
    text = read_knowledge(workspace.kernel(), "style")
    assert text.startswith("---\ntitle: House style\n")
    assert "kiwi:signed" not in text


def test_offered_lists_each_id_once_and_skips_an_unparsable_one_with_its_error(
    workspace: Workspace,
) -> None:
    workspace.write("knowledge/broken.md", "---\ntitle: [unclosed\n---\nbody\n")
    found = offered(workspace.kernel(), "knowledge")
    assert [loaded.file.id for loaded in found.items] == ["style", "threads/agent_guide"]
    assert [(item_id, err.code) for item_id, err in found.skipped] == [("broken", "PARSE_ERROR")]

"""``ops.admin``: keys, trusted signers, credentials (file backend) and the audit log, in
temp folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.ops.admin import (
    audit_folder,
    audit_tail,
    audit_verify,
    auth_logout,
    auth_signin,
    auth_status,
    keys_init,
    keys_show,
    trust_add,
    trust_list,
    trust_remove,
)

NOW = 1_800_000_000.0


def test_keys_init_makes_the_key_once_and_trusts_it(tmp_path: Path) -> None:
    made = keys_init(tmp_path)
    assert made.created is True and len(made.fingerprint) == 64
    assert made.public_key_path == tmp_path / "keys/signing_key.pub"
    again = keys_init(tmp_path)
    assert (again.created, again.fingerprint) == (False, made.fingerprint)
    (signer,) = trust_list(tmp_path)
    assert signer.to_dict() == {
        "fingerprint": made.fingerprint,
        "path": str(tmp_path / "trust" / f"{made.fingerprint}.pub"),
        "own": True,
    }


def test_keys_show_gives_the_public_pem_and_without_a_key_says_to_run_keys_init(
    tmp_path: Path,
) -> None:
    with pytest.raises(KiwiError) as caught:
        keys_show(tmp_path)
    assert caught.value.code == "KEY_MISSING"
    assert "kiwi keys init" in caught.value.hint
    fp = keys_init(tmp_path).fingerprint
    shown = keys_show(tmp_path)
    assert shown.fingerprint == fp
    assert shown.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert shown.public_pem.encode() == shown.public_key_path.read_bytes()


def test_another_users_key_is_trusted_by_its_file_and_not_marked_own(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "me", tmp_path / "them"
    own = keys_init(mine).fingerprint
    other = keys_init(theirs)
    assert trust_add(mine, other.public_key_path) == other.fingerprint
    marked = {signer.fingerprint: signer.own for signer in trust_list(mine)}
    assert marked == {own: True, other.fingerprint: False}
    trust_remove(mine, other.fingerprint)
    assert [signer.fingerprint for signer in trust_list(mine)] == [own]


def test_trust_add_of_a_missing_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pub"
    with pytest.raises(KiwiError) as caught:
        trust_add(tmp_path, missing)
    assert caught.value.code == "USAGE_ERROR"
    assert caught.value.message == f"cannot read {missing}: No such file or directory"


def test_trust_remove_of_an_unknown_fingerprint_is_item_not_found(tmp_path: Path) -> None:
    with pytest.raises(KiwiError) as caught:
        trust_remove(tmp_path, "0" * 64)
    assert caught.value.code == "ITEM_NOT_FOUND"


def test_signin_then_status_then_logout_on_the_file_backend(tmp_path: Path) -> None:
    stored = auth_signin(
        tmp_path, "file", "github", access_token="t-1", expires_in=60.0, scopes=["repo"], now=NOW
    )
    assert (stored.name, stored.is_file, stored.fallback_reason) == ("file", True, None)
    assert stored.path is not None and stored.path.is_relative_to(tmp_path)
    report = auth_status(tmp_path, "file")
    assert report.to_dict() == {
        "backend": "file",
        "file_fallback": False,
        "fallback_reason": None,
        "path": str(stored.path),
        "services": [
            {
                "service": "github",
                "has_refresh": False,
                "expires_at": NOW + 60.0,
                "expired": report.services[0].expired,
                "scopes": ["repo"],
            }
        ],
    }
    auth_logout(tmp_path, "file", "github")
    assert auth_status(tmp_path, "file").services == ()


def test_a_refresh_token_alone_is_stored_as_already_expired(tmp_path: Path) -> None:
    auth_signin(
        tmp_path,
        "file",
        "api",
        access_token="",
        refresh_token="r-1",
        expires_in=3600.0,
        token_url="https://auth.example/token",
        now=NOW,
    )
    (status,) = auth_status(tmp_path, "file").services
    assert (status.expires_at, status.expired, status.has_refresh) == (0.0, True, True)


def test_logout_of_a_service_never_signed_in_is_item_not_found(tmp_path: Path) -> None:
    with pytest.raises(KiwiError) as caught:
        auth_logout(tmp_path, "file", "github")
    assert caught.value.code == "ITEM_NOT_FOUND"


def test_an_unknown_backend_choice_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(KiwiError) as caught:
        auth_status(tmp_path, "vault")
    assert caught.value.code == "USAGE_ERROR"


def test_the_audit_folder_is_the_projects_ai_logs_audit(tmp_path: Path) -> None:
    assert audit_folder(tmp_path) == tmp_path / ".ai" / "logs" / "audit"


def test_an_empty_audit_log_is_intact_and_has_no_records(tmp_path: Path) -> None:
    folder = audit_folder(tmp_path)
    report = audit_verify(folder)
    assert (report.ok, report.lines, report.first_bad) == (True, 0, None)
    assert audit_tail(folder, 5) == []

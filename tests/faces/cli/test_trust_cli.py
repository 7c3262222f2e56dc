"""`kiwi keys|trust|audit` handlers, driven through argparse with the real add_parsers."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiwi_mcp.kernel.faces.cli.base import CliContext
from kiwi_mcp.kernel.faces.cli.trust_cmds import add_parsers
from kiwi_mcp.kernel.trust.audit.log import AuditLog
from kiwi_mcp.kernel.trust.encoding import fingerprint


def kiwi(argv: Sequence[str]) -> tuple[int, str, str]:
    """A stand-in for the lead's `kiwi` entry point: global options, then our commands."""
    parser = argparse.ArgumentParser(prog="kiwi")
    parser.add_argument("--project")
    parser.add_argument("--json", action="store_true")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue(), err.getvalue()
    project = Path(args.project) if args.project else None
    ctx = CliContext(project=project, json=args.json, stdout=out, stderr=err)
    code = args.func(args, ctx)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def user_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "user"
    monkeypatch.setenv("KIWI_USER_SPACE", str(root))
    return root


def test_keys_init_then_show(user_space: Path) -> None:
    code, out, _ = kiwi(["--json", "keys", "init"])
    assert code == 0
    made = json.loads(out)
    assert made["created"] is True and len(made["fingerprint"]) == 64
    code, out, _ = kiwi(["keys", "init"])
    assert code == 0 and out.startswith(
        f"Kept existing signing key {made['fingerprint']} (trusted)."
    )
    code, out, _ = kiwi(["--json", "keys", "show"])
    shown = json.loads(out)
    assert shown["fingerprint"] == made["fingerprint"]
    assert shown["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in out
    code, out, _ = kiwi(["keys", "show"])
    assert out.splitlines()[0] == f"Fingerprint: {made['fingerprint']}"


def test_keys_show_without_a_key_fails_with_a_hint() -> None:
    code, out, err = kiwi(["keys", "show"])
    assert code == 1 and out == ""
    assert err.startswith("[KEY_MISSING] no signing key at ")
    assert "hint: Run 'kiwi keys init' to make your signing key." in err


def test_trust_add_list_remove(tmp_path: Path, other_key: Ed25519PrivateKey) -> None:
    pub = tmp_path / "their.pub"
    pub.write_bytes(
        other_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    theirs = fingerprint(other_key.public_key())
    kiwi(["keys", "init"])
    code, out, _ = kiwi(["trust", "add", str(pub)])
    assert (code, out) == (0, f"Trusted signer {theirs}.\n")
    code, out, _ = kiwi(["--json", "trust", "list"])
    listed = json.loads(out)["trusted"]
    assert {k["fingerprint"]: k["own"] for k in listed}[theirs] is False
    assert sorted(k["own"] for k in listed) == [False, True]
    code, out, _ = kiwi(["trust", "remove", theirs])
    assert (code, out) == (0, f"No longer trusting {theirs}.\n")
    code, _, err = kiwi(["trust", "remove", theirs])
    assert code == 1 and err.startswith(f"[ITEM_NOT_FOUND] no trusted key {theirs}")


def test_trust_add_of_a_missing_or_bad_file_fails(tmp_path: Path) -> None:
    code, _, err = kiwi(["trust", "add", str(tmp_path / "nope.pub")])
    assert code == 1 and err.startswith(f"[USAGE_ERROR] cannot read {tmp_path / 'nope.pub'}")
    bad = tmp_path / "bad.pub"
    bad.write_text("hello")
    code, _, err = kiwi(["trust", "add", str(bad)])
    assert code == 1 and err.startswith(f"[PARSE_ERROR] {bad}: not an Ed25519 public key in PEM")


def test_a_missing_subcommand_is_a_usage_error() -> None:
    code, _, err = kiwi(["trust"])
    assert code == 2 and "required" in err


def _project_with_log(tmp_path: Path, n: int) -> Path:
    project = tmp_path / "proj"
    log = AuditLog(project / ".ai" / "logs" / "audit", lambda: 1_735_689_600.0)
    for i in range(n):
        log.append({"item": f"t{i}", "decision": "allow"})
    return project


def test_audit_verify_and_tail(tmp_path: Path) -> None:
    project = _project_with_log(tmp_path, 3)
    code, out, _ = kiwi(["--project", str(project), "audit", "verify"])
    assert code == 0 and out.startswith("Audit chain intact: 3 line(s) in ")
    code, out, _ = kiwi(["--project", str(project), "--json", "audit", "tail", "-n", "2"])
    assert [r["item"] for r in json.loads(out)["records"]] == ["t1", "t2"]
    code, out, _ = kiwi(["--project", str(project), "audit", "tail"])
    assert len(out.splitlines()) == 3


def test_audit_verify_reports_a_tampered_line_and_fails(tmp_path: Path) -> None:
    project = _project_with_log(tmp_path, 3)
    path = project / ".ai" / "logs" / "audit" / "2025-01-01.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"item":"t0"', b'"item":"tX"'))
    code, _, err = kiwi(["--project", str(project), "audit", "verify"])
    assert code == 1
    assert err.startswith(f"[AUDIT_BROKEN] {path}, line 1: this line was changed")
    code, out, _ = kiwi(["--project", str(project), "--json", "audit", "verify"])
    assert code == 1 and json.loads(out)["first_bad"]["line"] == 1


def test_audit_tail_rejects_a_non_positive_count(tmp_path: Path) -> None:
    code, _, err = kiwi(["audit", "tail", "-n", "0"])
    assert code == 2 and "expected a number of at least 1" in err

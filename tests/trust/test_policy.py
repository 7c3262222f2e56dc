"""The project's policy.yaml: defaults, its signature, and errors that name the file and
field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiwi_mcp.kernel.errors import ParseError, PermissionDenied
from kiwi_mcp.kernel.trust.policy import (
    DEFAULT_CAPABILITIES,
    POLICY_ID,
    POLICY_KIND,
    check_signature,
    load_policy,
    parse_policy,
    policy_text,
)
from kiwi_mcp.kernel.trust.signing import sign_item

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _write(root: Path, text: str) -> Path:
    path = root / ".ai" / "config" / "policy.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return root


def test_an_absent_policy_gives_the_spec_defaults(tmp_path: Path) -> None:
    caps = load_policy(tmp_path)
    assert caps.to_list() == [
        "tool.execute:**",
        "directive.execute:**",
        "knowledge.load:**",
        "tool.load:**",
        "directive.load:**",
        "net.http:**",
        "process.exec:*",
        "fs.read:**",
        "fs.write:**",
        "spawn.thread",
        "mcp.call:**",
    ]
    assert caps.to_list() == list(DEFAULT_CAPABILITIES)
    assert caps.covers("tool.load:x/y") and caps.covers("spawn.thread")


@pytest.mark.parametrize(
    "wanted",
    [
        "tool.sign:hello",
        "directive.sign:x",
        "knowledge.sign:x",
        "thread.control:t-1",
        "registry.write:x",
        "fs.write:.ai/config/policy.yaml",
        "fs.write:.ai/logs/audit/2026-12-02.jsonl",
        "fs.read:.ai/lockfiles/x.json",
    ],
)
def test_the_default_policy_grants_no_signing_control_publishing_or_kiwi_state(
    wanted: str,
) -> None:
    assert not parse_policy(None).covers(wanted)


def test_the_policy_kiwi_init_writes_is_the_defaults() -> None:
    assert parse_policy(policy_text().encode()).to_list() == list(DEFAULT_CAPABILITIES)


def _signed(text: str, key: Ed25519PrivateKey) -> bytes:
    return sign_item(
        text.encode(), ext=".yaml", kind=POLICY_KIND, item_id=POLICY_ID, key=key, now=NOW
    )


def test_a_signed_policy_passes_under_signed_and_still_parses(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    data = _signed(policy_text(), key)
    assert data.startswith(b"# kiwi:signed:v1:")
    assert check_signature(data, verify="signed", trusted_keys=trusted) is None
    assert parse_policy(data).to_list() == list(DEFAULT_CAPABILITIES)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("unsigned", "SIGNATURE_MISSING"),
        ("changed", "INTEGRITY_FAILED"),
        ("untrusted", "SIGNATURE_UNTRUSTED"),
    ],
)
def test_under_signed_an_unsigned_changed_or_untrusted_policy_refuses_agents(
    case: str,
    reason: str,
    key: Ed25519PrivateKey,
    other_key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    data = {
        "unsigned": policy_text().encode(),
        "changed": _signed(policy_text(), key) + b'  - "tool.sign:**"\n',
        "untrusted": _signed(policy_text(), other_key),
    }[case]
    with pytest.raises(PermissionDenied) as info:
        check_signature(data, verify="signed", trusted_keys=trusted)
    assert info.value.details["reason"] == reason
    assert "kiwi sign policy" in info.value.hint
    assert info.value.message.startswith("the policy .ai/config/policy.yaml ")


def test_under_hash_an_unsigned_policy_warns_and_a_changed_one_is_refused(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    warning = check_signature(policy_text().encode(), verify="hash", trusted_keys=trusted)
    assert warning is not None and "kiwi sign policy" in warning
    changed = _signed(policy_text(), key) + b'  - "tool.sign:**"\n'
    with pytest.raises(PermissionDenied):
        check_signature(changed, verify="hash", trusted_keys=trusted)


def test_an_absent_policy_or_verify_off_needs_no_signature(
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    assert check_signature(None, verify="signed", trusted_keys=trusted) is None
    assert check_signature(b"version: 1\n", verify="off", trusted_keys=trusted) is None


def test_a_policy_signature_is_not_an_item_signature(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    # the same bytes signed as a tool do not pass as the policy (the hash binds kind and id)
    as_tool = sign_item(
        policy_text().encode(), ext=".yaml", kind="tool", item_id="policy", key=key, now=NOW
    )
    with pytest.raises(PermissionDenied):
        check_signature(as_tool, verify="signed", trusted_keys=trusted)


def test_a_policy_file_replaces_the_defaults(tmp_path: Path) -> None:
    root = _write(tmp_path, 'version: 1\ncapabilities: ["fs.read:docs/**", "spawn.thread"]\n')
    caps = load_policy(root)
    assert caps.to_list() == ["fs.read:docs/**", "spawn.thread"]
    assert not caps.covers("tool.execute:x")


def test_an_empty_capability_list_denies_everything(tmp_path: Path) -> None:
    caps = load_policy(_write(tmp_path, "version: 1\ncapabilities: []\n"))
    assert caps.missing(["tool.execute:a"]) == ["tool.execute:a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'version: 1\ncapabilities: ["fs.read", "fs.write", "net.htp:x"]\n',
            ".ai/config/policy.yaml: capabilities[2]: unknown capability 'net.htp:x'",
        ),
        ("version: 2\ncapabilities: []\n", ".ai/config/policy.yaml: version: expected 1, got 2"),
        ("capabilities: []\n", ".ai/config/policy.yaml: version: missing"),
        ("version: 1\n", ".ai/config/policy.yaml: capabilities: missing"),
        (
            "version: 1\ncapabilities: fs.read\n",
            ".ai/config/policy.yaml: capabilities: expected a list, got str",
        ),
        (
            "version: 1\ncapabilities: [3]\n",
            ".ai/config/policy.yaml: capabilities[0]: expected a string, got 3",
        ),
        (
            "version: 1\ncapabilities: []\nallow_all: true\n",
            ".ai/config/policy.yaml: allow_all: unknown field"
            " (allowed: version, capabilities, approve, approval_timeout)",
        ),
        ("- a\n", ".ai/config/policy.yaml: expected a mapping with version, capabilities"),
        ("version: [1\n", ".ai/config/policy.yaml: line 2: not valid YAML"),
        (
            "version: 1\na: &a [x, x]\nb: &b [*a, *a]\ncapabilities: []\n",
            ".ai/config/policy.yaml: line 2: YAML anchors and aliases are not allowed in item"
            " files",
        ),
        (
            'version: 1\ncapabilities: ["fs.read:../x"]\n',
            ".ai/config/policy.yaml: capabilities[0]: bad scope in capability 'fs.read:../x':"
            " '..' segments are not allowed in '../x'",
        ),
    ],
)
def test_a_bad_policy_names_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        load_policy(_write(tmp_path, text))
    assert info.value.message == message
    assert info.value.code == "PARSE_ERROR"

"""Item signatures (SPEC §4.1): placement, hashing, re-signing and every policy outcome."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiwi_mcp.kernel.core.signature_line import split_signature
from kiwi_mcp.kernel.errors import IntegrityFailed, ParseError, SignatureMissing, SignatureUntrusted
from kiwi_mcp.kernel.trust import signing
from kiwi_mcp.kernel.trust.encoding import b64url_decode, fingerprint
from kiwi_mcp.kernel.trust.signing import content_hash, sign_item, verify_item

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
POLICIES: tuple[Literal["signed", "hash"], ...] = ("signed", "hash")

# (ext, kind, id, file bytes): one of each comment style, with and without a shebang.
FILES = [
    (
        ".yaml",
        "tool",
        "weather",
        b'version: "1.2.0"\nexecutor_id: primitives/http_client\nconfig:\n  url: "https://x.test"\n',
    ),
    (
        ".py",
        "tool",
        "util/hello",
        b'#!/usr/bin/env python3\n"""Say hello."""\n__version__ = "1.0.0"\n',
    ),
    (".sh", "tool", "sh/hi", b'#!/usr/bin/env bash\n# kiwi:\n#   version: "1.0.0"\necho hi\n'),
    (
        ".js",
        "tool",
        "js/hi",
        b'#!/usr/bin/env node\n// kiwi:\n//   version: "1.0.0"\nconsole.log(1)\n',
    ),
    (
        ".md",
        "directive",
        "review/code",
        b'# Review\n\n```xml\n<directive name="code"/>\n```\nStep 1.\n',
    ),
    (".md", "knowledge", "notes/a", b"---\nid: a\ntitle: A\n---\nBody [[b]].\n"),
]
IDS = [f"{kind}{ext}:{item_id}" for ext, kind, item_id, _ in FILES]
LINE = re.compile(
    rb"(#|//|<!--) kiwi:signed:v1:2025-03-04T05:06:07Z:"
    rb"[0-9a-f]{64}:[A-Za-z0-9_-]{86}:[0-9a-f]{64}( -->)?\n"
)


def _sign(
    data: bytes,
    ext: str,
    kind: str,
    item_id: str,
    key: Ed25519PrivateKey,
    extra_files: Sequence[tuple[str, bytes]] = (),
) -> bytes:
    return sign_item(
        data, ext=ext, kind=kind, item_id=item_id, key=key, now=NOW, extra_files=extra_files
    )


@pytest.mark.parametrize(("ext", "kind", "item_id", "data"), FILES, ids=IDS)
def test_a_signed_item_verifies_with_its_line_in_place(
    ext: str,
    kind: str,
    item_id: str,
    data: bytes,
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    signed = _sign(data, ext, kind, item_id, key)
    lines = signed.splitlines(keepends=True)
    sig_index = 1 if data.startswith(b"#!") else 0
    assert LINE.fullmatch(lines[sig_index])
    assert b"".join(lines[:sig_index] + lines[sig_index + 1 :]) == data
    result = verify_item(
        signed, ext=ext, kind=kind, item_id=item_id, policy="signed", trusted_keys=trusted
    )
    assert result.status == "verified" and result.warning is None
    assert result.fingerprint == fingerprint(key.public_key())
    assert result.content_hash == content_hash(kind, item_id, data)


def test_the_comment_style_follows_the_extension(key: Ed25519PrivateKey) -> None:
    assert _sign(b"a: 1\n", ".yml", "tool", "t", key).startswith(b"# kiwi:signed:v1:")
    assert _sign(b"x\n", ".js", "tool", "t", key).startswith(b"// kiwi:signed:v1:")
    md = _sign(b"x\n", ".md", "knowledge", "k", key)
    assert md.startswith(b"<!-- kiwi:signed:v1:") and md.split(b"\n")[0].endswith(b" -->")


def test_the_hash_and_signature_follow_the_spec(key: Ed25519PrivateKey) -> None:
    body = b"a: 1\n"
    expected = hashlib.sha256(b"kiwi-item-v1\ntool\nx/y\n" + body).hexdigest()
    assert content_hash("tool", "x/y", body) == expected
    line, rest = split_signature(_sign(body, ".yaml", "tool", "x/y", key), ".yaml")
    assert line is not None and rest == body
    assert (line.timestamp, line.content_hash) == ("2025-03-04T05:06:07Z", expected)
    key.public_key().verify(
        b64url_decode(line.signature), f"v1:{line.timestamp}:{expected}".encode()
    )


def test_re_signing_an_unchanged_file_keeps_the_line_byte_for_byte(key: Ed25519PrivateKey) -> None:
    ext, kind, item_id, data = FILES[1]
    signed = _sign(data, ext, kind, item_id, key)
    later = sign_item(
        signed, ext=ext, kind=kind, item_id=item_id, key=key, now=NOW + timedelta(days=3)
    )
    assert later == signed


def test_re_signing_a_changed_file_or_with_another_key_writes_a_new_line(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"a: 1\n", ".yaml", "tool", "t", key)
    changed = signed.replace(b"a: 1", b"a: 2")
    resigned = sign_item(
        changed, ext=".yaml", kind="tool", item_id="t", key=key, now=NOW + timedelta(hours=1)
    )
    assert resigned.count(b"kiwi:signed") == 1 and b"T06:06:07Z" in resigned
    verify_item(
        resigned, ext=".yaml", kind="tool", item_id="t", policy="signed", trusted_keys=trusted
    )
    by_other = _sign(signed, ".yaml", "tool", "t", other_key)
    assert fingerprint(other_key.public_key()).encode() in by_other
    assert by_other.count(b"kiwi:signed") == 1


@pytest.mark.parametrize(("ext", "kind", "item_id", "data"), FILES, ids=IDS)
def test_every_one_byte_change_anywhere_is_refused_under_signed(
    ext: str,
    kind: str,
    item_id: str,
    data: bytes,
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    signed = _sign(data, ext, kind, item_id, key)
    for offset in range(len(signed)):
        tampered = signed[:offset] + bytes([signed[offset] ^ 0x01]) + signed[offset + 1 :]
        with pytest.raises((IntegrityFailed, SignatureMissing, SignatureUntrusted, ParseError)):
            verify_item(
                tampered, ext=ext, kind=kind, item_id=item_id, policy="signed", trusted_keys=trusted
            )


@pytest.mark.parametrize(("ext", "kind", "item_id", "data"), FILES, ids=IDS)
def test_under_hash_only_a_changed_signer_fingerprint_still_runs(
    ext: str,
    kind: str,
    item_id: str,
    data: bytes,
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    signed = _sign(data, ext, kind, item_id, key)
    fp = fingerprint(key.public_key()).encode()
    fp_at = signed.index(fp)
    for offset in range(len(signed)):
        tampered = signed[:offset] + bytes([signed[offset] ^ 0x01]) + signed[offset + 1 :]
        if (
            fp_at <= offset < fp_at + len(fp)
            and tampered[offset : offset + 1] in b"0123456789abcdef"
        ):
            # The hash still matches and the (now unknown) signer is not required under hash.
            result = verify_item(
                tampered, ext=ext, kind=kind, item_id=item_id, policy="hash", trusted_keys=trusted
            )
            assert result.status == "verified" and "is not trusted" in (result.warning or "")
            continue
        with pytest.raises((IntegrityFailed, ParseError)):
            verify_item(
                tampered, ext=ext, kind=kind, item_id=item_id, policy="hash", trusted_keys=trusted
            )


def test_a_signed_file_moved_to_another_id_or_kind_fails(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"x\n", ".md", "knowledge", "notes/a", key)
    for kind, item_id in [("knowledge", "notes/b"), ("directive", "notes/a")]:
        with pytest.raises(IntegrityFailed) as info:
            verify_item(
                signed, ext=".md", kind=kind, item_id=item_id, policy="signed", trusted_keys=trusted
            )
        assert info.value.message.startswith(f"{kind} '{item_id}' changed after it was signed")


def test_a_changed_extra_file_fails_and_its_order_does_not_matter(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    extras = [("lib/b.py", b"B = 1\n"), ("a.sh", b"echo a\n")]
    signed = _sign(b"files: [a.sh, lib/b.py]\n", ".yaml", "tool", "t", key, extra_files=extras)
    ok = verify_item(
        signed,
        ext=".yaml",
        kind="tool",
        item_id="t",
        extra_files=extras[::-1],
        policy="signed",
        trusted_keys=trusted,
    )
    assert ok.status == "verified"
    variants = [
        [("lib/b.py", b"B = 2\n"), ("a.sh", b"echo a\n")],
        [("lib/c.py", b"B = 1\n"), ("a.sh", b"echo a\n")],
        [("a.sh", b"echo a\n")],
        [*extras, ("new.txt", b"")],
        [("lib/b.py", b"B = 1\necho a\n"), ("a.sh", b"")],
    ]
    for variant in variants:
        with pytest.raises(IntegrityFailed):
            verify_item(
                signed,
                ext=".yaml",
                kind="tool",
                item_id="t",
                extra_files=variant,
                policy="signed",
                trusted_keys=trusted,
            )


def test_extra_files_cannot_pass_for_body_bytes() -> None:
    with_file = content_hash("tool", "t", b"a", [("f", b"b")])
    assert with_file != content_hash("tool", "t", b"a")
    assert with_file != content_hash("tool", "t", b"ab")
    assert content_hash("tool", "t", b"", [("ab", b"")]) != content_hash(
        "tool", "t", b"", [("a", b"b")]
    )


@pytest.mark.parametrize("path", ["../x", "/abs", "a//b", "a\\b", "./a", ""])
def test_an_extra_file_path_must_stay_relative(path: str) -> None:
    with pytest.raises(ValueError):
        content_hash("tool", "t", b"", [(path, b"")])


def test_an_unsigned_item_is_missing_a_signature_under_signed(
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    with pytest.raises(SignatureMissing) as info:
        verify_item(
            b"a: 1\n", ext=".yaml", kind="tool", item_id="w", policy="signed", trusted_keys=trusted
        )
    assert info.value.message == "tool 'w' is not signed"
    assert info.value.hint == "Sign it with 'kiwi sign tool w', or run with KIWI_VERIFY=hash."


def test_an_unsigned_item_runs_with_a_warning_under_hash(
    trusted: dict[str, Ed25519PublicKey],
) -> None:
    result = verify_item(
        b"a: 1\n", ext=".yaml", kind="tool", item_id="w", policy="hash", trusted_keys=trusted
    )
    assert result.status == "unsigned" and result.fingerprint is None
    assert result.warning == (
        "tool 'w' is unsigned; running it because KIWI_VERIFY=hash"
        " (sign it with 'kiwi sign tool w')"
    )


def test_a_hash_mismatch_names_both_hashes(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"a: 1\n", ".yaml", "tool", "w", key)
    recorded = content_hash("tool", "w", b"a: 1\n")
    found = content_hash("tool", "w", b"a: 2\n")
    for policy in POLICIES:
        with pytest.raises(IntegrityFailed) as info:
            verify_item(
                signed.replace(b"a: 1", b"a: 2"),
                ext=".yaml",
                kind="tool",
                item_id="w",
                policy=policy,
                trusted_keys=trusted,
            )
        assert info.value.message == (
            f"tool 'w' changed after it was signed: the signature line expects hash {recorded},"
            f" the content hashes to {found}"
        )
        assert info.value.hint == "Review the change, then 'kiwi sign tool w'."


def test_an_untrusted_signer_is_named_with_the_trust_command(
    other_key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"a: 1\n", ".yaml", "tool", "w", other_key)
    fp = fingerprint(other_key.public_key())
    with pytest.raises(SignatureUntrusted) as info:
        verify_item(
            signed, ext=".yaml", kind="tool", item_id="w", policy="signed", trusted_keys=trusted
        )
    assert info.value.message == f"tool 'w' is signed by untrusted key {fp}"
    assert "kiwi trust add <public-key-file>" in info.value.hint
    relaxed = verify_item(
        signed, ext=".yaml", kind="tool", item_id="w", policy="hash", trusted_keys=trusted
    )
    assert relaxed.status == "verified" and relaxed.fingerprint == fp


def test_policy_off_checks_nothing_and_says_so_loudly(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    tampered = _sign(b"a: 1\n", ".yaml", "tool", "w", key).replace(b"a: 1", b"a: 9")
    result = verify_item(
        tampered, ext=".yaml", kind="tool", item_id="w", policy="off", trusted_keys={}
    )
    assert result.status == "unchecked"
    assert result.content_hash == content_hash("tool", "w", b"a: 9\n")
    assert result.warning is not None and "NOT checked" in result.warning


def test_a_forged_signature_with_a_matching_hash_fails(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"a: 1\n", ".yaml", "tool", "w", other_key)
    forged = signed.replace(
        fingerprint(other_key.public_key()).encode(), fingerprint(key.public_key()).encode()
    )
    for policy in POLICIES:
        with pytest.raises(IntegrityFailed) as info:
            verify_item(
                forged, ext=".yaml", kind="tool", item_id="w", policy=policy, trusted_keys=trusted
            )
        assert (
            info.value.message
            == f"tool 'w': the signature does not verify with key {fingerprint(key.public_key())}"
        )


@pytest.mark.parametrize(
    "first_line",
    [
        b"# kiwi:signed:v2:2025-03-04T05:06:07Z:abc\n",
        b"#kiwi:signed:v1:2025-03-04T05:06:07Z:"
        + b"0" * 64
        + b":"
        + b"A" * 86
        + b":"
        + b"0" * 64
        + b"\n",
        b"# kiwi:signed:v1:yesterday\n",
    ],
)
def test_a_malformed_signature_line_is_a_parse_error_that_signing_repairs(
    first_line: bytes, key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    data = first_line + b"a: 1\n"
    with pytest.raises(ParseError):
        split_signature(data, ".yaml")
    repaired = _sign(data, ".yaml", "tool", "w", key)
    assert repaired.count(b"kiwi:signed") == 1 and repaired.endswith(b"\na: 1\n")
    verify_item(
        repaired, ext=".yaml", kind="tool", item_id="w", policy="signed", trusted_keys=trusted
    )


def test_the_line_format_stays_importable_from_signing() -> None:
    assert signing.split_signature is split_signature
    assert signing.SignatureLine.__module__ == "kiwi_mcp.kernel.core.signature_line"


def test_crlf_files_keep_their_line_endings(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"a: 1\r\nb: 2\r\n", ".yaml", "tool", "t", key)
    assert signed.split(b"\n")[0].endswith(b"\r")
    assert (
        verify_item(
            signed, ext=".yaml", kind="tool", item_id="t", policy="signed", trusted_keys=trusted
        ).status
        == "verified"
    )


def test_a_shebang_only_file_without_newline_can_be_signed(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    signed = _sign(b"#!/bin/sh", ".sh", "tool", "t", key)
    assert signed.startswith(b"#!/bin/sh\n# kiwi:signed:v1:")
    assert (
        verify_item(
            signed, ext=".sh", kind="tool", item_id="t", policy="signed", trusted_keys=trusted
        ).status
        == "verified"
    )
    assert _sign(signed, ".sh", "tool", "t", key) == signed


def test_signing_needs_an_aware_time_and_a_known_kind(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_item(b"x", ext=".yaml", kind="tool", item_id="t", key=key, now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="unknown kind 'tools'"):
        _sign(b"x", ".yaml", "tools", "t", key)
    with pytest.raises(ValueError, match=re.escape("no comment style for extension '.txt'")):
        _sign(b"x", ".txt", "tool", "t", key)

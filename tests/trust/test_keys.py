"""The user's signing key and the trust store, on real files in tmp_path."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kiwi_mcp.kernel.errors import ItemNotFound, KiwiError, ParseError, UsageError
from kiwi_mcp.kernel.trust.encoding import fingerprint
from kiwi_mcp.kernel.trust.keys import KeyStore, TrustStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_keys_init_makes_a_private_key_0600_in_a_0700_folder_and_trusts_it(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert not store.exists()
    fp = store.init()
    assert store.exists()
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(tmp_path / "keys" / "signing_key.pem") == 0o600
    assert _mode(tmp_path / "trust") == 0o700
    assert (
        (tmp_path / "keys" / "signing_key.pem")
        .read_bytes()
        .startswith(b"-----BEGIN PRIVATE KEY-----")
    )
    assert (tmp_path / "keys" / "signing_key.pub").read_bytes() == store.public_pem()
    assert fp == store.fingerprint() == fingerprint(store.private_key().public_key())
    assert (tmp_path / "trust" / f"{fp}.pub").is_file()
    assert list(TrustStore(tmp_path).trusted_keys()) == [fp]


def test_keys_init_is_idempotent_and_keeps_the_existing_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    first = store.init()
    before = (tmp_path / "keys" / "signing_key.pem").read_bytes()
    (tmp_path / "trust" / f"{first}.pub").unlink()
    assert store.init() == first
    assert (tmp_path / "keys" / "signing_key.pem").read_bytes() == before
    assert (tmp_path / "trust" / f"{first}.pub").is_file()


def test_loading_a_missing_key_says_to_run_keys_init(tmp_path: Path) -> None:
    with pytest.raises(KiwiError) as info:
        KeyStore(tmp_path).private_key()
    assert info.value.message == f"no signing key at {tmp_path / 'keys' / 'signing_key.pem'}"
    assert info.value.hint == "Run 'kiwi keys init' to make your signing key."


def test_a_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.init()
    store.private_path.chmod(0o644)
    with pytest.raises(KiwiError) as info:
        store.private_key()
    assert info.value.message.endswith("is readable by others (mode 0644)")
    assert info.value.hint == f"Run 'chmod 600 {store.private_path}'."


def test_a_damaged_private_key_is_a_parse_error(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.init()
    store.private_path.write_bytes(b"not a key")
    with pytest.raises(ParseError) as info:
        store.private_key()
    assert info.value.message == f"{store.private_path}: not an unencrypted Ed25519 PKCS8 PEM key"


def test_trust_add_list_and_remove(
    tmp_path: Path, key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    trust = TrustStore(tmp_path)
    assert trust.list() == []
    fp1 = trust.add(_pem(key))
    fp2 = trust.add(_pem(other_key))
    assert trust.add(_pem(key)) == fp1
    assert [t.fingerprint for t in trust.list()] == sorted([fp1, fp2])
    assert trust.list()[0].to_dict()["path"].endswith(".pub")
    trust.remove(fp1)
    assert list(trust.trusted_keys()) == [fp2]


def test_removing_an_unknown_fingerprint_says_how_to_list_them(tmp_path: Path) -> None:
    with pytest.raises(ItemNotFound) as info:
        TrustStore(tmp_path).remove("a" * 64)
    assert info.value.message == f"no trusted key {'a' * 64}"
    assert info.value.hint == "Run 'kiwi trust list' to see the trusted fingerprints."
    with pytest.raises(UsageError) as bad:
        TrustStore(tmp_path).remove("../../keys/signing_key")
    assert "is not a fingerprint" in bad.value.message


def test_trust_add_refuses_what_is_not_an_ed25519_public_key(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    ec_pem = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    for data in (b"garbage", ec_pem):
        with pytest.raises(ParseError) as info:
            TrustStore(tmp_path).add(data, source="their.pub")
        assert info.value.message == "their.pub: not an Ed25519 public key in PEM"


def test_a_trust_file_holding_another_key_than_its_name_is_refused(
    tmp_path: Path, key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    trust = TrustStore(tmp_path)
    fp = trust.add(_pem(key))
    (tmp_path / "trust" / f"{fp}.pub").write_bytes(_pem(other_key))
    with pytest.raises(ParseError) as info:
        trust.trusted_keys()
    assert f"holds the key {fingerprint(other_key.public_key())}" in info.value.message


def test_writes_leave_no_temp_files(tmp_path: Path) -> None:
    KeyStore(tmp_path).init()
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert not [n for n in names if n.endswith(".tmp")]

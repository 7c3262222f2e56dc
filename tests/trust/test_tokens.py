"""Capability tokens: minting, attenuation and every rejection verify_token makes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiwi_mcp.kernel.errors import ParseError, TokenInvalid
from kiwi_mcp.kernel.trust.encoding import b64url_decode, b64url_encode, compact_json, fingerprint
from kiwi_mcp.kernel.trust.tokens import CLOCK_SKEW_S, CapabilityToken, mint, verify_token

NOW = 1_700_000_000.0
ROOT_CAPS = ["fs.read:src/**", "net.http:*.example.test", "tool.execute:llm/*"]


def _forge(key: Ed25519PrivateKey, envelope: dict[str, Any]) -> str:
    """Sign an arbitrary envelope, as a misbehaving minter holding a trusted key would."""
    payload = compact_json(envelope)
    return f"{b64url_encode(payload)}.{b64url_encode(key.sign(payload))}"


def _root(key: Ed25519PrivateKey) -> tuple[CapabilityToken, str]:
    return mint(key, caps=ROOT_CAPS, sub="cli", aud="kiwi", now=NOW, ttl_s=600)


def test_a_minted_token_verifies_and_round_trips(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    token, text = _root(key)
    assert verify_token(text, trusted_keys=trusted, audience="kiwi", now=NOW + 1) == token
    assert token.iss == fingerprint(key.public_key())
    assert (token.depth, token.parent, token.exp) == (0, None, NOW + 600)
    assert CapabilityToken.from_dict(token.to_dict()) == token
    assert "=" not in text and text.count(".") == 1


def test_a_child_is_attenuated_by_its_parent(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    parent, _ = _root(key)
    child, text = mint(
        key,
        caps=["fs.read:src/*", "fs.write:src/a", "net.http:api.example.test:443"],
        sub="thread-1",
        aud="kiwi",
        now=NOW + 10,
        ttl_s=3600,
        parent=parent,
    )
    assert child.caps == ("fs.read:src/*", "net.http:api.example.test:443")
    assert (child.depth, child.parent, child.exp) == (1, parent.jti, parent.exp)
    verified = verify_token(
        text, trusted_keys=trusted, audience="kiwi", now=NOW + 11, parent=parent
    )
    assert verified == child


def test_an_empty_cap_list_denies_everything(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = mint(key, caps=[], sub="t", aud="kiwi", now=NOW, ttl_s=60)
    token = verify_token(text, trusted_keys=trusted, audience="kiwi", now=NOW)
    assert not token.capabilities.covers("spawn.thread")
    assert not token.capabilities.covers("fs.read:a")


def test_mint_refuses_an_expired_parent(key: Ed25519PrivateKey) -> None:
    parent, _ = _root(key)
    with pytest.raises(TokenInvalid) as info:
        mint(key, caps=[], sub="t", aud="kiwi", now=NOW + 600, ttl_s=60, parent=parent)
    assert info.value.message == f"cannot mint from parent token {parent.jti}: it expired"


def test_mint_refuses_a_capability_that_does_not_parse(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ParseError) as info:
        mint(key, caps=["fs.raed"], sub="t", aud="kiwi", now=NOW, ttl_s=60)
    assert info.value.message == "unknown capability 'fs.raed'"


def _reject(text: str, trusted: dict[str, Ed25519PublicKey], **kw: Any) -> str:
    kw.setdefault("audience", "kiwi")
    kw.setdefault("now", NOW + 1)
    with pytest.raises(TokenInvalid) as info:
        verify_token(text, trusted_keys=trusted, **kw)
    assert info.value.code == "TOKEN_INVALID"
    return info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed token: expected '<payload>.<signature>'"),
        ("abc", "malformed token: expected '<payload>.<signature>'"),
        ("a.b.c", "malformed token: expected '<payload>.<signature>'"),
        ("a+b.cd", "malformed token: payload or signature is not base64url"),
        ("YWJj.YWJj", "malformed token: the payload is not JSON"),
        (b64url_encode(b"[1]") + ".YWJj", "malformed token: the envelope is not a JSON object"),
        (b64url_encode(b'{"v":1}') + ".YWJj", "malformed token: missing field 'aud'"),
    ],
)
def test_malformed_tokens_are_rejected_saying_how(
    text: str, message: str, trusted: dict[str, Ed25519PublicKey]
) -> None:
    assert _reject(text, trusted) == message


def _envelope(key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    token, _ = _root(key)
    return {**token.to_dict(), **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"v": 2}, "unsupported token version 2 (this kernel reads 1)"),
        ({"exp": "soon"}, "malformed token: field 'exp' must be a finite number"),
        ({"exp": float("inf")}, "malformed token: field 'exp' must be a finite number"),
        ({"caps": ["fs.raed"]}, "malformed token: caps: unknown capability 'fs.raed'"),
        ({"extra": 1}, "malformed token: unknown field 'extra'"),
        ({"depth": 1}, "malformed token: field 'depth' is 0 exactly when 'parent' is null"),
        ({"exp": NOW - 1}, "malformed token: field 'exp' is not after 'iat'"),
    ],
)
def test_bad_envelope_fields_are_rejected(
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
    changes: dict[str, Any],
    message: str,
) -> None:
    envelope = _envelope(key, **changes)
    payload = b64url_encode(json.dumps(envelope, allow_nan=True).encode())
    text = f"{payload}.{b64url_encode(key.sign(b64url_decode(payload)))}"
    assert _reject(text, trusted) == message


def test_a_token_from_an_unknown_signer_is_rejected(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = mint(other_key, caps=[], sub="t", aud="kiwi", now=NOW, ttl_s=60)
    stranger = fingerprint(other_key.public_key())
    assert _reject(text, trusted) == f"token signed by unknown key {stranger}"


def test_a_forged_signature_is_rejected(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    # Signed by another key while claiming the trusted key as issuer.
    text = _forge(other_key, _envelope(key))
    assert _reject(text, trusted) == (
        f"token signature does not verify with key {fingerprint(key.public_key())}"
    )


def test_a_token_whose_payload_was_edited_is_rejected(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = _root(key)
    head, sig = text.split(".")
    envelope = json.loads(b64url_decode(head))
    envelope["caps"].append("fs.write:**")
    edited = f"{b64url_encode(compact_json(envelope))}.{sig}"
    assert _reject(edited, trusted).startswith("token signature does not verify")


def test_an_expired_token_is_rejected(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = _root(key)
    message = _reject(text, trusted, now=NOW + 600)
    assert message == f"token expired at {NOW + 600:.3f} (now {NOW + 600:.3f})"


def test_a_token_issued_in_the_future_is_not_yet_valid(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = _root(key)
    verify_token(text, trusted_keys=trusted, audience="kiwi", now=NOW - CLOCK_SKEW_S)
    message = _reject(text, trusted, now=NOW - CLOCK_SKEW_S - 1)
    assert message.startswith("token not yet valid: issued at")


def test_a_token_for_another_audience_is_rejected(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    _, text = _root(key)
    assert _reject(text, trusted, audience="other") == "token audience is 'kiwi', expected 'other'"


def _child_envelope(of: CapabilityToken, **changes: Any) -> dict[str, Any]:
    base = {
        "v": 1,
        "jti": "c" * 32,
        "iss": of.iss,
        "sub": "thread",
        "aud": "kiwi",
        "iat": NOW + 1,
        "exp": of.exp,
        "caps": ["fs.read:src/a.py"],
        "parent": of.jti,
        "depth": of.depth + 1,
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"caps": ["fs.read:src/a.py", "fs.read:**", "fs.write:src/a"]},
            "token caps not covered by its parent: fs.read:**, fs.write:src/a",
        ),
        ({"exp": NOW + 601}, "later than its parent"),
        ({"depth": 2}, "token depth 2 does not follow its parent's depth 0"),
        ({"parent": "x" * 32}, f"token's parent is '{'x' * 32}', not the given parent"),
    ],
)
def test_a_child_that_does_not_follow_its_parent_is_rejected(
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
    changes: dict[str, Any],
    message: str,
) -> None:
    parent, _ = _root(key)
    text = _forge(key, _child_envelope(parent, **changes))
    assert message in _reject(text, trusted, now=NOW + 2, parent=parent)
    # The same token passes when no parent is given: lineage is only checked against one.
    verify_token(text, trusted_keys=trusted, audience="kiwi", now=NOW + 2)


wider_caps = st.sampled_from(
    [
        "fs.read:**",
        "fs.write:src/a",
        "net.http:evil.test",
        "spawn.thread",
        "fs.read:docs/x",
        "tool.execute:llm/x/y",
        "net.http:**.example.test",
    ]
)


@given(extra=wider_caps, shift=st.floats(min_value=0.001, max_value=1e6))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_wider_child_or_a_later_exp_is_always_rejected(
    key: Ed25519PrivateKey, trusted: dict[str, Ed25519PublicKey], extra: str, shift: float
) -> None:
    parent, _ = _root(key)
    wider = _forge(key, _child_envelope(parent, caps=["fs.read:src/a.py", extra]))
    with pytest.raises(TokenInvalid, match=re.escape(f"not covered by its parent: {extra}")):
        verify_token(wider, trusted_keys=trusted, audience="kiwi", now=NOW + 2, parent=parent)
    later = _forge(key, _child_envelope(parent, exp=parent.exp + shift))
    with pytest.raises(TokenInvalid, match="later than its parent"):
        verify_token(later, trusted_keys=trusted, audience="kiwi", now=NOW + 2, parent=parent)


@given(
    audience=st.text(min_size=1, max_size=8).filter(lambda a: a != "kiwi"),
    late=st.floats(min_value=0, max_value=1e7),
    position=st.integers(min_value=0, max_value=85),
)
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_wrong_audience_expiry_or_any_signature_change_is_always_rejected(
    key: Ed25519PrivateKey,
    trusted: dict[str, Ed25519PublicKey],
    audience: str,
    late: float,
    position: int,
) -> None:
    _, text = _root(key)
    with pytest.raises(TokenInvalid, match="token audience is 'kiwi'"):
        verify_token(text, trusted_keys=trusted, audience=audience, now=NOW)
    with pytest.raises(TokenInvalid, match="token expired"):
        verify_token(text, trusted_keys=trusted, audience="kiwi", now=NOW + 600 + late)
    head, sig = text.split(".")
    flipped = sig[:position] + ("A" if sig[position] != "A" else "B") + sig[position + 1 :]
    with pytest.raises(TokenInvalid):
        verify_token(f"{head}.{flipped}", trusted_keys=trusted, audience="kiwi", now=NOW)

"""Key fixtures: real Ed25519 keys, no stand-ins (trust-layer and trust CLI tests)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kiwi_mcp.kernel.trust.encoding import fingerprint


@pytest.fixture(scope="session")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def trusted(key: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    public = key.public_key()
    return {fingerprint(public): public}

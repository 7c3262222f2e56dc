"""The operator's key signs a thread's token and its transcript's checkpoints; the trust store
checks them (SPEC §13.2). Small adapters over ``trust/keys``, so the transcript and the
token code take plain callables."""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import InvalidSignature

from kiwi_mcp.kernel.trust.encoding import b64url_decode, b64url_encode
from kiwi_mcp.kernel.trust.keys import KeyStore, TrustStore

__all__ = ["Signer"]


class Signer:
    """Signs with the user space's key; checks against its trusted signers."""

    def __init__(self, user_space: Path) -> None:
        self._keys = KeyStore(user_space)
        self._trust = TrustStore(user_space)

    @property
    def key_id(self) -> str:
        return self._keys.fingerprint()

    def sign(self, data: bytes) -> str:
        return b64url_encode(self._keys.private_key().sign(data))

    def check(self, data: bytes, signature: str, key: str) -> bool:
        public = self._trust.trusted_keys().get(key)
        if public is None:
            return False
        try:
            public.verify(b64url_decode(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True

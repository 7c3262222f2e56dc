"""Key material in the user space (SPEC §9.2, §9.3).

Layout under the user space root (passed in; see ``kiwi_mcp.kernel.store.paths.user_space_root``)::

    keys/signing_key.pem       the user's Ed25519 private key, PKCS8 PEM, mode 0600
    keys/signing_key.pub       its public key, SubjectPublicKeyInfo PEM
    trust/<fingerprint>.pub    each trusted signer's public key (the user's own included)

The ``keys`` and ``trust`` folders are mode 0700. Every write is atomic.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from kiwi_mcp.kernel.errors import ItemNotFound, KeyMissing, KeyUnsafe, ParseError, UsageError
from kiwi_mcp.kernel.store.fileio import atomic_write, ensure_private_dir
from kiwi_mcp.kernel.trust.encoding import fingerprint

__all__ = ["KeyStore", "TrustStore", "TrustedKey", "load_public_pem"]

_FP_RE: Final = re.compile(r"[0-9a-f]{64}")
_INIT_HINT: Final = "Run 'kiwi keys init' to make your signing key."


def load_public_pem(data: bytes, *, source: str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key in PEM. Raises ParseError naming ``source``."""
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ParseError(
            f"{source}: not an Ed25519 public key in PEM",
            hint="Pass the signer's keys/signing_key.pub (from 'kiwi keys show').",
        )
    return key


def _public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


class KeyStore:
    """The user's own signing key."""

    def __init__(self, user_root: Path) -> None:
        self.folder = user_root / "keys"
        self.private_path = self.folder / "signing_key.pem"
        self.public_path = self.folder / "signing_key.pub"
        self._trust = TrustStore(user_root)

    def exists(self) -> bool:
        """True when the private key file exists."""
        return self.private_path.is_file()

    def init(self) -> str:
        """Make the signing key if there is none, trust it, return its fingerprint.

        Idempotent: an existing key is kept (and trusted again). Raises OSError, and
        KiwiError/ParseError for an existing key that is unsafe or unreadable.
        """
        if self.exists():
            key = self.private_key()
        else:
            ensure_private_dir(self.folder)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            atomic_write(self.private_path, pem, mode=0o600)
        public_pem = _public_pem(key.public_key())
        if not self.public_path.is_file() or self.public_path.read_bytes() != public_pem:
            atomic_write(self.public_path, public_pem, mode=0o644)
        return self._trust.add(public_pem)

    def private_key(self) -> Ed25519PrivateKey:
        """Load the private key.

        Raises KiwiError when there is none or when others may read it (like ssh, a key
        readable by group or others is refused), ParseError when it is not an Ed25519
        PKCS8 PEM key.
        """
        try:
            info = self.private_path.stat()
            data = self.private_path.read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"no signing key at {self.private_path}", hint=_INIT_HINT) from None
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise KeyUnsafe(
                f"signing key {self.private_path} is readable by others"
                f" (mode {stat.S_IMODE(info.st_mode):04o})",
                hint=f"Run 'chmod 600 {self.private_path}'.",
            )
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise ParseError(
                f"{self.private_path}: not an unencrypted Ed25519 PKCS8 PEM key",
                hint="Move it away and run 'kiwi keys init' to make a new one.",
            )
        return key

    def public_key(self) -> Ed25519PublicKey:
        """The public half of the signing key. Raises like ``private_key``."""
        return self.private_key().public_key()

    def fingerprint(self) -> str:
        """SHA-256 hex of the raw public key. Raises like ``private_key``."""
        return fingerprint(self.public_key())

    def public_pem(self) -> bytes:
        """The public key as PEM. Raises like ``private_key``."""
        return _public_pem(self.public_key())


@dataclass(frozen=True, kw_only=True, slots=True)
class TrustedKey:
    """One pinned signer."""

    fingerprint: str
    path: Path

    def to_dict(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "path": str(self.path)}


class TrustStore:
    """The signers whose item signatures and tokens are accepted."""

    def __init__(self, user_root: Path) -> None:
        self.folder = user_root / "trust"

    def add(self, pem: bytes, *, source: str = "public key") -> str:
        """Pin a signer's public key (PEM); returns its fingerprint. Idempotent.

        Raises ParseError (naming ``source``) when it is not an Ed25519 public key.
        """
        key = load_public_pem(pem, source=source)
        fp = fingerprint(key)
        ensure_private_dir(self.folder)
        atomic_write(self.folder / f"{fp}.pub", _public_pem(key), mode=0o644)
        return fp

    def list(self) -> list[TrustedKey]:
        """Every pinned signer, sorted by fingerprint. Raises ParseError for a bad file."""
        return [
            TrustedKey(fingerprint=fp, path=self.folder / f"{fp}.pub")
            for fp in sorted(self.trusted_keys())
        ]

    def remove(self, fp: str) -> None:
        """Stop trusting a signer.

        Raises UsageError for a malformed fingerprint, ItemNotFound when it is not trusted.
        """
        if not _FP_RE.fullmatch(fp):
            raise UsageError(
                f"'{fp}' is not a fingerprint (64 lowercase hex characters)",
                hint="Run 'kiwi trust list' to see the trusted fingerprints.",
            )
        try:
            (self.folder / f"{fp}.pub").unlink()
        except FileNotFoundError:
            raise ItemNotFound(
                f"no trusted key {fp}",
                hint="Run 'kiwi trust list' to see the trusted fingerprints.",
            ) from None

    def trusted_keys(self) -> dict[str, Ed25519PublicKey]:
        """fingerprint → public key for every pinned signer.

        Raises ParseError for a file that is not a key or whose name is not its
        fingerprint (a renamed file must not smuggle in another key).
        """
        out: dict[str, Ed25519PublicKey] = {}
        if not self.folder.is_dir():
            return out
        for path in sorted(self.folder.glob("*.pub")):
            key = load_public_pem(path.read_bytes(), source=str(path))
            fp = fingerprint(key)
            if path.stem != fp:
                raise ParseError(
                    f"{path}: holds the key {fp}, not the one its name says",
                    hint=f"Delete {path} and add the key again with 'kiwi trust add <file>'.",
                )
            out[fp] = key
        return out

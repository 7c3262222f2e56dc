"""The user's keys, trusted signers, credentials and the project's audit log (``kiwi keys``,
``kiwi trust``, ``kiwi auth``, ``kiwi audit``; SPEC §8.2, §9.2, §9.5, §11).

These need no project kernel: keys, signers and credentials live in the user space, passed
in as ``user_space``; the audit log lives in a project's ``.ai/logs/audit``. Heavy modules
(cryptography, keyring) are imported inside each function, so one command loads only what
it uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.errors import UsageError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.services.auth.records import ServiceStatus
    from kiwi_mcp.kernel.services.auth.store import AuthStore
    from kiwi_mcp.kernel.trust.audit.log import AuditReport

__all__ = [
    "AuthBackendInfo",
    "AuthStatusReport",
    "KeyInit",
    "PublicKey",
    "TrustedSigner",
    "audit_folder",
    "audit_follow",
    "audit_line",
    "audit_tail",
    "audit_verify",
    "auth_logout",
    "auth_signin",
    "auth_status",
    "keys_init",
    "keys_show",
    "trust_add",
    "trust_list",
    "trust_remove",
]


# --- keys and trust ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyInit:
    """The signing key after ``keys init``: its fingerprint, whether it was made just now,
    and where its public half is."""

    fingerprint: str
    created: bool
    public_key_path: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class PublicKey:
    """The public half of the user's signing key, as PEM text."""

    fingerprint: str
    public_pem: str
    public_key_path: Path


@dataclass(frozen=True, kw_only=True, slots=True)
class TrustedSigner:
    """One pinned signer; ``own`` when it is the user's own key."""

    fingerprint: str
    path: Path
    own: bool

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "path": str(self.path), "own": self.own}


def keys_init(user_space: Path) -> KeyInit:
    """Make the user's signing key if there is none, and trust it. Idempotent.

    Raises:
        KiwiError: an existing key is unsafe (KEY_UNSAFE) or unreadable (PARSE_ERROR).
    """
    from kiwi_mcp.kernel.trust.keys import KeyStore

    store = KeyStore(user_space)
    created = not store.exists()
    fp = store.init()
    return KeyInit(fingerprint=fp, created=created, public_key_path=store.public_path)


def keys_show(user_space: Path) -> PublicKey:
    """The user's public key and fingerprint.

    Raises:
        KiwiError: no key (KEY_MISSING, hint 'kiwi keys init'), or an unsafe/unreadable one.
    """
    from kiwi_mcp.kernel.trust.keys import KeyStore

    store = KeyStore(user_space)
    fp = store.fingerprint()
    pem = store.public_pem().decode("ascii")
    return PublicKey(fingerprint=fp, public_pem=pem, public_key_path=store.public_path)


def trust_add(user_space: Path, public_key_file: Path) -> str:
    """Trust the signer whose public key (PEM) is in ``public_key_file``; returns its
    fingerprint. Idempotent.

    Raises:
        UsageError: the file cannot be read. ParseError: it is not an Ed25519 public key.
    """
    from kiwi_mcp.kernel.trust.keys import TrustStore

    try:
        pem = public_key_file.read_bytes()
    except OSError as err:
        raise UsageError(
            f"cannot read {public_key_file}: {err.strerror}",
            hint="Pass the path of a public key file (PEM), e.g. keys/signing_key.pub.",
        ) from None
    return TrustStore(user_space).add(pem, source=str(public_key_file))


def trust_list(user_space: Path) -> list[TrustedSigner]:
    """Every trusted signer, sorted by fingerprint, the user's own key marked.

    Raises:
        KiwiError: a file in the trust folder is not a key, or not the key its name says.
    """
    from kiwi_mcp.kernel.trust.keys import KeyStore, TrustStore

    trusted = TrustStore(user_space).list()
    store = KeyStore(user_space)
    own = store.fingerprint() if store.exists() else None
    return [
        TrustedSigner(fingerprint=key.fingerprint, path=key.path, own=key.fingerprint == own)
        for key in trusted
    ]


def trust_remove(user_space: Path, fingerprint: str) -> None:
    """Stop trusting a signer.

    Raises:
        UsageError: a malformed fingerprint. ItemNotFound: it is not trusted.
    """
    from kiwi_mcp.kernel.trust.keys import TrustStore

    TrustStore(user_space).remove(fingerprint)


# --- the audit log ------------------------------------------------------------------------


def audit_folder(project: Path | None) -> Path:
    """The audit log's folder of the project at ``project`` (None: found from the current
    folder upward)."""
    from kiwi_mcp.kernel.store.paths import find_project_root

    return find_project_root(project) / ".ai" / "logs" / "audit"


def audit_verify(folder: Path, clock: Callable[[], float] = time.time) -> AuditReport:
    """Check the audit log's hash chain; the report names the first bad line."""
    from kiwi_mcp.kernel.trust.audit.log import AuditLog

    return AuditLog(folder, clock).verify()


def audit_tail(
    folder: Path, n: int, clock: Callable[[], float] = time.time
) -> list[dict[str, Any]]:
    """The last ``n`` records of the audit log, oldest first."""
    from kiwi_mcp.kernel.trust.audit.log import AuditLog

    return AuditLog(folder, clock).tail(n)


def audit_line(record: dict[str, Any]) -> str:
    """One human line per record (SPEC §9.5): ``07:21:19 tool web/fetch ok 143ms``."""
    if "invalid" in record:
        return f"-------- damaged line: {str(record['invalid'])[:80]}"
    ts = str(record.get("ts", ""))
    clock = ts[11:19] if len(ts) >= 19 else ts or "--:--:--"
    item = str(record.get("item", "?"))
    kind, _, name = item.partition(":") if ":" in item else ("tool", "", item)
    if record.get("decision") == "signal":
        kind, name = "signal", str(record.get("reason", ""))
    outcome = str(record.get("outcome", "?"))
    if record.get("decision") == "deny":
        outcome = f"denied {record.get('reason') or ''}".strip()
    ms = record.get("duration_ms")
    took = f" {round(ms)}ms" if isinstance(ms, int | float) else ""
    who = " (as operator)" if record.get("as_operator") else ""
    return f"{clock} {kind} {name} {outcome}{took}{who}"


def audit_follow(
    folder: Path, after_seq: int, clock: Callable[[], float] = time.time
) -> list[dict[str, Any]]:
    """Records newer than ``after_seq``, oldest first (what ``audit tail -f`` polls for)."""
    from kiwi_mcp.kernel.trust.audit.log import AuditLog

    newest = AuditLog(folder, clock).tail(200)
    return [r for r in newest if isinstance(r.get("seq"), int) and r["seq"] > after_seq]


# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthBackendInfo:
    """Where credentials are kept: the backend's name, its file when it is the file store,
    and why the keyring was not used, if it fell back."""

    name: str
    is_file: bool
    path: Path | None
    fallback_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "file_fallback": self.fallback_reason is not None,
            "fallback_reason": self.fallback_reason,
            "path": None if self.path is None else str(self.path),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthStatusReport:
    """The stored credentials (never their values) and where they are kept."""

    backend: AuthBackendInfo
    services: tuple[ServiceStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.backend.to_dict(),
            "services": [status.to_dict() for status in self.services],
        }


def _open(user_space: Path, backend: str) -> AuthStore:
    from kiwi_mcp.kernel.services.auth.store import open_auth_store

    return open_auth_store(user_space, backend=backend)


def _info(store: AuthStore) -> AuthBackendInfo:
    return AuthBackendInfo(
        name=store.backend_name,
        is_file=store.is_file_backend,
        path=store.backend_path,
        fallback_reason=store.fallback_reason,
    )


def auth_signin(
    user_space: Path,
    backend: str,
    service: str,
    *,
    access_token: str,
    refresh_token: str | None = None,
    expires_in: float | None = None,
    scopes: Sequence[str] = (),
    token_url: str | None = None,
    client_id: str | None = None,
    now: float | None = None,
) -> AuthBackendInfo:
    """Store a credential for ``service`` (replacing any earlier one) in the backend chosen
    by ``backend`` (``auto|keyring|file``). An empty ``access_token`` stores only the
    refresh token, to be refreshed on first use. Returns where it was stored.

    Raises:
        UsageError: an invalid service name or backend choice.
        KiwiError: the backend failed.
    """
    from kiwi_mcp.kernel.services.auth.store import AuthRecord

    when = time.time() if now is None else now
    expires_at = when + expires_in if expires_in is not None else None
    if not access_token:
        expires_at = 0.0  # only a refresh token: the first use refreshes
    record = AuthRecord(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        scopes=tuple(scopes),
        token_url=token_url,
        client_id=client_id,
    )
    store = _open(user_space, backend)
    store.signin(service, record)
    return _info(store)


def auth_logout(user_space: Path, backend: str, service: str) -> AuthBackendInfo:
    """Forget ``service``'s credential.

    Raises:
        UsageError: an invalid service name or backend choice.
        ItemNotFound: nothing is stored for ``service``.
    """
    store = _open(user_space, backend)
    store.logout(service)
    return _info(store)


def auth_status(user_space: Path, backend: str) -> AuthStatusReport:
    """Every stored credential's status (never its value), sorted by service.

    Raises:
        UsageError: an invalid backend choice. KiwiError: the backend failed.
    """
    store = _open(user_space, backend)
    return AuthStatusReport(backend=_info(store), services=tuple(store.status()))

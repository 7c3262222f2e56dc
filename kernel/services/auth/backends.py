"""Where credentials are kept: the OS keyring, or a private file in the user space (SPEC §8.2).

Both backends store opaque strings per name behind the :class:`CredentialBackend` protocol.
:func:`select_backend` implements ``KIWI_AUTH_BACKEND``: ``keyring`` insists on a working
keyring, ``file`` uses the file, ``auto`` uses the keyring when a set/get/delete round trip
of a probe entry works and the backend really keeps secrets (not keyring's ``fail`` or
``null`` backends, nor a plaintext file keyring, which is no safer than our own file), and
falls back to the file otherwise, saying why.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Protocol

from kiwi_mcp.kernel.errors import BackendUnavailable, KiwiError, UsageError
from kiwi_mcp.kernel.store.fileio import atomic_write, exclusive_lock

__all__ = [
    "BACKEND_CHOICES",
    "KEYRING_SERVICE",
    "CredentialBackend",
    "FileBackend",
    "KeyringBackend",
    "select_backend",
]

KEYRING_SERVICE = "kiwi"
BACKEND_CHOICES = ("auto", "keyring", "file")
_FILE_VERSION = 1


class CredentialBackend(Protocol):
    """A place that keeps one secret string per name."""

    @property
    def name(self) -> str: ...

    def get(self, service: str) -> str | None: ...

    def set(self, service: str, value: str) -> None: ...

    def delete(self, service: str) -> None:
        """Forget ``service`` (no error when it is absent)."""


class KeyringBackend:
    """The ``keyring`` library: service name ``kiwi``, user name = the Kiwi service.

    ``keyring`` is a ``keyring.backend.KeyringBackend`` instance; default: the one the
    library detects (honouring ``PYTHON_KEYRING_BACKEND``).
    """

    def __init__(self, keyring: Any = None) -> None:
        if keyring is None:
            import keyring as keyring_lib

            keyring = keyring_lib.get_keyring()
        self._keyring = keyring

    @property
    def keyring_class(self) -> str:
        """The keyring's dotted class, e.g. ``keyring.backends.SecretService.Keyring``."""
        return _dotted(self._keyring)

    @property
    def name(self) -> str:
        return f"keyring ({self.keyring_class})"

    def get(self, service: str) -> str | None:
        try:
            value = self._keyring.get_password(KEYRING_SERVICE, service)
        except Exception as exc:  # keyring backends raise anything from dbus to OS errors
            raise _keyring_error("read", exc) from None
        return value if isinstance(value, str) else None

    def set(self, service: str, value: str) -> None:
        try:
            self._keyring.set_password(KEYRING_SERVICE, service, value)
        except Exception as exc:
            raise _keyring_error("write", exc) from None

    def delete(self, service: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self._keyring.delete_password(KEYRING_SERVICE, service)
        except PasswordDeleteError:
            return
        except Exception as exc:
            raise _keyring_error("delete", exc) from None

    def unusable_reason(self) -> str | None:
        """Why this keyring must not be used, or None when a probe round trip works."""
        reason = _weak_keyring_reason(self._keyring)
        if reason is not None:
            return reason
        probe = f".probe-{secrets.token_hex(8)}"
        value = secrets.token_hex(16)
        try:
            self.set(probe, value)
            try:
                if self.get(probe) != value:
                    return f"the keyring ({self.keyring_class}) did not return what was stored"
            finally:
                self.delete(probe)
            if self.get(probe) is not None:
                return f"the keyring ({self.keyring_class}) did not delete the probe entry"
        except KiwiError as exc:
            return exc.message
        return None


class FileBackend:
    """One JSON file, ``<user space>/auth/credentials.json``: folder ``0700``, file ``0600``.

    Writes are atomic and serialised by an ``flock`` on ``auth/.credentials.lock``.
    """

    name = "file"

    def __init__(self, user_space: Path) -> None:
        self.folder = user_space / "auth"
        self.path = self.folder / "credentials.json"
        self._lock = self.folder / ".credentials.lock"

    def get(self, service: str) -> str | None:
        value = self._read().get(service)
        return value if isinstance(value, str) else None

    def set(self, service: str, value: str) -> None:
        self._ensure_folder()
        with exclusive_lock(self._lock):
            entries = self._read()
            entries[service] = value
            self._write(entries)

    def delete(self, service: str) -> None:
        if not self.path.exists():
            return
        self._ensure_folder()
        with exclusive_lock(self._lock):
            entries = self._read()
            if entries.pop(service, None) is not None:
                self._write(entries)

    def _ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.folder, 0o700)  # mkdir's mode is filtered by the umask, and may pre-exist

    def _read(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise self._broken(f"cannot be read ({type(exc).__name__})") from None
        try:
            data = json.loads(raw)
        except ValueError:
            raise self._broken("is not valid JSON") from None
        if not isinstance(data, dict) or data.get("version") != _FILE_VERSION:
            raise self._broken(f"is not a version {_FILE_VERSION} credentials file")
        entries = data.get("entries")
        if not isinstance(entries, dict):
            raise self._broken("has no 'entries' object")
        return entries

    def _write(self, entries: dict[str, Any]) -> None:
        document = {"version": _FILE_VERSION, "entries": dict(sorted(entries.items()))}
        atomic_write(self.path, (json.dumps(document, indent=2) + "\n").encode(), mode=0o600)

    def _broken(self, problem: str) -> KiwiError:
        return KiwiError(
            f"{self.path} {problem}",
            hint="Move the file away, then sign in again with 'kiwi auth signin <service>'.",
        )


def select_backend(
    choice: str, *, user_space: Path, keyring: Any = None
) -> tuple[CredentialBackend, str | None]:
    """The backend for ``KIWI_AUTH_BACKEND=choice``, and why it fell back to the file (or None).

    Raises:
        UsageError: ``choice`` is not ``auto``, ``keyring`` or ``file``.
        KiwiError: ``keyring`` was chosen and no working keyring exists.
    """
    if choice not in BACKEND_CHOICES:
        raise UsageError(
            f"KIWI_AUTH_BACKEND={choice!r} is not one of {', '.join(BACKEND_CHOICES)}",
            hint="Set KIWI_AUTH_BACKEND to auto, keyring or file.",
        )
    if choice == "file":
        return FileBackend(user_space), None
    try:
        backend = KeyringBackend(keyring)
        reason = backend.unusable_reason()
    except Exception as exc:  # importing or detecting a keyring can fail in odd ways
        reason = f"the keyring could not be loaded ({type(exc).__name__})"
    if reason is None:
        return backend, None
    if choice == "keyring":
        raise BackendUnavailable(
            f"KIWI_AUTH_BACKEND=keyring, but {reason}",
            hint="Start or unlock a keyring (e.g. gnome-keyring), or set KIWI_AUTH_BACKEND=file.",
        )
    return FileBackend(user_space), reason


def _weak_keyring_reason(keyring: Any) -> str | None:
    chained = getattr(keyring, "backends", None)
    if type(keyring).__name__ == "ChainerBackend" and isinstance(chained, list | tuple):
        # The chainer writes to its first backend; that one must be a real keyring.
        if not chained:
            return "no keyring backend is available"
        return _weak_keyring_reason(chained[0])
    dotted = _dotted(keyring)
    lowered = dotted.lower()
    if lowered.startswith("keyring.backends.fail."):
        return "no keyring backend is available (keyring.backends.fail)"
    if lowered.startswith("keyring.backends.null."):
        return "the null keyring stores nothing (keyring.backends.null)"
    if "plaintext" in lowered:
        return f"{dotted} stores secrets in plain text"
    return None


def _dotted(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _keyring_error(action: str, exc: Exception) -> KiwiError:
    # Only the exception's type: keyring messages can echo what was being stored.
    return KiwiError(
        f"the keyring failed to {action} a credential ({type(exc).__name__})",
        hint="Unlock the keyring, or set KIWI_AUTH_BACKEND=file to use the file store.",
    )

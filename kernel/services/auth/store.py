"""AuthStore: stored credentials per service, refreshed when they expire (SPEC §8.2).

One :class:`AuthRecord` per service, kept as JSON in a :class:`CredentialBackend`: the OS
keyring (service name ``kiwi``, user name = the Kiwi service) when it works, else one JSON
file in the user space (``auth/credentials.json``, folder ``0700``, file ``0600``).
:func:`open_auth_store` picks the backend from ``KIWI_AUTH_BACKEND`` (``auto|keyring|file``)
and says why it fell back. Keyrings cannot list their entries, so the store keeps the list
of service names (not secret) under the reserved entry ``.services``.

Nothing here puts a token in a message, a ``repr`` or a log line.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from kiwi_mcp.kernel.errors import AuthRequired, ItemNotFound, UsageError
from kiwi_mcp.kernel.services.auth.backends import (
    CredentialBackend,
    FileBackend,
    KeyringBackend,
    select_backend,
)
from kiwi_mcp.kernel.services.auth.records import AuthRecord, ServiceStatus

if TYPE_CHECKING:
    from kiwi_mcp.primitives.http_client import HttpClient

__all__ = [
    "EXPIRY_SKEW_S",
    "AuthRecord",
    "AuthStore",
    "CredentialBackend",
    "FileBackend",
    "KeyringBackend",
    "ServiceStatus",
    "open_auth_store",
]

EXPIRY_SKEW_S = 30.0
# ":" for registry services, "registry:<host>:<port>" (SPEC §16)
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}\Z")
_INDEX_ENTRY = ".services"  # a leading dot keeps it apart from every valid service name
_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}\Z")
_REFRESH_TIMEOUT_S = 30.0


class AuthStore:
    """Credentials per service over a :class:`CredentialBackend`.

    ``clock`` returns epoch seconds. ``http`` is the ``http_client`` primitive used for the
    OAuth2 refresh grant (None: expired tokens cannot be refreshed). ``fallback_reason`` is
    set when the backend is the file store because the keyring did not work.
    """

    def __init__(
        self,
        backend: CredentialBackend,
        *,
        clock: Callable[[], float] = time.time,
        http: HttpClient | None = None,
        fallback_reason: str | None = None,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._http = http
        self.fallback_reason = fallback_reason

    @property
    def backend_name(self) -> str:
        return self._backend.name

    @property
    def is_file_backend(self) -> bool:
        return isinstance(self._backend, FileBackend)

    @property
    def backend_path(self) -> Path | None:
        """The credentials file when the backend is the file store."""
        return self._backend.path if isinstance(self._backend, FileBackend) else None

    def signin(self, service: str, record: AuthRecord) -> None:
        """Store ``record`` for ``service`` (replacing any earlier one).

        Raises:
            UsageError: an invalid service name.
            KiwiError: the backend failed.
        """
        _check_service(service)
        self._backend.set(service, record.to_json())
        services = self.services()
        if service not in services:
            self._write_index([*services, service])

    def logout(self, service: str) -> None:
        """Forget ``service``'s credential.

        Raises:
            UsageError: an invalid service name.
            ItemNotFound: nothing is stored for ``service``.
            KiwiError: the backend failed.
        """
        _check_service(service)
        if self._backend.get(service) is None:
            raise ItemNotFound(
                f"no credential is stored for service '{service}'",
                hint="Run 'kiwi auth status' to see the services you are signed in to.",
            )
        self._backend.delete(service)
        self._write_index([name for name in self.services() if name != service])

    def services(self) -> list[str]:
        """The services with a stored credential, sorted."""
        raw = self._backend.get(_INDEX_ENTRY)
        if raw is None:
            return []
        try:
            names = json.loads(raw)
        except ValueError:
            return []
        if not isinstance(names, list):
            return []
        return sorted({name for name in names if isinstance(name, str) and _SERVICE.match(name)})

    def status(self) -> list[ServiceStatus]:
        """One entry per stored service (sorted by name); no secret in it."""
        now = self._clock()
        out: list[ServiceStatus] = []
        for service in self.services():
            record = self._load(service)
            if record is None:
                continue
            out.append(
                ServiceStatus(
                    service=service,
                    has_refresh=record.refresh_token is not None,
                    expires_at=record.expires_at,
                    expired=record.is_expired(now),
                    scopes=record.scopes,
                )
            )
        return out

    def record(self, service: str) -> AuthRecord | None:
        """The stored record (for the kernel; do not print it)."""
        _check_service(service)
        return self._load(service)

    async def get_token(self, service: str, scope: str | None = None) -> str:
        """A valid access token for ``service`` holding ``scope`` (refreshed when needed).

        Raises:
            AuthRequired: nothing stored, the scope is missing, or the token expired and
                could not be refreshed; the hint gives the exact command to fix it.
        """
        _check_service(service)
        signin = f"kiwi auth signin {service}"
        record = self._load(service)
        if record is None:
            raise AuthRequired(
                f"not signed in to '{service}'",
                hint=f"Run '{signin} --token-stdin' and paste the token.",
                details={"service": service},
            )
        if scope is not None and scope not in record.scopes:
            wanted = ",".join([*record.scopes, scope])
            raise AuthRequired(
                f"the credential for '{service}' lacks the scope '{scope}'",
                hint=f"Sign in again with the scope: '{signin} --token-stdin --scopes {wanted}'.",
                details={"service": service, "scope": scope},
            )
        if not record.is_expired(self._clock(), skew=EXPIRY_SKEW_S):
            return record.access_token
        if record.refresh_token is None or record.token_url is None:
            raise AuthRequired(
                f"the credential for '{service}' has expired",
                hint=f"Run '{signin} --token-stdin' to store a fresh token.",
                details={"service": service},
            )
        refreshed = await self._refresh(service, record)
        self._backend.set(service, refreshed.to_json())
        return refreshed.access_token

    async def get_secret(self, name: str) -> str | None:
        """The secret ``name``: the access token stored for the service named exactly so.

        None when no such service is stored (the kernel then looks in dotenv and the host
        environment). An expired token is refreshed like :meth:`get_token`.

        Raises:
            AuthRequired: stored but expired and not refreshable.
        """
        if not _SERVICE.match(name) or self._load(name) is None:
            return None
        return await self.get_token(name)

    # -- internals ------------------------------------------------------------------------

    def _load(self, service: str) -> AuthRecord | None:
        raw = self._backend.get(service)
        if raw is None:
            return None
        try:
            return AuthRecord.from_json(raw, where=f"credential for '{service}'")
        except ValueError as exc:
            raise AuthRequired(
                f"the stored {exc}",
                hint=f"Run 'kiwi auth logout {service}', then 'kiwi auth signin {service}'.",
            ) from None

    def _write_index(self, services: list[str]) -> None:
        self._backend.set(_INDEX_ENTRY, json.dumps(sorted(set(services))))

    async def _refresh(self, service: str, record: AuthRecord) -> AuthRecord:
        from kiwi_mcp.primitives.errors import PrimitiveError, PrimitiveHttpError
        from kiwi_mcp.primitives.http_client import HttpSpec

        again = f"Run 'kiwi auth signin {service}' to sign in again."
        if self._http is None:
            raise AuthRequired(f"the credential for '{service}' has expired", hint=again)
        form = {"grant_type": "refresh_token", "refresh_token": record.refresh_token or ""}
        if record.client_id:
            form["client_id"] = record.client_id
        spec = HttpSpec(
            url=record.token_url or "",
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=urlencode(form),
            timeout=_REFRESH_TIMEOUT_S,
        )
        try:
            result = await self._http.request(spec)
        except PrimitiveHttpError as exc:
            raise AuthRequired(
                f"refreshing the token for '{service}' failed: HTTP {exc.status}"
                + _oauth_error(exc.details.get("body")),
                hint=again,
                details={"service": service, "status": exc.status},
            ) from None
        except PrimitiveError as exc:
            raise AuthRequired(
                f"refreshing the token for '{service}' failed ({exc.code})",
                hint=again,
                details={"service": service},
            ) from None
        return _refreshed_record(service, record, result.body, self._clock(), again)


def open_auth_store(
    user_space: Path,
    *,
    backend: str = "auto",
    clock: Callable[[], float] = time.time,
    http: HttpClient | None = None,
) -> AuthStore:
    """The AuthStore for ``KIWI_AUTH_BACKEND=backend`` (``auto|keyring|file``).

    Raises:
        UsageError: an unknown backend choice.
        KiwiError: ``keyring`` was asked for explicitly and no working keyring exists.
    """
    chosen, reason = select_backend(backend, user_space=user_space)
    return AuthStore(chosen, clock=clock, http=http, fallback_reason=reason)


def _refreshed_record(
    service: str, old: AuthRecord, body: Any, now: float, hint: str
) -> AuthRecord:
    if not isinstance(body, Mapping) or not isinstance(body.get("access_token"), str):
        raise AuthRequired(
            f"refreshing the token for '{service}' failed: the token endpoint's answer "
            "has no access_token",
            hint=hint,
            details={"service": service},
        )
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    expires_at: float | None = None
    if isinstance(expires_in, str) and expires_in.strip().isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + float(expires_in) if math.isfinite(expires_in) else None
    scope = body.get("scope")
    scopes = tuple(scope.split()) if isinstance(scope, str) and scope.strip() else old.scopes
    return AuthRecord(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else old.refresh_token,
        expires_at=expires_at,
        scopes=scopes,
        token_url=old.token_url,
        client_id=old.client_id,
    )


def _oauth_error(body: Any) -> str:
    """The OAuth2 ``error`` code (``invalid_grant``…) when the body has a plain one."""
    if isinstance(body, Mapping):
        code = body.get("error")
        if isinstance(code, str) and _OAUTH_ERROR.match(code):
            return f" ({code})"
    return ""


def _check_service(service: str) -> None:
    if not isinstance(service, str) or not _SERVICE.match(service):
        raise UsageError(
            f"invalid service name {service!r}",
            hint="Service names are letters, digits, '_', '.', ':', '-' (e.g. 'anthropic').",
        )

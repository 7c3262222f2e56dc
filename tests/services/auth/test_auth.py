"""AuthStore over real backends: the file store in tmp_path, a small in-memory keyring, and a
loopback OAuth token endpoint for refreshes."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from keyring.backend import KeyringBackend as KeyringBase
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from kiwi_mcp.kernel.errors import AuthRequired, ItemNotFound, KiwiError, UsageError
from kiwi_mcp.kernel.services.auth.backends import FileBackend, KeyringBackend, select_backend
from kiwi_mcp.kernel.services.auth.store import (
    AuthRecord,
    AuthStore,
    ServiceStatus,
    open_auth_store,
)
from kiwi_mcp.primitives.http_client import HttpClient
from tests.support.http_server import LoopbackServer, Response

ACCESS = "acc-0123456789abcdef"
REFRESH = "ref-0123456789abcdef"


class MemoryKeyring(KeyringBase):
    """A real keyring backend (the library's base class) that keeps entries in a dict."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


class PlaintextKeyring(MemoryKeyring):
    """Named like keyrings.alt's plaintext file keyring."""


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _store(tmp_path: Path, clock: Clock | None = None, http: HttpClient | None = None) -> AuthStore:
    return AuthStore(FileBackend(tmp_path / "user"), clock=clock or Clock(), http=http)


# -- records ---------------------------------------------------------------------------


def test_a_record_round_trips_through_json_and_its_repr_hides_the_tokens() -> None:
    record = AuthRecord(
        access_token=ACCESS,
        refresh_token=REFRESH,
        expires_at=123.5,
        scopes=("read", "write"),
        token_url="https://auth.test/token",
        client_id="cli",
    )
    assert AuthRecord.from_json(record.to_json()) == record
    assert ACCESS not in repr(record) and REFRESH not in repr(record)
    assert "access_token=***" in repr(record)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "credential.access_token: expected a string"),
        (
            {"access_token": "x", "expires_at": "soon"},
            "credential.expires_at: expected a number or null",
        ),
        ({"access_token": "x", "scopes": "read"}, "credential.scopes: expected a list of strings"),
        ({"access_token": "x", "token": "y"}, "credential.token: unknown field"),
        ({"access_token": "x", "client_id": 3}, "credential.client_id: expected a string or null"),
    ],
)
def test_a_bad_record_names_the_field_and_not_the_value(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        AuthRecord.from_dict(data)
    assert str(caught.value) == message


# -- backends ------------------------------------------------------------------------


def test_the_file_backend_keeps_a_private_folder_and_file(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "user")
    backend.set("svc", "value-1")
    backend.set("other", "value-2")
    backend.delete("other")
    backend.delete("never-stored")
    assert backend.get("svc") == "value-1"
    assert backend.get("other") is None
    assert stat.S_IMODE((tmp_path / "user" / "auth").stat().st_mode) == 0o700
    assert stat.S_IMODE(backend.path.stat().st_mode) == 0o600
    assert json.loads(backend.path.read_text()) == {"version": 1, "entries": {"svc": "value-1"}}
    assert sorted(p.name for p in backend.folder.iterdir()) == [
        ".credentials.lock",
        "credentials.json",
    ]


def test_a_damaged_credentials_file_is_an_error_that_does_not_show_its_content(
    tmp_path: Path,
) -> None:
    backend = FileBackend(tmp_path / "user")
    backend.folder.mkdir(parents=True)
    backend.path.write_text('{"version": 1, "entries": {"svc": "sekrit-value"')
    with pytest.raises(KiwiError) as caught:
        backend.get("svc")
    assert caught.value.message == f"{backend.path} is not valid JSON"
    assert "sekrit" not in str(caught.value)


def test_the_keyring_backend_uses_service_kiwi_and_the_service_as_user_name() -> None:
    keyring = MemoryKeyring()
    backend = KeyringBackend(keyring)
    backend.set("anthropic", "v")
    assert keyring.entries == {("kiwi", "anthropic"): "v"}
    assert backend.get("anthropic") == "v"
    backend.delete("anthropic")
    backend.delete("anthropic")  # absent: no error
    assert backend.get("anthropic") is None
    assert backend.name == f"keyring ({MemoryKeyring.__module__}.MemoryKeyring)"


def test_auto_uses_a_keyring_whose_probe_round_trip_works(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    backend, reason = select_backend("auto", user_space=tmp_path, keyring=keyring)
    assert isinstance(backend, KeyringBackend)
    assert reason is None
    assert keyring.entries == {}  # the probe cleaned up after itself


@pytest.mark.parametrize(
    ("keyring", "reason"),
    [
        (fail.Keyring(), "no keyring backend is available (keyring.backends.fail)"),
        (PlaintextKeyring(), f"{__name__}.PlaintextKeyring stores secrets in plain text"),
    ],
)
def test_auto_falls_back_to_the_file_and_says_why(
    tmp_path: Path, keyring: Any, reason: str
) -> None:
    backend, why = select_backend("auto", user_space=tmp_path, keyring=keyring)
    assert isinstance(backend, FileBackend)
    assert why == reason


def test_an_explicit_keyring_choice_without_a_keyring_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KiwiError) as caught:
        select_backend("keyring", user_space=tmp_path, keyring=fail.Keyring())
    assert caught.value.message == (
        "KIWI_AUTH_BACKEND=keyring, but no keyring backend is available (keyring.backends.fail)"
    )


def test_file_is_used_when_chosen_and_unknown_choices_are_usage_errors(tmp_path: Path) -> None:
    backend, reason = select_backend("file", user_space=tmp_path, keyring=MemoryKeyring())
    assert isinstance(backend, FileBackend) and reason is None
    with pytest.raises(UsageError) as caught:
        select_backend("vault", user_space=tmp_path)
    assert caught.value.message == "KIWI_AUTH_BACKEND='vault' is not one of auto, keyring, file"


def test_open_auth_store_reports_the_file_backend(tmp_path: Path) -> None:
    store = open_auth_store(tmp_path, backend="file")
    assert store.backend_name == "file"
    assert store.is_file_backend and store.fallback_reason is None
    assert store.backend_path == tmp_path / "auth" / "credentials.json"


# -- the store -----------------------------------------------------------------------


def test_signin_status_and_logout_never_expose_a_secret(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    store.signin("github", AuthRecord(access_token=ACCESS, scopes=("repo",)))
    store.signin(
        "anthropic",
        AuthRecord(access_token=ACCESS, refresh_token=REFRESH, expires_at=clock.now - 1),
    )
    statuses = store.status()
    assert statuses == [
        ServiceStatus(
            service="anthropic", has_refresh=True, expires_at=clock.now - 1, expired=True, scopes=()
        ),
        ServiceStatus(
            service="github", has_refresh=False, expires_at=None, expired=False, scopes=("repo",)
        ),
    ]
    assert ACCESS not in json.dumps([s.to_dict() for s in statuses])
    store.logout("github")
    assert store.services() == ["anthropic"]
    with pytest.raises(ItemNotFound) as caught:
        store.logout("github")
    assert caught.value.message == "no credential is stored for service 'github'"
    assert caught.value.hint == "Run 'kiwi auth status' to see the services you are signed in to."


def test_an_invalid_service_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        _store(tmp_path).signin("../etc", AuthRecord(access_token="x"))
    assert caught.value.message == "invalid service name '../etc'"


def test_get_token_returns_a_valid_token_and_get_secret_finds_it_by_name(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.signin("WEATHER_KEY", AuthRecord(access_token=ACCESS, scopes=("read",)))
    assert asyncio.run(store.get_token("WEATHER_KEY", "read")) == ACCESS
    assert asyncio.run(store.get_secret("WEATHER_KEY")) == ACCESS
    assert asyncio.run(store.get_secret("OTHER_KEY")) is None
    assert asyncio.run(store.get_secret("not a service name")) is None


def test_a_missing_credential_names_the_signin_command(tmp_path: Path) -> None:
    with pytest.raises(AuthRequired) as caught:
        asyncio.run(_store(tmp_path).get_token("anthropic"))
    assert caught.value.code == "AUTH_REQUIRED"
    assert caught.value.message == "not signed in to 'anthropic'"
    assert (
        caught.value.hint == "Run 'kiwi auth signin anthropic --token-stdin' and paste the token."
    )


def test_a_missing_scope_names_the_scope_and_the_signin_command_with_scopes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.signin("github", AuthRecord(access_token=ACCESS, scopes=("read",)))
    with pytest.raises(AuthRequired) as caught:
        asyncio.run(store.get_token("github", "write"))
    assert caught.value.message == "the credential for 'github' lacks the scope 'write'"
    assert caught.value.hint == (
        "Sign in again with the scope: 'kiwi auth signin github --token-stdin --scopes read,write'."
    )


def test_an_expired_token_without_refresh_names_the_signin_command(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    store.signin("svc", AuthRecord(access_token=ACCESS, expires_at=clock.now + 10))
    # 10 s left is inside the 30 s skew: treated as expired.
    with pytest.raises(AuthRequired) as caught:
        asyncio.run(store.get_token("svc"))
    assert caught.value.message == "the credential for 'svc' has expired"
    assert caught.value.hint == "Run 'kiwi auth signin svc --token-stdin' to store a fresh token."


def _refreshing(
    tmp_path: Path, server: LoopbackServer, clock: Clock, client_id: str | None
) -> tuple[AuthStore, HttpClient]:
    client = HttpClient()
    store = AuthStore(FileBackend(tmp_path / "user"), clock=clock, http=client)
    store.signin(
        "svc",
        AuthRecord(
            access_token=ACCESS,
            refresh_token=REFRESH,
            expires_at=clock.now - 5,
            scopes=("read",),
            token_url=server.url + "/token",
            client_id=client_id,
        ),
    )
    return store, client


def _refresh(store: AuthStore, client: HttpClient) -> str:
    async def run() -> str:
        try:
            return await store.get_token("svc", "read")
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_an_expired_token_is_refreshed_with_the_refresh_grant_and_stored(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route(
        "POST", "/token", Response.json({"access_token": "new-access-1", "expires_in": 3600})
    )
    clock = Clock()
    store, client = _refreshing(tmp_path, http_server, clock, client_id="cli-1")
    assert _refresh(store, client) == "new-access-1"
    request = http_server.requests[0]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.text()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
        "client_id": ["cli-1"],
    }
    stored = store.record("svc")
    assert stored is not None
    assert stored.access_token == "new-access-1"
    assert stored.refresh_token == REFRESH  # the answer had none: the old one is kept
    assert stored.expires_at == clock.now + 3600
    assert stored.scopes == ("read",)


def test_a_rotated_refresh_token_replaces_the_old_one(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route(
        "POST",
        "/token",
        Response.json({"access_token": "new-access-2", "refresh_token": "rotated-refresh"}),
    )
    store, client = _refreshing(tmp_path, http_server, Clock(), client_id=None)
    assert _refresh(store, client) == "new-access-2"
    assert "client_id" not in parse_qs(http_server.requests[0].text())
    stored = store.record("svc")
    assert stored is not None and stored.refresh_token == "rotated-refresh"
    assert stored.expires_at is None


def test_a_refused_refresh_asks_to_sign_in_again_without_leaking_a_token(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("POST", "/token", Response.json({"error": "invalid_grant"}, status=400))
    store, client = _refreshing(tmp_path, http_server, Clock(), client_id=None)
    with pytest.raises(AuthRequired) as caught:
        _refresh(store, client)
    assert caught.value.message == "refreshing the token for 'svc' failed: HTTP 400 (invalid_grant)"
    assert caught.value.hint == "Run 'kiwi auth signin svc' to sign in again."
    text = str(caught.value) + json.dumps(caught.value.to_dict())
    assert REFRESH not in text and ACCESS not in text


def test_a_token_endpoint_answer_without_access_token_fails_the_refresh(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    http_server.route("POST", "/token", Response.json({"token_type": "bearer"}))
    store, client = _refreshing(tmp_path, http_server, Clock(), client_id=None)
    with pytest.raises(AuthRequired) as caught:
        _refresh(store, client)
    assert caught.value.message == (
        "refreshing the token for 'svc' failed: the token endpoint's answer has no access_token"
    )


def test_an_unreachable_token_endpoint_fails_the_refresh(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        url = server.url
    client = HttpClient()
    store = AuthStore(FileBackend(tmp_path / "user"), clock=Clock(), http=client)
    store.signin(
        "svc",
        AuthRecord(
            access_token=ACCESS,
            refresh_token=REFRESH,
            expires_at=0.0,
            scopes=("read",),
            token_url=url + "/token",
        ),
    )
    with pytest.raises(AuthRequired) as caught:
        _refresh(store, client)
    assert caught.value.message == "refreshing the token for 'svc' failed (HTTP_ERROR)"

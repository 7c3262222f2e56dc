"""``kiwi auth signin | logout | status`` through a small argparse main, on the file backend."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.faces.cli.auth_cmds import add_parsers
from kiwi_mcp.kernel.faces.cli.base import CliContext
from kiwi_mcp.kernel.services.auth.backends import FileBackend
from kiwi_mcp.kernel.services.auth.store import AuthStore

ACCESS = "cli-access-token-0001"
REFRESH = "cli-refresh-token-0001"

MAIN = """
import argparse, sys
from kiwi_mcp.kernel.faces.cli.auth_cmds import add_parsers
from kiwi_mcp.kernel.faces.cli.base import CliContext
from kiwi_mcp.kernel.errors import KiwiError

parser = argparse.ArgumentParser(prog="kiwi")
add_parsers(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[1:])
try:
    sys.exit(args.func(args, CliContext(project=None, json=False)))
except KiwiError as exc:
    print(f"kiwi: {exc}", file=sys.stderr)
    sys.exit(2 if exc.code == "USAGE_ERROR" else 1)
"""


@pytest.fixture
def user_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KIWI_USER_SPACE", str(tmp_path / "user"))
    monkeypatch.setenv("KIWI_AUTH_BACKEND", "file")
    return tmp_path / "user"


def kiwi(
    monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "", json_flag: bool = False
) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="kiwi")
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    ctx = CliContext(project=None, json=json_flag, stdout=out, stderr=err)
    try:
        code = args.func(args, ctx)
    except KiwiError as exc:
        err.write(str(exc))
        code = 2 if exc.code == "USAGE_ERROR" else 1
    return code, out.getvalue(), err.getvalue()


def _store(user_space: Path) -> AuthStore:
    return AuthStore(FileBackend(user_space))


def test_signin_reads_the_token_from_stdin_and_never_prints_it(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = kiwi(
        monkeypatch,
        "auth",
        "signin",
        "github",
        "--token-stdin",
        "--scopes",
        "repo, read,,",
        stdin=ACCESS + "\n",
    )
    assert code == 0
    path = user_space / "auth" / "credentials.json"
    assert err == (
        f"Signed in to github; the credential is stored in the file store {path} "
        "(KIWI_AUTH_BACKEND=file).\n"
    )
    assert ACCESS not in out + err
    record = _store(user_space).record("github")
    assert record is not None
    assert record.access_token == ACCESS
    assert record.scopes == ("repo", "read")
    assert record.expires_at is None


def test_with_both_stdin_flags_the_first_line_is_access_and_the_second_refresh(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = time.time()
    code, _, _ = kiwi(
        monkeypatch,
        "auth",
        "signin",
        "svc",
        "--token-stdin",
        "--refresh-token-stdin",
        "--token-url",
        "https://auth.test/token",
        "--client-id",
        "app",
        "--expires-in",
        "60",
        stdin=f"{ACCESS}\n{REFRESH}\n",
    )
    assert code == 0
    record = _store(user_space).record("svc")
    assert record is not None
    assert (record.access_token, record.refresh_token) == (ACCESS, REFRESH)
    assert (record.token_url, record.client_id) == ("https://auth.test/token", "app")
    assert record.expires_at is not None and before + 60 <= record.expires_at <= time.time() + 60


def test_a_refresh_token_alone_is_stored_already_expired_so_first_use_refreshes(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, _ = kiwi(
        monkeypatch,
        "auth",
        "signin",
        "svc",
        "--refresh-token-stdin",
        "--token-url",
        "https://auth.test/token",
        stdin=REFRESH + "\n",
    )
    assert code == 0
    record = _store(user_space).record("svc")
    assert record is not None
    assert (record.access_token, record.refresh_token, record.expires_at) == ("", REFRESH, 0.0)


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--scopes", "a"], "", "no token given"),
        (["--refresh-token-stdin"], REFRESH, "a refresh token needs the token endpoint"),
        (["--token-stdin"], "\n", "expected 1 non-empty line(s) on stdin, got 0"),
        (
            ["--token-stdin", "--refresh-token-stdin", "--token-url", "u"],
            ACCESS + "\n",
            "expected 2 non-empty line(s) on stdin, got 1",
        ),
    ],
)
def test_signin_without_usable_tokens_is_a_usage_error(
    user_space: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str, message: str
) -> None:
    code, _, err = kiwi(monkeypatch, "auth", "signin", "svc", *argv, stdin=stdin)
    assert code == 2
    assert err.startswith(f"[USAGE_ERROR] {message}\n  hint: ")
    assert not (user_space / "auth" / "credentials.json").exists()


def test_a_token_is_never_accepted_as_an_argument(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as caught:
        kiwi(monkeypatch, "auth", "signin", "svc", "--token", ACCESS)
    assert caught.value.code == 2


def test_status_lists_services_without_secrets_and_says_which_backend(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kiwi(monkeypatch, "auth", "signin", "github", "--token-stdin", "--scopes", "repo", stdin=ACCESS)
    code, out, _ = kiwi(monkeypatch, "auth", "status")
    assert code == 0
    path = user_space / "auth" / "credentials.json"
    assert out == (
        f"backend: the file store {path} (KIWI_AUTH_BACKEND=file)\n"
        "  github: does not expire; no refresh token; scopes repo\n"
    )
    code, out, _ = kiwi(monkeypatch, "auth", "status", "--json")
    assert code == 0
    assert json.loads(out) == {
        "backend": "file",
        "file_fallback": False,
        "fallback_reason": None,
        "path": str(path),
        "services": [
            {
                "service": "github",
                "has_refresh": False,
                "expires_at": None,
                "expired": False,
                "scopes": ["repo"],
            }
        ],
    }
    assert ACCESS not in out
    _, global_json, _ = kiwi(monkeypatch, "auth", "status", json_flag=True)
    assert json.loads(global_json) == json.loads(out)


def test_logout_forgets_the_service_and_a_second_logout_fails_with_a_hint(
    user_space: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kiwi(monkeypatch, "auth", "signin", "github", "--token-stdin", stdin=ACCESS)
    assert kiwi(monkeypatch, "auth", "logout", "github") == (0, "", "Signed out of github.\n")
    code, _, err = kiwi(monkeypatch, "auth", "logout", "github")
    assert code == 1
    assert err == (
        "[ITEM_NOT_FOUND] no credential is stored for service 'github'\n"
        "  hint: Run 'kiwi auth status' to see the services you are signed in to."
    )
    _, out, _ = kiwi(monkeypatch, "auth", "status")
    assert "no stored credentials" in out


def test_status_reports_the_file_fallback_when_no_keyring_works(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
        "KIWI_USER_SPACE": str(tmp_path / "user"),
        "KIWI_AUTH_BACKEND": "auto",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    done = subprocess.run(
        [sys.executable, "-c", MAIN, "auth", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    path = tmp_path / "user" / "auth" / "credentials.json"
    assert done.stdout.splitlines()[0] == (
        f"backend: the file fallback {path} "
        "(because no keyring backend is available (keyring.backends.fail))"
    )

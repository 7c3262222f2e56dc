"""AuthStore against a real SecretService keyring (gnome-keyring on a private D-Bus session),
and the file fallback when no keyring backend works. Both run in child processes, so the
keyring library's backend detection sees exactly the environment given here."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.http_server import LoopbackServer, Response

REPO = Path(__file__).resolve().parents[3]
SESSION = REPO / "scripts" / "keyring-session.sh"

CHILD = """
import asyncio, json, sys, time
from pathlib import Path

import keyring

from kiwi_mcp.kernel.services.auth.store import AuthRecord, open_auth_store
from kiwi_mcp.primitives.http_client import HttpClient

token_url, user_space, choice = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def stored_access():
    raw = keyring.get_password("kiwi", "svc")
    return None if raw is None else json.loads(raw)["access_token"]


async def main():
    client = HttpClient()
    store = open_auth_store(user_space, backend=choice, http=client)
    out = {"backend": store.backend_name, "fallback_reason": store.fallback_reason,
           "keyring_class": type(keyring.get_keyring()).__module__}
    store.signin("svc", AuthRecord(access_token="first-access", refresh_token="the-refresh",
                                   expires_at=time.time() - 60, scopes=("read",),
                                   token_url=token_url))
    out["stored_in_keyring"] = stored_access() == "first-access"
    out["refreshed"] = await store.get_token("svc", "read") == "second-access"
    out["refreshed_in_keyring"] = stored_access() == "second-access"
    out["services"] = store.services()
    store.logout("svc")
    out["gone_from_keyring"] = keyring.get_password("kiwi", "svc") is None
    out["services_after_logout"] = store.services()
    await client.aclose()
    print(json.dumps(out))


asyncio.run(main())
"""


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_RUNTIME_DIR": str(runtime),
        "LANG": "C.UTF-8",
    }
    env.update(extra)
    return env


def _run_child(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    last_line = done.stdout.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last_line)
    return result


def _token_endpoint(server: LoopbackServer) -> str:
    server.route(
        "POST", "/token", Response.json({"access_token": "second-access", "expires_in": 600})
    )
    return server.url + "/token"


@pytest.mark.keyring
@pytest.mark.skipif(
    shutil.which("dbus-run-session") is None or shutil.which("gnome-keyring-daemon") is None,
    reason="needs dbus-run-session (package dbus) and gnome-keyring-daemon (package gnome-keyring)",
)
def test_a_token_is_stored_refreshed_and_deleted_in_a_real_secret_service_keyring(
    tmp_path: Path, http_server: LoopbackServer
) -> None:
    user_space = tmp_path / "user"
    argv = [
        "sh",  # no reliance on the script's execute bit
        str(SESSION),
        sys.executable,
        "-c",
        CHILD,
        _token_endpoint(http_server),
        str(user_space),
        "keyring",
    ]
    out = _run_child(argv, _child_env(tmp_path))
    assert out == {
        "backend": "keyring (keyring.backends.SecretService.Keyring)",
        "fallback_reason": None,
        "keyring_class": "keyring.backends.SecretService",
        "stored_in_keyring": True,
        "refreshed": True,
        "refreshed_in_keyring": True,
        "services": ["svc"],
        "gone_from_keyring": True,
        "services_after_logout": [],
    }
    assert len(http_server.requests) == 1
    assert not (user_space / "auth").exists()  # nothing went to the file store


FALLBACK_CHILD = """
import json, os, stat, sys
from pathlib import Path

from kiwi_mcp.kernel.services.auth.store import AuthRecord, open_auth_store

user_space = Path(sys.argv[1])
store = open_auth_store(user_space, backend="auto")
store.signin("svc", AuthRecord(access_token="file-access"))
folder = user_space / "auth"
print(json.dumps({
    "backend": store.backend_name,
    "fallback_reason": store.fallback_reason,
    "folder_mode": oct(stat.S_IMODE(folder.stat().st_mode)),
    "file_mode": oct(stat.S_IMODE((folder / "credentials.json").stat().st_mode)),
    "services": store.services(),
}))
"""


def test_without_a_working_keyring_auto_falls_back_to_a_private_file(tmp_path: Path) -> None:
    user_space = tmp_path / "user"
    env = _child_env(tmp_path, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    out = _run_child([sys.executable, "-c", FALLBACK_CHILD, str(user_space)], env)
    assert out == {
        "backend": "file",
        "fallback_reason": "no keyring backend is available (keyring.backends.fail)",
        "folder_mode": "0o700",
        "file_mode": "0o600",
        "services": ["svc"],
    }
    stored = json.loads((user_space / "auth" / "credentials.json").read_text())
    assert json.loads(stored["entries"]["svc"])["access_token"] == "file-access"
    assert stat.S_IMODE((user_space / "auth").stat().st_mode) == 0o700

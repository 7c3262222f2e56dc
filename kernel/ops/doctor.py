"""``kiwi doctor``: why a host cannot start Kiwi, in one command (SPEC §11).

Each check is a ``Check(name, ok, detail, hint)``; none raises. The last one starts
``kiwi serve`` exactly as a host would (stdio, this project, this environment), sends
``initialize`` and ``tools/list``, and reports what came back and the server's stderr.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from kiwi_mcp.kernel.errors import KiwiError

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["Check", "diagnose"]

#: How long the live handshake may take before it counts as a failure.
HANDSHAKE_TIMEOUT_S: Final = 30.0
_FIVE: Final = ["search", "load", "execute", "sign", "help"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "hint": self.hint}


def diagnose(kernel: Kernel, *, kiwi: str, env: dict[str, str]) -> list[Check]:
    """Every check, in the order a newcomer meets them."""
    checks = [_platform(), _user_space(kernel), _keys(kernel), _auth(kernel), _policy(kernel)]
    checks.append(_items(kernel))
    checks.append(
        Check(
            name="index",
            ok=True,
            detail="no search index yet: search scans the spaces on each call",
        )
    )
    checks.append(_handshake(kernel, kiwi=kiwi, env=env))
    return checks


def _platform() -> Check:
    python = f"Python {platform.python_version()} at {sys.executable}"
    if os.name != "posix":
        return Check(
            name="platform",
            ok=False,
            detail=f"{platform.system()}, {python}",
            hint="Kiwi runs on POSIX systems (Linux, macOS); use WSL on Windows.",
        )
    return Check(name="platform", ok=True, detail=f"{platform.system()}, {python}")


def _user_space(kernel: Kernel) -> Check:
    root = kernel.settings.user_space
    if root.is_dir() and os.access(root, os.W_OK):
        return Check(name="user space", ok=True, detail=str(root))
    if not root.exists():
        return Check(
            name="user space",
            ok=False,
            detail=f"{root} does not exist",
            hint="Run 'kiwi keys init' (it creates it), or set KIWI_USER_SPACE.",
        )
    return Check(
        name="user space",
        ok=False,
        detail=f"{root} is not a writable folder",
        hint="Fix its permissions, or set KIWI_USER_SPACE to another folder.",
    )


def _keys(kernel: Kernel) -> Check:
    from kiwi_mcp.kernel.ops.admin import keys_show, trust_list

    try:
        own = keys_show(kernel.settings.user_space).fingerprint
        trusted = trust_list(kernel.settings.user_space)
    except KiwiError as err:
        return Check(name="trust store", ok=False, detail=err.message, hint=err.hint)
    return Check(
        name="trust store",
        ok=True,
        detail=f"signing key {own[:16]}…, {len(trusted)} trusted signer(s)",
    )


def _auth(kernel: Kernel) -> Check:
    from kiwi_mcp.kernel.ops.admin import auth_status

    try:
        report = auth_status(kernel.settings.user_space, kernel.settings.auth_backend)
    except KiwiError as err:
        return Check(name="keyring", ok=False, detail=err.message, hint=err.hint)
    backend = report.backend
    detail = f"{backend.name}" + (f" ({backend.path})" if backend.path else "")
    if backend.fallback_reason:
        detail += f"; {backend.fallback_reason}"
    return Check(name="keyring", ok=True, detail=f"{detail}; {len(report.services)} credential(s)")


def _policy(kernel: Kernel) -> Check:
    from kiwi_mcp.kernel.trust.policy import POLICY_RELPATH

    present = (kernel.settings.project_root / POLICY_RELPATH).is_file()
    try:
        caps = kernel.caps
    except KiwiError as err:
        return Check(name="policy", ok=False, detail=err.message, hint=err.hint)
    how = "signed" if present else "absent: the defaults apply"
    if present and kernel.settings.verify != "signed":
        how = f"accepted under KIWI_VERIFY={kernel.settings.verify}"
    return Check(name="policy", ok=True, detail=f"{how}; agents hold {len(caps.to_list())} caps")


def _items(kernel: Kernel) -> Check:
    from kiwi_mcp.kernel.core.ids import KINDS
    from kiwi_mcp.kernel.ops.load import integrity_of

    kernel.store.refresh()
    counts: dict[str, int] = {}
    bad: list[str] = []
    for kind in KINDS:
        for file in kernel.store.iter_files(kind, ("project", "user")):
            counts[kind] = counts.get(kind, 0) + 1
            try:
                located = kernel.store.locate(kind, file.id, within=(file.space,))
                loaded = kernel.store.load_located(located)
            except KiwiError as err:
                bad.append(f"{kind} {file.id}: {err.code}")
                continue
            integrity = integrity_of(kernel, loaded)
            if integrity.status != "verified":
                bad.append(f"{kind} {file.id}: {integrity.code or integrity.status}")
        bad.extend(
            f"{kind} {skipped.path.name}: skipped ({skipped.reason})"
            for skipped in kernel.store.skipped(kind, ("project", "user"))
        )
    listed = ", ".join(f"{n} {k}(s)" for k, n in counts.items()) or "no project or user items"
    if not bad:
        return Check(name="items", ok=True, detail=f"{listed}, all verified")
    shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
    return Check(
        name="items",
        ok=False,
        detail=f"{listed}; unsigned or unverifiable: {shown}",
        hint="Review them, then 'kiwi sign <kind> <id>' (or fix what 'kiwi show' reports).",
    )


def _handshake(kernel: Kernel, *, kiwi: str, env: dict[str, str]) -> Check:
    """``initialize`` + ``tools/list`` against a fresh ``kiwi serve``, as a host starts it."""
    root = str(kernel.settings.project_root)
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "kiwi-doctor", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    hint = "Run the command above by hand to see it fail; 'kiwi mcp config <host>' prints an entry."
    command = [kiwi, "--project", root, "serve"]
    try:
        server = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
    except OSError as err:
        return Check(
            name="mcp handshake", ok=False, detail=f"cannot start {kiwi}: {err}", hint=hint
        )
    answers: dict[int, Any] = {}
    try:
        assert server.stdin is not None and server.stdout is not None
        for request in requests:
            server.stdin.write(json.dumps(request) + "\n")
            server.stdin.flush()
            if "id" in request:
                line = server.stdout.readline()
                if not line:
                    break
                answer = json.loads(line)
                answers[answer.get("id")] = answer
        server.stdin.close()
        server.wait(timeout=HANDSHAKE_TIMEOUT_S)
        stderr = server.stderr.read() if server.stderr else ""
    except (OSError, ValueError, subprocess.TimeoutExpired) as err:
        server.kill()
        server.wait()
        stderr = server.stderr.read() if server.stderr else ""
        return Check(
            name="mcp handshake",
            ok=False,
            detail=f"{' '.join(command)}: {type(err).__name__}; stderr: {stderr.strip()[-300:]}",
            hint=hint,
        )
    tools = [t.get("name") for t in (answers.get(2, {}).get("result") or {}).get("tools", [])]
    if tools[:5] != _FIVE:
        return Check(
            name="mcp handshake",
            ok=False,
            detail=f"{' '.join(command)} answered {sorted(answers)} (exit {server.returncode});"
            f" stderr: {stderr.strip()[-300:] or '(empty)'}",
            hint=hint,
        )
    version = (answers[1].get("result") or {}).get("protocolVersion")
    note = f"; stderr: {stderr.strip()[-200:]}" if stderr.strip() else ""
    return Check(
        name="mcp handshake",
        ok=True,
        detail=f"stdio initialize ({version}) + tools/list: {len(tools)} tools{note}",
    )

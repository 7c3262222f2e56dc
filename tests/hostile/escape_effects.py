"""Escape attempts through a tool's effects, each expected (SPEC) against observed: declared
``files`` and file sinks outside the project or into Kiwi's own state, a tool file symlinked
outside its space, and a read-only audit folder.

These run with ``KIWI_VERIFY=off``, the most permissive mode, so what stops them is the gate
(SPEC §9.4, §3, §9.5) and not a missing signature.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

from tests.hostile.escape_faces import Faces, code_of, marker_tool, outcome
from tests.hostile.hostile_report import Report
from tests.hostile.hostile_sandbox import Sandbox
from tests.support.http_server import LoopbackServer, Response

__all__ = ["effect_escapes", "thaw"]

_FROZEN: list[Path] = []
_REFUSED: Final = ("ok", None, "INTERNAL_ERROR")


def freeze(folder: Path) -> str:
    """Make ``folder`` unwritable, even for root (``chattr +i``); returns how."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if done.returncode == 0:
            _FROZEN.append(folder)
            return "chattr +i"
    folder.chmod(0o555)
    _FROZEN.append(folder)
    return "chmod 0555" + (" (root: may still write)" if os.geteuid() == 0 else "")


def thaw(top: Path) -> None:
    """Undo every freeze under ``top`` (so the sandbox can be removed)."""
    for folder in list(_FROZEN):
        if folder.is_relative_to(top):
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
            with contextlib.suppress(OSError):
                folder.chmod(0o755)
            _FROZEN.remove(folder)


def _files(faces: Faces, report: Report) -> None:
    box = faces.box
    outside = box.top / "outside.txt"
    outside.write_text("outside the project\n", encoding="utf-8")
    logs = box.root / ".ai" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "hostile.txt").write_text("Kiwi's own state\n", encoding="utf-8")
    marker = box.top / "files-marker.txt"
    for label, rel, spec in (
        ("outside the project", "../../../../outside.txt", "SPEC §4.1 (files: no escape)"),
        ("into .ai/config", "../../config/policy.yaml", "SPEC §9.4 (fs.* never covers .ai/config)"),
        ("into .ai/logs", "../../logs/hostile.txt", "SPEC §9.4 (fs.* ** never covers .ai/logs)"),
    ):
        text = marker_tool(marker) + f"files: [{json.dumps(rel)}]\n"
        box.write_tool("esc/files_out.yaml", text)
        seen = [
            code_of(faces.cli("run", "esc/files_out", verify="off")),
            code_of(
                faces.mcp(
                    "execute", {"item_type": "tool", "item_id": "esc/files_out"}, verify="off"
                )
            ),
        ]
        report.escape(
            f"declared file {label} ({rel})",
            spec,
            "refused before it runs (ok: false, not INTERNAL_ERROR); no marker",
            f"cli: {seen[0]}, mcp: {seen[1]}; marker {'WRITTEN' if marker.exists() else 'absent'}",
            all(code not in _REFUSED for code in seen) and not marker.exists(),
        )
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
    (box.tools / "esc" / "files_out.yaml").unlink()


def _sinks(faces: Faces, report: Report) -> None:
    box = faces.box
    policy = box.root / ".ai" / "config" / "policy.yaml"
    kept = policy.read_bytes()
    with LoopbackServer() as events:
        events.route("GET", "/sse", Response.sse(["data: 1\n\n", "data: 2\n\n"]))
        for label, path, target, allowed, spec in (
            (
                "a project file (control)",
                "out/events.jsonl",
                box.root / "out" / "events.jsonl",
                True,
                "SPEC §6.2 sinks",
            ),
            (
                "outside the project (relative)",
                "../outside.jsonl",
                box.top / "outside.jsonl",
                False,
                "SPEC §9.4 (fs.write of file sinks)",
            ),
            (
                "outside the project (absolute)",
                str(box.top / "abs.jsonl"),
                box.top / "abs.jsonl",
                False,
                "SPEC §9.4 (fs.write of file sinks)",
            ),
            (
                "into .ai/logs/audit",
                ".ai/logs/audit/evil.jsonl",
                box.root / ".ai" / "logs" / "audit" / "evil.jsonl",
                False,
                "SPEC §9.4 (fs.* ** never covers .ai/logs)",
            ),
            (
                "onto .ai/config/policy.yaml",
                ".ai/config/policy.yaml",
                policy,
                False,
                "SPEC §9.4 (.ai/config is never covered)",
            ),
        ):
            existed = target.read_bytes() if target.exists() else None
            box.write_tool("esc/sink.yaml", _sink_tool(f"{events.url}/sse", path))
            got = faces.mcp("execute", {"item_type": "tool", "item_id": "esc/sink"}, verify="off")
            now = target.read_bytes() if target.exists() else None
            touched = now != existed
            if allowed:
                passed = code_of(got) == "ok" and touched
                expected = "ok, the sink file written"
            else:
                passed = code_of(got) == "PERMISSION_DENIED" and not touched
                expected = "PERMISSION_DENIED naming fs.write, the target untouched"
            report.escape(
                f"file sink {label}",
                spec,
                expected,
                f"{outcome(got)}; target {'WRITTEN' if touched else 'untouched'}",
                passed,
            )
            if touched and not allowed and target == policy:
                policy.write_bytes(kept)
    (box.tools / "esc" / "sink.yaml").unlink()


def _sink_tool(url: str, path: str) -> str:
    config = {
        "url": url,
        "stream": {
            "transport": "sse",
            "sinks": [{"type": "file", "path": path}, {"type": "return"}],
        },
    }
    return (
        'version: "1.0.0"\nexecutor_id: primitives/http_client\n'
        "description: stream events into a file sink\n"
        f"config: {json.dumps(config)}\n"
    )


def _symlinked_tool(faces: Faces, report: Report) -> None:
    box = faces.box
    marker = box.top / "symlink-marker.txt"
    evil = box.top / "elsewhere" / "evil.yaml"
    evil.parent.mkdir(parents=True, exist_ok=True)
    evil.write_text(marker_tool(marker), encoding="utf-8")
    link = box.tools / "esc" / "outside_link.yaml"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(evil, link)
    seen = [
        code_of(faces.cli("run", "esc/outside_link", verify="off")),
        code_of(
            faces.mcp("execute", {"item_type": "tool", "item_id": "esc/outside_link"}, verify="off")
        ),
    ]
    report.escape(
        "a tool file symlinked outside its space",
        "SPEC §3 (symlinks included)",
        "refused (ok: false, not INTERNAL_ERROR); no marker",
        f"cli: {seen[0]}, mcp: {seen[1]}; marker {'WRITTEN' if marker.exists() else 'absent'}",
        all(code not in _REFUSED for code in seen) and not marker.exists(),
    )
    link.unlink()


def _audit(faces: Faces, report: Report) -> None:
    box = Sandbox.create(faces.box.top / "audit")
    local = Faces(box)
    marker = box.top / "audit-marker.txt"
    box.write_tool("esc/marker.yaml", marker_tool(marker))
    box.sign("esc/marker")
    audit = box.root / ".ai" / "logs" / "audit"
    try:
        for label, make in (("read-only", "freeze"), ("a regular file", "file")):
            shutil.rmtree(audit, ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                audit.unlink()
            audit.parent.mkdir(parents=True, exist_ok=True)
            if make == "freeze":
                audit.mkdir()
                how = freeze(audit)
            else:
                audit.write_text("not a folder\n", encoding="utf-8")
                how = "a file in its place"
            cli = local.cli("run", "esc/marker")
            mcp = local.mcp("execute", {"item_type": "tool", "item_id": "esc/marker"})
            seen = [code_of(cli), code_of(mcp)]
            message = str(((cli or {}).get("error") or {}).get("message", "")) if cli else ""
            report.escape(
                f"audit folder {label} ({how})",
                "SPEC §9.5 (no effect without a record)",
                "AUDIT_UNAVAILABLE naming the path on CLI and MCP; the tool's marker not written",
                f"cli: {outcome(cli)}, mcp: {seen[1]}; marker "
                + ("WRITTEN" if marker.exists() else "absent"),
                seen == ["AUDIT_UNAVAILABLE", "AUDIT_UNAVAILABLE"]
                and "audit" in message
                and not marker.exists(),
            )
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
            thaw(box.top)
    finally:
        thaw(box.top)
        local.close()


def effect_escapes(faces: Faces, report: Report) -> None:
    for step in (_files, _sinks, _symlinked_tool, _audit):
        step(faces, report)

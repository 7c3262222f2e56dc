"""Escape attempts (issue #12), each recorded as expected (SPEC) against observed.

This module: id escapes, ``load`` with a ``destination``, ``project_path`` naming a folder
the server was not started for, and the MCP ``sign`` tool called by a client. The effect
escapes (declared files, sinks, symlinks, a read-only audit folder) are in
``escape_effects.py``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from tests.hostile.escape_effects import effect_escapes, thaw
from tests.hostile.escape_faces import Faces, code_of, marker_tool, outcome
from tests.hostile.hostile_report import Report, clip
from tests.hostile.hostile_sandbox import GOOD_TOOL, Sandbox

__all__ = ["escape_pass", "thaw"]

BAD_IDS: Final = (
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "a/./b",
    "a\\b",
    "a\x00b",
    "a//b",
    "./hello",
    "hello/..",
    "Hello",
    "hello ",
)


def _ids(faces: Faces, report: Report) -> None:
    for bad in BAD_IDS:
        seen = {}
        if "\x00" not in bad:  # argv cannot carry a NUL
            seen["cli run"] = code_of(faces.cli("run", bad))
        seen["mcp execute"] = code_of(faces.mcp("execute", {"item_type": "tool", "item_id": bad}))
        seen["mcp load"] = code_of(faces.mcp("load", {"item_type": "tool", "item_id": bad}))
        report.escape(
            f"id {bad!r}",
            "SPEC §3 id safety",
            "INVALID_ID on every face",
            ", ".join(f"{face}: {code}" for face, code in seen.items()),
            all(code == "INVALID_ID" for code in seen.values()),
        )


def _load(faces: Faces, report: Report) -> None:
    box = faces.box
    hello = box.tools / "hello.py"
    before = hello.read_bytes()
    got = faces.mcp("load", {"item_type": "tool", "item_id": "hello", "destination": "project"})
    report.escape(
        "load hello into the project where it exists",
        "SPEC §10 load",
        "refused (ok: false), the file unchanged",
        f"{outcome(got)}; file {'unchanged' if hello.read_bytes() == before else 'CHANGED'}",
        code_of(got) not in ("ok", None, "INTERNAL_ERROR") and hello.read_bytes() == before,
    )
    policy = box.root / ".ai" / "config" / "policy.yaml"
    kept = policy.read_bytes()
    got = faces.mcp(
        "load", {"item_type": "tool", "item_id": "../config/policy", "destination": "user"}
    )
    report.escape(
        "load '../config/policy' into the user space",
        "SPEC §3 id safety",
        "INVALID_ID, nothing written",
        f"{outcome(got)}; user tools: {sorted(p.name for p in (box.user / 'tools').rglob('*'))}",
        code_of(got) == "INVALID_ID"
        and policy.read_bytes() == kept
        and not (box.user / "tools" / "policy.yaml").exists(),
    )
    got = faces.mcp("load", {"item_type": "tool", "item_id": "hello", "destination": "system"})
    report.escape(
        "load into the system space",
        "SPEC §10 load (destination project|user)",
        "refused as a bad argument (USAGE_ERROR)",
        outcome(got),
        code_of(got) == "USAGE_ERROR",
    )
    outside = box.top / "elsewhere" / "copied.yaml"
    outside.parent.mkdir(parents=True, exist_ok=True)
    outside.write_text(marker_tool(box.top / "never.txt"), encoding="utf-8")
    link = box.tools / "esc" / "copy_link.yaml"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, link)
    got = faces.mcp(
        "load", {"item_type": "tool", "item_id": "esc/copy_link", "destination": "user"}
    )
    copied = box.user / "tools" / "esc" / "copy_link.yaml"
    report.escape(
        "load a tool symlinked outside its space into the user space",
        "SPEC §3 (a path leaving its space root is refused)",
        "refused (ok: false), nothing copied",
        f"{outcome(got)}; copy {'exists' if copied.exists() else 'absent'}",
        code_of(got) not in ("ok", None, "INTERNAL_ERROR") and not copied.exists(),
    )
    link.unlink()


def _other_project(box: Sandbox) -> tuple[Path, Path]:
    other = box.top / "other"
    (other / ".ai" / "tools").mkdir(parents=True)
    (other / ".ai" / "config").mkdir(parents=True)
    (other / ".ai" / "config" / "policy.yaml").write_text(
        "version: 1\ncapabilities: ['tool.execute:**', 'tool.sign:**', 'process.exec:*', "
        "'fs.read:**', 'fs.write:**', 'net.http:**']\n",
        encoding="utf-8",
    )
    marker = box.top / "other-marker.txt"
    (other / ".ai" / "tools" / "marker.yaml").write_text(marker_tool(marker), encoding="utf-8")
    return other, marker


def _project_path(faces: Faces, report: Report) -> None:
    box = faces.box
    other, marker = _other_project(box)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("search", {"query": "marker"}),
        ("load", {"item_type": "tool", "item_id": "marker"}),
        ("execute", {"item_type": "tool", "item_id": "marker"}),
        ("sign", {"item_type": "tool", "item_id": "**"}),
        ("help", {"action": "stuck", "reason": "escape attempt"}),
    ]
    targets = {
        "another project": str(other),
        "another project via ..": str(box.root / ".." / "other"),
        "/": "/",
        "the served root's .ai folder": str(box.root / ".ai"),
    }
    for label, path in targets.items():
        seen = {
            tool: code_of(faces.mcp(tool, {**args, "project_path": path}, verify="off"))
            for tool, args in calls
        }
        report.escape(
            f"project_path = {label}",
            "SPEC §9.4 one project, one ceiling",
            "PERMISSION_DENIED for search, load, execute, sign, help; no effect",
            ", ".join(f"{t}: {c}" for t, c in seen.items())
            + f"; marker {'WRITTEN' if marker.exists() else 'absent'}",
            all(c == "PERMISSION_DENIED" for c in seen.values()) and not marker.exists(),
        )
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
    alias = box.top / "served-alias"
    os.symlink(box.root, alias)
    got = faces.mcp("search", {"query": "hello", "project_path": str(alias)})
    report.escape(
        "project_path = a symlink to the served root (control)",
        "SPEC §9.4 (symlinks resolved)",
        "allowed (ok)",
        outcome(got),
        code_of(got) == "ok",
    )


def _sign(faces: Faces, report: Report) -> None:
    box = faces.box
    tool = box.write_tool("esc/unsigned.py", GOOD_TOOL)
    before = tool.read_bytes()
    seen = [
        code_of(faces.mcp("sign", {"item_type": "tool", "item_id": item}))
        for item in ("esc/unsigned", "**")
    ]
    report.escape(
        "MCP sign by a client under the default policy",
        "SPEC §9.3 (no default policy grants *.sign)",
        "PERMISSION_DENIED, the file unchanged",
        f"sign esc/unsigned: {seen[0]}, sign '**': {seen[1]}; file "
        + ("unchanged" if tool.read_bytes() == before else "SIGNED"),
        seen == ["PERMISSION_DENIED", "PERMISSION_DENIED"] and tool.read_bytes() == before,
    )
    policy = box.root / ".ai" / "config" / "policy.yaml"
    kept = policy.read_bytes()
    try:
        policy.write_text(
            "version: 1\ncapabilities: ['tool.execute:**', 'tool.sign:**', "
            "'process.exec:*', 'fs.read:**']\n",
            encoding="utf-8",
        )
        got = faces.mcp("sign", {"item_type": "tool", "item_id": "esc/unsigned"})
        run = faces.mcp("execute", {"item_type": "tool", "item_id": "good/tool"})
        hint = (
            str(((got or {}).get("error") or {}).get("hint", ""))
            if isinstance(got, Mapping)
            else ""
        )
        report.escape(
            "MCP sign after the policy was edited without 'kiwi sign policy'",
            "SPEC §9.4 (the ceiling cannot be raised from below)",
            "PERMISSION_DENIED for every agent call, hint 'kiwi sign policy'; file unchanged",
            f"sign: {outcome(got)} (hint: {clip(hint, 80)}); "
            f"execute good/tool: {code_of(run)}; file "
            + ("unchanged" if tool.read_bytes() == before else "SIGNED"),
            code_of(got) == "PERMISSION_DENIED"
            and "kiwi sign policy" in hint
            and code_of(run) == "PERMISSION_DENIED"
            and tool.read_bytes() == before,
        )
    finally:
        policy.write_bytes(kept)
        tool.unlink()


def escape_pass(top: Path, report: Report) -> None:
    box = Sandbox.create(top)
    faces = Faces(box)
    steps: list[Callable[[Faces, Report], None]] = [_ids, _load, _project_path, _sign]
    try:
        for step in steps:
            step(faces, report)
        effect_escapes(faces, report)
        for verify, server in faces.servers.items():
            if not server.alive():
                report.violation(
                    "escapes", "server", "server-died", f"{verify}: {server.stderr_tail()}"
                )
    finally:
        faces.close()

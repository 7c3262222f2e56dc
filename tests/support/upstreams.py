"""The real upstream MCP servers the MCP client is tested against (SPEC §14), as installed by
``scripts/install-mcp-upstreams.sh`` (npm, under .ci/node/upstreams/) and the ``test`` extra
(``mcp-server-time``, PyPI), plus ``rugpull_server.py`` beside this file.

``require_node_servers()`` skips a test, saying why, only when Node is genuinely missing; when
Node is there but the servers are not installed yet, it runs the install script (npm)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / ".ci" / "node"
MODULES = NODE_DIR / "upstreams" / "node_modules" / "@modelcontextprotocol"
EVERYTHING = MODULES / "server-everything" / "dist" / "index.js"
FILESYSTEM = MODULES / "server-filesystem" / "dist" / "index.js"
TIME_SERVER = str(Path(sys.executable).with_name("mcp-server-time"))
RUGPULL = str(Path(__file__).with_name("rugpull_server.py"))


def node() -> str:
    """The node binary, installing the pinned servers first if needed; skips without Node."""
    if not (EVERYTHING.is_file() and FILESYSTEM.is_file()):
        if shutil.which("npm") is None:
            pytest.skip("npm/node are not installed: the npm reference MCP servers cannot run")
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-mcp-upstreams.sh")],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
    binary = NODE_DIR / "bin" / "node"
    if binary.is_file():
        return str(binary)
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the npm reference MCP servers cannot run")
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


def wait_until(condition: Callable[[], bool], *, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def host_path() -> str:
    return os.environ.get("PATH", "/usr/bin:/bin")


def add_rugpull(project: Any, state: Path, description: str = "Weather for a city") -> None:
    """``kiwi mcp add rug`` of the test server whose tool description is read from
    ``state/description`` at each connection (a rug pull is a write to that file)."""
    state.mkdir(exist_ok=True)
    (state / "description").write_text(description, encoding="utf-8")
    done = project.kiwi("mcp", "add", "rug", "--", sys.executable, RUGPULL, str(state))
    assert done.returncode == 0, done.stderr

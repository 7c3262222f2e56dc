"""What the escape attempts share: the faces of one sandbox (the CLI, a stdio server per
verification mode), a tool that leaves a marker when it runs, and envelopes in a few words."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from tests.hostile.hostile_report import clip
from tests.hostile.hostile_sandbox import Sandbox, StdioServe

__all__ = ["Faces", "code_of", "marker_tool", "outcome"]

GUARD: Final = 20.0
MARKER_TOOL: Final = """version: "1.0.0"
executor_id: primitives/subprocess
description: write a marker file (an escape attempt's effect)
config:
  command: {python}
  args: ["-c", "open({marker!r}, 'w').write('ran'); print('{{}}')"]
"""


def outcome(envelope: Any) -> str:
    """An envelope in a few words: ``ok`` or ``CODE: message``."""
    if envelope is None:
        return "no answer (hang guard)"
    if not isinstance(envelope, Mapping) or "ok" not in envelope:
        return f"not an envelope: {clip(envelope, 120)}"
    if envelope["ok"]:
        return "ok"
    error = envelope.get("error") or {}
    return f"{error.get('code')}: {clip(error.get('message', ''), 140)}"


def code_of(envelope: Any) -> str | None:
    if isinstance(envelope, Mapping) and envelope.get("ok") is False:
        return str((envelope.get("error") or {}).get("code"))
    return "ok" if isinstance(envelope, Mapping) and envelope.get("ok") else None


def marker_tool(marker: Path) -> str:
    return MARKER_TOOL.format(python=json.dumps(sys.executable), marker=str(marker))


class Faces:
    """The CLI and one stdio server per verification mode, for one sandbox."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.servers: dict[str, StdioServe] = {}

    def mcp(self, tool: str, args: Mapping[str, Any], verify: str = "signed") -> Any:
        server = self.servers.get(verify)
        if server is None or not server.alive():
            server = StdioServe(self.box, env={} if verify == "signed" else {"KIWI_VERIFY": verify})
            if not server.initialize():
                return f"server did not start: {server.stderr_tail()}"
            self.servers[verify] = server
        answer = server.call(tool, args, timeout=GUARD)
        if answer is None:
            server.process.kill()
            self.servers.pop(verify).close()
        return answer

    def cli(self, *args: str, verify: str = "signed") -> Any:
        env = {} if verify == "signed" else {"KIWI_VERIFY": verify}
        done = self.box.cli("--json", *args, timeout=GUARD, env=env)
        return None if done.timed_out else done.json

    def close(self) -> None:
        for server in self.servers.values():
            server.close()
        self.servers.clear()

"""``kiwi init``: a project's ``.ai/`` with an example tool, signed with the user's key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["init_project"]

_HELLO = '''"""Say hello (an example tool: Kiwi reads this metadata without running the file)."""

__version__ = "1.0.0"
__tool_type__ = "python"
__executor_id__ = "runtimes/python"
PARAMETERS = {
    "type": "object",
    "properties": {"name": {"type": "string", "default": "world"}},
    "additionalProperties": False,
}


def execute(params, context):
    return {"greeting": f"Hello, {params['name']}!"}
'''


def init_project(project: str | os.PathLike[str] | None) -> dict[str, Any]:
    """Create what is missing (never overwrites) and sign the example tool.

    Returns ``{"project", "created": [paths], "fingerprint"}``.
    """
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.ops.sign import sign_items
    from kiwi_mcp.kernel.store.settings import Settings
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.policy import DEFAULT_CAPABILITIES

    root = Path(project).absolute() if project is not None else Path.cwd()
    ai = root / ".ai"
    created: list[str] = []
    for folder in ("tools", "directives", "knowledge", "config"):
        path = ai / folder
        if not path.exists():
            path.mkdir(parents=True)
            created.append(str(path))
    policy = "# Capabilities of top-level callers (the CLI, MCP clients). SPEC §9.4.\n"
    policy += "version: 1\ncapabilities:\n"
    policy += "".join(f'  - "{cap}"\n' for cap in DEFAULT_CAPABILITIES)
    files = {
        ai / "tools" / "hello.py": _HELLO,
        ai / "config" / "policy.yaml": policy,
        ai / ".gitignore": "logs/\n",
    }
    for path, text in files.items():
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            created.append(str(path))
    settings = Settings.from_environment(root)
    fingerprint = KeyStore(settings.user_space).init()
    kernel = Kernel(settings)
    sign_items(kernel.store, settings.user_space, "tool", "hello", caps=kernel.caps)
    return {"project": str(root), "created": created, "fingerprint": fingerprint}

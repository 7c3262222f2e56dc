"""``kiwi init``: a project's ``.ai/`` with an example tool and the agents' policy, both
signed with the user's key (made if there is none)."""

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
    """Create what is missing (never overwrites), then sign the example tool and the
    policy (an existing policy is signed only when it is new to this run: an operator's
    edited policy is theirs to review and sign).

    Returns ``{"project", "created": [paths], "fingerprint"}``.
    """
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.ops.policy import sign_policy
    from kiwi_mcp.kernel.ops.sign import sign_items
    from kiwi_mcp.kernel.store.settings import Settings
    from kiwi_mcp.kernel.trust.keys import KeyStore
    from kiwi_mcp.kernel.trust.policy import policy_text

    root = Path(project).absolute() if project is not None else Path.cwd()
    ai = root / ".ai"
    created: list[str] = []
    for folder in ("tools", "directives", "knowledge", "config"):
        path = ai / folder
        if not path.exists():
            path.mkdir(parents=True)
            created.append(str(path))
    policy = ai / "config" / "policy.yaml"
    files = {
        ai / "tools" / "hello.py": _HELLO,
        policy: policy_text(),
        ai / ".gitignore": "logs/\nindex/\nthreads/\n",  # what Kiwi writes, not what you author
    }
    for path, text in files.items():
        if not path.exists():
            path.write_text(text, encoding="utf-8")
            created.append(str(path))
    settings = Settings.from_environment(root)
    fingerprint = KeyStore(settings.user_space).init()
    kernel = Kernel(settings)
    sign_items(kernel.store, settings.user_space, "tool", "hello", caps=None)
    if str(policy) in created:
        sign_policy(root, settings.user_space)
    return {"project": str(root), "created": created, "fingerprint": fingerprint}

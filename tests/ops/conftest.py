"""A real project and user space on disk, signed with a key made for the test, and kernels
over them: what the ``kernel/ops`` tests drive.

The project holds a Python tool on the shipped ``runtimes/python`` chain, a directive with
inputs and a knowledge entry. ``KIWI_VERIFY`` is ``signed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.ops.admin import keys_init
from kiwi_mcp.kernel.ops.sign import sign_items
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

__all__ = ["ECHO", "Workspace", "workspace"]

ECHO = '''"""Echo what it is told."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"


def execute(params, context):
    return {"said": params.get("say", "hi")}
'''

REVIEW = """\
# Review a change

```xml
<directive name="review" version="1.0.0">
  <metadata>
    <description>Review a change for style and safety</description>
  </metadata>
  <inputs>
    <input name="path" type="string" required="true">File to review</input>
  </inputs>
</directive>
```

Review ${inputs.path} carefully.
"""

STYLE = """\
---
title: House style
tags: [style]
---
Prefer small functions.
"""

_SIGN_ALL = CapabilitySet.from_strings(["tool.sign:**", "directive.sign:**", "knowledge.sign:**"])


@dataclass
class Workspace:
    """A project folder and a user space; ``kernel()`` opens a fresh kernel over both."""

    root: Path
    user: Path
    home: Path

    def write(self, rel: str, text: str, *, space: str = "project") -> Path:
        """Write ``rel`` (e.g. ``tools/echo.py``) under the project's ``.ai`` or the user space."""
        base = self.root / ".ai" if space == "project" else self.user
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def kernel(
        self, *, caps: CapabilitySet | None = None, clock: Callable[[], float] | None = None
    ) -> Kernel:
        settings = Settings(
            project_root=self.root,
            user_space=self.user,
            system_root=system_space_root(),
            host_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home)},
        )
        if clock is None:
            return Kernel(settings, caps=caps)
        return Kernel(settings, caps=caps, clock=clock)

    def sign(self) -> None:
        """Sign every project and user item with the user's key."""
        kernel = self.kernel()
        for kind in ("tool", "directive", "knowledge"):
            sign_items(kernel.store, self.user, kind, "**", caps=_SIGN_ALL)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    space = Workspace(root=tmp_path / "project", user=tmp_path / "user", home=tmp_path)
    space.write("tools/echo.py", ECHO)
    space.write("directives/review.md", REVIEW)
    space.write("knowledge/style.md", STYLE)
    keys_init(space.user)
    space.sign()
    return space

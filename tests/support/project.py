"""A real project, user space and ``kiwi`` executable: the ``project`` fixture of the tests that
drive Kiwi end to end through the CLI (tests/exec, tests/faces/cli)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

KIWI = str(Path(sys.executable).with_name("kiwi"))


@dataclass
class Project:
    root: Path
    user: Path
    env: dict[str, str]

    @property
    def tools(self) -> Path:
        return self.root / ".ai" / "tools"

    def write_tool(self, rel: str, text: str) -> Path:
        path = self.tools / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def kiwi(
        self,
        *args: str,
        stdin: str | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KIWI, *args],
            cwd=cwd or self.root,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def sign(self, pattern: str = "**") -> None:
        done = self.kiwi("sign", "tool", pattern)
        assert done.returncode == 0, done.stderr

    def write_policy(self, caps: list[str], *, sign: bool = True) -> Path:
        """The agents' policy, signed by the operator (``kiwi sign policy``) unless told."""
        path = self.root / ".ai" / "config" / "policy.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("version: 1\ncapabilities:\n" + "".join(f'  - "{c}"\n' for c in caps))
        if sign:
            done = self.kiwi("sign", "policy")
            assert done.returncode == 0, done.stderr
        return path


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    (root / ".ai" / "tools").mkdir(parents=True)
    user = tmp_path / "user"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
        "KIWI_USER_SPACE": str(user),
        "KIWI_AUTH_BACKEND": "file",
    }
    proj = Project(root=root, user=user, env=env)
    done = proj.kiwi("keys", "init")
    assert done.returncode == 0, done.stderr
    return proj


RunKiwi = Callable[..., subprocess.CompletedProcess[str]]

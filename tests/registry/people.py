"""People for the registry tests: each has their own project, user space, key and AuthStore.

A person's kernel is the operator's (``kiwi registry …`` are operator acts), with the file
credential backend in their own user space, so nobody's token or key leaks to another.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.keys import KeyStore, TrustStore
from kiwi_mcp.kernel.trust.signing import sign_item

GREET = """version: "1.0.0"
tool_type: runtime
executor_id: primitives/subprocess
description: Greet someone by name with a friendly hello
parameters:
  type: object
  properties:
    name: {{type: string}}
  required: [name]
config:
  command: echo
  args: ["{word}", "${{params.name}}"]
requires: []
"""


@dataclass(kw_only=True)
class Person:
    name: str
    home: Path
    clock: Callable[[], float]

    @property
    def project(self) -> Path:
        return self.home / "project"

    @property
    def user_space(self) -> Path:
        return self.home / "user"

    def kernel(self) -> Kernel:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KIWI_")}
        env["KIWI_WARM"] = "0"  # a `kiwi` its tools start runs in-process
        settings = Settings(
            project_root=self.project,
            user_space=self.user_space,
            system_root=system_space_root(),
            host_env=env,
            auth_backend="file",
        )
        return Kernel(settings, as_operator=True, clock=self.clock)

    def run(self, work: Callable[[Kernel], Any]) -> Any:
        return asyncio.run(work(self.kernel()))

    @property
    def keys(self) -> KeyStore:
        return KeyStore(self.user_space)

    def trust(self, other: Person) -> None:
        TrustStore(self.user_space).add(other.keys.public_pem())

    def write_tool(self, item_id: str, text: str, *, sign: bool = True) -> Path:
        path = self.project / ".ai" / "tools" / f"{item_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode()
        if sign:
            data = sign_item(
                data,
                ext=".yaml",
                kind="tool",
                item_id=item_id,
                key=self.keys.private_key(),
                now=datetime.now(UTC),
            )
        path.write_bytes(data)
        return path


def person(root: Path, name: str, clock: Callable[[], float] | None = None) -> Person:
    import time

    who = Person(name=name, home=root / name, clock=clock or time.time)
    (who.project / ".ai").mkdir(parents=True)
    who.user_space.mkdir(parents=True)
    who.keys.init()
    return who

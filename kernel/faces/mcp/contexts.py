"""Per-project kernels that live across MCP calls.

One ``Kernel`` per project root: its item index, parsed items, verification memo and
compiled validators are reused by every call that names the same project. The default
project is the server's ``--project``, else the walk-up from its working directory.
"""

from __future__ import annotations

import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kiwi_mcp.kernel.errors import UsageError
from kiwi_mcp.kernel.store.paths import find_project_root

if TYPE_CHECKING:
    from kiwi_mcp.kernel.exec.kernel import Kernel

__all__ = ["ProjectContexts"]

#: Kernels kept at once; the least recently used one is closed past this.
MAX_CONTEXTS = 16


class ProjectContexts:
    """Finds the project a call means and hands out its (cached) kernel."""

    def __init__(
        self,
        project: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Fix the default project and check the ``KIWI_*`` settings once, at start-up.

        Raises:
            UsageError: a ``KIWI_*`` variable has a value that is not allowed.
        """
        from kiwi_mcp.kernel.store.settings import Settings

        self._env = dict(os.environ if env is None else env)
        self.default_root = find_project_root(project, cwd).resolve()
        # Fail fast on bad settings rather than on the first call.
        Settings.from_environment(self.default_root, env=self._env)
        self.session = uuid.uuid4().hex[:12]
        self._kernels: OrderedDict[Path, Kernel] = OrderedDict()
        self._closing: list[Kernel] = []

    def root_for(self, project_path: str | None) -> Path:
        """The project root a call names (``project_path``) or the default one.

        Raises:
            UsageError: ``project_path`` is relative, missing or not a folder.
        """
        if project_path is None:
            return self.default_root
        path = Path(project_path).expanduser()
        if not path.is_absolute():
            raise UsageError(
                f"arguments.project_path: expected an absolute path, got {project_path!r}",
                hint=f"Pass the project's absolute path, or omit it for {self.default_root}.",
            )
        if not path.is_dir():
            raise UsageError(
                f"arguments.project_path: {project_path!r} is not an existing folder",
                hint="Pass the folder that holds the project's .ai/ (or omit project_path).",
            )
        return path.resolve()

    def kernel(self, project_path: str | None = None) -> Kernel:
        """The kernel of the named (or default) project, made on first use.

        Raises:
            UsageError: a bad ``project_path`` (see ``root_for``).
        """
        root = self.root_for(project_path)
        found = self._kernels.get(root)
        if found is not None:
            self._kernels.move_to_end(root)
            return found
        from kiwi_mcp.kernel.exec.kernel import Kernel
        from kiwi_mcp.kernel.store.settings import Settings

        made = Kernel(Settings.from_environment(root, env=self._env), session=self.session)
        self._kernels[root] = made
        while len(self._kernels) > MAX_CONTEXTS:
            _, evicted = self._kernels.popitem(last=False)
            self._closing.append(evicted)
        return made

    async def reap(self) -> None:
        """Close kernels evicted from the cache (their HTTP clients)."""
        closing, self._closing = self._closing, []
        for kernel in closing:
            await kernel.aclose()

    async def aclose(self) -> None:
        """Close every kernel (at server shutdown)."""
        await self.reap()
        kernels = list(self._kernels.values())
        self._kernels.clear()
        for kernel in kernels:
            await kernel.aclose()

"""Per-project kernels that live across MCP calls, for the projects the server serves.

One ``Kernel`` per project root: its item index, parsed items, verification memo and
compiled validators are reused by every call that names the same project. A server serves
the roots it was started for (``--project``, repeatable; else the walk-up from its working
directory) and no other: a call's ``project_path`` must resolve, symlinks included, to one
of them (SPEC §9.4, "one project, one ceiling"), so a client can never pick a policy or an
audit log the operator did not choose. The first root is the default.
"""

from __future__ import annotations

import os
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiwi_mcp.kernel.errors import PermissionDenied, UsageError
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
        projects: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """Fix the served roots and check the ``KIWI_*`` settings once, at start-up.

        Raises:
            UsageError: a ``KIWI_*`` variable has a value that is not allowed.
        """
        from kiwi_mcp.kernel.store.settings import Settings

        self._env = dict(os.environ if env is None else env)
        named = [projects] if isinstance(projects, (str, os.PathLike)) else list(projects or [])
        found = [find_project_root(p, cwd).resolve() for p in named] or [
            find_project_root(None, cwd).resolve()
        ]
        self.roots: tuple[Path, ...] = tuple(dict.fromkeys(found))
        self.default_root = self.roots[0]
        # Fail fast on bad settings rather than on the first call.
        for root in self.roots:
            Settings.from_environment(root, env=self._env)
        self.session = uuid.uuid4().hex[:12]
        self._kernels: OrderedDict[Path, Kernel] = OrderedDict()
        self._closing: list[Kernel] = []

    def root_for(self, project_path: str | None) -> Path:
        """The served root a call names (``project_path``) or the default one.

        Raises:
            UsageError: ``project_path`` is not an absolute path.
            PermissionDenied: it does not resolve to a root this server serves.
        """
        if project_path is None:
            return self.default_root
        path = Path(project_path).expanduser()
        if not path.is_absolute():
            raise UsageError(
                f"arguments.project_path: expected an absolute path, got {project_path!r}",
                hint="Pass the project's absolute path, or omit it for the server's project.",
            )
        try:
            root = path.resolve()
        except (OSError, RuntimeError):  # a symlink loop
            root = None
        if root not in self.roots:
            # the served roots are not named: a client learns nothing of the disk from this
            raise PermissionDenied(
                "arguments.project_path: not a project this server serves",
                hint="Omit project_path (the server's own project), or ask the operator to"
                " start the server with '--project <that folder>' as well.",
            )
        return root

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

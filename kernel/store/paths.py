"""Where the three spaces live (SPEC §3). Small, pure functions over injected values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["find_project_root", "system_space_root", "user_space_root"]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def system_space_root() -> Path:
    """The system space shipped with the package.

    An installed wheel carries it as ``kernel/_system``; a source checkout uses the
    repository's ``.ai`` folder next to ``kernel/``.
    """
    installed = _PACKAGE_DIR / "_system"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / ".ai"


def user_space_root(env: Mapping[str, str] | None = None) -> Path:
    """``$KIWI_USER_SPACE`` if set, else ``~/.ai``."""
    environ = os.environ if env is None else env
    explicit = environ.get("KIWI_USER_SPACE")
    if explicit:
        return Path(explicit).expanduser().absolute()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".ai"


def find_project_root(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """``explicit`` if given, else the first folder upward from ``cwd`` holding ``.ai/``.

    None found → ``cwd`` itself. The home folder's ``.ai`` is the user space, not a project,
    so the walk stops before it.
    """
    if explicit is not None:
        return Path(explicit).expanduser().absolute()
    start = (cwd or Path.cwd()).absolute()
    home = Path.home().absolute()
    for folder in (start, *start.parents):
        if folder == home:
            break
        if (folder / ".ai").is_dir():
            return folder
    return start

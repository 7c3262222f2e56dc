"""Finding one id's files in a space without listing the space (SPEC §15, last point).

An id names its path: ``tools/a/b`` can only be ``<space>/tools/a/b<ext>`` for one of the
kind's extensions. So locating it costs one ``lstat`` per folder on the way and one per
extension, whatever the space holds — where listing the space (``index_walk``) costs one
entry per item. Every ``lstat`` goes through the kernel's ``FileCache``, so a prepared
chain's witness holds exactly the files and folders on its own path (and, for a candidate
that is missing, its nearest folder: a file appearing there changes that folder).

The walk's rules for hostile folders are kept by not deciding where they matter: a folder
symlink on the way, or a candidate that is a symlink or not a regular file, answers
``None`` and the caller consults the listed index of that space, which applies them (aliases,
loops, escapes, FIFOs). Only a symlink costs a listing.
"""

from __future__ import annotations

import stat
from pathlib import Path

from kiwi_mcp.kernel.core.ids import EXTENSIONS, Kind, folder_for
from kiwi_mcp.kernel.core.spaces import ItemFile, Space
from kiwi_mcp.kernel.store.files import FileCache

__all__ = ["direct_files"]


def direct_files(space: Space, kind: Kind, item_id: str, files: FileCache) -> list[ItemFile] | None:
    """The files of ``item_id`` (a checked id) in ``space``: none, one, or several (one per
    extension, which ``locate`` calls ambiguous); None when a symlink or an odd file is on
    the way and only the listed index can tell."""
    *folders, name = item_id.split("/")
    folder = space.root / folder_for(kind)
    for part in folders:
        folder = folder / part
        try:
            st = files.lstat(folder)
        except OSError:
            return None  # unreadable: the listing says why
        if st is None:
            return []
        if stat.S_ISLNK(st.st_mode):
            return None
        if not stat.S_ISDIR(st.st_mode):
            return []
    found: list[ItemFile] = []
    for ext in EXTENSIONS[kind]:
        path = folder / f"{name}{ext}"
        try:
            st = files.lstat(path)
        except OSError:
            return None
        if st is None:
            continue
        if not stat.S_ISREG(st.st_mode):
            return None  # a symlink (to follow or refuse), a FIFO, a folder named like a file
        found.append(ItemFile(kind=kind, id=item_id, space=space.name, path=Path(path), ext=ext))
    return found

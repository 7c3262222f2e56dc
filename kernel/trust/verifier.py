"""Link verification: the system space by manifest, the other spaces by signature (SPEC §9.3).

Checks run on the bytes actually read for this call; results are memoized by those bytes'
hash (and the extra files' hashes), so an unchanged link costs one dictionary lookup.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiwi_mcp.kernel.core.items import Tool
from kiwi_mcp.kernel.core.spaces import LoadedItem
from kiwi_mcp.kernel.errors import IntegrityFailed, ParseError
from kiwi_mcp.kernel.store.files import FileCache, settled

if TYPE_CHECKING:
    from kiwi_mcp.kernel.store.settings import Settings

__all__ = ["Verifier", "extra_files_of"]


def extra_files_of(loaded: LoadedItem, files: FileCache | None = None) -> list[tuple[str, bytes]]:
    """The bytes of the extra files a tool names (``files:``), by relative path.

    Raises:
        IntegrityFailed: a listed file is missing or leaves the tool's folder.
    """
    item = loaded.item
    if not isinstance(item, Tool) or not item.files:
        return []
    folder = str(loaded.file.path.parent)
    real_folder: str | None = None
    out: list[tuple[str, bytes]] = []
    for rel in item.files:
        path = os.path.join(folder, rel)
        if not _plainly_inside(rel, path):
            real_folder = real_folder or os.path.realpath(folder) + os.sep
            inside = os.path.realpath(path).startswith(real_folder)
        else:
            inside = True
        if not inside:
            raise IntegrityFailed(
                f"{loaded.file.label}: extra file {rel!r} leaves the tool's folder",
                item_id=item.id,
            )
        try:
            if files is None:
                with open(path, "rb") as handle:
                    data: bytes | None = handle.read()
            else:
                data = files.read_bytes(path)
            if data is None:
                raise FileNotFoundError(path)
            out.append((rel, data))
        except OSError:
            raise IntegrityFailed(
                f"{loaded.file.label}: extra file {rel!r} is missing",
                item_id=item.id,
                hint=f"Restore {rel} next to the tool, or remove it from 'files'.",
            ) from None
    return out


def _plainly_inside(rel: str, path: str) -> bool:
    """True when ``rel`` is one plain name and ``path`` a regular file, not a symlink: then
    it is inside the folder without resolving anything (one ``lstat`` instead of two
    ``realpath`` walks). Anything else gets the full ``realpath`` check."""
    if "/" in rel or os.sep in rel or rel in ("", ".", ".."):
        return False
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class Verifier:
    """Applies the verification policy to loaded items.

    ``clock_ns`` is the clock the trust folder's mtime is judged settled by.
    """

    def __init__(
        self,
        settings: Settings,
        files: FileCache | None = None,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.files = files
        self.clock_ns = clock_ns
        self._manifest: dict[str, Any] | None = None
        self._trusted: dict[str, Any] | None = None
        self._trusted_stamp: int | None = None
        self._memo: dict[tuple[str, ...], str | None] = {}

    def trusted_keys(self) -> dict[str, Any]:
        if self._trusted is None:
            from kiwi_mcp.kernel.trust.keys import TrustStore

            self._trusted = dict(TrustStore(self.settings.user_space).trusted_keys())
        return self._trusted

    def current_keys(self) -> dict[str, Any]:
        """The trusted keys as the trust store holds them now: a new dict object whenever
        they were re-read, so a caller may key a memo on its identity."""
        self._refresh_keys()
        return self.trusted_keys()

    def forget_keys(self) -> None:
        """Re-read the trust store next time (after ``kiwi trust add``)."""
        self._trusted = None
        self._memo.clear()

    def _refresh_keys(self) -> None:
        """Forget the trusted keys (and every verdict made with them) when the trust folder
        changed: a key added or removed by ``kiwi trust`` in another process counts from the
        next call on. A change too recent to be told apart by mtime is always re-read."""
        folder = self.settings.user_space / "trust"
        try:
            st = self.files.stat(folder) if self.files is not None else os.stat(folder)
        except OSError:
            st = None
        mtime = -1 if st is None else st.st_mtime_ns
        steady = mtime == -1 or settled(mtime, self.clock_ns())
        if not steady or mtime != self._trusted_stamp:
            if self._trusted is not None:
                self.forget_keys()
            self._trusted_stamp = mtime if steady else None

    def check(self, loaded: LoadedItem) -> str | None:
        """Verify one item; returns a warning to show, or None.

        Raises:
            SignatureMissing, IntegrityFailed, SignatureUntrusted, ParseError.
        """
        if loaded.file.space != "system":
            self._refresh_keys()
        extra = extra_files_of(loaded, self.files)
        key = (
            loaded.file.label,
            loaded.sha256,
            self.settings.verify,
            *(hashlib.sha256(data).hexdigest() for _, data in extra),
        )
        if key in self._memo:
            return self._memo[key]
        if loaded.file.space == "system":
            self._check_system(loaded, extra)
            warning = None
        else:
            from kiwi_mcp.kernel.trust.signing import verify_item

            result = verify_item(
                loaded.data,
                ext=loaded.file.ext,
                kind=loaded.file.kind,
                item_id=loaded.file.id,
                extra_files=extra,
                policy=self.settings.verify,
                trusted_keys=self.trusted_keys(),
            )
            warning = result.warning
        self._memo[key] = warning
        return warning

    def _check_system(self, loaded: LoadedItem, extra: list[tuple[str, bytes]]) -> None:
        from kiwi_mcp.kernel.trust.manifest import check_file, load_manifest

        root = self.settings.system_root
        if self._manifest is None:
            try:
                self._manifest = load_manifest(root)
            except (OSError, ParseError, ValueError):
                raise IntegrityFailed(
                    f"the system space at {root} has no readable manifest.json",
                    hint="Reinstall Kiwi (pip install --force-reinstall kiwi-mcp).",
                ) from None
        rel = loaded.file.path.relative_to(root).as_posix()
        check_file(self._manifest, rel, loaded.data)
        base = Path(rel).parent
        for name, data in extra:
            check_file(self._manifest, (base / name).as_posix(), data)

"""The system space's integrity manifest (SPEC §9.3).

The system space ships inside the package and is trusted as part of it; ``manifest.json``
at its root records the SHA-256 of every file, so a modified installation is caught::

    {"files": {"tools/runtimes/python.yaml": "<sha256 hex>", ...}, "manifest_version": 1}

Run ``python -m kiwi_mcp.kernel.trust.manifest <root>`` to write it, ``--check`` to compare.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from kiwi_mcp.kernel.errors import IntegrityFailed, ParseError
from kiwi_mcp.kernel.store.fileio import atomic_write

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "build_manifest",
    "check_file",
    "check_tree",
    "load_manifest",
    "main",
    "manifest_bytes",
    "write_manifest",
]

MANIFEST_NAME: Final = "manifest.json"
MANIFEST_VERSION: Final = 1
# The repository's .ai is also a project space while developing Kiwi: runs there write state
# (logs, lockfiles, the search and name indexes, threads) at its top, which is not part of the
# shipped system space; bytecode is skipped at every depth.
_SKIP_TOP: Final = frozenset({"logs", "lockfiles", "index", "threads"})
_SKIP_DIRS: Final = frozenset({"__pycache__"})
_REINSTALL_HINT: Final = (
    "The installed package was modified; reinstall it (pip install --force-reinstall kiwi-mcp)."
)


def build_manifest(root: Path) -> dict[str, Any]:
    """``{"manifest_version": 1, "files": {relpath: sha256}}`` over every file under ``root``.

    Skips the manifest itself, ``__pycache__`` folders, and the state folders at the top
    (``logs``, ``lockfiles``, ``index``, ``threads``);
    paths are ``/``-separated and sorted, so the same tree always gives the same manifest.
    Raises OSError.
    """
    files: dict[str, str] = {}
    for folder, dirs, names in os.walk(root):
        top = folder == str(root)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not (top and d in _SKIP_TOP))
        for name in names:
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST_NAME or not path.is_file():
                continue
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"manifest_version": MANIFEST_VERSION, "files": dict(sorted(files.items()))}


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The file form: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode("utf-8")


def write_manifest(root: Path) -> Path:
    """Build and atomically write ``<root>/manifest.json``; returns its path. Raises OSError."""
    path = root / MANIFEST_NAME
    atomic_write(path, manifest_bytes(build_manifest(root)))
    return path


def load_manifest(root: Path) -> dict[str, Any]:
    """Read and check ``<root>/manifest.json``.

    Raises IntegrityFailed when it is missing, ParseError when it is malformed.
    """
    path = root / MANIFEST_NAME
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise IntegrityFailed(
            f"system space manifest {path} is missing", hint=_REINSTALL_HINT, at=str(path)
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParseError(f"{path}: not JSON ({err})", hint=_REINSTALL_HINT) from None
    if not isinstance(data, dict):
        raise ParseError(f"{path}: expected an object", hint=_REINSTALL_HINT)
    if data.get("manifest_version") != MANIFEST_VERSION:
        raise ParseError(
            f"{path}: manifest_version: expected {MANIFEST_VERSION},"
            f" got {data.get('manifest_version')!r}",
            hint=_REINSTALL_HINT,
        )
    files = data.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ParseError(f"{path}: files: expected an object of strings", hint=_REINSTALL_HINT)
    return data


def check_file(manifest: Mapping[str, Any], relpath: str, data: bytes) -> None:
    """Raise IntegrityFailed (naming the file) unless ``data`` is what the manifest records."""
    expected = manifest["files"].get(relpath)
    if expected is None:
        raise IntegrityFailed(
            f"system file '{relpath}' is not in the manifest", hint=_REINSTALL_HINT, at=relpath
        )
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise IntegrityFailed(
            f"system file '{relpath}' does not match the manifest"
            f" (expected sha256 {expected}, found {found})",
            hint=_REINSTALL_HINT,
            at=relpath,
        )


def check_tree(root: Path) -> list[str]:
    """Each difference between ``root`` and its manifest, one sentence each, sorted by path.

    [] when in sync.

    Raises like ``load_manifest``.
    """
    recorded: dict[str, str] = load_manifest(root)["files"]
    actual: dict[str, str] = build_manifest(root)["files"]
    problems = [
        f"missing: {rel} (in the manifest, not on disk)" for rel in recorded.keys() - actual.keys()
    ]
    problems += [
        f"extra: {rel} (on disk, not in the manifest)" for rel in actual.keys() - recorded.keys()
    ]
    problems += [
        f"stale: {rel} (manifest {recorded[rel]}, file {actual[rel]})"
        for rel in recorded.keys() & actual.keys()
        if recorded[rel] != actual[rel]
    ]
    return sorted(problems, key=lambda p: p.split(" ", 2)[1])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kiwi_mcp.kernel.trust.manifest [--check] <root>``; exit 0 ok, 1 out of date."""
    parser = argparse.ArgumentParser(
        prog="python -m kiwi_mcp.kernel.trust.manifest",
        description="Write (or check) the system space's manifest.json.",
    )
    parser.add_argument("root", type=Path, help="the system space folder (e.g. .ai)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    root: Path = args.root
    if not root.is_dir():
        print(f"error: {root} is not a folder", file=sys.stderr)
        return 2
    if not args.check:
        print(f"wrote {write_manifest(root)}")
        return 0
    try:
        problems = check_tree(root)
    except (IntegrityFailed, ParseError) as err:
        print(str(err), file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"{root / MANIFEST_NAME} is out of date; "
            f"run 'python -m kiwi_mcp.kernel.trust.manifest {root}'",
            file=sys.stderr,
        )
        return 1
    print(f"{root / MANIFEST_NAME} is up to date ({len(load_manifest(root)['files'])} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Lockfile records (SPEC §8.3): ``LockedLink`` and ``Lockfile``, parsed field by field.

The bytes are deterministic — sorted keys, two-space indent, a trailing newline, no
timestamps — so the same chain always gives the same file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kiwi_mcp.kernel.errors import LockfileError

__all__ = ["LOCKFILE_VERSION", "LockedLink", "Lockfile"]

LOCKFILE_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_SPACES = ("project", "user", "system")


@dataclass(frozen=True, kw_only=True, slots=True)
class LockedLink:
    """One link of a locked chain."""

    id: str
    version: str
    space: str
    integrity: str
    executor_id: str | None

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> LockedLink:
        """Check every field; errors name the field path.

        Raises:
            LockfileError: a missing, unknown or mistyped field.
        """
        _check_keys(data, ("id", "version", "space", "integrity", "executor_id"), where)
        space = _string(data, "space", where)
        if space not in _SPACES:
            raise _bad(f"{where}.space", f"expected one of {', '.join(_SPACES)}, got {space!r}")
        executor = data["executor_id"]
        if executor is not None and not isinstance(executor, str):
            raise _bad(f"{where}.executor_id", f"expected a string or null, got {_kind(executor)}")
        return cls(
            id=_string(data, "id", where),
            version=_string(data, "version", where),
            space=space,
            integrity=_integrity(data, where),
            executor_id=executor,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "space": self.space,
            "integrity": self.integrity,
            "executor_id": self.executor_id,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Lockfile:
    """A frozen chain. ``root`` is ``{id, version, integrity}`` of the asked tool (the first
    link), ``kernel`` is ``{version}``, ``pins`` maps names to canonical hashes."""

    root: Mapping[str, str]
    chain: tuple[LockedLink, ...]
    kernel: Mapping[str, str]
    pins: Mapping[str, str] = field(default_factory=dict)
    lockfile_version: int = LOCKFILE_VERSION

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "lockfile") -> Lockfile:
        """Check every field (errors name the field path, e.g. ``chain[1].integrity``).

        Raises:
            LockfileError: an unsupported ``lockfile_version`` or a bad field.
        """
        keys = ("lockfile_version", "root", "chain", "kernel", "pins")
        _check_keys(data, keys, where)
        version = data["lockfile_version"]
        if version != LOCKFILE_VERSION or isinstance(version, bool):
            raise _bad(
                f"{where}.lockfile_version",
                f"unsupported version {version!r} (this kernel reads {LOCKFILE_VERSION})",
            )
        root_where = f"{where}.root"
        _check_keys(data["root"], ("id", "version", "integrity"), root_where)
        root = {
            "id": _string(data["root"], "id", root_where),
            "version": _string(data["root"], "version", root_where),
            "integrity": _integrity(data["root"], root_where),
        }
        raw_chain = data["chain"]
        if not isinstance(raw_chain, list) or not raw_chain:
            raise _bad(f"{where}.chain", f"expected a non-empty list, got {_kind(raw_chain)}")
        chain = tuple(
            LockedLink.from_dict(link, where=f"{where}.chain[{index}]")
            for index, link in enumerate(raw_chain)
        )
        if (chain[0].id, chain[0].version) != (root["id"], root["version"]):
            raise _bad(f"{where}.chain[0]", "the first link must be the root tool")
        _check_keys(data["kernel"], ("version",), f"{where}.kernel")
        kernel = {"version": _string(data["kernel"], "version", f"{where}.kernel")}
        pins = data["pins"]
        if not isinstance(pins, dict):
            raise _bad(f"{where}.pins", f"expected an object, got {_kind(pins)}")
        for name, value in pins.items():
            if not isinstance(value, str):
                raise _bad(f"{where}.pins.{name}", f"expected a string, got {_kind(value)}")
        return cls(root=root, chain=chain, kernel=kernel, pins=dict(pins))

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str) -> Lockfile:
        """Parse a lockfile's bytes; ``source`` (its path) prefixes every error.

        Raises:
            LockfileError: not JSON, or a bad field.
        """
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as exc:
            raise LockfileError(
                f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        except UnicodeDecodeError:
            raise LockfileError(f"{source}: not UTF-8 text") from None
        return cls.from_dict(parsed, where=source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lockfile_version": self.lockfile_version,
            "root": dict(self.root),
            "chain": [link.to_dict() for link in self.chain],
            "kernel": dict(self.kernel),
            "pins": dict(self.pins),
        }

    def to_bytes(self) -> bytes:
        """Deterministic bytes: sorted keys, two-space indent, trailing newline."""
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode("utf-8")

    @property
    def id(self) -> str:
        return self.root["id"]

    @property
    def version(self) -> str:
        return self.root["version"]


def _check_keys(data: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(data, dict):
        raise _bad(where, f"expected an object, got {_kind(data)}")
    for key in keys:
        if key not in data:
            raise _bad(f"{where}.{key}", "missing")
    for key in data:
        if key not in keys:
            raise _bad(f"{where}.{key}", "unknown field")


def _string(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}", f"expected a non-empty string, got {_kind(value)}")
    return value


def _integrity(data: Mapping[str, Any], where: str) -> str:
    value = data["integrity"]
    if not isinstance(value, str) or not _SHA256.match(value):
        raise _bad(f"{where}.integrity", f"expected a sha256 hex digest, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _bad(path: str, problem: str) -> LockfileError:
    return LockfileError(f"{path}: {problem}", details={"field": path})

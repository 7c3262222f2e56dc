"""The shape of a hostile item case and the good files the cases damage.

A :class:`ItemCase` is a few files (and symlinks, FIFOs, folders) under a space's
``tools/`` folder, the id to run, whether that run must fail (``must_fail``: the file is bad
per SPEC §4.2 or §5.1; otherwise it is hostile but may be valid, and only a clean outcome is
required), and the fragments of which a failure's message must hold one (the file, the
field, or for chains and ids that name no file, the ids). ``{loopback}`` in a file stands for
the URL of a local HTTP server that must receive no request; ``{python}`` for an interpreter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

__all__ = ["BASE", "ItemCase", "one_file", "py_tool", "yaml_tool"]


@dataclass(frozen=True)
class ItemCase:
    cls: str
    name: str
    run: str
    names: tuple[str, ...]
    files: dict[str, bytes] = field(default_factory=dict)  # "project:bad/x.yaml" → bytes
    links: dict[str, str] = field(default_factory=dict)  # path → symlink target
    fifos: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    must_fail: bool = True
    #: Bad only where signatures are checked: run signed too, and never re-signed first.
    strict_only: bool = False

    @property
    def written(self) -> bool:
        """The id to run names a regular tool file this case writes."""
        tool = (".yaml", ".yml", ".py", ".sh", ".js")
        return any(
            key.partition(":")[2].endswith(tool)
            and key.partition(":")[2].rsplit(".", 1)[0] == self.run
            for key in self.files
        )

    @property
    def count(self) -> int:
        return len(self.files) + len(self.links) + len(self.fifos) + len(self.folders)


BASE: Final[dict[str, Any]] = {
    "version": "1.0.0",
    "executor_id": "primitives/subprocess",
    "description": "a hostile case",
    "config": {"command": "{python}", "args": ["-c", "print('{\"ran\": true}')"]},
}
PY_LINES: Final = {
    "__version__": '__version__ = "1.0.0"',
    "__executor_id__": '__executor_id__ = "runtimes/python"',
    "PARAMETERS": 'PARAMETERS = {"type": "object"}',
}
PY_TAIL: Final = '\n\ndef execute(params, context):\n    return {"ran": True}\n'


def py_tool(field: str = "", line: str = "") -> bytes:
    """A Python tool with ``line`` standing for ``field`` (replacing its good line)."""
    lines = dict(PY_LINES)
    if field:
        lines[field] = line
    return ('"""A hostile case."""\n\n' + "\n".join(lines.values()) + PY_TAIL).encode()


def yaml_tool(fields: dict[str, Any], *, big: bool = False) -> bytes:
    if big:  # JSON is YAML, and much faster to write
        return json.dumps(fields).encode()
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(fields, Dumper=dumper, sort_keys=False, allow_unicode=True, width=10**9)
    return text.encode()


def one_file(
    cls: str,
    stem: str,
    data: bytes,
    names: tuple[str, ...] = (),
    *,
    ext: str = ".yaml",
    must_fail: bool = True,
    strict_only: bool = False,
) -> ItemCase:
    rel = f"bad/{stem}{ext}"
    return ItemCase(
        cls,
        stem,
        f"bad/{stem}",
        (f"{stem}{ext}", *names),
        files={f"project:{rel}": data},
        must_fail=must_fail,
        strict_only=strict_only,
    )

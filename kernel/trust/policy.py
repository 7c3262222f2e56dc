"""The project's capability policy for top-level callers (SPEC §9.4).

``<project>/.ai/config/policy.yaml``::

    version: 1
    capabilities: ["tool.execute:**", "net.http:**", ...]

When the file is absent, ``DEFAULT_CAPABILITIES`` apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import yaml

from kiwi_mcp.kernel.errors import ParseError
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet

__all__ = ["DEFAULT_CAPABILITIES", "POLICY_RELPATH", "POLICY_VERSION", "load_policy"]

POLICY_RELPATH: Final = ".ai/config/policy.yaml"
POLICY_VERSION: Final = 1
DEFAULT_CAPABILITIES: Final[tuple[str, ...]] = (
    "tool.execute:**",
    "directive.execute:**",
    "knowledge.load:**",
    "net.http:**",
    "process.exec:*",
    "fs.read:**",
    "fs.write:**",
    "tool.sign:**",
)
_FIELDS: Final = ("version", "capabilities")
_HINT: Final = (
    f"Fix {POLICY_RELPATH}: 'version: 1' and 'capabilities:' as a list of"
    " '<resource>.<action>[:<scope>]' strings."
)


def load_policy(project_root: Path) -> CapabilitySet:
    """The capabilities a top-level caller holds in this project.

    Raises ParseError naming the file and the field path (e.g.
    ``.ai/config/policy.yaml: capabilities[2]: unknown capability 'net.htp:x'``) for bad
    YAML, a wrong version, an unknown or missing field, or a capability that does not
    parse; OSError when the file exists but cannot be read.
    """
    path = project_root / POLICY_RELPATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return CapabilitySet.from_strings(DEFAULT_CAPABILITIES)
    except UnicodeDecodeError:
        raise _error("not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise _error(f"{where}not valid YAML") from None
    if not isinstance(data, dict):
        raise _error(f"expected a mapping with {', '.join(_FIELDS)}")
    for key in data:
        if key not in _FIELDS:
            raise _error(f"{key}: unknown field (allowed: {', '.join(_FIELDS)})")
    if "version" not in data:
        raise _error("version: missing")
    version = data["version"]
    if type(version) is not int or version != POLICY_VERSION:
        raise _error(f"version: expected {POLICY_VERSION}, got {version!r}")
    if "capabilities" not in data:
        raise _error("capabilities: missing")
    caps = data["capabilities"]
    if not isinstance(caps, list):
        raise _error(f"capabilities: expected a list, got {type(caps).__name__}")
    for index, cap in enumerate(caps):
        if not isinstance(cap, str):
            raise _error(f"capabilities[{index}]: expected a string, got {cap!r}")
        try:
            CapabilitySet.from_strings([cap])
        except ParseError as err:
            raise _error(f"capabilities[{index}]: {err.message}", hint=err.hint) from None
    return CapabilitySet.from_strings(caps)


def _error(what: str, *, hint: str = _HINT) -> ParseError:
    return ParseError(f"{POLICY_RELPATH}: {what}", hint=hint, at=POLICY_RELPATH)

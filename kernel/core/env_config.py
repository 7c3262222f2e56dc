"""``env_config.interpreter``: the format, checked (see ``interpreters.py`` for each type).

Split from the finder: this is what a runtime's YAML may say; ``InterpreterFinder`` is how it
is looked for on disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiwi_mcp.kernel.errors import ConfigInvalid

__all__ = ["RESOLVER_TYPES", "InterpreterSpec"]

RESOLVER_TYPES = ("venv_python", "node_modules", "system_binary", "version_manager")
_MANAGERS = ("pyenv", "nvm", "rbenv", "asdf")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DEFAULT_SEARCH = {"venv_python": (".venv", "venv"), "node_modules": ("node_modules",)}
_DEFAULT_BINARY = {"venv_python": "python", "node_modules": "node"}
_MANAGER_BINARY = {"pyenv": "python", "nvm": "node", "rbenv": "ruby", "asdf": None}
_FIELDS = ("type", "var", "search", "fallback", "binary", "manager", "version", "plugin")


@dataclass(frozen=True, kw_only=True, slots=True)
class InterpreterSpec:
    """One ``env_config.interpreter`` mapping, checked."""

    type: str
    var: str
    search: tuple[str, ...] = ()
    fallback: str | None = None
    binary: str | None = None
    manager: str | None = None
    version: str | None = None
    plugin: str | None = None

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "env_config.interpreter") -> InterpreterSpec:
        """Check every field; errors name its path (``<where>.<field>``).

        Raises:
            ConfigInvalid: a missing, unknown or mistyped field.
        """
        if not isinstance(data, Mapping):
            raise _invalid(where, f"expected a mapping, got {_kind(data)}")
        for key in data:
            if key not in _FIELDS:
                raise _invalid(f"{where}.{key}", f"unknown field (known: {', '.join(_FIELDS)})")
        kind = data.get("type")
        if kind not in RESOLVER_TYPES:
            raise _invalid(f"{where}.type", f"expected one of {', '.join(RESOLVER_TYPES)}")
        fields = {key: _opt_str(data, key, where) for key in _FIELDS if key not in ("search",)}
        search = data.get("search", _DEFAULT_SEARCH.get(kind, ()))
        if not isinstance(search, list | tuple) or not all(isinstance(s, str) for s in search):
            raise _invalid(f"{where}.search", f"expected a list of strings, got {_kind(search)}")
        manager = fields["manager"]
        if kind == "version_manager" and manager not in _MANAGERS:
            raise _invalid(f"{where}.manager", f"expected one of {', '.join(_MANAGERS)}")
        binary = fields["binary"] or _DEFAULT_BINARY.get(kind)
        if kind == "version_manager" and not binary:
            binary = _MANAGER_BINARY.get(manager or "")
        if not binary:
            raise _invalid(f"{where}.binary", f"required for type {kind}")
        var = fields["var"] or _default_var(kind, binary)
        if not _ENV_NAME.match(var):
            raise _invalid(f"{where}.var", "expected an environment variable name")
        return cls(
            type=str(kind),
            var=var,
            search=tuple(search),
            fallback=fields["fallback"],
            binary=binary,
            manager=manager,
            version=fields["version"],
            plugin=fields["plugin"],
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "var": self.var, "search": list(self.search)}
        for key in ("fallback", "binary", "manager", "version", "plugin"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _default_var(kind: str, binary: str) -> str:
    if kind == "venv_python":
        return "KIWI_PYTHON"
    if kind == "node_modules":
        return "KIWI_NODE"
    return "KIWI_" + re.sub(r"[^A-Za-z0-9]", "_", binary).upper()


def _opt_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(f"{where}.{key}", f"expected a non-empty string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _invalid(path: str, problem: str) -> ConfigInvalid:
    return ConfigInvalid(
        f"{path}: {problem}",
        hint="See the env_config format in kernel/services/interpreters.py.",
        details={"field": path},
    )

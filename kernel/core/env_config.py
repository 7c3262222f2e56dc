"""A runtime's ``env_config`` (SPEC §8.1): the format, checked. Pure.

This is what a runtime's YAML may say; ``services/env/interpreters.py`` is how an interpreter
is looked for on disk and ``services/env/resolver.py`` how the environment is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kiwi_mcp.kernel.core.template_tokens import ENV, references
from kiwi_mcp.kernel.errors import ConfigInvalid

__all__ = ["ENV_NAME", "RESOLVER_TYPES", "EnvConfig", "InterpreterSpec"]

RESOLVER_TYPES = ("venv_python", "node_modules", "system_binary", "version_manager")
_MANAGERS = ("pyenv", "nvm", "rbenv", "asdf")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DEFAULT_SEARCH = MappingProxyType(
    {"venv_python": (".venv", "venv"), "node_modules": ("node_modules",)}
)
_DEFAULT_BINARY = MappingProxyType({"venv_python": "python", "node_modules": "node"})
_MANAGER_BINARY = MappingProxyType(
    {"pyenv": "python", "nvm": "node", "rbenv": "ruby", "asdf": None}
)
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
        if not ENV_NAME.match(var):
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
        hint="See the env_config format in SPEC §8.1 and kernel/core/env_config.py.",
        details={"field": path},
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class EnvConfig:
    """A runtime's ``env_config``: an optional interpreter and ordered ``env`` templates."""

    interpreter: InterpreterSpec | None = None
    env: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "env_config") -> EnvConfig:
        """Check ``env_config``; errors name the field path.

        Raises:
            ConfigInvalid: unknown keys, a bad interpreter spec, non-string env names/values.
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise _invalid(where, f"expected a mapping, got {type(data).__name__}")
        for key in data:
            if key not in ("interpreter", "env"):
                raise _invalid(f"{where}.{key}", "unknown field (known: interpreter, env)")
        raw_interpreter = data.get("interpreter")
        interpreter = (
            None
            if raw_interpreter is None
            else InterpreterSpec.from_dict(raw_interpreter, where=f"{where}.interpreter")
        )
        raw_env = data.get("env") or {}
        if not isinstance(raw_env, Mapping):
            raise _invalid(f"{where}.env", f"expected a mapping, got {type(raw_env).__name__}")
        env: list[tuple[str, str]] = []
        for name, value in raw_env.items():
            if not isinstance(name, str) or not ENV_NAME.match(name):
                raise _invalid(f"{where}.env", f"{name!r} is not an environment variable name")
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _invalid(
                    f"{where}.env.{name}", f"expected a string, got {type(value).__name__}"
                )
            env.append((name, str(value)))
        return cls(interpreter=interpreter, env=tuple(env))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"env": dict(self.env)}
        if self.interpreter is not None:
            out["interpreter"] = self.interpreter.to_dict()
        return out

    def referenced_names(self) -> set[str]:
        """Every ``${NAME}`` referenced in ``env`` values (defaults included)."""
        found: set[str] = set()
        for _, value in self.env:
            found |= references(value, ENV, ENV_NAME)
        return found

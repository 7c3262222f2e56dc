"""EnvResolver: the environment a chain runs with (SPEC §8.1).

Pure: it reads the files it is pointed at (through an injected ``read_text``) and looks for
interpreters on disk, but creates and changes nothing, and never reads ``os.environ`` — the
host environment is passed in.

Layers, later wins:

1. the host environment's allow-list: ``PATH HOME USER LOGNAME SHELL LANG LC_* TERM TMPDIR
   TZ`` (on Windows also the handful of variables a process cannot start without, such as
   ``SYSTEMROOT`` and ``PATHEXT``), plus any *wanted* name the host sets;
2. dotenv files ``<user>/.env``, ``<project>/.ai/.env``, ``<project>/.env``,
   ``<project>/.env.local`` (later wins), **only** for wanted names; a declared secret found
   there (or in the host environment, which ranks below the files) goes to
   ``ResolvedEnv.dotenv_secrets`` and never into ``env``;
3. the interpreter: its ``var`` (and ``VIRTUAL_ENV`` / ``KIWI_VENV_BIN`` when a venv is used);
4. ``env_config.env``, expanded in order with ``${VAR}`` / ``${VAR:-default}`` against what is
   resolved so far (``$${`` is a literal ``${``);
5. ``config_env``, the tool's ``config.env`` already templated by the kernel, as given.

Wanted names are the ``${NAME}`` references the kernel found in the chain's config plus the
ones inside ``env_config.env`` values. Empty ``PATH`` entries are dropped at the end: an empty
entry means "the current folder", which ``${KIWI_VENV_BIN:-}:${PATH}`` would otherwise add.

The ``env_config`` format (runtimes carry it in their YAML)::

    env_config:
      interpreter:                  # optional; see kernel/core/env_config.py
        type: venv_python           # venv_python | node_modules | system_binary | version_manager
        var: KIWI_PYTHON            # variable set to the interpreter's absolute path
        search: [".venv", "venv"]   # where to look first
        fallback: kernel            # kernel | system | <path>
      env:                          # ordered; values may use ${VAR} and ${VAR:-default}
        PYTHONUNBUFFERED: "1"
        PATH: "${KIWI_VENV_BIN:-}:${PATH}"
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiwi_mcp.kernel.core.env_config import EnvConfig
from kiwi_mcp.kernel.core.text_templates import expand_env
from kiwi_mcp.kernel.errors import ConfigInvalid
from kiwi_mcp.kernel.services.env.interpreters import (
    InterpreterFinder,
    StatFn,
    stat_or_none,
)

__all__ = ["BASE_ALLOW_LIST", "EnvConfig", "EnvResolver", "ResolvedEnv", "read_text_or_none"]

BASE_ALLOW_LIST = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "TMPDIR", "TZ")
_WINDOWS_EXTRA = (
    "SYSTEMROOT", "WINDIR", "PATHEXT", "COMSPEC", "TEMP", "TMP",
    "USERPROFILE", "APPDATA", "LOCALAPPDATA", "SYSTEMDRIVE",
)  # fmt: skip


def read_text_or_none(path: Path) -> str | None:
    """The file's text (UTF-8), or None when it does not exist or cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedEnv:
    """The resolved environment.

    ``env`` is for ``${NAME}`` templating and for a subprocess child; ``sources`` says where
    each of its keys came from (``host``, ``dotenv:<path>``, ``interpreter``, ``env_config``,
    ``config``). ``dotenv_secrets`` holds declared secrets found in dotenv files or the host
    environment — never part of ``env``; the kernel decides where they go.
    ``secret_sources`` says where each of those came from.
    """

    env: Mapping[str, str]
    interpreter: str | None
    sources: Mapping[str, str]
    dotenv_secrets: Mapping[str, str] = field(default_factory=dict)
    secret_sources: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The environment may hold wanted values the user considers private; show names only.
        return (
            f"ResolvedEnv(env=<{len(self.env)} vars>, interpreter={self.interpreter!r}, "
            f"dotenv_secrets={sorted(self.dotenv_secrets)!r})"
        )

    def summary(self) -> dict[str, Any]:
        """What is safe to show (e.g. ``kiwi resolve``): names, sources, no secret values."""
        return {
            "interpreter": self.interpreter,
            "sources": dict(sorted(self.sources.items())),
            "secrets_found": dict(sorted(self.secret_sources.items())),
        }


class EnvResolver:
    """Builds :class:`ResolvedEnv` for one project (see the module docstring for the layers)."""

    def __init__(
        self,
        *,
        host_env: Mapping[str, str],
        project_path: Path,
        user_space: Path,
        platform: str = sys.platform,
        kernel_python: str = sys.executable,
        read_text: Callable[[Path], str | None] = read_text_or_none,
        stat: StatFn = stat_or_none,
    ) -> None:
        self._host_env = dict(host_env)
        self._project = project_path
        self._user_space = user_space
        self._windows = platform == "win32"
        self._read_text = read_text
        self._dotenv_files = (
            user_space / ".env",
            project_path / ".ai" / ".env",
            project_path / ".env",
            project_path / ".env.local",
        )
        self._finder = InterpreterFinder(
            host_env=host_env,
            project_path=project_path,
            platform=platform,
            kernel_python=kernel_python,
            read_text=read_text,
            stat=stat,
        )

    def dotenv_files(self) -> tuple[Path, ...]:
        """The dotenv files read, lowest precedence first."""
        return self._dotenv_files

    def resolve(
        self,
        *,
        env_config: Mapping[str, Any] | EnvConfig | None,
        config_env: Mapping[str, str],
        wanted: Iterable[str],
        secrets: Iterable[str],
    ) -> ResolvedEnv:
        """Resolve the environment for one chain.

        Raises:
            ConfigInvalid: ``env_config`` is malformed, or a ``config_env`` value is not a string.
            ParseError: a dotenv file this chain asks a key of has a malformed line (file and
                line number named).
            ExecutionFailed: the interpreter is missing and no fallback works.
            TemplateError: an ``env_config.env`` value references an unset variable without a
                default (the message names the key).
        """
        config = (
            env_config if isinstance(env_config, EnvConfig) else EnvConfig.from_dict(env_config)
        )
        secret_names = set(secrets)
        wanted_names = (set(wanted) | config.referenced_names()) - secret_names
        env: dict[str, str] = {}
        sources: dict[str, str] = {}
        found_secrets: dict[str, str] = {}
        secret_sources: dict[str, str] = {}

        def put(name: str, value: str, source: str) -> None:
            env[name] = value
            sources[name] = source

        for name, value in self._host_env.items():
            key = name.upper() if self._windows else name
            if self._allowed(key) or name in wanted_names:
                put(key if self._windows and self._allowed(key) else name, value, "host")
            if name in secret_names:
                found_secrets[name] = value
                secret_sources[name] = "host"

        for path in self.dotenv_files():
            text = self._read_text(path)
            if text is None:
                continue
            # imported on the first file found: most projects have no .env at all
            from kiwi_mcp.kernel.services.env.dotenv import read_dotenv

            dotenv = read_dotenv(text, source=str(path))
            dotenv.check(wanted_names | secret_names)  # only a chain that asks fails on a bad line
            for name, value in dotenv.values.items():
                if name in secret_names:
                    found_secrets[name] = value
                    secret_sources[name] = f"dotenv:{path}"
                elif name in wanted_names:
                    put(name, value, f"dotenv:{path}")

        interpreter: str | None = None
        if config.interpreter is not None:
            found = self._finder.find(config.interpreter)
            interpreter = found.path
            put(config.interpreter.var, found.path, "interpreter")
            if found.venv is not None:
                put("VIRTUAL_ENV", found.venv, "interpreter")
                put("KIWI_VENV_BIN", str(Path(found.path).parent), "interpreter")

        for name, template in config.env:
            put(name, expand_env(template, env, where=f"env_config.env.{name}"), "env_config")

        for name, value in config_env.items():
            if not isinstance(value, str):
                raise ConfigInvalid(
                    f"config.env.{name}: expected a string, got {type(value).__name__}",
                    hint="Quote environment values in the tool's config.env.",
                )
            put(name, value, "config")

        if "PATH" in env:
            separator = ";" if self._windows else ":"
            env["PATH"] = separator.join(part for part in env["PATH"].split(separator) if part)
        return ResolvedEnv(
            env=env,
            interpreter=interpreter,
            sources=sources,
            dotenv_secrets=found_secrets,
            secret_sources=secret_sources,
        )

    def _allowed(self, name: str) -> bool:
        if name in BASE_ALLOW_LIST or name.startswith("LC_"):
            return True
        return self._windows and name in _WINDOWS_EXTRA

"""Find the interpreter a runtime runs with (SPEC §7, §8.1): the ``env_config.interpreter`` part.

Four resolver types, each with ``var`` (the variable that receives the found path),
``search`` (where to look first) and ``fallback`` (what to use when the search finds nothing):

``venv_python``
    ``search`` lists venv folders relative to the project (default ``.venv``, ``venv``); the
    first holding ``bin/python`` (``Scripts/python.exe`` on Windows) wins. The path is returned
    as found — never with symlinks resolved, because a venv's python *is* a symlink and
    resolving it would leave the venv. ``var`` defaults to ``KIWI_PYTHON``.
``node_modules``
    ``<project>/<search entry>/.bin/<binary>`` (default search ``node_modules``, default
    binary ``node``). ``var`` defaults to ``KIWI_NODE``.
``system_binary``
    ``binary`` (required) in the ``search`` folders, then on the host ``PATH`` (honouring
    ``PATHEXT`` on Windows).
``version_manager``
    ``manager: pyenv|nvm|rbenv|asdf``, ``binary``, optional ``version`` (else the project's
    ``.python-version`` / ``.nvmrc`` / ``.ruby-version`` / ``.tool-versions``, then the
    manager's global default). Returns the real install, never a shim:
    ``<root>/versions/<v>/bin/<binary>`` (pyenv, rbenv), ``<root>/versions/node/v<v>/bin/<binary>``
    (nvm), ``<root>/installs/<plugin>/<v>/bin/<binary>`` (asdf). The root comes from
    ``PYENV_ROOT`` / ``NVM_DIR`` / ``RBENV_ROOT`` / ``ASDF_DATA_DIR``, else ``~/.pyenv`` and so on;
    ``search`` adds roots to try first. A partial version (``3.11``) picks the highest
    installed match.

``fallback`` is ``kernel`` (the kernel's own Python), ``system`` (the binary — ``python3``
for ``venv_python`` — on the host ``PATH``) or an explicit path (absolute, or relative to
the project). Nothing found and no usable fallback →
:class:`~kiwi_mcp.kernel.errors.ExecutionFailed` listing every path tried.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from kiwi_mcp.kernel.core.env_config import RESOLVER_TYPES, InterpreterSpec
from kiwi_mcp.kernel.errors import ExecutionFailed

__all__ = [
    "RESOLVER_TYPES",
    "FoundInterpreter",
    "InterpreterFinder",
    "InterpreterSpec",
    "StatFn",
    "stat_or_none",
]

#: How the finder looks at a path: ``os.stat`` (following symlinks), None when missing.
StatFn = Callable[[Path], os.stat_result | None]


def stat_or_none(path: Path) -> os.stat_result | None:
    """``os.stat``, None when the path does not exist. Raises OSError otherwise."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


_ASDF_PLUGIN = {"python": "python", "python3": "python", "node": "nodejs", "ruby": "ruby"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FoundInterpreter:
    """Where the interpreter is; ``venv`` is the venv folder when one was used."""

    path: str
    how: str
    venv: str | None = None


class InterpreterFinder:
    """Looks for interpreters on disk; reads, never writes. ``platform`` as ``sys.platform``."""

    def __init__(
        self,
        *,
        host_env: Mapping[str, str],
        project_path: Path,
        platform: str,
        kernel_python: str,
        read_text: Callable[[Path], str | None],
        stat: StatFn = stat_or_none,
    ) -> None:
        self._windows = platform == "win32"
        self._stat = stat
        self._host = {k.upper(): v for k, v in host_env.items()} if self._windows else host_env
        self._project = project_path
        self._kernel_python = kernel_python
        self._read_text = read_text
        self._under_memo: dict[tuple[Path, str], Path] = {}

    def find(self, spec: InterpreterSpec) -> FoundInterpreter:
        """The interpreter ``spec`` asks for.

        Raises:
            ExecutionFailed: nothing found and no usable fallback; the hint lists what was tried.
        """
        searched: list[str] = []
        binary = spec.binary or ""
        found: FoundInterpreter | None
        if spec.type == "venv_python":
            found = self._venv(spec, searched)
        elif spec.type == "node_modules":
            folders = [self._under(self._project, entry) / ".bin" for entry in spec.search]
            found = self._in_folders(folders, binary, searched, how="node_modules")
        elif spec.type == "system_binary":
            folders = [self._under(self._project, entry) for entry in spec.search]
            found = self._in_folders(folders + self._path_folders(), binary, searched, how="path")
        else:
            found = self._version_manager(spec, binary, searched)
        if found is None:
            found = self._fallback(spec, searched)
        if found is None:
            what = "virtualenv python" if spec.type == "venv_python" else f"'{binary}'"
            raise ExecutionFailed(
                f"no {what} found for env_config.interpreter (type {spec.type})",
                hint=f"Searched: {', '.join(searched) or 'nothing'}. Install it there, or set "
                "env_config.interpreter.fallback (kernel, system or a path).",
                details={"searched": searched},
            )
        return found

    # -- the four types -----------------------------------------------------------------

    def _venv(self, spec: InterpreterSpec, searched: list[str]) -> FoundInterpreter | None:
        relative = ("Scripts", "python.exe") if self._windows else ("bin", "python")
        for entry in spec.search:
            venv = self._under(self._project, entry)
            candidate = venv.joinpath(*relative)
            searched.append(str(candidate))
            if self._is_executable(candidate):
                return FoundInterpreter(path=str(candidate), how="venv", venv=str(venv))
        return None

    def _version_manager(
        self, spec: InterpreterSpec, binary: str, searched: list[str]
    ) -> FoundInterpreter | None:
        manager = spec.manager or ""
        version = spec.version or self._version_from_files(manager, spec, binary)
        if not version:
            searched.append(f"a {manager} version (set version:, or {_VERSION_FILE[manager]})")
            return None
        version = version.removeprefix("ruby-") if manager == "rbenv" else version
        version = version.removeprefix("v") if manager == "nvm" else version
        if not version[:1].isdigit() or "/" in version or "\\" in version:
            # Aliases (lts/*, system, latest) need the manager itself to resolve them.
            searched.append(f"{manager} version {version!r} (only numeric versions are understood)")
            return None
        for root in self._manager_roots(manager, spec):
            installs, prefix = self._installs(manager, root, spec, binary)
            picked = self._pick_version(installs, version, prefix)
            if picked is None:
                searched.append(str(installs / f"{prefix}{version}"))
                continue
            folders = [installs / picked / "bin"]
            if self._windows:
                folders.append(installs / picked)
            found = self._in_folders(folders, binary, searched, how=f"version_manager:{manager}")
            if found is not None:
                return found
        return None

    def _version_from_files(self, manager: str, spec: InterpreterSpec, binary: str) -> str | None:
        files = [self._project / _VERSION_FILE[manager]]
        roots = list(self._manager_roots(manager, spec))
        if manager in ("pyenv", "rbenv"):
            files += [root / "version" for root in roots]
        elif manager == "nvm":
            files += [root / "alias" / "default" for root in roots]
        else:
            home = self._home()
            if home is not None:
                files.append(Path(home) / ".tool-versions")
        for file in files:
            text = self._read_text(file)
            if text is None:
                continue
            for line in text.splitlines():
                words = line.split("#", 1)[0].split()
                if not words:
                    continue
                if manager != "asdf":
                    return words[0]
                if words[0] == (spec.plugin or _ASDF_PLUGIN.get(binary, binary)) and len(words) > 1:
                    return words[1]
        return None

    def _manager_roots(self, manager: str, spec: InterpreterSpec) -> list[Path]:
        roots = [self._under(self._project, entry) for entry in spec.search]
        names = {
            "pyenv": ("PYENV_ROOT",),
            "nvm": ("NVM_DIR", "NVM_HOME"),
            "rbenv": ("RBENV_ROOT",),
            "asdf": ("ASDF_DATA_DIR",),
        }[manager]
        for name in names:
            value = self._host.get(name)
            if value:
                roots.append(Path(value))
        home = self._home()
        if home is not None:
            default = {"pyenv": ".pyenv", "nvm": ".nvm", "rbenv": ".rbenv", "asdf": ".asdf"}
            roots.append(Path(home) / default[manager])
            if self._windows and manager == "pyenv":
                roots.append(Path(home) / ".pyenv" / "pyenv-win")
        if self._windows and manager == "nvm" and self._host.get("APPDATA"):
            roots.append(Path(self._host["APPDATA"]) / "nvm")
        return list(dict.fromkeys(roots))

    def _installs(
        self, manager: str, root: Path, spec: InterpreterSpec, binary: str
    ) -> tuple[Path, str]:
        if manager == "nvm":
            # nvm-windows keeps v<version> folders directly under its root.
            nested = root / "versions" / "node"
            return (nested if not self._windows or self._is_dir(nested) else root), "v"
        if manager == "asdf":
            return root / "installs" / (spec.plugin or _ASDF_PLUGIN.get(binary, binary)), ""
        return root / "versions", ""

    # -- shared helpers -----------------------------------------------------------------

    def _fallback(self, spec: InterpreterSpec, searched: list[str]) -> FoundInterpreter | None:
        fallback = spec.fallback
        if fallback is None:
            return None
        if fallback == "kernel":
            python = self._kernel_python
            if python and os.path.isabs(python) and self._is_file(Path(python)):
                return FoundInterpreter(path=python, how="fallback:kernel")
            searched.append(f"the kernel's python ({self._kernel_python or 'unknown'})")
            return None
        if fallback == "system":
            names = [spec.binary or ""]
            if spec.type == "venv_python":
                names = ["python", "python3"] if self._windows else ["python3"]
            for name in names:
                found = self._in_folders(
                    self._path_folders(), name, searched, how="fallback:system"
                )
                if found is not None:
                    return found
            return None
        path = self._under(self._project, fallback)
        searched.append(str(path))
        if self._is_executable(path):
            return FoundInterpreter(path=str(path), how="fallback:path")
        return None

    def _in_folders(
        self, folders: Sequence[Path], binary: str, searched: list[str], *, how: str
    ) -> FoundInterpreter | None:
        for folder in folders:
            for name in self._file_names(binary):
                candidate = folder / name
                searched.append(str(candidate))
                if self._is_executable(candidate):
                    return FoundInterpreter(path=str(candidate), how=how)
        return None

    def _file_names(self, binary: str) -> list[str]:
        if not self._windows:
            return [binary]
        extensions = [e for e in self._host.get("PATHEXT", ".COM;.EXE;.BAT;.CMD").split(";") if e]
        if any(binary.lower().endswith(ext.lower()) for ext in extensions):
            return [binary]
        return [binary + ext.lower() for ext in extensions]

    def _path_folders(self) -> list[Path]:
        separator = ";" if self._windows else ":"
        raw = self._host.get("PATH", "")
        # Empty and relative entries name folders relative to wherever the kernel runs: skip.
        return [Path(entry) for entry in raw.split(separator) if entry and self._absolute(entry)]

    def _under(self, base: Path, entry: str) -> Path:
        key = (base, entry)
        found = self._under_memo.get(key)  # a pure function of its strings: asked every call
        if found is None:
            if self._absolute(entry):
                found = Path(entry)
            else:
                pure = PureWindowsPath(entry) if self._windows else PurePosixPath(entry)
                found = base.joinpath(*pure.parts).absolute()
            self._under_memo[key] = found
        return found

    def _absolute(self, entry: str) -> bool:
        # Native absolute paths always count; on Windows also drive and UNC forms.
        return Path(entry).is_absolute() or (self._windows and PureWindowsPath(entry).is_absolute())

    def _home(self) -> str | None:
        if self._windows:
            return self._host.get("USERPROFILE") or self._host.get("HOME")
        return self._host.get("HOME")

    def _is_executable(self, path: Path) -> bool:
        # A permission change shows in the stat (ctime), so os.access adds no unseen input.
        return self._is_file(path) and (self._windows or os.access(path, os.X_OK))

    def _is_file(self, path: Path) -> bool:
        try:
            st = self._stat(path)
        except (OSError, ValueError):
            return False
        return st is not None and stat.S_ISREG(st.st_mode)

    def _is_dir(self, path: Path) -> bool:
        try:
            st = self._stat(path)
        except (OSError, ValueError):
            return False
        return st is not None and stat.S_ISDIR(st.st_mode)

    def _pick_version(self, installs: Path, version: str, prefix: str) -> str | None:
        """The folder under ``installs`` for ``version``: exact, else the highest
        ``version.*``. The folder is stat-ed before it is listed, so a witness sees it."""
        if self._is_dir(installs / f"{prefix}{version}"):
            return f"{prefix}{version}"
        if not self._is_dir(installs):
            return None
        try:
            names = [entry.name for entry in installs.iterdir() if entry.is_dir()]
        except OSError:
            return None
        matches = [n for n in names if n.startswith(f"{prefix}{version}.")]
        return max(matches, key=_version_key) if matches else None


_VERSION_FILE = {
    "pyenv": ".python-version",
    "nvm": ".nvmrc",
    "rbenv": ".ruby-version",
    "asdf": ".tool-versions",
}


def _version_key(name: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-]", name))

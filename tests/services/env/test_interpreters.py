"""Finding interpreters in fake venvs, node_modules, PATH folders and version-manager trees."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.errors import ExecutionFailed
from kiwi_mcp.kernel.services.env.interpreters import (
    FoundInterpreter,
    InterpreterFinder,
    InterpreterSpec,
)
from kiwi_mcp.kernel.services.env.resolver import read_text_or_none


def _exe(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def _find(
    tmp_path: Path,
    spec: dict[str, Any],
    host: dict[str, str] | None = None,
    platform: str = "linux",
    kernel_python: str = sys.executable,
) -> FoundInterpreter:
    finder = InterpreterFinder(
        host_env=host or {},
        project_path=tmp_path / "project",
        platform=platform,
        kernel_python=kernel_python,
        read_text=read_text_or_none,
    )
    return finder.find(InterpreterSpec.from_dict(spec))


# -- venv_python -------------------------------------------------------------------------


def test_a_project_venv_python_is_returned_without_resolving_its_symlink(tmp_path: Path) -> None:
    python = tmp_path / "project" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    found = _find(tmp_path, {"type": "venv_python"})
    assert found == FoundInterpreter(path=str(python), how="venv", venv=str(python.parent.parent))


def test_search_order_decides_between_two_venvs(tmp_path: Path) -> None:
    _exe(tmp_path / "project" / ".venv" / "bin" / "python")
    second = _exe(tmp_path / "project" / "env" / "py" / "bin" / "python")
    found = _find(tmp_path, {"type": "venv_python", "search": ["env/py", ".venv"]})
    assert found.path == str(second)


def test_a_broken_venv_symlink_is_skipped(tmp_path: Path) -> None:
    broken = tmp_path / "project" / ".venv" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.symlink_to(tmp_path / "gone")
    venv = _exe(tmp_path / "project" / "venv" / "bin" / "python")
    assert _find(tmp_path, {"type": "venv_python"}).path == str(venv)


def test_without_a_venv_the_kernel_fallback_is_the_kernels_python(tmp_path: Path) -> None:
    found = _find(tmp_path, {"type": "venv_python", "fallback": "kernel"})
    assert found == FoundInterpreter(path=sys.executable, how="fallback:kernel")


def test_the_system_fallback_searches_path_for_python3(tmp_path: Path) -> None:
    _exe(tmp_path / "bin2" / "python")  # not the name looked for
    python3 = _exe(tmp_path / "bin2" / "python3")
    host = {"PATH": f"{tmp_path / 'bin1'}::{tmp_path / 'bin2'}"}
    found = _find(tmp_path, {"type": "venv_python", "fallback": "system"}, host)
    assert found == FoundInterpreter(path=str(python3), how="fallback:system")


def test_an_explicit_fallback_path_may_be_project_relative(tmp_path: Path) -> None:
    tool = _exe(tmp_path / "project" / "tools" / "py")
    found = _find(tmp_path, {"type": "venv_python", "fallback": "tools/py"})
    assert found.path == str(tool)


def test_no_venv_and_no_fallback_fails_listing_every_path_searched(tmp_path: Path) -> None:
    project = tmp_path / "project"
    with pytest.raises(ExecutionFailed) as caught:
        _find(tmp_path, {"type": "venv_python", "fallback": "nowhere/python"})
    searched = [
        str(project / ".venv" / "bin" / "python"),
        str(project / "venv" / "bin" / "python"),
        str(project / "nowhere" / "python"),
    ]
    assert (
        caught.value.message
        == "no virtualenv python found for env_config.interpreter (type venv_python)"
    )
    assert caught.value.hint == (
        f"Searched: {', '.join(searched)}. Install it there, or set "
        "env_config.interpreter.fallback (kernel, system or a path)."
    )
    assert caught.value.details == {"searched": searched}


def test_a_non_executable_file_is_not_an_interpreter(tmp_path: Path) -> None:
    python = tmp_path / "project" / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    with pytest.raises(ExecutionFailed):
        _find(tmp_path, {"type": "venv_python"})


def test_on_windows_the_venv_python_is_scripts_python_exe(tmp_path: Path) -> None:
    exe = tmp_path / "project" / ".venv" / "Scripts" / "python.exe"
    exe.parent.mkdir(parents=True)
    exe.write_text("")  # Windows has no execute bit
    found = _find(tmp_path, {"type": "venv_python", "search": ["nope", ".venv"]}, platform="win32")
    assert found.path == str(exe)
    assert found.venv == str(tmp_path / "project" / ".venv")


def test_on_windows_search_entries_may_use_backslashes(tmp_path: Path) -> None:
    exe = tmp_path / "project" / "envs" / "py311" / "Scripts" / "python.exe"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    found = _find(tmp_path, {"type": "venv_python", "search": ["envs\\py311"]}, platform="win32")
    assert found.path == str(exe)


def test_on_windows_an_explicit_drive_path_counts_as_absolute(tmp_path: Path) -> None:
    with pytest.raises(ExecutionFailed) as caught:
        _find(
            tmp_path,
            {"type": "venv_python", "search": [], "fallback": "C:\\Python311\\python.exe"},
            platform="win32",
        )
    assert caught.value.details["searched"] == ["C:\\Python311\\python.exe"]


# -- node_modules and system_binary -----------------------------------------------------


def test_node_modules_bin_is_preferred_to_the_system_binary(tmp_path: Path) -> None:
    local = _exe(tmp_path / "project" / "node_modules" / ".bin" / "tsx")
    _exe(tmp_path / "bin" / "tsx")
    host = {"PATH": str(tmp_path / "bin")}
    found = _find(tmp_path, {"type": "node_modules", "binary": "tsx", "fallback": "system"}, host)
    assert found == FoundInterpreter(path=str(local), how="node_modules")
    assert InterpreterSpec.from_dict({"type": "node_modules"}).var == "KIWI_NODE"


def test_node_modules_falls_back_to_the_binary_on_path(tmp_path: Path) -> None:
    node = _exe(tmp_path / "bin" / "node")
    found = _find(
        tmp_path, {"type": "node_modules", "fallback": "system"}, {"PATH": str(node.parent)}
    )
    assert found == FoundInterpreter(path=str(node), how="fallback:system")


def test_system_binary_looks_in_search_folders_then_on_path(tmp_path: Path) -> None:
    on_path = _exe(tmp_path / "bin" / "deno")
    host = {"PATH": str(on_path.parent)}
    spec = {"type": "system_binary", "binary": "deno", "search": ["tools"]}
    assert _find(tmp_path, spec, host).path == str(on_path)
    local = _exe(tmp_path / "project" / "tools" / "deno")
    assert _find(tmp_path, spec, host).path == str(local)
    assert InterpreterSpec.from_dict(spec).var == "KIWI_DENO"


def test_system_binary_honours_pathext_on_windows(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    cmd = tmp_path / "b" / "node.cmd"
    cmd.parent.mkdir()
    cmd.write_text("")
    host = {"Path": f"{tmp_path / 'a'};{tmp_path / 'b'}", "PathExt": ".EXE;.CMD"}
    found = _find(tmp_path, {"type": "system_binary", "binary": "node"}, host, platform="win32")
    assert found.path == str(cmd)


def test_a_missing_system_binary_fails_with_what_was_searched(tmp_path: Path) -> None:
    host = {"PATH": str(tmp_path / "bin")}
    with pytest.raises(ExecutionFailed) as caught:
        _find(tmp_path, {"type": "system_binary", "binary": "ruby"}, host)
    assert caught.value.message == "no 'ruby' found for env_config.interpreter (type system_binary)"
    assert caught.value.details == {"searched": [str(tmp_path / "bin" / "ruby")]}


# -- version managers -------------------------------------------------------------------


def test_pyenv_uses_the_project_version_file_and_never_a_shim(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    _exe(root / "shims" / "python")
    real = _exe(root / "versions" / "3.11.7" / "bin" / "python")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".python-version").write_text("3.11.7\n")
    found = _find(
        tmp_path, {"type": "version_manager", "manager": "pyenv"}, {"PYENV_ROOT": str(root)}
    )
    assert found == FoundInterpreter(path=str(real), how="version_manager:pyenv")


def test_a_partial_version_picks_the_highest_installed_match(tmp_path: Path) -> None:
    root = tmp_path / "home" / ".pyenv"
    for version in ("3.11.2", "3.11.10", "3.12.1", "3.1.9"):
        _exe(root / "versions" / version / "bin" / "python")
    spec = {"type": "version_manager", "manager": "pyenv", "version": "3.11"}
    found = _find(tmp_path, spec, {"HOME": str(tmp_path / "home")})
    assert found.path == str(root / "versions" / "3.11.10" / "bin" / "python")


def test_pyenv_falls_back_to_its_global_version_file(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    real = _exe(root / "versions" / "3.12.0" / "bin" / "python")
    (root / "version").write_text("# global\n3.12.0\n")
    found = _find(
        tmp_path, {"type": "version_manager", "manager": "pyenv"}, {"PYENV_ROOT": str(root)}
    )
    assert found.path == str(real)


def test_nvm_reads_nvmrc_and_uses_the_versions_node_layout(tmp_path: Path) -> None:
    root = tmp_path / "nvm"
    node = _exe(root / "versions" / "node" / "v20.10.0" / "bin" / "node")
    _exe(root / "versions" / "node" / "v18.19.0" / "bin" / "node")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".nvmrc").write_text("v20\n")
    found = _find(tmp_path, {"type": "version_manager", "manager": "nvm"}, {"NVM_DIR": str(root)})
    assert found.path == str(node)


def test_rbenv_defaults_to_the_home_root_and_strips_the_ruby_prefix(tmp_path: Path) -> None:
    ruby = _exe(tmp_path / "home" / ".rbenv" / "versions" / "3.2.2" / "bin" / "ruby")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".ruby-version").write_text("ruby-3.2.2")
    found = _find(
        tmp_path, {"type": "version_manager", "manager": "rbenv"}, {"HOME": str(tmp_path / "home")}
    )
    assert found.path == str(ruby)


def test_asdf_reads_the_plugin_line_of_tool_versions(tmp_path: Path) -> None:
    root = tmp_path / "asdf"
    node = _exe(root / "installs" / "nodejs" / "20.1.0" / "bin" / "node")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / ".tool-versions").write_text("python 3.12.0\nnodejs 20.1.0 18.0.0\n")
    spec = {"type": "version_manager", "manager": "asdf", "binary": "node"}
    found = _find(tmp_path, spec, {"ASDF_DATA_DIR": str(root)})
    assert found.path == str(node)
    assert InterpreterSpec.from_dict(spec).var == "KIWI_NODE"


def test_a_version_manager_without_any_version_fails_naming_the_version_file(
    tmp_path: Path,
) -> None:
    with pytest.raises(ExecutionFailed) as caught:
        _find(
            tmp_path, {"type": "version_manager", "manager": "rbenv"}, {"RBENV_ROOT": str(tmp_path)}
        )
    assert caught.value.details == {
        "searched": ["a rbenv version (set version:, or .ruby-version)"]
    }


def test_an_uninstalled_version_falls_back_as_configured(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    _exe(root / "versions" / "3.10.0" / "bin" / "python")
    spec = {"type": "version_manager", "manager": "pyenv", "version": "3.13", "fallback": "kernel"}
    found = _find(tmp_path, spec, {"PYENV_ROOT": str(root)})
    assert found == FoundInterpreter(path=sys.executable, how="fallback:kernel")


def test_pyenv_win_layout_is_found_on_windows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    exe = home / ".pyenv" / "pyenv-win" / "versions" / "3.11.0" / "python.exe"
    exe.parent.mkdir(parents=True)
    exe.write_text("")
    spec = {"type": "version_manager", "manager": "pyenv", "version": "3.11.0"}
    found = _find(tmp_path, spec, {"USERPROFILE": str(home)}, platform="win32")
    assert found.path == str(exe)


def test_the_spec_round_trips_through_to_dict() -> None:
    spec = InterpreterSpec.from_dict(
        {"type": "version_manager", "manager": "asdf", "binary": "python", "version": "3.12"}
    )
    assert InterpreterSpec.from_dict(spec.to_dict()) == spec


def test_relative_path_entries_are_never_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _exe(tmp_path / "rel" / "deno")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExecutionFailed) as caught:
        _find(tmp_path, {"type": "system_binary", "binary": "deno"}, {"PATH": "rel:.:"})
    assert caught.value.details == {"searched": []}

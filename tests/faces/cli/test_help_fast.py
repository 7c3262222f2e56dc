"""``kiwi --help`` and a bare ``kiwi`` from the help cache: the same bytes as argparse's, and
never a text whose inputs changed. Real ``kiwi`` processes of the installed entry point; the
cache goes where their bytecode goes, a ``PYTHONPYCACHEPREFIX`` of this test's own."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.project import KIWI

Kiwi = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def run(prefix: Path, tmp_path: Path) -> Kiwi:
    for kept in prefix.rglob("kiwi-help-*"):
        kept.unlink()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(prefix)

    def kiwi(*args: str, **extra: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [KIWI, *args], cwd=tmp_path, env={**env, **extra}, capture_output=True, timeout=60
        )

    return kiwi


def _kept(prefix: Path) -> list[Path]:
    return sorted(prefix.rglob("kiwi-help-*.txt"))


def _imported(stderr: bytes) -> set[str]:
    """The modules ``PYTHONPROFILEIMPORTTIME`` listed (``import time: self | total | name``)."""
    return {
        line.rsplit(b"|", 1)[1].strip().decode()
        for line in stderr.splitlines()
        if line.startswith(b"import time:") and b"|" in line
    }


def _without_import_times(stderr: bytes) -> bytes:
    return b"".join(
        line for line in stderr.splitlines(keepends=True) if not line.startswith(b"import time:")
    )


@pytest.mark.parametrize("columns", [None, "52", "131"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_from_the_cache_is_byte_identical_to_argparses_and_imports_no_argparse(
    run: Kiwi, prefix: Path, flag: str, columns: str | None
) -> None:
    width = {} if columns is None else {"COLUMNS": columns}
    rendered = run(flag, **width)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.startswith(b"usage: kiwi ")
    assert [p.name for p in _kept(prefix)] == [f"kiwi-help-{columns or 80}.txt"]

    cached = run(flag, PYTHONPROFILEIMPORTTIME="1", **width)

    assert (cached.returncode, cached.stdout) == (0, rendered.stdout)
    imported = _imported(cached.stderr)
    assert "kiwi_mcp.kernel.faces.cli.help_cache" in imported
    assert not imported & {"argparse", "typing", "kiwi_mcp.kernel.faces.cli.parsers"}


def test_a_bare_kiwi_prints_the_same_help_to_stderr_with_exit_2_from_the_cache(
    run: Kiwi, prefix: Path
) -> None:
    rendered = run(COLUMNS="70")
    assert (rendered.returncode, rendered.stdout) == (2, b"")
    assert rendered.stderr.startswith(b"usage: kiwi ")

    cached = run(COLUMNS="70", PYTHONPROFILEIMPORTTIME="1")

    assert (cached.returncode, cached.stdout) == (2, b"")
    assert _without_import_times(cached.stderr) == rendered.stderr
    assert "argparse" not in _imported(cached.stderr)
    assert run("--help", COLUMNS="70").stdout == rendered.stderr


def _poison(kept: Path, *, stamp_of: str | None) -> None:
    """Replace the kept text by ``STALE``; with ``stamp_of``, also shift the recorded mtime of
    the module file whose path ends so (as an edit of that file would)."""
    header, _, _ = kept.read_text(encoding="utf-8").partition("\n\n")
    lines = header.split("\n")
    if stamp_of is not None:
        (at,) = [i for i, line in enumerate(lines) if line.endswith(stamp_of)]
        mtime, rest = lines[at].split(" ", 1)
        lines[at] = f"{int(mtime) + 1} {rest}"
    kept.write_text("\n".join(lines) + "\n\nSTALE\n", encoding="utf-8")


def test_a_kept_help_is_printed_only_while_every_module_it_came_from_is_unchanged(
    run: Kiwi, prefix: Path
) -> None:
    rendered = run("--help")
    (kept,) = _kept(prefix)

    _poison(kept, stamp_of=None)
    assert run("--help").stdout == b"STALE\n"  # the kept text is what a hit prints

    for changed in ("/faces/cli/item_cmds.py", "/faces/cli/help_texts.py", "/argparse.py"):
        _poison(kept, stamp_of=changed)
        again = run("--help")
        assert (again.returncode, again.stdout) == (0, rendered.stdout), changed
        assert kept.read_text(encoding="utf-8").endswith("\n\n" + rendered.stdout.decode())


@pytest.mark.parametrize("variable", ["LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"])
def test_a_kept_help_is_not_printed_under_another_locale(
    run: Kiwi, prefix: Path, variable: str
) -> None:
    rendered = run("--help")
    (kept,) = _kept(prefix)
    _poison(kept, stamp_of=None)

    relocated = run("--help", **{variable: "xx_XX.UTF-8"})

    assert (relocated.returncode, relocated.stdout) == (0, rendered.stdout)


def test_json_without_a_command_is_still_a_usage_error_not_the_help(
    run: Kiwi, prefix: Path
) -> None:
    run("--help")
    (kept,) = _kept(prefix)
    _poison(kept, stamp_of=None)

    done = run("--json")

    assert done.returncode == 2
    assert b'"code": "USAGE_ERROR"' in done.stdout
    assert b"STALE" not in done.stdout + done.stderr

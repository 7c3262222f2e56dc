"""The shape of the ``primitives`` package: its public face, its imports, its independence."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from kiwi_mcp import primitives

PACKAGE = Path(primitives.__file__).parent
ROOT = PACKAGE.parent


def test_the_public_names_are_pinned_and_sorted() -> None:
    assert primitives.__all__ == [
        "NO_BODY",
        "FileSink",
        "HttpClient",
        "HttpResult",
        "HttpSpec",
        "NullSink",
        "PrimitiveError",
        "PrimitiveHttpError",
        "PrimitiveTimeout",
        "ProcessResult",
        "ProcessSpec",
        "RetryPolicy",
        "ReturnSink",
        "Sink",
        "run_process",
    ]
    assert all(getattr(primitives, name) is not None for name in primitives.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(
        AttributeError, match=r"module 'kiwi_mcp\.primitives' has no attribute 'Nope'"
    ):
        primitives.Nope  # noqa: B018


def test_importing_primitives_does_not_import_httpx_until_the_client_is_used() -> None:
    code = (
        "import sys\nfrom kiwi_mcp import primitives\n"
        "before = 'httpx' in sys.modules\n"
        "primitives.HttpClient\n"
        "print(before, 'httpx' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.split() == ["False", "True"]


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_no_primitive_module_imports_the_kernel() -> None:
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) >= 6
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sources
        for name in _imported_modules(path)
        if name.split(".")[:2] == ["kiwi_mcp", "kernel"] or name.split(".")[0] == "kernel"
    ]
    assert offenders == []


def test_the_import_check_would_catch_a_kernel_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from kiwi_mcp.kernel.errors import KiwiError\nimport kernel\n")
    assert _imported_modules(sample) == ["kiwi_mcp.kernel.errors", "kernel"]

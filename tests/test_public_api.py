"""The public faces are short, sorted and pinned (STYLE §1)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kiwi_mcp import kernel


def test_the_kernel_exports_exactly_its_public_names() -> None:
    assert kernel.__all__ == [
        "CapabilitySet",
        "CapabilityToken",
        "Chain",
        "Directive",
        "Kernel",
        "KiwiError",
        "Knowledge",
        "Settings",
        "Tool",
        "mint_token",
        "verify_token",
    ]
    assert kernel.__all__[:-2] == sorted(kernel.__all__[:-2])


def test_every_public_name_resolves_to_the_object_its_module_defines() -> None:
    from kiwi_mcp.kernel.exec.kernel import Kernel
    from kiwi_mcp.kernel.trust import tokens

    for name in kernel.__all__:
        assert getattr(kernel, name) is not None
    assert kernel.Kernel is Kernel
    assert kernel.mint_token is tokens.mint
    assert kernel.verify_token is tokens.verify_token


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"module 'kiwi_mcp\.kernel' has no attribute 'Nope'"):
        kernel.Nope  # noqa: B018


def test_importing_the_kernel_imports_none_of_its_layers() -> None:
    code = (
        "import sys, kiwi_mcp.kernel as k\n"
        "print(sorted(m for m in sys.modules if m.startswith('kiwi_mcp.kernel.')))\n"
        "print(k.__version__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "['kiwi_mcp.kernel._version']"
    assert out[1] == "0.1.0"

"""The chain cases only real files can decide, asked of a ``Kernel`` over a temp folder.

Symlinks, shadowing, bare names, ambiguity and a system space with its manifest are the
store's business; ``tests/support/chain_cases.py`` says which cases those are, and
``tests/core/test_chain_cases.py`` runs the others over values.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.exec.kernel import Kernel, Plan
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.manifest import write_manifest
from tests.support.chain_cases import CASES, check_error, check_plan, load_case, needs_the_disk

DISK_CASES = [path for path in CASES if needs_the_disk(load_case(path)) is not None]
ALL_CAPS = CapabilitySet.from_strings(
    ["tool.execute:**", "net.http:**", "process.exec:*", "fs.read:**", "fs.write:**"]
)


def _materialize(case: Mapping[str, Any], root: Path) -> Settings:
    roots = {"project": root / "project" / ".ai", "user": root / "user", "system": root / "system"}
    for rel, text in (case.get("files") or {}).items():
        space, _, inner = rel.partition("/")
        path = roots[space] / inner
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for rel, target in (case.get("symlinks") or {}).items():
        space, _, inner = rel.partition("/")
        link = roots[space] / inner
        link.parent.mkdir(parents=True, exist_ok=True)
        outside = root / target
        outside.parent.mkdir(parents=True, exist_ok=True)
        outside.write_text(case["symlink_target_text"], encoding="utf-8")
        os.symlink(outside, link)
    roots["project"].mkdir(parents=True, exist_ok=True)
    roots["user"].mkdir(parents=True, exist_ok=True)
    system = system_space_root()
    if roots["system"].exists():
        write_manifest(roots["system"])
        system = roots["system"]
    return Settings(
        project_root=root / "project",
        user_space=roots["user"],
        system_root=system,
        host_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)},
        verify="off",
        lockfile="off",
    )


def test_some_cases_need_the_disk() -> None:
    assert len(DISK_CASES) >= 5


@pytest.mark.parametrize("case_file", DISK_CASES, ids=[c.stem for c in DISK_CASES])
def test_chain_case_on_disk(case_file: Path, tmp_path: Path) -> None:
    case = load_case(case_file)
    kernel = Kernel(_materialize(case, tmp_path), caps=ALL_CAPS)
    expect = case["expect"]

    def plan() -> Plan:
        return asyncio.run(kernel.plan(case["ask"], case.get("params", {})))

    if "error" in expect:
        with pytest.raises(KiwiError) as info:
            plan()
        check_error(info.value, expect["error"])
        return
    result = plan()
    check_plan(expect, result.chain, result.params, result.config)
    links = result.chain.links
    if "shadowed" in expect:
        assert [f"{f.space}:{f.id}" for link in links for f in link.located.shadowed] == expect[
            "shadowed"
        ]
    if "ignored" in expect:
        assert [f"{f.space}:{f.id}" for link in links for f in link.located.ignored] == expect[
            "ignored"
        ]

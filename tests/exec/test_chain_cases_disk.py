"""Chain cases kept as data: each ``tests/fixtures/chains/*.yaml`` is one case.

A case names the files of a project space, a user space and (optionally) a system space,
the tool to ask for with its params, and what must come out: the chain and a subset of the
final config, or an error code with its chain and message fragments. Adding a case needs no
new Python.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from kiwi_mcp.kernel.errors import KiwiError
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.manifest import write_manifest

CASES = sorted((Path(__file__).parent.parent / "fixtures" / "chains").glob("*.yaml"))
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


def _subset(expected: Any, actual: Any, where: str = "config") -> None:
    if isinstance(expected, Mapping):
        assert isinstance(actual, Mapping), f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            if value == "<absent>":
                assert key not in actual, f"{where}.{key} should be absent, is {actual[key]!r}"
            else:
                assert key in actual, f"{where}.{key} missing from {actual!r}"
                _subset(value, actual[key], f"{where}.{key}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_chain_case(case_file: Path, tmp_path: Path) -> None:
    case = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    kernel = Kernel(_materialize(case, tmp_path), caps=ALL_CAPS)
    expect = case["expect"]
    ask = case["ask"]
    params = case.get("params", {})

    async def plan() -> Any:
        return await kernel.plan(ask, params)

    if "error" in expect:
        with pytest.raises(KiwiError) as info:
            asyncio.run(plan())
        err = info.value
        wanted = expect["error"]
        assert err.code == wanted["code"], f"{err.code}: {err}"
        if "chain" in wanted:
            assert list(err.chain) == wanted["chain"]
        for fragment in wanted.get("message_contains", []):
            assert fragment in err.message, f"{fragment!r} not in {err.message!r}"
        if "candidates" in wanted:
            assert err.details["candidates"] == wanted["candidates"]
        return
    result = asyncio.run(plan())
    assert list(result.chain.ids) == expect["chain"]
    if "spaces" in expect:
        assert [link.file.space for link in result.chain.links] == expect["spaces"]
    if "shadowed" in expect:
        shadowed = [
            f"{f.space}:{f.id}" for link in result.chain.links for f in link.located.shadowed
        ]
        assert shadowed == expect["shadowed"]
    if "ignored" in expect:
        ignored = [f"{f.space}:{f.id}" for link in result.chain.links for f in link.located.ignored]
        assert ignored == expect["ignored"]
    if "params" in expect:
        assert result.params == expect["params"]
    if "config" in expect:
        _subset(expect["config"], result.config)

"""One folder given as two spaces — inside the source tree the project's ``.ai`` is the system
space — is searched once, as the later space, so a chain ends in the system's primitives as it
does seen from any other folder."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from kiwi_mcp.kernel.core.spaces import Space, SpaceName
from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.items import ItemStore
from kiwi_mcp.kernel.store.paths import system_space_root
from kiwi_mcp.kernel.store.settings import Settings
from kiwi_mcp.kernel.trust.capabilities import CapabilitySet
from kiwi_mcp.kernel.trust.manifest import write_manifest

ORDER: tuple[SpaceName, ...] = ("project", "user", "system")


@pytest.mark.parametrize(
    ("first", "second"), [("project", "system"), ("user", "system"), ("project", "user")]
)
def test_a_folder_given_as_two_spaces_is_searched_once_as_the_later_one(
    tmp_path: Path, first: SpaceName, second: SpaceName
) -> None:
    shared = tmp_path / "shared"
    for rel in ("tools/primitives/subprocess.yaml", "tools/examples/hello.yaml"):
        (shared / rel).parent.mkdir(parents=True, exist_ok=True)
        (shared / rel).write_text("version: 1.0.0\n", encoding="utf-8")
    roots = {name: tmp_path / name for name in ORDER} | {first: shared, second: shared}
    store = ItemStore([Space(name=name, root=roots[name]) for name in ORDER])

    hello = store.locate("tool", "examples/hello")

    assert [s.name for s in store.spaces] == [n for n in ORDER if n != first]
    assert (hello.file.space, hello.shadowed) == (second, ())
    if second == "system":
        primitive = store.locate("tool", "primitives/subprocess")
        assert (primitive.file.space, primitive.file.path) == (
            "system",
            shared / "tools/primitives/subprocess.yaml",
        )


def test_a_project_whose_ai_is_the_system_space_runs_a_chain_to_its_primitive(
    tmp_path: Path,
) -> None:
    system = tmp_path / "checkout" / ".ai"
    shutil.copytree(system_space_root(), system, ignore=shutil.ignore_patterns("logs", "index"))
    write_manifest(system)  # of this copy, whatever the checkout's holds meanwhile
    (tmp_path / "user").mkdir()
    settings = Settings(
        project_root=system.parent,
        user_space=tmp_path / "user",
        system_root=system,
        host_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        verify="signed",
        lockfile="off",
    )
    kernel = Kernel(
        settings, caps=CapabilitySet.from_strings(["tool.execute:**", "process.exec:*"])
    )

    plan = asyncio.run(kernel.plan("examples/hello", {}))

    assert [(link.located.file.space, link.located.file.id) for link in plan.chain.links] == [
        ("system", "examples/hello"),
        ("system", "runtimes/python"),
        ("system", "primitives/subprocess"),
    ]

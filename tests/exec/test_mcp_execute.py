"""``Kernel.execute`` of upstream tools on one long-lived kernel (SPEC §14), against the npm
``server-everything``: upstream progress becomes events, a declared secret reaches the server's
environment and is masked in the envelope, and one pooled session serves every call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kiwi_mcp.kernel.exec.kernel import Kernel
from kiwi_mcp.kernel.store.settings import Settings
from tests.support.project import Project, project  # noqa: F401 - a fixture
from tests.support.upstreams import EVERYTHING, node

SECRET = "s3cret-upstream-token-4711"


@pytest.mark.slow
def test_progress_secrets_and_the_pool_on_one_kernel(project: Project) -> None:  # noqa: F811
    (project.root / ".ai" / ".env").write_text(f"EVERYTHING_TOKEN={SECRET}\n", encoding="utf-8")
    added = project.kiwi(
        "mcp", "add", "everything", "--secret", "EVERYTHING_TOKEN", "--",
        node(), str(EVERYTHING), "stdio",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert SECRET not in (project.tools / "mcp" / "servers" / "everything.yaml").read_text()
    settings = Settings.from_environment(project.root, env=project.env)
    events: list[dict[str, Any]] = []

    async def go() -> tuple[dict[str, Any], dict[str, Any], int]:
        kernel = Kernel(settings)
        try:
            slow = await kernel.execute(
                "mcp/everything/trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                on_event=events.append,
            )
            env = await kernel.execute("mcp/everything/get-env", {})
            return slow, env, kernel.upstreams.opened
        finally:
            await kernel.aclose()

    slow, env, opened = asyncio.run(go())
    assert slow["ok"], slow
    assert "Long running operation completed" in str(slow["data"])
    progress = [e for e in events if e.get("event") == "progress"]
    assert [e["progress"] for e in progress] == [1, 2, 3]
    assert all(e["total"] == 3 for e in progress)
    assert env["ok"], env
    shown = str(env["data"])
    assert "EVERYTHING_TOKEN" in shown and SECRET not in shown and "***" in shown
    assert opened == 1

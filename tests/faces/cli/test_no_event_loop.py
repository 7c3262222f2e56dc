"""Commands that never await import no ``asyncio`` (issue 14: no event loop for them)."""

from __future__ import annotations

import pytest

from tests.support.project import Project, project  # noqa: F401 - a fixture


def _imported(stderr: str) -> set[str]:
    """The modules ``PYTHONPROFILEIMPORTTIME`` listed (``import time: self | total | name``)."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


@pytest.mark.parametrize(
    "command",
    [
        ("lockfile", "list"),
        ("show", "tool", "examples/hello"),
        ("audit", "verify"),
        ("trust", "list"),
    ],
)
def test_a_command_that_never_awaits_imports_no_asyncio(
    project: Project,  # noqa: F811
    command: tuple[str, ...],
) -> None:
    done = project.kiwi(*command, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    imported = _imported(done.stderr)
    assert "kiwi_mcp.kernel.faces.cli.main" in imported  # the trace is there
    assert "asyncio" not in imported


def test_a_command_that_runs_a_tool_does_use_the_loop(project: Project) -> None:  # noqa: F811
    done = project.kiwi("run", "examples/hello", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert "asyncio" in _imported(done.stderr)  # the control: the trace would show it

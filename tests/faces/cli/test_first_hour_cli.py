"""The first hour from the real ``kiwi``: a folder without ``.ai/`` is said to stand in for
the project by the commands that write there."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.project import KIWI, Project


def test_a_writing_command_without_an_ai_folder_says_where_it_writes(
    project: Project, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    done = subprocess.run(
        [KIWI, "--json", "run", "examples/hello", "-p", "name=x"],
        cwd=bare,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"no .ai/ folder found here or above; {bare.resolve()} stands in" in done.stderr
    assert f"records go to {bare.resolve() / '.ai'}" in done.stderr
    quiet = subprocess.run(
        [KIWI, "search", "hello"], cwd=bare, env=project.env, capture_output=True, text=True
    )
    assert "no .ai/ folder" not in quiet.stderr  # reading commands say nothing

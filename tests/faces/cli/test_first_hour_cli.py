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


def test_every_subcommand_help_has_a_description_and_an_example() -> None:
    import argparse

    from kiwi_mcp.kernel.faces.cli.main import build_parser

    missing: list[str] = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    here = f"{path} {name}"
                    nested = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                    if not nested and not (sub.description and "example" in (sub.epilog or "")):
                        missing.append(here)
                    walk(sub, here)

    walk(build_parser(), "kiwi")
    assert missing == []


def test_a_subcommand_help_shows_its_examples_through_the_real_cli(project: Project) -> None:
    done = project.kiwi("lockfile", "prune", "--help")
    assert done.returncode == 0
    assert "examples: kiwi lockfile prune --older-than 30" in done.stdout


def _complete_in_bash(script: str, *words: str) -> list[str]:
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f"COMP_CWORD={len(words) - 1}; _kiwi_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\""
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_completes_commands_subcommands_and_options(project: Project) -> None:
    done = project.kiwi("completion", "bash")
    assert done.returncode == 0
    assert _complete_in_bash(done.stdout, "kiwi", "lockf") == ["lockfile"]
    assert _complete_in_bash(done.stdout, "kiwi", "lockfile", "pr") == ["prune"]
    assert "--as-operator" in _complete_in_bash(done.stdout, "kiwi", "run", "--")
    assert set(_complete_in_bash(done.stdout, "kiwi", "mcp", "")) == {
        "add",
        "config",
        "list",
        "refresh",
        "remove",
        "tools",
        "--help",
    }


def test_zsh_and_fish_scripts_name_every_command(project: Project) -> None:
    zsh = project.kiwi("completion", "zsh").stdout
    fish = project.kiwi("completion", "fish").stdout
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n")
    for command in ("run", "sign", "doctor", "lockfile", "completion"):
        assert f"-a {command}" in fish
        assert f'"{command}")' in zsh


def test_a_reader_that_went_away_ends_kiwi_quietly(project: Project) -> None:
    """``kiwi … | head``: stdout's reader is gone before kiwi writes (here closed before it
    starts, so every write fails): exit 141 as a shell reports SIGPIPE, no traceback."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            # more than a pipe buffer of output, so a write fails while the command runs
            [KIWI, "--project", str(project.root), "--json", "search", "", "--limit", "100"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=project.env,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "INTERNAL" not in done.stderr

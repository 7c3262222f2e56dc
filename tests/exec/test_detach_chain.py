"""A detached subprocess through the real ``kiwi`` (SPEC §6.1): ``{pid, started_at}`` back while
the child runs on, its output in a log that must be inside the project's ``.ai/``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.project import Project

# The child outlives any sane run of kiwi: if kiwi waited for it, kiwi's own 60 s guard fails.
DETACHED_TOOL = """\
version: "1.0.0"
executor_id: primitives/subprocess
config:
  command: sh
  args: ["-c", "touch ran; echo out; echo err >&2; exec sleep 1000"]
  detach: true
  log: "${project.path}/.ai/threads/x/runner.log"
"""
# The same, with the log given as a param.
LOG_PARAM_TOOL = DETACHED_TOOL.replace(
    "config:\n", "parameters: {type: object, properties: {log: {type: string}}}\nconfig:\n"
).replace('"${project.path}/.ai/threads/x/runner.log"', '"${params.log}"')
# A hang guard, never a timing assertion.
DEADLINE_S = 30.0


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def running(pid: int) -> bool:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return text[text.rindex(")") + 2] not in "ZX"


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids of detached children; their groups are killed when the test ends."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_a_detached_tool_returns_its_pid_while_the_child_runs_on(
    project: Project, started: list[int]
) -> None:
    project.write_tool("detached.yaml", DETACHED_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "detached")
    envelope = json.loads(done.stdout)
    assert envelope["ok"], done.stdout + done.stderr
    pid = envelope["data"]["pid"]
    started.append(pid)
    assert set(envelope["data"]) == {"pid", "started_at"}
    assert envelope["meta"]["process"] == {
        "pid": pid,
        "detached": True,
        "log": ".ai/threads/x/runner.log",
    }
    assert running(pid) and os.getsid(pid) == pid
    log = project.root / ".ai" / "threads" / "x" / "runner.log"
    assert wait_until(lambda: log.read_text() == "out\nerr\n"), log.read_text()


def test_a_relative_log_is_below_the_project_root(project: Project, started: list[int]) -> None:
    project.write_tool("detached.yaml", LOG_PARAM_TOOL)
    project.sign()
    done = project.kiwi("--json", "run", "detached", "-p", "log=.ai/threads/y/runner.log")
    envelope = json.loads(done.stdout)
    assert envelope["ok"], done.stdout + done.stderr
    started.append(envelope["data"]["pid"])
    assert envelope["meta"]["process"]["log"] == ".ai/threads/y/runner.log"
    log = project.root / ".ai" / "threads" / "y" / "runner.log"
    assert wait_until(lambda: log.read_text() == "out\nerr\n"), log.read_text()


@pytest.mark.parametrize(
    "log",
    [
        "{root}/runner.log",
        "{root}/.ai/../runner.log",
        "{root}/.ai",
        "{root}/../elsewhere/runner.log",
        "runner.log",
        "link/runner.log",
    ],
)
def test_a_log_outside_the_projects_ai_folder_is_config_invalid_and_nothing_starts(
    project: Project, log: str
) -> None:
    (project.root / ".ai" / "link").symlink_to(project.root)
    project.write_tool("detached.yaml", LOG_PARAM_TOOL)
    project.sign()
    given = log.format(root=project.root).replace("link/", ".ai/link/")
    done = project.kiwi("--json", "run", "detached", "-p", f"log={given}")
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "CONFIG_INVALID", done.stdout
    assert error["message"] == (
        f"log: a detached process's log must be inside the project's .ai/ folder, got {given!r}"
    )
    assert not (project.root / "ran").exists()
    assert not (project.root / "runner.log").exists()

"""The subprocess primitive's ``detach`` mode with real processes (SPEC §6.1): started, left
running in its own session, its output appended to a log, its exit reaped by nobody waiting."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.primitives import PrimitiveError, ProcessSpec
from kiwi_mcp.primitives.detached import DetachedResult, start_detached

SH = shutil.which("sh") or "/bin/sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"
ENV = {"PATH": "/usr/bin:/bin", "KIWI_DETACH_TEST": "yes"}
# A hang guard, never a timing assertion: a healthy run needs a fraction of it.
DEADLINE_S = 30.0


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def state(pid: int) -> str | None:
    """The process's /proc state letter (``Z`` for a zombie), None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return text[text.rindex(")") + 2]


@pytest.fixture
def start() -> Iterator[Callable[..., DetachedResult]]:
    """``start_detached`` that kills every group it started when the test ends."""
    started: list[int] = []

    def run(**fields: Any) -> DetachedResult:
        fields.setdefault("env", ENV)
        result = start_detached(ProcessSpec(detach=True, **fields))
        started.append(result.pid)
        return result

    yield run
    for pid in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def test_start_returns_while_the_child_still_runs_in_its_own_session(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    log = tmp_path / "runner.log"
    result = start(command=SLEEP, args=("30",), log=str(log), cwd=str(tmp_path))
    os.kill(result.pid, 0)  # raises if it is gone
    assert state(result.pid) not in (None, "Z", "X")
    assert os.getsid(result.pid) == result.pid
    assert os.getpgid(result.pid) == result.pid
    assert os.readlink(f"/proc/{result.pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{result.pid}/fd/1") == str(log)
    assert os.readlink(f"/proc/{result.pid}/fd/2") == str(log)
    assert os.readlink(f"/proc/{result.pid}/cwd") == str(tmp_path)


def test_the_child_gets_exactly_the_given_environment(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    result = start(command=SLEEP, args=("30",), log=str(tmp_path / "x.log"))
    environ = Path(f"/proc/{result.pid}/environ").read_bytes()
    assert dict(e.split("=", 1) for e in environ.decode().split("\0") if e) == ENV


def test_started_at_is_a_utc_iso_time_and_the_result_round_trips(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    result = start(command=SLEEP, args=("30",), log=str(tmp_path / "x.log"))
    assert result.started_at.endswith("Z") and "T" in result.started_at
    assert DetachedResult.from_dict(result.to_dict()) == result
    assert set(result.to_dict()) == {"pid", "started_at"}


def test_stdout_and_stderr_are_appended_to_the_log(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    log = tmp_path / "runner.log"
    log.write_text("earlier run\n")
    result = start(command=SH, args=("-c", "echo out; echo err >&2"), log=str(log))
    assert wait_until(lambda: state(result.pid) is None), "the child was not reaped"
    assert log.read_text() == "earlier run\nout\nerr\n"


def test_the_logs_missing_folders_are_made_private_and_the_log_is_0600(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    log = tmp_path / "threads" / "t1" / "runner.log"
    start(command=SLEEP, args=("30",), log=str(log))
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "threads").stat().st_mode) == 0o700


def test_a_child_that_exits_leaves_no_zombie_in_this_process(
    start: Callable[..., DetachedResult], tmp_path: Path
) -> None:
    result = start(command=SH, args=("-c", "exit 3"), log=str(tmp_path / "x.log"))
    assert wait_until(lambda: state(result.pid) is None), f"still {state(result.pid)!r}"
    with pytest.raises(ChildProcessError):
        os.waitpid(result.pid, os.WNOHANG)


def test_a_command_that_is_not_found_is_execution_failed(tmp_path: Path) -> None:
    spec = ProcessSpec(
        command="kiwi-no-such-command", env=ENV, detach=True, log=str(tmp_path / "x")
    )
    with pytest.raises(PrimitiveError) as caught:
        start_detached(spec)
    assert caught.value.code == "EXECUTION_FAILED"
    assert caught.value.message == (
        "cannot start 'kiwi-no-such-command': command not found on the child's PATH"
    )


def test_a_symlink_as_the_log_is_refused_and_nothing_starts(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("")
    log = tmp_path / "runner.log"
    log.symlink_to(elsewhere)
    marker = tmp_path / "ran"
    spec = ProcessSpec(
        command=SH, args=("-c", f"touch {marker}"), env=ENV, detach=True, log=str(log)
    )
    with pytest.raises(PrimitiveError) as caught:
        start_detached(spec)
    assert caught.value.code == "EXECUTION_FAILED"
    assert caught.value.message == f"cannot open the log {str(log)!r}: it is a symlink"
    assert not marker.exists() and elsewhere.read_text() == ""


def test_a_fifo_as_the_log_is_refused_without_blocking(tmp_path: Path) -> None:
    log = tmp_path / "runner.log"
    os.mkfifo(log)
    spec = ProcessSpec(command=SLEEP, args=("30",), env=ENV, detach=True, log=str(log))
    with pytest.raises(PrimitiveError) as caught:
        start_detached(spec)
    assert caught.value.code == "EXECUTION_FAILED"
    assert "cannot open the log" in caught.value.message


def test_start_detached_refuses_a_spec_without_detach() -> None:
    with pytest.raises(PrimitiveError) as caught:
        start_detached(ProcessSpec(command=SLEEP, env=ENV))
    assert caught.value.code == "CONFIG_INVALID"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"detach": True}, "log: required with detach: true (where the child's output goes)"),
        ({"log": "/tmp/x.log"}, "log: only used with detach: true"),
        ({"detach": True, "log": "x.log"}, "log: expected an absolute path string, got 'x.log'"),
        ({"detach": "yes", "log": "/x"}, "detach: expected a boolean, got 'yes'"),
        (
            {"detach": True, "log": "/x", "input": "hi"},
            "input: not allowed with detach: true (stdin is /dev/null)",
        ),
        (
            {"detach": True, "log": "/x", "stream": True},
            "stream: not allowed with detach: true (output goes to log)",
        ),
    ],
)
def test_a_bad_detach_setting_names_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(PrimitiveError) as caught:
        ProcessSpec.from_dict({"command": "x", **fields})
    assert (caught.value.code, caught.value.message) == ("CONFIG_INVALID", message)


def test_a_detached_spec_round_trips() -> None:
    spec = ProcessSpec.from_dict({"command": "x", "detach": True, "log": "/p/.ai/t/r.log"})
    assert ProcessSpec.from_dict(spec.to_dict()) == spec
    assert (spec.to_dict()["detach"], spec.to_dict()["log"]) == (True, "/p/.ai/t/r.log")

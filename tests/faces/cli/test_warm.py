"""The warm process (faces/cli/warm*.py): real ``kiwi`` processes handing their commands to a
real per-user warm process in a private folder, which forks a child per command."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.project import KIWI, Project, project  # noqa: F401 - a fixture

WHO = '''"""Says which process ran it, and its kiwi's environment."""
__version__ = "1.0.0"
__tool_type__ = "python"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {"wait_for": {"type": "string"}}}


def execute(params, context):
    import os, pathlib, time
    kiwi = os.getppid()
    stat = pathlib.Path(f"/proc/{kiwi}/stat").read_text()
    parent_of_kiwi = int(stat.rsplit(")", 1)[1].split()[1])
    marker = params.get("wait_for")
    if marker:
        pathlib.Path(marker + ".pid").write_text(str(kiwi))
        while not os.path.exists(marker):
            time.sleep(0.05)
    return {"kiwi": kiwi, "parent_of_kiwi": parent_of_kiwi}
'''


def _until(check: object, what: str, seconds: float = 60.0) -> None:
    """Wait for ``check()`` (an eventual state, not a timing claim)."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


@pytest.fixture
def warm(project: Project) -> Iterator[Project]:  # noqa: F811
    """``project`` with the warm process on, in a short private folder (AF_UNIX paths are
    short), started and stopped around the test."""
    folder = tempfile.mkdtemp(prefix="kw", dir="/tmp")
    project.env.update({"KIWI_WARM": "1", "KIWI_WARM_DIR": folder, "KIWI_WARM_IDLE": "120"})
    project.write_tool("who.py", WHO)
    project.sign()
    started = project.kiwi("warm", "start")
    assert started.returncode == 0, started.stderr
    try:
        yield project
    finally:
        project.kiwi("warm", "stop")
        for pid_file in Path(folder).glob("*.pid"):  # one per key a test used
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
        _until(lambda: not any(Path(folder).glob("*.sock")), "the warm process stopped")
        shutil.rmtree(folder, ignore_errors=True)


def _waiting(proj: Project, marker: Path, *args: str, **streams: object) -> subprocess.Popen[str]:
    """``kiwi [args] run who`` waiting for ``marker``, once its tool has started."""
    client: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
        [KIWI, *args, "run", "who", "-p", f"wait_for={marker}"],
        cwd=proj.root,
        env=proj.env,
        text=True,
        **streams,
    )
    _until(Path(str(marker) + ".pid").exists, "the tool started")
    return client


def _warm_pid(proj: Project) -> int:
    status = proj.kiwi("--json", "warm", "status")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["running"] is True
    return int(state["pid"])


def test_a_command_runs_in_a_child_of_the_warm_process_with_the_same_output(
    warm: Project,
) -> None:
    served = warm.kiwi("--json", "run", "who")
    assert served.returncode == 0, served.stderr
    data = json.loads(served.stdout)["data"]
    assert data["parent_of_kiwi"] == _warm_pid(warm)  # forked by the warm process
    alone = warm.kiwi("--json", "run", "who", env={"KIWI_WARM": "0"})
    assert json.loads(alone.stdout)["data"]["parent_of_kiwi"] != _warm_pid(warm)
    for args in (
        ("run", "examples/hello"),
        ("run", "nope"),
        ("run",),
        ("--json", "show", "tool", "who"),
    ):
        in_warm = warm.kiwi(*args)
        in_process = warm.kiwi(*args, env={"KIWI_WARM": "0"})
        assert (in_warm.returncode, in_warm.stdout, in_warm.stderr) == (
            in_process.returncode,
            in_process.stdout,
            in_process.stderr,
        ), args
    assert warm.kiwi("run", "nope").returncode == 1
    assert warm.kiwi("run").returncode == 2


def test_each_command_gets_its_own_folder_and_environment(warm: Project, tmp_path: Path) -> None:
    other = tmp_path / "other"
    (other / ".ai" / "tools").mkdir(parents=True)
    (other / ".ai" / "tools" / "who.py").write_text(WHO.replace("Says", "Tells"))
    (warm.root / "sub").mkdir()
    here = warm.kiwi("--json", "show", "tool", "who", cwd=warm.root / "sub")
    there = warm.kiwi("--json", "show", "tool", "who", cwd=other)
    assert json.loads(here.stdout)["path"] == str(warm.tools / "who.py")
    assert json.loads(there.stdout)["path"] == str(other / ".ai" / "tools" / "who.py")
    # the environment: a user space named by this command only
    user_tools = tmp_path / "user2" / "tools"
    user_tools.mkdir(parents=True)
    (user_tools / "only_here.yaml").write_text(
        'version: "1.0.0"\ntool_type: python\nexecutor_id: runtimes/python\n'
    )
    user2 = {"KIWI_USER_SPACE": str(tmp_path / "user2")}
    seen = warm.kiwi("--json", "show", "tool", "only_here", env=user2)
    assert json.loads(seen.stdout)["space"] == "user", seen.stderr
    assert warm.kiwi("show", "tool", "only_here").returncode == 1  # the next one has its own
    assert _warm_pid(warm)


def test_ctrl_c_reaches_the_command_and_the_exit_status_is_its_own(
    warm: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "go"
    client = _waiting(warm, marker, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kiwi_child = int(Path(str(marker) + ".pid").read_text())
    assert kiwi_child != client.pid
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 130, err
    assert "interrupted" in err
    _until(lambda: not Path(f"/proc/{kiwi_child}").exists(), "the command's process ended")


def test_a_caller_that_dies_takes_its_command_down(warm: Project, tmp_path: Path) -> None:
    marker = tmp_path / "go"
    client = _waiting(warm, marker, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kiwi_child = int(Path(str(marker) + ".pid").read_text())
    client.kill()
    client.wait(timeout=60)
    _until(lambda: not Path(f"/proc/{kiwi_child}").exists(), "the orphaned command was stopped")
    assert warm.kiwi("run", "examples/hello").returncode == 0  # the warm process serves on


def test_commands_run_side_by_side_and_stop_lets_the_running_one_finish(
    warm: Project, tmp_path: Path
) -> None:
    marker = tmp_path / "go"
    slow = _waiting(warm, marker, "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    warm_pid = _warm_pid(warm)
    quick = warm.kiwi("--json", "run", "who")  # while the slow one runs
    assert json.loads(quick.stdout)["data"]["parent_of_kiwi"] == warm_pid
    assert warm.kiwi("warm", "stop").returncode == 0
    marker.write_text("")
    out, err = slow.communicate(timeout=60)
    assert slow.returncode == 0, err
    assert json.loads(out)["data"]["parent_of_kiwi"] == warm_pid  # it finished after the stop
    status = json.loads(warm.kiwi("--json", "warm", "status").stdout)
    assert status["running"] is False


def test_a_changed_package_folder_makes_it_stale_and_a_new_one_takes_over(
    warm: Project, tmp_path: Path
) -> None:
    extra = tmp_path / "site"
    extra.mkdir()
    warm.env["PYTHONPATH"] = str(extra)  # a folder on sys.path: its own key, its own process
    assert warm.kiwi("warm", "start").returncode == 0
    first = _warm_pid(warm)
    (extra / "newly_installed.py").write_text("")  # the folder's entries changed
    done = warm.kiwi("--json", "run", "who")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["parent_of_kiwi"] != first  # ran in-process
    _until(lambda: Path(f"/proc/{first}").exists() is False, "the stale process exited")
    _until(
        lambda: warm.kiwi("--json", "warm", "status").stdout.count('"running": true') == 1,
        "a new one",
    )
    assert _warm_pid(warm) != first
    served = warm.kiwi("--json", "run", "who")
    assert json.loads(served.stdout)["data"]["parent_of_kiwi"] == _warm_pid(warm)


def test_a_folder_others_can_enter_is_never_used(project: Project) -> None:  # noqa: F811
    folder = tempfile.mkdtemp(prefix="kw", dir="/tmp")
    try:
        os.chmod(folder, 0o755)
        env = {"KIWI_WARM": "1", "KIWI_WARM_DIR": folder}
        done = project.kiwi("run", "examples/hello", env=env)
        assert done.returncode == 0, done.stderr  # in-process
        assert os.listdir(folder) == []  # no socket, no process started
        status = project.kiwi("warm", "status", env=env)
        assert status.returncode == 1
        assert "chmod 700" in status.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_with_the_warm_process_off_nothing_is_started(project: Project) -> None:  # noqa: F811
    folder = tempfile.mkdtemp(prefix="kw", dir="/tmp")
    try:
        done = project.kiwi(
            "run", "examples/hello", env={"KIWI_WARM": "0", "KIWI_WARM_DIR": folder}
        )
        assert done.returncode == 0, done.stderr
        assert os.listdir(folder) == []
    finally:
        shutil.rmtree(folder, ignore_errors=True)

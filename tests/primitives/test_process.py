"""The subprocess primitive with real processes: output, isolation, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from kiwi_mcp.primitives import (
    PrimitiveError,
    PrimitiveTimeout,
    ProcessResult,
    ProcessSpec,
    run_process,
)

PATH_ONLY = {"PATH": "/usr/bin:/bin"}
SH = shutil.which("sh") or "/bin/sh"


def run(spec: ProcessSpec, on_event: Any = None) -> ProcessResult:
    return asyncio.run(run_process(spec, on_event=on_event))


def sh(script: str, **fields: Any) -> ProcessSpec:
    fields.setdefault("env", PATH_ONLY)
    return ProcessSpec(command=SH, args=("-c", script), **fields)


def gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for init to reap it."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat_line[stat_line.rindex(")") + 2] in "ZX"


# A child that prints its pid, then a grandchild that ignores SIGTERM (the ignored disposition
# survives exec) prints its own once the trap is set, and keeps the child's stdout open.
STUBBORN_FAMILY = "echo $$; sh -c 'trap \"\" TERM; echo $$; exec sleep 1000' & wait"


def test_stdout_that_is_one_json_value_is_also_returned_parsed() -> None:
    result = run(sh('printf \'{"ok": true, "n": [1, 2]}\\n\''))
    assert (result.exit_code, result.has_json, result.parsed) == (
        0,
        True,
        {"ok": True, "n": [1, 2]},
    )
    assert result.stdout == '{"ok": true, "n": [1, 2]}\n'


@pytest.mark.parametrize("stdout", ["hello", "NaN", '{"a": 1} {"b": 2}', ""])
def test_stdout_that_is_not_one_json_value_is_left_unparsed(stdout: str) -> None:
    result = run(sh(f"printf '%s' '{stdout}'"))
    assert (result.stdout, result.has_json, result.parsed) == (stdout, False, None)


def test_a_non_zero_exit_is_a_result_with_stderr() -> None:
    result = run(sh("echo oops >&2; exit 3"))
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", "oops\n")


def test_a_process_killed_by_a_signal_reports_the_negative_signal() -> None:
    assert run(sh("kill -9 $$")).exit_code == -9


def test_the_child_sees_only_the_environment_it_was_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIWI_TEST_LEAK", "from-the-server")
    hidden = run(sh('printf "%s" "${KIWI_TEST_LEAK-unset}"'))
    passed = run(sh('printf "%s" "$KIWI_TEST_LEAK"', env={**PATH_ONLY, "KIWI_TEST_LEAK": "given"}))
    everything = run(ProcessSpec(command="/usr/bin/env", env={"ONLY": "1"}))
    assert (hidden.stdout, passed.stdout, everything.stdout) == ("unset", "given", "ONLY=1\n")


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    result = run(sh("printf 'ok \\377\\376 end'; printf '\\300' >&2"))
    assert (result.stdout, result.stderr) == ("ok \ufffd\ufffd end", "\ufffd")


def test_input_is_sent_on_stdin_and_without_it_stdin_is_dev_null() -> None:
    echoed = run(ProcessSpec(command="/bin/cat", input="línea 1\nline 2"))
    nothing = run(ProcessSpec(command="/bin/cat"))
    where = run(sh("readlink /proc/self/fd/0"))
    assert (echoed.stdout, nothing.stdout, where.stdout) == ("línea 1\nline 2", "", "/dev/null\n")


def test_big_input_and_output_flow_at_once_without_deadlock() -> None:
    text = ("x" * 1023 + "\n") * 4096  # 4 MiB each way, far past any pipe buffer
    result = run(ProcessSpec(command="/bin/cat", input=text, timeout=30.0))
    assert (len(result.stdout), result.truncated) == (len(text), False)


def test_20_mb_of_output_is_capped_with_the_flag_and_memory_stays_bounded() -> None:
    cap = 1024 * 1024
    spec = sh(
        "head -c 20000000 /dev/zero | tr '\\0' a; head -c 20000000 /dev/zero | tr '\\0' b >&2",
        max_output=cap,
        timeout=60.0,
    )
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = run(spec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("a" * cap, "b" * cap)
    assert (result.stdout_truncated, result.stderr_truncated, result.truncated) == (
        True,
        True,
        True,
    )
    assert result.has_json is False
    assert peak < 12 * cap
    assert time.monotonic() - started < 30.0


def test_stream_emits_each_stdout_line_as_it_comes_and_still_collects_stdout() -> None:
    events: list[dict[str, Any]] = []
    result = run(
        sh("printf 'one\\ntwo\\r\\n'; echo err >&2; printf 'thr'; printf 'ee'", stream=True),
        on_event=events.append,
    )
    assert events == [
        {"event": "stdout", "data": "one"},
        {"event": "stdout", "data": "two"},
        {"event": "stdout", "data": "three"},
    ]
    assert result.stdout == "one\ntwo\r\nthree"


def test_without_stream_no_events_are_emitted() -> None:
    events: list[dict[str, Any]] = []
    run(sh("echo one"), on_event=events.append)
    assert events == []


def test_a_timeout_stops_a_grandchild_that_ignores_sigterm_within_timeout_plus_grace() -> None:
    timeout, grace = 1.0, 0.5
    started = time.monotonic()
    with pytest.raises(PrimitiveTimeout) as caught:
        run(sh(STUBBORN_FAMILY, timeout=timeout, grace=grace))
    elapsed = time.monotonic() - started
    partial = caught.value.partial
    assert isinstance(partial, ProcessResult)
    child, grandchild = (int(pid) for pid in partial.stdout.split())
    assert gone(child) and gone(grandchild)
    assert timeout + grace <= elapsed < timeout + grace + 1.0
    assert caught.value.code == "TIMEOUT"
    assert (
        caught.value.message == f"'{SH}' did not finish within 1 s; its process group was stopped"
    )
    assert partial.exit_code == -15


def test_cancelling_the_awaiting_task_kills_the_group_and_re_raises() -> None:
    pids: list[int] = []

    async def main() -> float:
        printed = asyncio.Event()

        def on_event(event: dict[str, Any]) -> None:
            pids.append(int(event["data"]))
            if len(pids) == 2:
                printed.set()

        task = asyncio.create_task(
            run_process(sh(STUBBORN_FAMILY, stream=True, grace=0.3), on_event=on_event)
        )
        await asyncio.wait_for(printed.wait(), 10.0)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    took = asyncio.run(main())
    assert len(pids) == 2 and all(gone(pid) for pid in pids)
    # At least the grace: the grandchild really ignored SIGTERM and needed the SIGKILL.
    assert 0.3 <= took < 0.3 + 1.0


def test_a_daemon_left_behind_after_a_normal_exit_is_stopped() -> None:
    result = run(sh("sleep 1000 >/dev/null 2>&1 </dev/null & echo $!", grace=0.3))
    assert result.exit_code == 0
    assert gone(int(result.stdout))


def test_an_on_event_that_raises_stops_the_group_and_surfaces() -> None:
    def explode(event: dict[str, Any]) -> None:
        raise RuntimeError(f"consumer broke on {event['data']}")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="consumer broke on first"):
        run(sh("echo first; exec sleep 1000", stream=True, grace=0.3), on_event=explode)
    assert time.monotonic() - started < 5.0


def test_a_missing_command_fails_to_start_naming_it() -> None:
    with pytest.raises(PrimitiveError) as caught:
        run(ProcessSpec(command="kiwi-no-such-command", env=PATH_ONLY))
    assert (caught.value.code, caught.value.message) == (
        "EXECUTION_FAILED",
        "cannot start 'kiwi-no-such-command': command not found on the child's PATH",
    )


def test_a_file_that_is_not_executable_fails_to_start(tmp_path: Path) -> None:
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if os.access(script, os.X_OK):
        pytest.skip("running as a user that may execute anything")
    with pytest.raises(PrimitiveError) as caught:
        run(ProcessSpec(command=str(script)))
    assert caught.value.message == f"cannot start '{script}': permission denied (is it executable?)"


def test_a_missing_working_directory_fails_to_start_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    with pytest.raises(PrimitiveError) as caught:
        run(ProcessSpec(command="/bin/true", cwd=missing))
    assert (
        caught.value.message
        == f"cannot start '/bin/true': working directory '{missing}' does not exist"
    )


def test_cwd_is_where_the_child_runs(tmp_path: Path) -> None:
    assert run(ProcessSpec(command="/bin/pwd", cwd=str(tmp_path))).stdout == f"{tmp_path}\n"


def test_python_children_work_too() -> None:
    spec = ProcessSpec(
        command=sys.executable,
        args=(
            "-I",
            "-c",
            "import json, sys; print(json.dumps({'argv': sys.argv[1:]}))",
            "a b",
            "$HOME",
        ),
    )
    assert run(spec).parsed == {"argv": ["a b", "$HOME"]}

"""The CLI on a terminal and off it, from real ``kiwi`` processes: live output of ``kiwi run``
on a pseudo-terminal (and none when piped), a hidden ``auth signin`` prompt, usage errors as
JSON under ``--json``, and the refusal of a non-POSIX platform."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import pytest

from kiwi_mcp.kernel.faces.cli.live import LiveView, live_view
from kiwi_mcp.kernel.faces.cli.main import main, platform_problem
from kiwi_mcp.kernel.services.auth.backends import FileBackend
from kiwi_mcp.kernel.services.auth.store import AuthStore
from tests.support.project import KIWI, Project

HANG_GUARD = 60.0
TOKEN = "typed-secret-token-0042"
OPERATOR_NOTE = "kiwi: running as the operator: the agents' policy does not apply\n"
SCRIPT = "for i in range(3): print('live line', i, flush=True)"
STREAMING_TOOL = (
    'version: "1.0.0"\n'
    "executor_id: primitives/subprocess\n"
    "description: Print three lines\n"
    "config:\n"
    f"  command: {json.dumps(sys.executable)}\n"
    f"  args: {json.dumps(['-c', SCRIPT])}\n"
    "  stream: true\n"
)


def _on_pty(
    argv: Sequence[str],
    *,
    project: Project,
    stdin_on_pty: bool = False,
    answers: Mapping[bytes, bytes] | None = None,
) -> tuple[int, bytes, bytes]:
    """Run ``kiwi`` with stderr (and stdin if asked) on a new pseudo-terminal and stdout on a
    pipe; type each answer once its prompt shows. Returns (exit code, stdout, terminal)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [KIWI, *argv],
        cwd=project.root,
        env=project.env,
        stdin=slave if stdin_on_pty else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        start_new_session=True,  # no controlling terminal: the pty is the only one
    )
    os.close(slave)
    assert proc.stdout is not None
    pending = dict(answers or {})
    out, term = bytearray(), bytearray()
    open_fds = {proc.stdout.fileno(): out, master: term}
    deadline = time.monotonic() + HANG_GUARD
    try:
        while open_fds:
            left = deadline - time.monotonic()
            assert left > 0, f"kiwi did not finish; terminal so far: {bytes(term)!r}"
            ready, _, _ = select.select(list(open_fds), [], [], left)
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: every slave end is closed
                    chunk = b""
                if not chunk:
                    del open_fds[fd]
                    continue
                open_fds[fd].extend(chunk)
            for prompt in [p for p in pending if p in term]:
                os.write(master, pending.pop(prompt))
        code = proc.wait(timeout=HANG_GUARD)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        os.close(master)
    return code, bytes(out), bytes(term)


# --- kiwi run: live output ----------------------------------------------------------------


@pytest.fixture
def streaming(project: Project) -> Project:
    project.write_tool("talk.yaml", STREAMING_TOOL)
    project.sign()
    return project


def test_a_piped_run_prints_the_result_and_nothing_else(streaming: Project) -> None:
    done = streaming.kiwi("run", "talk", "--as-operator")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "live line 0\nlive line 1\nlive line 2\n"
    assert done.stderr == OPERATOR_NOTE


def test_a_run_on_a_terminal_shows_the_lines_on_stderr_and_the_same_stdout(
    streaming: Project,
) -> None:
    piped = streaming.kiwi("run", "talk", "--as-operator")
    code, out, term = _on_pty(["run", "talk", "--as-operator"], project=streaming)
    assert code == 0, term
    assert out == piped.stdout.encode()
    assert b"live line 0" in term
    assert b"running talk" in term
    assert term.endswith(b"\x1b[J")  # the live region is erased before the result


def test_under_json_a_run_on_a_terminal_prints_one_json_document(streaming: Project) -> None:
    code, out, term = _on_pty(["--json", "run", "talk", "--as-operator"], project=streaming)
    assert code == 0, term
    envelope = json.loads(out)
    assert envelope["ok"] is True
    assert envelope["data"] == {"stdout": "live line 0\nlive line 1\nlive line 2\n"}
    assert b"live line 0" in term


# --- the live view itself -----------------------------------------------------------------


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Utf8Buffer(io.StringIO):
    encoding = "utf-8"  # as a UTF-8 terminal: the view draws with Unicode


def _view(stream: io.StringIO, clock: StepClock, columns: int = 20) -> LiveView:
    return LiveView(stream, label="running t", clock=clock, size=lambda: (columns, 24))


def test_the_view_strips_escapes_and_control_characters_and_cuts_long_lines() -> None:
    stream, clock = Utf8Buffer(), StepClock()
    view = _view(stream, clock)
    view.on_event({"event": "stdout", "data": "\x1b[31mred\x1b[0m\x07 bell\tend"})
    view.on_event({"event": "stdout", "data": "x" * 50})  # held back: drawn by the next tick
    clock.now += 0.01
    view.tick()
    drawn = stream.getvalue()
    assert "red bell    end" in drawn
    assert "\x1b[31m" not in drawn and "\x07" not in drawn
    assert "x" * 18 + "…" in drawn and "x" * 19 not in drawn


def test_the_view_shows_no_spinner_before_its_delay_and_erases_all_it_drew() -> None:
    stream, clock = Utf8Buffer(), StepClock()
    view = _view(stream, clock)
    view.tick()
    assert stream.getvalue() == ""
    clock.now += 1.5
    view.tick()
    assert "running t · 1.5s" in stream.getvalue()
    view.on_event({"event": "stdout", "data": "one"})
    view.close()
    assert stream.getvalue().endswith("\r\x1b[1A\x1b[J")


def test_after_a_failure_the_view_keeps_the_last_lines() -> None:
    stream, clock = Utf8Buffer(), StepClock()
    view = LiveView(stream, label="running t", clock=clock, size=lambda: (40, 24), tail=2)
    for n in range(3):
        view.on_event({"event": "stdout", "data": f"line {n}"})
    view.close(keep_lines=True)
    assert stream.getvalue().endswith("\x1b[J… 1 earlier line(s)\nline 1\nline 2\n")


def test_there_is_a_view_only_on_a_terminal_that_is_not_dumb() -> None:
    assert live_view(io.StringIO(), label="x", environ={}) is None
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as terminal:
            assert isinstance(live_view(terminal, label="x", environ={}), LiveView)
            assert live_view(terminal, label="x", environ={"TERM": "dumb"}) is None
    finally:
        os.close(slave)
        os.close(master)


# --- kiwi auth signin on a terminal -------------------------------------------------------


def test_signin_on_a_terminal_asks_for_the_token_without_echoing_it(project: Project) -> None:
    code, out, term = _on_pty(
        ["auth", "signin", "svc"],
        project=project,
        stdin_on_pty=True,
        answers={b"typing is hidden": TOKEN.encode() + b"\n"},
    )
    assert code == 0, term
    assert b"Token for svc" in term and b"Signed in to svc" in term
    assert TOKEN.encode() not in term + out
    record = AuthStore(FileBackend(project.user)).record("svc")
    assert record is not None and record.access_token == TOKEN
    status = project.kiwi("auth", "status")
    assert "  svc: does not expire" in status.stdout and TOKEN not in status.stdout


def test_signin_on_a_terminal_refuses_an_empty_token(project: Project) -> None:
    code, _, term = _on_pty(
        ["auth", "signin", "svc"],
        project=project,
        stdin_on_pty=True,
        answers={b"typing is hidden": b"  \n"},
    )
    assert code == 2
    assert b"[USAGE_ERROR] no token entered" in term
    assert AuthStore(FileBackend(project.user)).record("svc") is None


def test_signin_without_a_terminal_or_token_stdin_still_asks_for_a_pipe(project: Project) -> None:
    done = project.kiwi("auth", "signin", "svc", stdin="")
    assert done.returncode == 2
    assert "[USAGE_ERROR] no token given\n  hint: Pipe the token in" in done.stderr


# --- usage errors under --json ------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (["--json", "bogus"], "argument <command>: invalid choice: 'bogus'", "Run 'kiwi --help'."),
        (
            ["run", "--json"],
            "the following arguments are required: tool_id",
            "Run 'kiwi run --help'.",
        ),
        (
            ["search", "x", "--kind", "nope", "--json"],
            "argument --kind: invalid choice: 'nope'",
            "Run 'kiwi search --help'.",
        ),
        (["--json", "auth"], "the following arguments are required", "Run 'kiwi auth --help'."),
        (["--json"], "no command given", "Run 'kiwi --help'."),
    ],
)
def test_under_json_a_usage_error_is_one_json_document_and_exit_2(
    project: Project, argv: list[str], message: str, hint: str
) -> None:
    done = project.kiwi(*argv)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["error"]["code"] == "USAGE_ERROR"
    assert document["error"]["message"].startswith(message)
    assert document["error"]["hint"] == hint


def test_without_json_a_usage_error_is_text_on_stderr_only(project: Project) -> None:
    done = project.kiwi("search", "x", "--kind", "nope")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("usage: kiwi search")
    assert "kiwi: error: argument --kind: invalid choice: 'nope'" in done.stderr
    assert done.stderr.endswith("  hint: run 'kiwi search --help'\n")


# --- the platform -------------------------------------------------------------------------


def test_only_posix_is_a_supported_platform() -> None:
    assert platform_problem("posix") is None
    problem = platform_problem("nt")
    assert problem is not None
    assert problem.startswith("this platform is not supported (os.name is 'nt')")


def test_kiwi_on_another_platform_stops_at_once_with_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--json", "search", "x"], os_name="nt") == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["code"] == "USAGE_ERROR"
    assert "kiwi: error: this platform is not supported" in captured.err
    assert main(["search", "x"], os_name="nt") == 2
    assert capsys.readouterr().out == ""


def test_an_llm_call_shows_its_text_as_written_and_a_line_per_tool_call() -> None:
    stream, clock = Utf8Buffer(), StepClock()
    view = LiveView(stream, label="running llm", clock=clock, size=lambda: (60, 24), tail=4)
    for event in (
        {"event": "llm.message_start", "data": {"type": "message_start"}},
        {"event": "llm.text_delta", "data": {"type": "text_delta", "text": "Hel"}},
        {"event": "llm.text_delta", "data": {"type": "text_delta", "text": "lo\nwor"}},
        {"event": "llm.text_delta", "data": {"type": "text_delta", "text": "ld"}},
        {"event": "llm.block_start", "data": {"kind": "tool_call", "name": "get_weather"}},
        {"event": "llm.tool_args_delta", "data": {"fragment": '{"city"'}},
        {"event": "llm.discarded", "data": {"attempt": 1, "events": 5}},
    ):
        view.on_event(event)
    view.close(keep_lines=True)
    kept = stream.getvalue().rsplit("\x1b[J", 1)[1]
    assert kept == (
        "Hello\nworld\n-> tool call get_weather\n(attempt 1 failed; its 5 events are void)\n"
    )

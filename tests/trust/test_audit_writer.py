"""The audit log's open files: the fast path, and every way the folder can change under it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import random
import re
import select
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kiwi_mcp.kernel.trust.audit.log import AuditLog
from kiwi_mcp.kernel.trust.audit.syncer import SYNCER
from kiwi_mcp.kernel.trust.audit.writer import ChainWriter
from kiwi_mcp.kernel.trust.encoding import compact_json

REPO = Path(__file__).resolve().parents[2]
DAY1 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
DAY2 = DAY1 + 86_400

WRITER = """
import sys, time
from pathlib import Path
from kiwi_mcp.kernel.trust.audit.log import AuditLog
log = AuditLog(Path(sys.argv[1]), time.time)
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[2])):
    log.append({"writer": "child", "i": i})
log.close()
"""

LIST_FDS = """
import os
for name in os.listdir("/proc/self/fd"):
    try:
        print(os.readlink("/proc/self/fd/" + name))
    except OSError:
        pass
"""


class Clock:
    """A clock the test sets by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _settle(log: AuditLog) -> None:
    """Append until the log keeps its files open, as a long-lived log does once its
    folder's last change is 50 ms old (dated back here instead of waited for)."""
    log.append({"settle": True})
    _date_back(log.folder)
    log.append({"settle": True})
    assert log._writer.is_open


def _date_back(folder: Path) -> None:
    past = time.time_ns() - 1_000_000_000
    os.utime(folder, ns=(past, past))


def _open_files(folder: Path) -> dict[int, str]:
    """This process's descriptors on files in ``folder``: fd → path (``… (deleted)``)."""
    SYNCER.wait()  # the syncer's own short-lived descriptors are not the log's
    prefix = str(folder.resolve()) + "/"
    found = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(prefix):
            found[int(name)] = target
    return found


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _folder_records(folder: Path) -> list[dict[str, Any]]:
    return [r for path in sorted(folder.glob("*.jsonl")) for r in _records(path)]


def _all_seqs(folder: Path) -> list[int]:
    return [r["seq"] for path in sorted(folder.glob("*.jsonl")) for r in _records(path)]


def _old_iso(ts: float) -> str:
    """The ``ts`` formatting ``AuditLog`` used before the per-second cache (kept verbatim)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _old_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") + ".jsonl"


STAMPER = ChainWriter(Path("/nonexistent-audit-folder"))


@given(
    st.one_of(
        st.floats(min_value=0, max_value=4_102_444_800),  # 1970 … 2100
        st.integers(min_value=0, max_value=47_000)
        .map(lambda d: d * 86_400.0)
        .flatmap(
            lambda midnight: st.floats(min_value=midnight - 0.002, max_value=midnight + 0.002)
        ),
        st.integers(min_value=0, max_value=4_102_444_799).map(lambda s: s + 0.9995),
        st.integers(min_value=0, max_value=4_102_444_799).map(lambda s: s + 0.9999996),
    )
)
@example(DAY1)
@example(math.nextafter(DAY2, 0))
@example(DAY2 - 0.0005)
@example(DAY2 - 0.0004999)
@example(DAY1 + 0.9995)
@example(DAY1 + 12.0015)
@example(-0.5)
@example(-86_400.0004)
def test_the_cached_stamp_is_byte_identical_to_the_old_formatting(now: float) -> None:
    # One writer for every example: its per-second cache is hit and missed in turn.
    assert STAMPER.stamp(now) == (_old_day(now), _old_iso(now))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), JSON, max_size=8))
def test_compact_json_is_its_definition(record: dict[str, Any]) -> None:
    assert compact_json(record) == _defined(record)


@pytest.mark.parametrize(
    "bad", [{"x": object()}, {"x": math.nan}, {"x": -math.inf}, {"x": {1j: 1}}]
)
def test_compact_json_refuses_what_its_definition_refuses(bad: dict[str, Any]) -> None:
    with pytest.raises(Exception) as expected:
        _defined(bad)
    with pytest.raises(expected.type, match=re.escape(str(expected.value))):
        compact_json(bad)


def _defined(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def test_the_stamp_follows_a_clock_that_ticks_through_several_days() -> None:
    writer, rng, now = ChainWriter(Path("/nonexistent-audit-folder")), random.Random(7), DAY1
    for _ in range(20_000):  # mostly the same date (cache hits), now and then the next one
        now += rng.uniform(0, 20)
        assert writer.stamp(now) == (_old_day(now), _old_iso(now))


def test_a_line_and_its_file_agree_on_the_date_across_midnight(tmp_path: Path) -> None:
    clock = Clock(DAY1 + 10)
    log = AuditLog(tmp_path, clock)
    _settle(log)
    for now in (DAY2 - 0.0004, math.nextafter(DAY2, 0), DAY2 + 1, DAY1 + 5):
        clock.now = now
        log.append({"at": now})
    day1, day2 = _records(tmp_path / "2025-01-01.jsonl"), _records(tmp_path / "2025-01-02.jsonl")
    assert day1[-1]["ts"] == "2025-01-01T23:59:59.999Z"
    assert [r["ts"] for r in day2] == [
        "2025-01-02T00:00:00.000Z",  # the clock's last float before midnight rounds up
        "2025-01-02T00:00:01.000Z",
        "2025-01-01T00:00:05.000Z",  # a clock that stepped back stays in the newest file
    ]
    assert _all_seqs(tmp_path) == list(range(1, 7))
    assert log.verify().to_dict() == {"ok": True, "lines": 6, "first_bad": None}


def test_the_day_rolls_over_and_the_new_file_is_kept_open_once_settled(tmp_path: Path) -> None:
    clock = Clock(DAY1 + 10)
    log = AuditLog(tmp_path, clock)
    _settle(log)
    clock.now = DAY2 + 10
    log.append({"n": 1})  # creates the day's file: its folder changed just now
    assert not log._writer.is_open
    _date_back(tmp_path)
    log.append({"n": 2})
    assert log._writer.is_open
    before = log._writer.slow_appends
    log.append({"n": 3})
    assert log._writer.slow_appends == before
    assert [r["seq"] for r in _records(tmp_path / "2025-01-02.jsonl")] == [3, 4, 5]
    assert log.verify().ok


def test_a_settled_log_appends_without_reading_or_reopening(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    held = _open_files(tmp_path)
    assert sorted(held.values()) == sorted(
        [str(tmp_path.resolve() / ".lock"), str(tmp_path.resolve() / "2025-01-01.jsonl")]
    )
    before = log._writer.slow_appends
    for i in range(20):
        log.append({"n": i})
    assert log._writer.slow_appends == before
    assert _open_files(tmp_path) == held
    assert _all_seqs(tmp_path) == list(range(1, 23))
    assert log.verify().ok


def test_the_folder_is_trusted_once_the_settle_clock_is_50_ms_past_its_change(
    tmp_path: Path,
) -> None:
    settle_ns = [0]
    log = AuditLog(tmp_path, Clock(DAY1), clock_ns=lambda: settle_ns[0])
    log.append({"n": 1})  # makes .lock and the day file: this append is never remembered
    changed = os.stat(tmp_path).st_mtime_ns
    settle_ns[0] = changed + 50_000_000 - 1
    log.append({"n": 2})
    assert not log._writer.is_open
    settle_ns[0] = changed + 50_000_000
    log.append({"n": 3})
    assert log._writer.is_open
    before = log._writer.slow_appends
    log.append({"n": 4})
    assert log._writer.slow_appends == before
    assert log.verify().to_dict() == {"ok": True, "lines": 4, "first_bad": None}
    log.close()


def test_the_fast_path_trusts_the_folders_mtime_and_not_the_lock_files_path(
    tmp_path: Path,
) -> None:
    # Replace .lock, then put the folder's mtime back as if nothing happened: an append that
    # still holds the old, deleted lock file can only have skipped the path (the fast path).
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    remembered = os.stat(tmp_path).st_mtime_ns
    (tmp_path / ".lock").unlink()
    (tmp_path / ".lock").touch()
    os.utime(tmp_path, ns=(remembered, remembered))
    log.append({"n": 1})
    assert str(tmp_path.resolve() / ".lock") + " (deleted)" in _open_files(tmp_path).values()
    # Any real change shows in the mtime, and the next append locks the new file.
    (tmp_path / "unrelated").touch()
    _date_back(tmp_path)
    log.append({"n": 2})
    assert str(tmp_path.resolve() / ".lock") in _open_files(tmp_path).values()
    assert not any(p.endswith("(deleted)") for p in _open_files(tmp_path).values())
    assert log.verify().ok


def test_a_folder_changed_moments_ago_is_not_trusted_yet(tmp_path: Path) -> None:
    # A change within the same coarse clock tick would not move the mtime again.
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    (tmp_path / "unrelated").touch()
    log.append({"n": 1})
    assert not log._writer.is_open and _open_files(tmp_path) == {}
    assert log.verify().ok


def test_a_deleted_day_file_is_noticed_even_when_the_folder_looks_unchanged(
    tmp_path: Path,
) -> None:
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    remembered = os.stat(tmp_path).st_mtime_ns
    (tmp_path / "2025-01-01.jsonl").unlink()
    os.utime(tmp_path, ns=(remembered, remembered))
    written = log.append({"n": 1})
    assert _records(tmp_path / "2025-01-01.jsonl") == [written]  # not in the unlinked file


def test_another_process_appending_between_two_appends_keeps_one_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, time.time)
    _settle(log)
    log.append({"writer": "parent"})
    child = subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path), "3"],
        cwd=REPO,
        input=b"go\n",
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr.decode()
    before = log._writer.slow_appends
    after_child = log.append({"writer": "parent"})
    assert log._writer.slow_appends == before + 1  # the file grew: the tail is read back
    log.append({"writer": "parent"})
    assert log._writer.slow_appends == before + 1  # and kept open again
    lines = sorted(tmp_path.glob("*.jsonl"))[-1].read_bytes().splitlines()
    assert after_child["prev"] == hashlib.sha256(lines[-3]).hexdigest()
    assert json.loads(lines[-3])["writer"] == "child"
    assert _all_seqs(tmp_path) == list(range(1, 9))
    assert log.verify().to_dict() == {"ok": True, "lines": 8, "first_bad": None}


def test_a_deleted_lock_file_leaves_one_chain_with_a_concurrent_writer(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, time.time)
    _settle(log)
    (tmp_path / ".lock").unlink()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "300"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline() == b"ready\n"
    child.stdin.write(b"go\n")
    child.stdin.flush()
    for i in range(300):
        log.append({"writer": "parent", "i": i})
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err.decode()
    assert log.verify().to_dict() == {"ok": True, "lines": 602, "first_bad": None}
    assert _all_seqs(tmp_path) == list(range(1, 603))
    assert (tmp_path / ".lock").exists()
    assert not any(p.endswith("(deleted)") for p in _open_files(tmp_path).values())


def test_a_day_file_renamed_away_is_not_written_to_again(tmp_path: Path) -> None:
    clock = Clock(DAY1)
    log = AuditLog(tmp_path, clock)
    log.append({"n": 1})
    clock.now = DAY2
    _settle(log)
    away = tmp_path / "2025-01-02.jsonl.bak"
    (tmp_path / "2025-01-02.jsonl").rename(away)
    moved = away.read_bytes()
    written = log.append({"n": 2})
    assert away.read_bytes() == moved
    # What is left on disk is one chain: the new line follows the last line still there.
    assert _records(tmp_path / "2025-01-02.jsonl") == [written]
    assert written["seq"] == 2
    day1 = (tmp_path / "2025-01-01.jsonl").read_bytes()
    assert written["prev"] == hashlib.sha256(day1[:-1]).hexdigest()
    assert log.verify().to_dict() == {"ok": True, "lines": 2, "first_bad": None}


def test_a_day_file_replaced_by_an_edited_copy_is_appended_to_and_the_gap_reported(
    tmp_path: Path,
) -> None:
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    for i in range(4):
        log.append({"n": i})
    path = tmp_path / "2025-01-01.jsonl"
    lines = path.read_bytes().splitlines()
    copy = tmp_path / "copy.tmp"
    copy.write_bytes(b"".join(line + b"\n" for line in [*lines[:2], *lines[3:]]))
    copy.replace(path)  # line 3 is gone; the log still holds the old file open
    written = log.append({"n": "after"})
    after = _records(path)
    assert after[-1] == written and written["seq"] == 7
    assert log.verify().to_dict() == {
        "ok": False,
        "lines": 6,
        "first_bad": {
            "file": "2025-01-01.jsonl",
            "line": 3,
            "reason": "seq 4 where 3 was expected: 1 line(s) missing before this line",
        },
    }


def test_a_deleted_day_file_restarts_from_the_last_line_left(tmp_path: Path) -> None:
    clock = Clock(DAY1)
    log = AuditLog(tmp_path, clock)
    log.append({"n": 1})
    clock.now = DAY2
    _settle(log)
    (tmp_path / "2025-01-02.jsonl").unlink()
    written = log.append({"n": 2})
    assert _records(tmp_path / "2025-01-02.jsonl") == [written] and written["seq"] == 2
    assert log.verify().to_dict() == {"ok": True, "lines": 2, "first_bad": None}


def test_the_open_files_are_closed_on_exec(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    held = _open_files(tmp_path)
    assert len(held) == 2
    for fd in held:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    child = subprocess.run(
        [sys.executable, "-c", LIST_FDS], close_fds=False, capture_output=True, timeout=60
    )
    assert child.returncode == 0, child.stderr.decode()
    inherited = [p for p in child.stdout.decode().splitlines() if p.startswith(str(tmp_path))]
    assert inherited == []


def test_close_closes_the_files_and_a_later_append_reopens_them(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, Clock(DAY1))
    _settle(log)
    assert len(_open_files(tmp_path)) == 2
    log.close()
    assert _open_files(tmp_path) == {}
    log.append({"after": "close"})
    _date_back(tmp_path)
    log.append({"after": "close"})
    assert len(_open_files(tmp_path)) == 2
    log.close()
    assert _open_files(tmp_path) == {}
    assert log.verify().to_dict() == {"ok": True, "lines": 4, "first_bad": None}


def test_logs_dropped_without_close_leave_no_files_open(tmp_path: Path) -> None:
    for _ in range(50):
        log = AuditLog(tmp_path, Clock(DAY1))
        _settle(log)
        del log
    assert _open_files(tmp_path) == {}
    assert AuditLog(tmp_path, Clock(DAY1)).verify().to_dict()["lines"] == 100


def test_threads_sharing_one_log_keep_one_chain(tmp_path: Path) -> None:
    # One open .lock is one flock holder for all threads: only the log's mutex orders them.
    log = AuditLog(tmp_path, time.time)
    _settle(log)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(300):
                log.append({"thread": name, "i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(str(n),)) for n in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert log.verify().to_dict() == {"ok": True, "lines": 1802, "first_bad": None}


def _reap(pid: int) -> int:
    """The forked child's exit code, killing it if it has not exited within a minute."""
    exited = os.pidfd_open(pid)
    try:
        if not select.select([exited], [], [], 60)[0]:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(exited)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_forked_child_appending_alongside_its_parent_keeps_one_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, time.time)
    _settle(log)
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.write(ready_w, b"x")
            for i in range(300):
                log.append({"writer": "child", "i": i})
            log.close()  # the child's own fsyncs: must not wait on the parent's thread
            code = 0
        finally:
            os._exit(code)
    os.read(ready_r, 1)
    for i in range(300):
        log.append({"writer": "parent", "i": i})
    os.close(ready_r)
    os.close(ready_w)
    assert _reap(pid) == 0
    assert log.verify().to_dict() == {"ok": True, "lines": 602, "first_bad": None}


def test_a_forked_child_waits_for_the_lock_its_parent_holds(tmp_path: Path) -> None:
    # Through the .lock it inherited, flock would count the child as the same holder and
    # let it in while the parent is in the middle of an append.
    log = AuditLog(tmp_path, time.time)
    _settle(log)
    held = log._writer._held
    assert held is not None
    fcntl.flock(held.lock_fd, fcntl.LOCK_EX)  # the parent, mid-append
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            log.append({"writer": "child"})
            os.write(done_w, b"x")
            code = 0
        finally:
            os._exit(code)
    try:
        appended_meanwhile = bool(select.select([done_r], [], [], 0.3)[0])
    finally:
        fcntl.flock(held.lock_fd, fcntl.LOCK_UN)
    assert _reap(pid) == 0
    os.close(done_r)
    os.close(done_w)
    assert not appended_meanwhile
    assert log.verify().to_dict() == {"ok": True, "lines": 3, "first_bad": None}


def test_a_lock_file_replaced_while_an_append_waits_is_locked_anew(tmp_path: Path) -> None:
    """The slow path flocks ``.lock`` by path; if the file is replaced while it waits, the
    lock it then gets is on a file nobody else opens: it must lock the new one instead."""
    folder = tmp_path / "audit"
    log = AuditLog(folder, time.time)
    log.append({"first": True})
    log.close()  # the next append takes the slow path: open .lock by path, flock it
    lock = folder / ".lock"
    old = os.open(lock, os.O_RDWR)
    fcntl.flock(old, fcntl.LOCK_EX)
    done = threading.Event()
    appender = threading.Thread(target=lambda: (log.append({"second": True}), done.set()))
    appender.start()
    time.sleep(0.2)  # the appender has opened the old .lock and waits for it
    assert not done.is_set()
    fresh_path = folder / ".lock.new"
    fresh = os.open(fresh_path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fresh, fcntl.LOCK_EX)
    os.rename(fresh_path, lock)  # another writer's .lock now, and it holds it
    os.close(old)  # the old lock is free: the appender gets it, and must not write
    try:
        assert not done.wait(0.3), "appended under a lock nobody else can see"
        assert len(_folder_records(folder)) == 1
    finally:
        os.close(fresh)  # now the appender can take the lock that counts
    appender.join(5)
    assert done.is_set()
    assert [record.get("second") for record in _folder_records(folder)] == [None, True]
    assert log.verify().ok
    log.close()

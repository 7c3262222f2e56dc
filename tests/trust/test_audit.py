"""The hash-chained audit log: appends, verification of edits/deletions, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kiwi_mcp.kernel.trust.audit.log import GENESIS, AuditLog, params_digest

REPO = Path(__file__).resolve().parents[2]
DAY1 = 1_735_689_600.0  # 2025-01-01T00:00:00Z
DAY2 = DAY1 + 86_400


def _clock(*times: float) -> Callable[[], float]:
    values = iter(times)
    return lambda: next(values)


def _log(tmp_path: Path, n: int, start: float = DAY1) -> AuditLog:
    log = AuditLog(tmp_path / "audit", _clock(*(start + i for i in range(n))))
    for i in range(n):
        log.append({"item": f"tool/{i}", "decision": "allow"})
    return log


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def test_each_line_chains_to_the_previous_one(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    lines = _lines(tmp_path / "audit" / "2025-01-01.jsonl")
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["prev"] == GENESIS
    assert records[1]["prev"] == hashlib.sha256(lines[0]).hexdigest()
    assert records[2]["prev"] == hashlib.sha256(lines[1]).hexdigest()
    assert records[0]["ts"] == "2025-01-01T00:00:00.000Z"
    assert log.verify().to_dict() == {"ok": True, "lines": 3, "first_bad": None}


def test_append_returns_what_it_wrote_as_canonical_json(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1 + 0.25))
    written = log.append({"z": 1, "a": "é"})
    line = _lines(tmp_path / "2025-01-01.jsonl")[0]
    assert json.loads(line) == written
    assert line.startswith(b'{"a":"\xc3\xa9","prev":"') and b" " not in line


def test_the_chain_continues_across_day_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1 + 10, DAY2 + 10))
    log.append({"n": 1})
    second = log.append({"n": 2})
    first_line = _lines(tmp_path / "2025-01-01.jsonl")[0]
    assert second["prev"] == hashlib.sha256(first_line).hexdigest()
    assert (tmp_path / "2025-01-02.jsonl").is_file()
    assert log.verify().ok and log.verify().lines == 2


def test_a_clock_that_steps_back_keeps_writing_to_the_newest_file(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY2, DAY1))
    log.append({"n": 1})
    log.append({"n": 2})
    assert not (tmp_path / "2025-01-01.jsonl").exists()
    assert len(_lines(tmp_path / "2025-01-02.jsonl")) == 2
    assert log.verify().ok


def test_records_may_not_set_the_chain_fields(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1))
    with pytest.raises(ValueError, match="audit records may not set 'prev'"):
        log.append({"prev": "x"})


def test_an_empty_log_verifies(tmp_path: Path) -> None:
    assert AuditLog(tmp_path / "none", _clock()).verify().to_dict() == {
        "ok": True,
        "lines": 0,
        "first_bad": None,
    }


def _rewrite(path: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in change(_lines(path))))


def test_an_edited_line_is_reported_at_that_line(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    path = tmp_path / "audit" / "2025-01-01.jsonl"
    _rewrite(path, lambda ls: [*ls[:2], ls[2].replace(b'"allow"', b'"deny"'), *ls[3:]])
    report = log.verify()
    assert not report.ok and report.lines == 5
    assert report.first_bad is not None
    assert report.first_bad.to_dict() == {
        "file": "2025-01-01.jsonl",
        "line": 3,
        "reason": "this line was changed: its hash no longer matches the next line's prev",
    }


def test_a_line_whose_own_prev_was_edited_is_reported_itself(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    path = tmp_path / "audit" / "2025-01-01.jsonl"

    def edit(ls: list[bytes]) -> list[bytes]:
        record = json.loads(ls[2])
        record["prev"] = "f" * 64
        return [
            *ls[:2],
            json.dumps(record, sort_keys=True, separators=(",", ":")).encode(),
            *ls[3:],
        ]

    _rewrite(path, edit)
    bad = log.verify().first_bad
    assert bad is not None and (bad.line, bad.reason) == (
        3,
        "this line was changed (its prev is wrong)",
    )


def test_a_deleted_line_is_reported_where_it_was(tmp_path: Path) -> None:
    log = _log(tmp_path, 5)
    _rewrite(tmp_path / "audit" / "2025-01-01.jsonl", lambda ls: [*ls[:2], *ls[3:]])
    bad = log.verify().first_bad
    assert bad is not None and bad.line == 3
    assert bad.reason == "seq 4 where 3 was expected: 1 line(s) missing before this line"


def test_a_deleted_first_line_is_reported(tmp_path: Path) -> None:
    log = _log(tmp_path, 3)
    _rewrite(tmp_path / "audit" / "2025-01-01.jsonl", lambda ls: ls[1:])
    bad = log.verify().first_bad
    assert bad is not None and bad.line == 1 and "1 line(s) missing" in bad.reason


def test_an_edit_in_an_earlier_day_is_caught_by_the_next_days_first_line(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1, DAY1 + 1, DAY2))
    for n in range(3):
        log.append({"n": n})
    _rewrite(tmp_path / "2025-01-01.jsonl", lambda ls: [ls[0], ls[1].replace(b'"n":1', b'"n":7')])
    bad = log.verify().first_bad
    assert bad is not None and (bad.file, bad.line) == ("2025-01-01.jsonl", 2)


def test_a_torn_line_is_reported_and_later_appends_stay_whole(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1, DAY1 + 1, DAY1 + 2))
    log.append({"n": 0})
    log.append({"n": 1})
    path = tmp_path / "2025-01-01.jsonl"
    path.write_bytes(path.read_bytes()[:-20])  # a writer died mid-line
    log.append({"n": 2})
    lines = _lines(path)
    assert len(lines) == 3 and json.loads(lines[2])["n"] == 2
    bad = log.verify().first_bad
    assert bad is not None and (bad.line, bad.reason) == (
        2,
        "not a whole JSON record with prev and seq",
    )


def test_tail_returns_the_last_records_across_files(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, _clock(DAY1, DAY1 + 1, DAY2, DAY2 + 1))
    for n in range(4):
        log.append({"n": n})
    assert [r["n"] for r in log.tail(3)] == [1, 2, 3]
    assert [r["n"] for r in log.tail(10)] == [0, 1, 2, 3]
    assert log.tail(0) == []
    (tmp_path / "2025-01-02.jsonl").write_bytes(b"garbage\n")
    assert log.tail(1) == [{"invalid": "garbage"}]


def test_params_digest_is_the_hash_of_canonical_json() -> None:
    params = {"b": [1, 2], "a": "é"}
    expected = hashlib.sha256('{"a":"é","b":[1,2]}'.encode()).hexdigest()
    assert params_digest(params) == expected
    assert params_digest({"a": "é", "b": [1, 2]}) == expected
    with pytest.raises(TypeError):
        params_digest({"x": object()})


WRITER = """
import sys, time
from pathlib import Path
from kiwi_mcp.kernel.trust.audit.log import AuditLog
log = AuditLog(Path(sys.argv[1]), time.time)
for i in range(int(sys.argv[2])):
    log.append({"writer": sys.argv[3], "i": i, "pad": "x" * 300})
"""


def test_concurrent_appends_from_four_processes_make_one_unbroken_chain(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), "250", str(w)],
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for w in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    log = AuditLog(folder, lambda: 0.0)
    report = log.verify()
    assert report.to_dict() == {"ok": True, "lines": 1000, "first_bad": None}
    seen = {(r["writer"], r["i"]) for r in log.tail(1000)}
    assert len(seen) == 1000


def _settled(log: AuditLog) -> None:
    """Append until the log remembers its tail and keeps its files open.

    That takes a folder whose last change is 50 ms old; dating the change back stands in
    for the wait.
    """
    log.append({"settle": True})
    past = time.time_ns() - 1_000_000_000
    os.utime(log.folder, ns=(past, past))
    log.append({"settle": True})
    assert log._writer.is_open, "the tail should be remembered once settled"


def test_two_writers_on_one_folder_keep_one_chain(tmp_path: Path) -> None:
    # Each log remembers its last line; the other's appends must invalidate that memory.
    first = AuditLog(tmp_path, lambda: DAY1)
    second = AuditLog(tmp_path, lambda: DAY1)
    _settled(first)
    _settled(second)
    for i in range(20):
        (first if i % 3 else second).append({"n": i})
    report = first.verify()
    assert report.ok and report.lines == 24
    seqs = [json.loads(line)["seq"] for line in _lines(tmp_path / "2025-01-01.jsonl")]
    assert seqs == list(range(1, 25))


def test_a_newer_file_made_by_another_writer_is_noticed(tmp_path: Path) -> None:
    behind = AuditLog(tmp_path, lambda: DAY1)
    _settled(behind)
    AuditLog(tmp_path, lambda: DAY2).append({"from": "ahead"})
    # The writer whose clock is a day behind must chain after the newest file's line.
    written = behind.append({"from": "behind"})
    newest = _lines(tmp_path / "2025-01-02.jsonl")
    assert len(newest) == 2 and json.loads(newest[1]) == written
    assert written["prev"] == hashlib.sha256(newest[0]).hexdigest()
    assert behind.verify().ok


def test_an_outside_edit_of_the_last_line_is_still_caught(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, lambda: DAY1)
    _settled(log)
    path = tmp_path / "2025-01-01.jsonl"
    lines = _lines(path)
    # Same length, different bytes: the remembered hash is the original line's.
    edited = lines[-1].replace(b'"settle":true', b'"settle":null')[: len(lines[-1])]
    edited = edited.ljust(len(lines[-1]), b" ")
    path.write_bytes(b"\n".join([*lines[:-1], edited]) + b"\n")
    log.append({"after": "edit"})
    report = log.verify()
    assert not report.ok and report.first_bad is not None
    assert report.first_bad.line == len(lines)


def test_close_waits_for_the_background_fsync(tmp_path: Path) -> None:
    log = AuditLog(tmp_path, lambda: DAY1)
    for i in range(50):
        log.append({"n": i})
    log.close()
    from kiwi_mcp.kernel.trust.audit.syncer import SYNCER

    assert not SYNCER._pending and not SYNCER._busy


def test_the_syncer_keeps_a_path_pending_until_its_fsync(tmp_path: Path) -> None:
    from kiwi_mcp.kernel.trust.audit.syncer import Syncer

    syncer, path = Syncer(), tmp_path / "2025-01-01.jsonl"
    path.write_bytes(b"{}\n")
    syncer.request(str(path))
    syncer.request(str(path))  # already pending: the coming fsync covers this write too
    assert syncer._pending == {str(path)}
    syncer.wait()
    assert not syncer._pending and not syncer._busy


def test_a_log_that_can_take_a_record_passes_the_pre_effect_check(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "fresh" / "audit", lambda: DAY1)
    log.require_writable()  # creates the folder it will write to
    assert (tmp_path / "fresh" / "audit").is_dir()
    log.append({"item": "t"})
    log.require_writable()  # held open: only the free space is looked at


@pytest.mark.parametrize("blocker", ["logs-is-a-file", "audit-is-a-file"])
def test_a_log_that_cannot_take_a_record_refuses_naming_the_folder(
    tmp_path: Path, blocker: str
) -> None:
    from kiwi_mcp.kernel.errors import AuditUnavailable

    logs = tmp_path / "logs"
    if blocker == "logs-is-a-file":
        logs.write_text("x")
    else:
        logs.mkdir()
        (logs / "audit").write_text("x")
    log = AuditLog(logs / "audit", lambda: DAY1)
    with pytest.raises(AuditUnavailable) as info:
        log.require_writable()
    assert info.value.code == "AUDIT_UNAVAILABLE"
    assert str(logs / "audit") in info.value.message
    assert info.value.details["path"] == str(logs / "audit")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file modes")
def test_a_read_only_log_folder_refuses(tmp_path: Path) -> None:
    from kiwi_mcp.kernel.errors import AuditUnavailable

    folder = tmp_path / "audit"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(AuditUnavailable, match="not writable"):
            AuditLog(folder, lambda: DAY1).require_writable()
    finally:
        folder.chmod(0o755)

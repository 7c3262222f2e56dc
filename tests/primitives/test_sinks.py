"""Sinks: the return buffer, the JSONL file and the null sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiwi_mcp.primitives import FileSink, NullSink, PrimitiveError, ReturnSink, Sink


def test_every_sink_satisfies_the_sink_protocol(tmp_path: Path) -> None:
    sinks: list[object] = [ReturnSink(), NullSink(), FileSink(tmp_path / "e.jsonl")]
    for sink in sinks:
        assert isinstance(sink, Sink)
        sink.close()


def test_the_return_sink_keeps_the_first_events_and_counts_the_dropped_ones() -> None:
    sink = ReturnSink(max_events=2)
    for n in range(5):
        sink.write({"n": n})
    assert sink.result() == {"events": [{"n": 0}, {"n": 1}], "dropped": 3}


def test_a_closed_sink_refuses_writes_and_closing_twice_is_harmless(tmp_path: Path) -> None:
    for sink in (ReturnSink(), NullSink(), FileSink(tmp_path / "e.jsonl")):
        sink.close()
        sink.close()
        with pytest.raises(ValueError, match="closed"):
            sink.write({"late": True})


def test_the_null_sink_counts_what_it_discards() -> None:
    sink = NullSink()
    sink.write({})
    sink.write({})
    assert sink.count == 2


def test_the_file_sink_makes_folders_and_writes_one_json_line_per_event(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "events.jsonl"
    sink = FileSink(path)
    sink.write({"event": "message", "data": "héllo", "id": None})
    sink.write({"event": "done", "data": {"n": [1, 2]}, "id": "9"})
    sink.close()
    assert path.read_text(encoding="utf-8").splitlines() == [
        '{"event":"message","data":"héllo","id":null}',
        '{"event":"done","data":{"n":[1,2]},"id":"9"}',
    ]


def test_the_file_sink_flushes_every_few_events_before_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = FileSink(path, flush_every=2, flush_interval=3600.0)
    sink.write({"n": 1})
    assert path.read_text() == ""
    sink.write({"n": 2})
    assert path.read_text() == '{"n":1}\n{"n":2}\n'
    sink.write({"n": 3})
    sink.close()
    assert [json.loads(line)["n"] for line in path.read_text().splitlines()] == [1, 2, 3]


def test_the_file_sink_truncates_unless_told_to_append(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"old":1}\n')
    appended = FileSink(path, append=True)
    appended.write({"new": 1})
    appended.close()
    assert path.read_text() == '{"old":1}\n{"new":1}\n'
    FileSink(path).close()
    assert path.read_text() == ""


def test_a_file_sink_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PrimitiveError) as caught:
        FileSink(blocker / "events.jsonl")
    assert caught.value.code == "EXECUTION_FAILED"
    assert caught.value.message.startswith(f"cannot open sink file {blocker / 'events.jsonl'}: ")


def test_a_return_sink_needs_a_non_negative_bound() -> None:
    with pytest.raises(ValueError, match="max_events must be ≥ 0, got -1"):
        ReturnSink(max_events=-1)

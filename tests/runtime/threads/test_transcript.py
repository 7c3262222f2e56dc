"""A thread's transcript: the chain of lines, checkpoints, torn tails, tampering, writers."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from kiwi_mcp.kernel.errors import TranscriptTampered, UsageError
from kiwi_mcp.kernel.runtime.threads.transcript import GENESIS, Transcript, Verification
from kiwi_mcp.kernel.trust.encoding import b64url_decode, b64url_encode, compact_json, fingerprint
from kiwi_mcp.kernel.trust.keys import KeyStore

REPO = Path(__file__).resolve().parents[3]


class Keys:
    """An Ed25519 key made by ``KeyStore`` in a temp user space; signatures are base64url."""

    def __init__(self, private: Ed25519PrivateKey, key_id: str) -> None:
        self.private = private
        self.key_id = key_id

    def sign(self, data: bytes) -> str:
        return b64url_encode(self.private.sign(data))

    def check(self, data: bytes, signature: str, key: str) -> bool:
        if key != self.key_id:
            return False
        try:
            self.private.public_key().verify(b64url_decode(signature), data)
        except (InvalidSignature, ValueError):
            return False
        return True


class StepClock:
    def __init__(self) -> None:
        self.now = 1_735_689_600.0

    def __call__(self) -> float:
        self.now += 0.25
        return self.now


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    store = KeyStore(tmp_path_factory.mktemp("user"))
    store.init()
    return Keys(store.private_key(), store.fingerprint())


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def sample(path: Path, keys: Keys) -> Transcript:
    """Events 1–4, checkpoint 5, events 6–7, checkpoint 8."""
    transcript = Transcript(path, clock=StepClock())
    for i in range(4):
        transcript.append("tool_result", {"call_id": f"c{i}", "data": {"n": i, "text": "é✓"}})
    transcript.checkpoint(keys.sign, keys.key_id)
    transcript.append("llm_delta", {"text": "hel"}, durable=False)
    transcript.append("llm_turn", {"text": "hello"})
    transcript.checkpoint(keys.sign, keys.key_id)
    transcript.close()
    return transcript


# --- writing and reading ---------------------------------------------------------------------


def test_appended_events_read_back_in_order_with_seq_and_prev_chained(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl", clock=StepClock())
    written = [transcript.append("step", {"i": i, "text": "ünï"}) for i in range(3)]

    events = transcript.events()

    assert events == written
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert [e["ts"] for e in events] == [1_735_689_600.25, 1_735_689_600.5, 1_735_689_600.75]
    raw = lines_of(transcript.path)
    assert events[0]["prev"] == GENESIS
    assert [e["prev"] for e in events[1:]] == [hashlib.sha256(r).hexdigest() for r in raw[:-1]]
    assert raw == [compact_json(e) for e in events]
    assert transcript.last_seq() == 3


def test_a_new_transcript_continues_seq_and_prev_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    Transcript(path).append("a", {})
    Transcript(path).append("b", {})

    third = Transcript(path).append("c", {"x": 1})

    assert third["seq"] == 3
    assert third["prev"] == hashlib.sha256(lines_of(path)[1]).hexdigest()
    assert Transcript(path).verify(lambda *_: True).verified


def test_append_continues_from_the_last_line_whatever_the_lines_before_hold(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    last = compact_json({"seq": 41, "ts": 1.0, "type": "x", "payload": {}, "prev": GENESIS})
    path.write_bytes(b"not an event\n" * 50_000 + last + b"\n")

    event = Transcript(path).append("y", {})

    assert event["seq"] == 42
    assert event["prev"] == hashlib.sha256(last).hexdigest()


def test_the_thread_folder_is_made_0700_and_the_transcript_0600(tmp_path: Path) -> None:
    transcript = Transcript.for_thread(tmp_path, "hello_20250101_000000")
    assert not transcript.path.parent.exists()

    transcript.append("thread_started", {})

    assert transcript.path == tmp_path / ".ai/threads/hello_20250101_000000/transcript.jsonl"
    assert stat.S_IMODE(transcript.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(transcript.path.stat().st_mode) == 0o600


@pytest.mark.parametrize("thread_id", ["", ".", "..", "a/b", "a\0b"])
def test_a_thread_id_that_is_not_one_folder_name_is_refused(tmp_path: Path, thread_id: str) -> None:
    with pytest.raises(UsageError, match="not a thread id"):
        Transcript.for_thread(tmp_path, thread_id)


@pytest.mark.parametrize("kind", ["checkpoint", "torn_tail", ""])
def test_the_transcripts_own_event_types_cannot_be_appended(tmp_path: Path, kind: str) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    with pytest.raises(UsageError, match="empty or reserved"):
        transcript.append(kind, {})
    assert not transcript.path.exists()


def test_a_payload_that_is_not_json_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    transcript.append("a", {})
    with pytest.raises(TypeError):
        transcript.append("b", {"when": object()})
    with pytest.raises(ValueError):
        transcript.append("b", {"x": float("nan")})
    assert transcript.append("c", {})["seq"] == 2


def test_events_after_a_seq_and_up_to_a_limit(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    for i in range(10):
        transcript.append("step", {"i": i})

    assert [e["seq"] for e in transcript.events(after_seq=7)] == [8, 9, 10]
    assert [e["seq"] for e in transcript.events(after_seq=2, limit=3)] == [3, 4, 5]
    assert transcript.events(limit=0) == []
    assert transcript.events(after_seq=10) == []


def test_a_missing_transcript_has_no_events_and_verifies_empty(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "none.jsonl")
    assert transcript.events() == []
    assert transcript.last_seq() == 0
    assert transcript.verify(lambda *_: True) == Verification(
        events=0, verified=True, first_bad_seq=None, reason=None, checkpoints=0
    )


def test_append_refuses_to_continue_after_a_last_line_that_is_not_an_event(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.jsonl"
    Transcript(path).append("a", {})
    with path.open("ab") as handle:
        handle.write(b'{"seq": "two"}\n')

    with pytest.raises(TranscriptTampered, match="last complete line is not"):
        Transcript(path).append("b", {})
    with pytest.raises(TranscriptTampered):
        Transcript(path).last_seq()


# --- checkpoints -----------------------------------------------------------------------------


def test_a_checkpoint_signs_the_hash_of_every_byte_before_it(tmp_path: Path, keys: Keys) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    transcript.append("a", {"x": 1})
    transcript.append("b", {"y": 2})
    before = transcript.path.read_bytes()

    event = transcript.checkpoint(keys.sign, keys.key_id)

    digest = hashlib.sha256(before).hexdigest()
    assert event["type"] == "checkpoint"
    assert event["seq"] == 3
    assert event["payload"] == {
        "upto": 2,
        "hash": digest,
        "key": keys.key_id,
        "signature": event["payload"]["signature"],
    }
    assert keys.check(digest.encode("ascii"), event["payload"]["signature"], keys.key_id)
    assert keys.key_id == fingerprint(keys.private.public_key())
    assert transcript.verify(keys.check).to_dict() == {
        "events": 3,
        "verified": True,
        "first_bad_seq": None,
        "reason": None,
        "checkpoints": 1,
    }


def test_checkpoints_stay_right_when_another_writer_appends_in_between(
    tmp_path: Path, keys: Keys
) -> None:
    path = tmp_path / "t.jsonl"
    runner, control = Transcript(path), Transcript(path)
    runner.append("a", {})
    runner.checkpoint(keys.sign, keys.key_id)
    runner.append("b", {})
    control.append("control", {"op": "pause"})
    runner.checkpoint(keys.sign, keys.key_id)
    runner.append("c", {})
    runner.checkpoint(keys.sign, keys.key_id)

    check = Transcript(path).verify(keys.check)

    assert (check.verified, check.events, check.checkpoints) == (True, 7, 3)


# --- tampering -------------------------------------------------------------------------------


def _edit_payload(lines: list[bytes]) -> None:
    lines[2] = lines[2].replace(b'"n":2', b'"n":3')


def _delete(lines: list[bytes]) -> None:
    del lines[2]


def _swap(lines: list[bytes]) -> None:
    lines[2], lines[3] = lines[3], lines[2]


def _garbage(lines: list[bytes]) -> None:
    lines[5] = b"{not json"


def _first_prev(lines: list[bytes]) -> None:
    lines[0] = lines[0].replace(GENESIS.encode(), b"1" * 64)


def _checkpoint_field(index: int, field: str, value: Any) -> Callable[[list[bytes]], None]:
    def change(lines: list[bytes]) -> None:
        event = json.loads(lines[index])
        event["payload"][field] = value
        lines[index] = compact_json(event)

    return change


def _rewrite_chain_from_line_3(lines: list[bytes]) -> None:
    """A forger changes event 3 and recomputes every prev after it: only a checkpoint holds."""
    _edit_payload(lines)
    for i in range(3, len(lines)):
        event = json.loads(lines[i])
        event["prev"] = hashlib.sha256(lines[i - 1]).hexdigest()
        lines[i] = compact_json(event)


OTHER_KEY = Ed25519PrivateKey.generate()


def _signed_by_another_key(lines: list[bytes]) -> None:
    event = json.loads(lines[7])
    digest = event["payload"]["hash"].encode("ascii")
    event["payload"]["signature"] = b64url_encode(OTHER_KEY.sign(digest))
    lines[7] = compact_json(event)


TAMPERS = [
    pytest.param(_edit_payload, 3, "prev mismatch", id="a-payload-byte"),
    pytest.param(_delete, 3, "seq gap", id="a-deleted-line"),
    pytest.param(_swap, 3, "seq gap", id="two-lines-reordered"),
    pytest.param(_garbage, 6, "not JSON", id="a-line-not-json"),
    pytest.param(_first_prev, 1, "prev mismatch", id="the-first-prev"),
    pytest.param(_checkpoint_field(4, "hash", "0" * 64), 5, "checkpoint hash", id="cp-hash"),
    pytest.param(_checkpoint_field(4, "upto", 3), 5, "checkpoint hash", id="cp-upto"),
    pytest.param(
        _checkpoint_field(7, "signature", "AAAA"), 8, "checkpoint signature", id="cp-signature"
    ),
    pytest.param(_checkpoint_field(7, "key", "f" * 64), 8, "checkpoint signature", id="cp-key"),
    pytest.param(_signed_by_another_key, 8, "checkpoint signature", id="cp-untrusted-signer"),
    pytest.param(_rewrite_chain_from_line_3, 5, "checkpoint hash", id="a-rewritten-chain"),
]


@pytest.mark.parametrize(("tamper", "first_bad", "reason"), TAMPERS)
def test_verify_names_the_first_bad_seq_of_a_tampered_transcript(
    tmp_path: Path,
    keys: Keys,
    tamper: Callable[[list[bytes]], None],
    first_bad: int,
    reason: str,
) -> None:
    path = tmp_path / "t.jsonl"
    sample(path, keys)
    assert Transcript(path).verify(keys.check).verified
    lines = lines_of(path)
    tamper(lines)
    write_lines(path, lines)

    check = Transcript(path).verify(keys.check)

    assert (check.verified, check.first_bad_seq, check.reason) == (False, first_bad, reason)


def test_a_transcript_truncated_mid_line_has_a_torn_tail(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "t.jsonl"
    sample(path, keys)
    lines = lines_of(path)
    path.write_bytes(b"".join(line + b"\n" for line in lines[:6]) + lines[6][:30])

    check = Transcript(path).verify(keys.check)

    assert check == Verification(
        events=6, verified=False, first_bad_seq=7, reason="torn tail", checkpoints=1
    )


# --- torn tails ------------------------------------------------------------------------------


def test_a_torn_tail_is_cut_and_recorded_by_the_next_append(tmp_path: Path, keys: Keys) -> None:
    path = tmp_path / "t.jsonl"
    Transcript(path).append("a", {})
    Transcript(path).append("b", {})
    with path.open("ab") as handle:
        handle.write(b'{"payload":{"text":"half')  # a crash mid-write

    event = Transcript(path).append("c", {})

    assert [(e["seq"], e["type"], e["payload"]) for e in Transcript(path).events()] == [
        (1, "a", {}),
        (2, "b", {}),
        (3, "torn_tail", {"bytes": 24}),
        (4, "c", {}),
    ]
    assert event["seq"] == 4
    assert Transcript(path).verify(keys.check).verified


def test_a_file_that_is_only_a_torn_line_starts_the_chain_again(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"payl')

    Transcript(path).append("a", {})

    events = Transcript(path).events()
    assert [(e["seq"], e["type"], e["payload"]) for e in events] == [
        (1, "torn_tail", {"bytes": 6}),
        (2, "a", {}),
    ]
    assert events[0]["prev"] == GENESIS
    assert Transcript(path).verify(lambda *_: True).verified


# --- writers ---------------------------------------------------------------------------------


def test_threads_sharing_a_transcript_never_interleave(tmp_path: Path) -> None:
    shared = Transcript(tmp_path / "t.jsonl")
    other = Transcript(tmp_path / "t.jsonl")

    def write(transcript: Transcript, name: str) -> None:
        for i in range(100):
            transcript.append("tick", {"writer": name, "i": i}, durable=False)

    workers = [
        threading.Thread(target=write, args=(shared, "a")),
        threading.Thread(target=write, args=(shared, "b")),
        threading.Thread(target=write, args=(other, "c")),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert shared.verify(lambda *_: True).events == 300
    assert shared.verify(lambda *_: True).verified


WRITER = """
import sys
from pathlib import Path
from kiwi_mcp.kernel.runtime.threads.transcript import Transcript
transcript = Transcript(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()
for i in range(int(sys.argv[3])):
    transcript.append("tick", {"writer": sys.argv[2], "i": i}, durable=i % 20 == 0)
"""


def test_two_processes_appending_200_events_each_make_one_chain_of_400(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, "200"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for name in ("runner", "control")
    ]
    for child in children:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=120) == 0

    events = Transcript(path).events()
    assert len(lines_of(path)) == 400
    assert [e["seq"] for e in events] == list(range(1, 401))
    for name in ("runner", "control"):
        mine = [e["payload"]["i"] for e in events if e["payload"]["writer"] == name]
        assert mine == list(range(200))
    assert Transcript(path).verify(lambda *_: True).verified


CRASHER = """
import sys
from pathlib import Path
from kiwi_mcp.kernel.runtime.threads.transcript import Transcript
transcript = Transcript(Path(sys.argv[1]))
for i in range(1_000_000):
    event = transcript.append("tool_result", {"i": i, "data": "x" * 3000})
    print(event["seq"], flush=True)
"""


def test_every_acknowledged_durable_append_survives_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHER, str(path)], cwd=REPO, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    acked = [int(child.stdout.readline()) for _ in range(40)]
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=60)
    acked += [int(seq) for seq in rest.split()]
    assert child.returncode == -signal.SIGKILL

    seqs = {e["seq"] for e in Transcript(path).events()}
    assert set(acked) <= seqs
    check = Transcript(path).verify(lambda *_: True)
    # Killed mid-write, the last line may be torn: never one that was acknowledged.
    assert check.verified or (
        check.reason == "torn tail" and (check.first_bad_seq or 0) > max(acked)
    )
    Transcript(path).append("thread_resumed", {})
    assert Transcript(path).verify(lambda *_: True).verified


# --- tail -f ---------------------------------------------------------------------------------


def test_follow_yields_events_as_they_are_appended_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "later" / "t.jsonl"
    done = threading.Event()

    def write() -> None:
        writer = Transcript(path)
        for i in range(30):
            writer.append("llm_delta", {"i": i}, durable=False)
        done.set()

    worker = threading.Thread(target=write)
    worker.start()
    followed = [e["seq"] for e in Transcript(path).follow(5, poll_s=0.005, stop=done.is_set)]
    worker.join()

    assert followed == list(range(6, 31))


def test_follow_reads_what_is_there_when_already_stopped(tmp_path: Path) -> None:
    transcript = Transcript(tmp_path / "t.jsonl")
    for i in range(3):
        transcript.append("step", {"i": i})

    assert [e["seq"] for e in transcript.follow(1, stop=lambda: True)] == [2, 3]


# --- laws ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_sample(
    tmp_path_factory: pytest.TempPathFactory, keys: Keys
) -> tuple[bytes, list[int], Path]:
    """A valid transcript's bytes, the offsets its chain and checkpoints cover, a scratch path:
    every byte of every line but the last (each is vouched for by the next line's ``prev``),
    and the last line's checkpoint hash and signature."""
    folder = tmp_path_factory.mktemp("law")
    sample(folder / "valid.jsonl", keys)
    raw = (folder / "valid.jsonl").read_bytes()
    last_start = raw.rindex(b"\n", 0, len(raw) - 1) + 1
    covered = list(range(last_start))
    for field in (b'"hash":"', b'"signature":"'):
        start = raw.index(field, last_start) + len(field)
        covered += range(start, raw.index(b'"', start))
    return raw, covered, folder / "mutated.jsonl"


@given(data=st.data())
def test_any_single_byte_change_the_chain_covers_is_detected(
    signed_sample: tuple[bytes, list[int], Path], keys: Keys, data: st.DataObject
) -> None:
    raw, covered, path = signed_sample
    offset = data.draw(st.sampled_from(covered))
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[offset]))
    path.write_bytes(raw[:offset] + bytes([byte]) + raw[offset + 1 :])

    check = Transcript(path).verify(keys.check)

    line = raw.count(b"\n", 0, offset) + 1  # the seq of the line holding the byte
    assert not check.verified
    assert check.first_bad_seq is not None
    assert line - 1 <= check.first_bad_seq <= line


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(payload=st.dictionaries(st.text(), JSON, max_size=5), kind=st.text(min_size=1))
def test_any_json_payload_reads_back_as_written_on_one_compact_line(
    tmp_path_factory: pytest.TempPathFactory, payload: dict[str, Any], kind: str
) -> None:
    if kind in ("checkpoint", "torn_tail"):
        kind += "_"
    transcript = Transcript(tmp_path_factory.mktemp("rt") / "t.jsonl")

    written = transcript.append(kind, payload)

    assert transcript.events() == [written]
    assert written["payload"] == payload
    assert lines_of(transcript.path) == [compact_json(written)]
    transcript.close()


def test_events_read_once_stay_current_with_own_and_other_appends(tmp_path: Path) -> None:
    path = tmp_path / "t" / "transcript.jsonl"
    mine, other = Transcript(path), Transcript(path)
    assert mine.events() == []
    mine.append("a", {"n": 1})
    assert [e["type"] for e in mine.events()] == ["a"]
    mine.append("b", {"n": [1, 2]}, durable=False)
    first = mine.events()
    assert [e["payload"] for e in first] == [{"n": 1}, {"n": [1, 2]}]
    other.append("c", {"n": 3})  # another writer: the size tells the reader
    assert [e["type"] for e in mine.events()] == ["a", "b", "c"]
    mine.append("d", {})
    assert [e["seq"] for e in mine.events(after_seq=2)] == [3, 4]
    assert mine.events() == Transcript(path).events()  # the cache equals a fresh read
    with path.open("ab") as handle:
        handle.write(b'{"torn')  # a torn tail is never an event
    assert [e["type"] for e in mine.events(limit=2)] == ["a", "b"]
    assert len(mine.events()) == 4

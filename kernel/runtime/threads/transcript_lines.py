"""The line-level side of a thread's transcript (``transcript.py`` writes and reads the
file): splitting a file into lines without mistaking a writer's unfinished line for a torn
one, parsing one line into an event, finding the last line from the end, and verifying a
whole chain in one pass and constant memory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import IO, Any, Final

__all__ = ["GENESIS", "Verification", "parse_line", "split_lines", "tail_line", "verify_lines"]

GENESIS: Final = "0" * 64
_KEYS: Final = frozenset({"seq", "ts", "type", "payload", "prev"})
_CHUNK: Final = 65536


@dataclass(frozen=True, kw_only=True, slots=True)
class Verification:
    """What ``Transcript.verify`` found.

    ``events`` counts the complete lines (all of them, past a failure too); ``checkpoints``
    the checkpoints that held before the first failure. Every event before
    ``first_bad_seq`` is intact. ``reason`` is one of ``"not JSON"`` (not an event object),
    ``"seq gap"``, ``"prev mismatch"`` (then ``first_bad_seq`` is the line before, the one
    that no longer hashes to what its successor recorded), ``"checkpoint hash"``,
    ``"checkpoint signature"``, ``"torn tail"``.
    """

    events: int
    verified: bool
    first_bad_seq: int | None
    reason: str | None
    checkpoints: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_lines(
    lines: Iterable[tuple[bytes, bool]], check_signature: Callable[[bytes, str, str], bool]
) -> Verification:
    """The chain of ``lines`` (each ``(bytes, complete)``) checked (see ``Verification``)."""
    count = checkpoints = 0
    bad: tuple[int, str] | None = None
    prev, whole = GENESIS, hashlib.sha256()
    for line, complete in lines:
        expected = count + 1
        if not complete:
            bad = bad or (expected, "torn tail")
            break
        count += 1
        if bad is not None:
            continue
        event = parse_line(line)
        if event is None:
            bad = (expected, "not JSON")
        elif event["seq"] != expected:
            bad = (expected, "seq gap")
        elif event["prev"] != prev:
            bad = (max(expected - 1, 1), "prev mismatch")
        elif event["type"] == "checkpoint":
            fault = _checkpoint_fault(event["payload"], count - 1, whole, check_signature)
            if fault is None:
                checkpoints += 1
            else:
                bad = (expected, fault)
        prev = hashlib.sha256(line).hexdigest()
        whole.update(line + b"\n")
    first_bad, reason = bad or (None, None)
    return Verification(
        events=count,
        verified=bad is None,
        first_bad_seq=first_bad,
        reason=reason,
        checkpoints=checkpoints,
    )


def split_lines(handle: IO[bytes], *, settle: bool) -> Iterator[tuple[bytes, bool]]:
    """(line without its newline, whether it had one). With ``settle``, a last line without
    a newline is read again under a shared flock: a writer mid-``write`` holds the exclusive
    one, so what is still unfinished then is really torn."""
    while raw := handle.readline():
        if not raw.endswith(b"\n") and settle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)  # released when the handle closes
            settle = False
            handle.seek(handle.tell() - len(raw))  # the writer may have cut it meanwhile
            raw = handle.readline()
            if not raw:
                return
        if not raw.endswith(b"\n"):
            yield raw, False
            return
        yield raw[:-1], True


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The event on a line, or None unless it is exactly an event object."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if (
        isinstance(event, dict)
        and event.keys() == _KEYS
        and type(event["seq"]) is int
        and type(event["ts"]) in (int, float)
        and isinstance(event["type"], str)
        and isinstance(event["payload"], dict)
        and isinstance(event["prev"], str)
    ):
        return event
    return None


def _checkpoint_fault(
    payload: dict[str, Any],
    upto: int,
    whole: hashlib._Hash,
    check_signature: Callable[[bytes, str, str], bool],
) -> str | None:
    digest, given = whole.hexdigest(), payload.get("upto")
    if type(given) is not int or given != upto or payload.get("hash") != digest:
        return "checkpoint hash"
    signature, key = payload.get("signature"), payload.get("key")
    if (
        isinstance(signature, str)
        and isinstance(key, str)
        and check_signature(digest.encode("ascii"), signature, key)
    ):
        return None
    return "checkpoint signature"


def tail_line(fd: int, size: int) -> tuple[int, bytes | None]:
    """(offset just past the last newline, the last complete line or None), reading only
    the end of the file backwards."""
    buf, pos = b"", size
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        last_nl = buf.rfind(b"\n")
        if last_nl == -1:
            continue
        before = buf.rfind(b"\n", 0, last_nl)
        if before != -1 or pos == 0:
            return pos + last_nl + 1, buf[before + 1 : last_nl]
    return 0, None

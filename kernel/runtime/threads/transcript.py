"""A thread's transcript (SPEC §13.2): one JSON event per line, hash-chained, with signed
checkpoints at turn boundaries — the journal a resume trusts only after verifying it.

Each line is ``{"seq", "ts", "type", "payload", "prev"}`` (compact, sorted keys), ``prev``
the SHA-256 of the previous line's bytes. A ``checkpoint`` event carries the SHA-256 of every
byte before it and the operator key's signature over that hash. Appends are one ``write`` of
a whole line under an exclusive ``flock`` and fsynced (deltas may skip the fsync: the next
durable append covers them), so a crash loses at most a line that was never acknowledged;
such a torn last line is cut off by the next append and recorded as ``torn_tail``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["GENESIS", "Transcript", "Verification"]

GENESIS: Final = "0" * 64


def _line(event: Mapping[str, Any]) -> bytes:
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text.encode("utf-8")


@dataclass(frozen=True, kw_only=True, slots=True)
class Verification:
    events: int
    verified: bool
    first_bad_seq: int | None
    reason: str | None
    checkpoints: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "verified": self.verified,
            "first_bad_seq": self.first_bad_seq,
            "reason": self.reason,
            "checkpoints": self.checkpoints,
        }


class Transcript:
    """The transcript file of one thread (made on the first append)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock

    @classmethod
    def for_thread(cls, project_root: Path, thread_id: str, **kw: Any) -> Transcript:
        return cls(project_root / ".ai" / "threads" / thread_id / "transcript.jsonl", **kw)

    # --- writing -------------------------------------------------------------------------

    def append(
        self, type: str, payload: Mapping[str, Any], *, durable: bool = True
    ) -> dict[str, Any]:
        """Write one event after the last; returns it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev, torn = self._tail(fd)
            if torn:
                os.ftruncate(fd, os.fstat(fd).st_size - torn)
                seq, prev = self._write(fd, seq, prev, "torn_tail", {"bytes": torn})
            event = self._event(seq + 1, prev, type, payload)
            os.write(fd, _line(event) + b"\n")
            if durable:
                os.fsync(fd)
            return event
        finally:
            os.close(fd)

    def checkpoint(self, sign: Callable[[bytes], str], key: str) -> dict[str, Any]:
        """A signed ``checkpoint``: the hash of every byte before it, signed."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev, torn = self._tail(fd)
            if torn:
                os.ftruncate(fd, os.fstat(fd).st_size - torn)
                seq, prev = self._write(fd, seq, prev, "torn_tail", {"bytes": torn})
            digest = _file_hash(fd)
            payload = {
                "upto": seq,
                "hash": digest,
                "key": key,
                "signature": sign(digest.encode("ascii")),
            }
            event = self._event(seq + 1, prev, "checkpoint", payload)
            os.write(fd, _line(event) + b"\n")
            os.fsync(fd)
            return event
        finally:
            os.close(fd)

    def _event(self, seq: int, prev: str, type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "seq": seq,
            "ts": round(self._clock(), 6),
            "type": type,
            "payload": dict(payload),
            "prev": prev,
        }

    def _write(
        self, fd: int, seq: int, prev: str, type: str, payload: Mapping[str, Any]
    ) -> tuple[int, str]:
        line = _line(self._event(seq + 1, prev, type, payload))
        os.write(fd, line + b"\n")
        return seq + 1, hashlib.sha256(line).hexdigest()

    @staticmethod
    def _tail(fd: int) -> tuple[int, str, int]:
        """(last seq, hash of the last line, bytes of a torn last line) — reads only the end."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, GENESIS, 0
        start, data = size, b""
        while start > 0:
            start = max(0, start - 65536)
            data = os.pread(fd, size - start, start)
            complete = data[: data.rfind(b"\n") + 1]
            if start == 0 or complete[:-1].rfind(b"\n") != -1:
                break
        end = data.rfind(b"\n") + 1
        torn = len(data) - end
        if end == 0:
            return 0, GENESIS, torn
        last = data[: end - 1].rsplit(b"\n", 1)[-1]
        try:
            seq = int(json.loads(last)["seq"])
        except (ValueError, KeyError, TypeError):
            seq = 0
        return seq, hashlib.sha256(last).hexdigest(), torn

    # --- reading -------------------------------------------------------------------------

    def _lines(self) -> Iterator[bytes]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from handle

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The parsed events after ``after_seq`` (a torn or unreadable line ends the list)."""
        out: list[dict[str, Any]] = []
        for raw in self._lines():
            if not raw.endswith(b"\n"):
                break
            try:
                event = json.loads(raw)
            except ValueError:
                break
            if event.get("seq", 0) > after_seq:
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def last_seq(self) -> int:
        events = self.events()
        return int(events[-1]["seq"]) if events else 0

    def verify(self, check_signature: Callable[[bytes, str, str], bool]) -> Verification:
        """Stream the file: every line parses, seq goes up by one, ``prev`` is the previous
        line's hash, each checkpoint's hash and signature hold."""
        whole = hashlib.sha256()
        prev = GENESIS
        seq = 0
        checkpoints = 0

        def bad(reason: str) -> Verification:
            return Verification(
                events=seq,
                verified=False,
                first_bad_seq=seq + 1,
                reason=reason,
                checkpoints=checkpoints,
            )

        for raw in self._lines():
            if not raw.endswith(b"\n"):
                return bad("torn tail")
            line = raw[:-1]
            try:
                event = json.loads(line)
            except ValueError:
                return bad("not JSON")
            if not isinstance(event, dict) or event.get("seq") != seq + 1:
                return bad("seq gap")
            if event.get("prev") != prev:
                # the line before no longer hashes to what this one recorded: it changed
                return Verification(
                    events=seq,
                    verified=False,
                    first_bad_seq=max(seq, 1),
                    reason="prev mismatch",
                    checkpoints=checkpoints,
                )
            if _line(event) != line:
                return bad("not in canonical form")
            if event.get("type") == "checkpoint":
                payload = event.get("payload") or {}
                if payload.get("hash") != whole.hexdigest():
                    return bad("checkpoint hash")
                if not check_signature(
                    str(payload.get("hash")).encode("ascii"),
                    str(payload.get("signature")),
                    str(payload.get("key")),
                ):
                    return bad("checkpoint signature")
                checkpoints += 1
            whole.update(raw)
            prev = hashlib.sha256(line).hexdigest()
            seq += 1
        return Verification(
            events=seq, verified=True, first_bad_seq=None, reason=None, checkpoints=checkpoints
        )

    def follow(
        self, after_seq: int, *, poll_s: float = 0.2, stop: Callable[[], bool]
    ) -> Iterator[dict[str, Any]]:
        """New events as they are appended, until ``stop()`` is true."""
        seen = after_seq
        while True:
            done = stop()
            for event in self.events(after_seq=seen):
                seen = int(event["seq"])
                yield event
            if done:
                return
            time.sleep(poll_s)


def _file_hash(fd: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while True:
        block = os.pread(fd, 1 << 20, offset)
        if not block:
            return digest.hexdigest()
        digest.update(block)
        offset += len(block)

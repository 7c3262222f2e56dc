"""The tamper-evident audit log (SPEC §9.5).

One JSON object per line in ``<folder>/<YYYY-MM-DD>.jsonl`` (UTC date from the injected
clock). Besides the caller's fields every line carries ``ts`` (ISO 8601 UTC), ``seq`` (1,
2, 3… across all files) and ``prev``: the SHA-256 hex of the previous line's bytes (without
its newline; 64 zeros for the very first line), so an edited line no longer matches the
``prev`` recorded after it and a deleted line leaves a gap in ``seq``. Lines are canonical
JSON (sorted keys, no spaces). Editing or deleting the *last* line cannot be detected by
the chain alone.

Appends from many processes stay whole lines and one chain: each takes an exclusive
``flock`` on ``<folder>/.lock``, reads the last line, appends, then releases. The last line's
hash and ``seq`` are remembered between appends and reused while the folder and the newest
file are exactly as this log left them (same folder mtime, inode and size), so the common
append reads nothing back.

Durability: the line is in the file (the OS's page cache) before ``append`` returns, so a
crash of the process loses nothing; the ``fsync`` that puts it on disk runs on a background
thread within ``syncer.SYNC_INTERVAL`` (0.25 s), once for a whole burst, and ``close`` (called when
a kernel closes, and at interpreter exit) waits for it. Only a power loss (or a kernel
crash) within that window can cost the newest lines — which the chain cannot prove missing
anyway (see above).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kernel.trust.encoding import canonical_json
from kernel.trust.syncer import SYNCER

__all__ = [
    "DENIALS",
    "GENESIS",
    "AuditLog",
    "AuditReport",
    "BadLine",
    "call_record",
    "params_digest",
]

GENESIS: Final = "0" * 64
_FILE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}\.jsonl")
_RESERVED: Final = ("prev", "seq", "ts")
_TAIL_CHUNK: Final = 8192
_MTIME_SETTLE_NS: Final = 50_000_000


#: Error codes meaning the gate or the trust layer refused a call: ``decision: deny``.
DENIALS: Final = frozenset(
    {
        "PERMISSION_DENIED",
        "SIGNATURE_MISSING",
        "INTEGRITY_FAILED",
        "SIGNATURE_UNTRUSTED",
        "LOCKFILE_MISMATCH",
    }
)


def call_record(
    *,
    session: str,
    thread: str | None,
    item: str,
    params: Any,
    caps_used: list[str],
    envelope: Mapping[str, Any],
) -> dict[str, Any]:
    """The SPEC §9.5 fields of one call, from its (already redacted) envelope."""
    error = envelope.get("error") or {}
    code = error.get("code")
    denied = code in DENIALS
    return {
        "session": session,
        "thread": thread,
        "item": item,
        "chain": envelope["meta"].get("chain", []),
        "params_sha256": params_digest(params),
        "decision": "deny" if denied else "allow",
        "reason": code if denied else None,
        "caps_used": caps_used,
        "outcome": "ok" if envelope["ok"] else code,
        "duration_ms": envelope["meta"].get("duration_ms"),
    }


def params_digest(params: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``params`` (values are never logged, only this).

    Raises TypeError/ValueError for values JSON cannot hold.
    """
    return hashlib.sha256(canonical_json(params)).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class BadLine:
    """Where the chain first breaks: file name, 1-based line number in it, and why."""

    file: str
    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditReport:
    """The result of ``AuditLog.verify``."""

    ok: bool
    lines: int
    first_bad: BadLine | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lines": self.lines,
            "first_bad": self.first_bad.to_dict() if self.first_bad else None,
        }


@dataclass(frozen=True, slots=True)
class _Line:
    file: str
    number: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class _Tail:
    """Where this log's last append left the chain: enough to append again without reading."""

    folder_mtime_ns: int
    path: Path
    ino: int
    size: int
    digest: str
    seq: int


class AuditLog:
    """Append-only, hash-chained JSONL files in one folder."""

    def __init__(self, folder: Path, clock: Callable[[], float]) -> None:
        self.folder = folder
        self._clock = clock
        self._tail: _Tail | None = None

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _FILE_RE.fullmatch(p.name))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = os.path.join(self.folder, ".lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append ``record`` with ``ts``, ``seq`` and ``prev`` added; returns what was written.

        Raises ValueError when ``record`` already holds one of those keys, TypeError or
        ValueError when it is not JSON, OSError on I/O failure.
        """
        clash = [key for key in _RESERVED if key in record]
        if clash:
            raise ValueError(f"audit records may not set '{clash[0]}' (the log fills it in)")
        now = self._clock()
        day = self.folder / (datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d") + ".jsonl")
        with self._locked():
            tail = self._known_tail()
            torn = False
            if tail is not None:
                last_path: Path | None = tail.path
                prev, seq = tail.digest, tail.seq + 1
            else:
                last_path, last = _last_line(self._files())
                prev = hashlib.sha256(last).hexdigest() if last is not None else GENESIS
                seq = _seq_of(last) + 1
                torn = last_path is not None and last is not None
            # A clock that stepped back must not write behind the chain's newest file.
            target = last_path if last_path is not None and last_path.name > day.name else day
            out = {**record, "ts": _iso(now), "seq": seq, "prev": prev}
            line = canonical_json(out)
            data = line + b"\n"
            if torn and target == last_path and not _ends_with_newline(target):
                data = b"\n" + data  # keep a torn last line from swallowing this one
            created = target != last_path and not target.exists()
            ino, size = _append_bytes(target, data, created=created)
            # Appending to a known file leaves the folder's mtime as it was checked above.
            folder_mtime = tail.folder_mtime_ns if tail is not None and not created else None
            self._remember(target, ino, size, hashlib.sha256(line).hexdigest(), seq, folder_mtime)
        return out

    def close(self) -> None:
        """Wait until every line appended so far is on disk (see the module docstring)."""
        SYNCER.wait()

    def _known_tail(self) -> _Tail | None:
        """The remembered last line, if nothing but this log changed the folder since."""
        tail = self._tail
        if tail is None:
            return None
        try:
            if os.stat(self.folder).st_mtime_ns != tail.folder_mtime_ns:
                return None
            st = os.stat(tail.path)
        except OSError:
            return None
        if st.st_ino != tail.ino or st.st_size != tail.size:
            return None
        return tail

    def _remember(
        self, path: Path, ino: int, size: int, digest: str, seq: int, folder_mtime: int | None
    ) -> None:
        if folder_mtime is None:
            folder_mtime = os.stat(self.folder).st_mtime_ns
        # A file created in the same coarse clock tick as the folder's recorded mtime would
        # not change it: trust the mtime only once it is safely in the past.
        if time.time_ns() - folder_mtime < _MTIME_SETTLE_NS:
            self._tail = None
            return
        self._tail = _Tail(
            folder_mtime_ns=folder_mtime, path=path, ino=ino, size=size, digest=digest, seq=seq
        )

    def verify(self) -> AuditReport:
        """Walk every line in order and report the first break in the chain.

        An edited line is reported itself (the next line's ``prev`` no longer matches it);
        a deleted line is reported at the line that now follows the gap; a line that is
        not a JSON object (torn or damaged) is reported where it is. Raises OSError.
        """
        lines = list(self._read_all())
        hashes = [hashlib.sha256(line.raw).hexdigest() for line in lines]
        expected_prev, expected_seq = GENESIS, 1
        for i, line in enumerate(lines):
            record = _parse(line.raw)
            if record is None:
                return _bad(len(lines), line, "not a whole JSON record with prev and seq")
            seq, prev = record["seq"], record["prev"]
            if seq != expected_seq:
                gap = seq - expected_seq
                why = f"seq {seq} where {expected_seq} was expected: " + (
                    f"{gap} line(s) missing before this line" if gap > 0 else "out of order"
                )
                return _bad(len(lines), line, why)
            if prev != expected_prev:
                # Usually the previous line was edited; but when this line's own hash is
                # also not what the next line recorded, this line is the edited one.
                nxt = _parse(lines[i + 1].raw) if i + 1 < len(lines) else None
                if i == 0 or (nxt is not None and nxt["prev"] != hashes[i]):
                    return _bad(len(lines), line, "this line was changed (its prev is wrong)")
                return _bad(
                    len(lines),
                    lines[i - 1],
                    "this line was changed: its hash no longer matches the next line's prev",
                )
            expected_prev, expected_seq = hashes[i], seq + 1
        return AuditReport(ok=True, lines=len(lines))

    def tail(self, n: int = 10) -> list[dict[str, Any]]:
        """The last ``n`` records, oldest first; a damaged line is ``{"invalid": text}``."""
        if n <= 0:
            return []
        raws: list[bytes] = []
        for path in reversed(self._files()):
            raws = path.read_bytes().splitlines()[-(n - len(raws)) :] + raws
            if len(raws) >= n:
                break
        out: list[dict[str, Any]] = []
        for raw in raws:
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                value = None
            if isinstance(value, dict):
                out.append(value)
            else:
                out.append({"invalid": raw.decode("utf-8", errors="replace")})
        return out

    def _read_all(self) -> Iterator[_Line]:
        for path in self._files():
            data = path.read_bytes()
            parts = data.split(b"\n")
            if parts and parts[-1] == b"":
                parts.pop()
            for number, raw in enumerate(parts, start=1):
                yield _Line(file=path.name, number=number, raw=raw)


def _bad(total: int, line: _Line, reason: str) -> AuditReport:
    return AuditReport(
        ok=False, lines=total, first_bad=BadLine(file=line.file, line=line.number, reason=reason)
    )


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict):
        return None
    if type(value.get("seq")) is not int or not isinstance(value.get("prev"), str):
        return None
    return value


def _seq_of(raw: bytes | None) -> int:
    if raw is None:
        return 0
    record = _parse(raw)
    return record["seq"] if record is not None else 0


def _iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _last_line(files: list[Path]) -> tuple[Path | None, bytes | None]:
    """(newest file, its last line without newline); (newest, None) when all are empty."""
    for path in reversed(files):
        with path.open("rb") as handle:
            end = handle.seek(0, os.SEEK_END)
            if end == 0:
                continue
            handle.seek(end - 1)
            if handle.read(1) == b"\n":
                end -= 1
            # Read backwards in chunks: the files grow all day, the last line is short.
            buf, pos = b"", end
            while pos > 0:
                step = min(_TAIL_CHUNK, pos)
                pos -= step
                handle.seek(pos)
                buf = handle.read(step) + buf
                cut = buf.rfind(b"\n")
                if cut != -1:
                    return path, buf[cut + 1 :]
            return path, buf
    return (files[-1] if files else None), None


def _append_bytes(path: Path, data: bytes, *, created: bool) -> tuple[int, int]:
    """Append ``data`` (under the folder lock); returns the file's inode and new size.

    The file's fsync is left to the background syncer; a new file's folder entry is
    synced here (once a day).
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        st = os.fstat(fd)
    finally:
        os.close(fd)
    SYNCER.request(str(path))
    if created:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return st.st_ino, st.st_size

"""The tamper-evident audit log (SPEC §9.5).

One JSON object per line in ``<folder>/<YYYY-MM-DD>.jsonl`` (UTC date from the injected
clock). Besides the caller's fields every line carries ``ts`` (ISO 8601 UTC), ``seq`` (1,
2, 3… across all files) and ``prev``: the SHA-256 hex of the previous line's bytes (without
its newline; 64 zeros for the very first line), so an edited line no longer matches the
``prev`` recorded after it and a deleted line leaves a gap in ``seq``. Lines are compact
JSON (sorted keys, no spaces: ``trust.encoding.compact_json``). Editing or deleting the
*last* line cannot be detected by the chain alone.

Appends from many processes stay whole lines and one chain: each takes an exclusive
``flock`` on ``<folder>/.lock``, appends after the last line, then releases. A long-lived
log keeps ``.lock`` and the newest file open and remembers the last line's hash and ``seq``;
while the folder is exactly as it left it (same folder inode and mtime, same file size) an
append is lock, two stats, one write, unlock, and reads nothing back. Anything else (another
writer's line, a new, deleted or replaced file) makes that append reopen both by path and
read the last line from disk. ``kernel/trust/audit/writer.py`` holds the details.

Durability: the line is in the file (the OS's page cache) before ``append`` returns, so a
crash of the process loses nothing; the ``fsync`` that puts it on disk runs on a background
thread within ``syncer.SYNC_INTERVAL`` (0.25 s), once for a whole burst, and ``close`` (called when
a kernel closes, and at interpreter exit) waits for it. Only a power loss (or a kernel
crash) within that window can cost the newest lines — which the chain cannot prove missing
anyway (see above).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kiwi_mcp.kernel.errors import AuditUnavailable
from kiwi_mcp.kernel.trust.audit.syncer import SYNCER
from kiwi_mcp.kernel.trust.audit.writer import GENESIS, ChainWriter, day_files, parse_line
from kiwi_mcp.kernel.trust.encoding import compact_json

__all__ = [
    "DENIALS",
    "GENESIS",
    "AuditLog",
    "AuditReport",
    "BadLine",
    "call_record",
    "params_digest",
]

_RESERVED: Final = ("prev", "seq", "ts")
#: Below this much free space the log counts as full: no call runs that it cannot record.
MIN_FREE_BYTES: Final = 64 * 1024


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
    as_operator: bool = False,
    token: str | None = None,
) -> dict[str, Any]:
    """The SPEC §9.5 fields of one call, from its (already redacted) envelope.

    A call the operator ran outside the agents' policy (``kiwi run --as-operator``) also
    carries ``"as_operator": true``.
    """
    error = envelope.get("error") or {}
    code = error.get("code")
    denied = code in DENIALS
    extra: dict[str, Any] = {"as_operator": True} if as_operator else {}
    if token is not None:
        extra["token"] = token  # the thread token's id (jti): which grant allowed the call
    return {
        **extra,
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
    """SHA-256 hex of the compact JSON of ``params`` (values are never logged, only this).

    Raises TypeError/ValueError for values JSON cannot hold.
    """
    return hashlib.sha256(compact_json(params)).hexdigest()


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


class AuditLog:
    """Append-only, hash-chained JSONL files in one folder.

    ``clock`` stamps the lines (seconds, as ``time.time``); ``clock_ns`` is the writer's
    settle clock (see ``ChainWriter``).
    """

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float],
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        shown: str | None = None,
    ) -> None:
        """``shown``: how errors name the folder (a kernel passes ``.ai/logs/audit``, so a
        message to an MCP client holds no absolute path); default the path itself."""
        self.folder = folder
        self.shown = shown or str(folder)
        self._clock = clock
        self._writer = ChainWriter(folder, clock_ns=clock_ns)

    def append(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Append ``record`` with ``ts``, ``seq`` and ``prev`` added; returns what was written.

        Raises ValueError when ``record`` already holds one of those keys, TypeError or
        ValueError when it is not JSON, OSError on I/O failure.
        """
        if "prev" in record or "seq" in record or "ts" in record:
            clash = next(key for key in _RESERVED if key in record)
            raise ValueError(f"audit records may not set '{clash}' (the log fills it in)")
        return self._writer.append(self._clock(), record)

    def require_writable(self) -> None:
        """Refuse, before any effect, a call whose record could not be written (SPEC §9.5).

        With the files held open an append writes through their descriptors, so only the
        free space is checked (one ``statvfs``); otherwise the folder (created if missing),
        its lock file and the newest day file must be writable.

        Raises:
            AuditUnavailable: naming the folder and why (read-only, missing rights, full).
        """
        folder = os.fspath(self.folder)
        problem = None if self._writer.is_open else _not_writable(folder)
        if problem is None:
            try:
                st = os.statvfs(folder)
            except OSError as err:
                problem = err.strerror or str(err)
            else:
                if st.f_bavail * st.f_frsize < MIN_FREE_BYTES:
                    problem = "the disk is full"
        if problem is not None:
            raise AuditUnavailable(
                f"the audit log {self.shown} cannot take a record ({problem}), so the call was"
                " not run",
                at=self.shown,
                details={"path": self.shown, "reason": problem},
            )

    def close(self) -> None:
        """Wait until every line appended so far is on disk (see the module docstring) and
        close the files kept open between appends; a later ``append`` reopens them."""
        SYNCER.wait()
        self._writer.close()

    def verify(self) -> AuditReport:
        """Walk every line in order and report the first break in the chain.

        An edited line is reported itself (the next line's ``prev`` no longer matches it);
        a deleted line is reported at the line that now follows the gap; a line that is
        not a JSON object (torn or damaged) is reported where it is. Streams: one line and
        the next are held at a time, whatever the log's size; after the first break the
        rest is only counted. Raises OSError.
        """
        lines = self._read_all()
        total, found = 0, None
        expected_prev, expected_seq = GENESIS, 1
        previous: _Line | None = None
        upcoming = next(lines, None)
        while upcoming is not None:
            line, upcoming = upcoming, next(lines, None)
            total += 1
            if found is not None:
                continue
            digest = hashlib.sha256(line.raw).hexdigest()
            record = parse_line(line.raw)
            if record is None:
                found = (line, "not a whole JSON record with prev and seq")
                continue
            seq, prev = record["seq"], record["prev"]
            if seq != expected_seq:
                gap = seq - expected_seq
                found = (
                    line,
                    f"seq {seq} where {expected_seq} was expected: "
                    + (f"{gap} line(s) missing before this line" if gap > 0 else "out of order"),
                )
                continue
            if prev != expected_prev:
                # Usually the previous line was edited; but when this line's own hash is
                # also not what the next line recorded, this line is the edited one.
                nxt = parse_line(upcoming.raw) if upcoming is not None else None
                if previous is None or (nxt is not None and nxt["prev"] != digest):
                    found = (line, "this line was changed (its prev is wrong)")
                else:
                    found = (
                        previous,
                        "this line was changed: its hash no longer matches the next line's prev",
                    )
                continue
            expected_prev, expected_seq, previous = digest, seq + 1, line
        if found is not None:
            return _bad(total, *found)
        return AuditReport(ok=True, lines=total)

    def tail(self, n: int = 10) -> list[dict[str, Any]]:
        """The last ``n`` records, oldest first; a damaged line is ``{"invalid": text}``."""
        if n <= 0:
            return []
        raws: list[bytes] = []
        for path in reversed(day_files(self.folder)):
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
        """Every line of every day file in order, read as a stream (a torn last line too)."""
        for path in day_files(self.folder):
            with path.open("rb") as handle:
                for number, raw in enumerate(handle, start=1):
                    yield _Line(file=path.name, number=number, raw=raw.removesuffix(b"\n"))


def _not_writable(folder: str) -> str | None:
    """Why an append to ``folder`` would fail, or None (cheap checks, no write)."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        return f"cannot create the folder: {err.strerror or err}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "the folder is not writable"
    newest = day_files(Path(folder))
    for path in (os.path.join(folder, ".lock"), *(os.fspath(p) for p in newest[-1:])):
        if os.path.exists(path) and not os.access(path, os.W_OK):
            return f"{os.path.basename(path)} is not writable"
    return None


def _bad(total: int, line: _Line, reason: str) -> AuditReport:
    return AuditReport(
        ok=False, lines=total, first_bad=BadLine(file=line.file, line=line.number, reason=reason)
    )

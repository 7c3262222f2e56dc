"""A thread's transcript (SPEC §13.2): one JSON event per line, hash-chained, with signed
checkpoints at turn boundaries — the journal a resume trusts only after verifying it.

A line is ``compact_json({seq, ts, type, payload, prev})``: ``seq`` from 1, ``prev`` the
SHA-256 hex of the previous line's bytes (no newline), ``GENESIS`` first. A ``checkpoint``'s
payload is ``{upto, hash, key, signature}``: the seq before it, the SHA-256 hex of all the
file's bytes before its line, the signer's fingerprint, ``sign(hash.encode("ascii"))`` (the
runner's ``Signer`` gives base64url Ed25519; the transcript passes the text through).

An append is one ``O_APPEND`` write of a whole line under an exclusive ``flock`` of the file,
fsynced unless the event is droppable (the next durable append covers those). A crash can
only leave a torn last line (no newline), never acknowledged: the next append cuts it and
records a ``torn_tail`` event ``{bytes}`` first. Each line is vouched for by the next one's
``prev``, so the last line is held only by its own fields (a final checkpoint's hash and
signature; not its ``ts``), and lines cut at the end leave no trace in the file itself.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from kiwi_mcp.kernel.errors import TranscriptTampered, UsageError
from kiwi_mcp.kernel.runtime.threads.transcript_lines import (
    GENESIS,
    Verification,
    parse_line,
    split_lines,
    tail_line,
    verify_lines,
)
from kiwi_mcp.kernel.store.fileio import ensure_private_dir, fsync_dir
from kiwi_mcp.kernel.trust.encoding import compact_json

__all__ = ["GENESIS", "Transcript", "Verification"]

_RESERVED: Final = frozenset({"checkpoint", "torn_tail"})
_FLAGS: Final = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class Transcript:
    """The transcript file at ``path``, made (folder 0700, file 0600) on the first append.

    One instance keeps the file open and remembers the chain's end (seq, last line's hash,
    size), read once from the file's tail; it re-reads the tail only when the size shows
    another writer appended. Safe to share between threads; a forked child reopens the file.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._mutex = threading.Lock()
        self._fd, self._pid = -1, 0
        self._size, self._seq, self._prev = -1, 0, GENESIS
        # The SHA-256 of the whole file, kept once a checkpoint needed it, while _size holds.
        self._hasher: hashlib._Hash | None = None
        # The events read (and since appended by this instance), valid while the file's
        # size is _cache_size: a runner rebuilds its history each turn without re-reading.
        self._cache: list[dict[str, Any]] | None = None
        self._cache_size = -1

    @classmethod
    def for_thread(cls, project_root: Path, thread_id: str, **kw: Any) -> Transcript:
        """``<project>/.ai/threads/<thread_id>/transcript.jsonl``.

        Raises UsageError for a thread id that is not one folder name.
        """
        if thread_id in ("", ".", "..") or "/" in thread_id or "\0" in thread_id:
            raise UsageError(
                f"not a thread id: {thread_id!r}", hint="Run 'kiwi threads list' for the ids."
            )
        return cls(project_root / ".ai" / "threads" / thread_id / "transcript.jsonl", **kw)

    # --- writing ---------------------------------------------------------------------------

    def append(
        self, type: str, payload: Mapping[str, Any], *, durable: bool = True
    ) -> dict[str, Any]:
        """Write one event after the last and return it.

        Raises UsageError for a reserved type (``checkpoint``, ``torn_tail``), TypeError or
        ValueError when ``payload`` is not JSON (nothing is written), TranscriptTampered when
        the file's last line is not an event, OSError on I/O failure.
        """
        if type in _RESERVED or not type:
            raise UsageError(
                f"transcript event type {type!r} is empty or reserved",
                hint="checkpoint and torn_tail are the transcript's own; name another type.",
            )
        payload = dict(payload)
        body = compact_json(payload)
        with self._locked() as fd:
            return self._write(fd, type, payload, body, durable)

    def checkpoint(self, sign: Callable[[bytes], str], key: str) -> dict[str, Any]:
        """Append a durable, signed ``checkpoint`` of everything before it; returns it.

        The first checkpoint of an instance hashes the whole file; later ones reuse the
        running hash unless another writer appended in between. Raises what ``append``
        raises and whatever ``sign`` raises (nothing is written then).
        """
        with self._locked() as fd:
            if self._hasher is None:  # under the lock the file is exactly what we know
                with os.fdopen(os.dup(fd), "rb") as handle:
                    handle.seek(0)  # the shared offset: O_APPEND writes ignore it
                    self._hasher = hashlib.file_digest(handle, "sha256")
            digest = self._hasher.hexdigest()
            payload = {
                "upto": self._seq,
                "hash": digest,
                "key": key,
                "signature": sign(digest.encode("ascii")),
            }
            return self._write(fd, "checkpoint", payload, compact_json(payload), True)

    def close(self) -> None:
        """Close the file; a later append opens it again."""
        with self._mutex:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._size = -1, -1

    def __del__(self, _close: Callable[[int], None] = os.close) -> None:
        if getattr(self, "_fd", -1) >= 0 and self._pid == os.getpid():
            _close(self._fd)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The open file, flocked, with the chain's end known and a torn tail cut."""
        with self._mutex:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size != self._size:
                    self._loadtail_line(fd, size)
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        if self._fd >= 0 and self._pid == os.getpid():
            return self._fd
        if self._fd >= 0:
            # A forked child: it shares the parent's open file description, which flock
            # sees as one holder, so it closes its copy (the parent's lock stays) and opens
            # its own.
            os.close(self._fd)
        folder = self.path.parent
        made_folder = not folder.is_dir()
        if made_folder:
            ensure_private_dir(folder)
        try:
            fd, made = os.open(self.path, _FLAGS | os.O_EXCL, 0o600), True
        except FileExistsError:
            fd, made = os.open(self.path, _FLAGS, 0o600), False
        if made:
            fsync_dir(folder)
            if made_folder:
                fsync_dir(folder.parent)
        self._fd, self._pid, self._size = fd, os.getpid(), -1
        return fd

    def _loadtail_line(self, fd: int, size: int) -> None:
        end, last = tail_line(fd, size)
        seq = self._seq_of(last)
        prev = GENESIS if last is None else hashlib.sha256(last).hexdigest()
        self._size, self._seq, self._prev, self._hasher = end, seq, prev, None
        self._cache = None  # another writer (or none known yet): read again when asked
        if end < size:
            os.ftruncate(fd, end)
            payload = {"bytes": size - end}
            self._write(fd, "torn_tail", payload, compact_json(payload), True)

    def _write(
        self, fd: int, type: str, payload: dict[str, Any], body: bytes, durable: bool
    ) -> dict[str, Any]:
        seq, prev, ts = self._seq + 1, self._prev, float(self._clock())
        # compact_json of the whole event, its keys in sorted order, without encoding the
        # payload again.
        line = b'{"payload":%b,"prev":"%b","seq":%d,"ts":%b,"type":%b}' % (
            body,
            prev.encode("ascii"),
            seq,
            compact_json(ts),
            compact_json(type),
        )
        data = line + b"\n"
        written = os.write(fd, data)
        while written < len(data):  # a short write (a signal, a full disk): rare
            written += os.write(fd, data[written:])
        # A failed write leaves this state as it was; the size then differs, so the next
        # append reads the tail again (and cuts a torn line).
        self._seq, self._prev = seq, hashlib.sha256(line).hexdigest()
        if self._cache is not None and self._cache_size == self._size:
            event = parse_line(line)
            if event is not None:
                self._cache.append(event)
                self._cache_size += len(data)
        self._size += len(data)
        if self._hasher is not None:
            self._hasher.update(data)
        if durable:
            os.fsync(fd)
        return {"seq": seq, "ts": ts, "type": type, "payload": payload, "prev": prev}

    # --- reading ---------------------------------------------------------------------------

    def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The events with a seq above ``after_seq``, at most ``limit``, read line by line.

        Lines that are not events and a torn last line are left out (``verify`` says why).
        """
        if limit is not None and limit <= 0:
            return []
        with self._mutex:
            try:
                size = os.stat(self.path).st_size
            except FileNotFoundError:
                size = 0
            if self._cache is None or size != self._cache_size:
                self._cache, self._cache_size = [], 0
                for line, complete in self._lines(settle=False):
                    if not complete:
                        break
                    self._cache_size += len(line) + 1
                    event = parse_line(line)
                    if event is not None:
                        self._cache.append(event)
            out = [event for event in self._cache if event["seq"] > after_seq]
        return out if limit is None else out[:limit]

    def last_seq(self) -> int:
        """The seq of the last complete line (0 for no file or no line).

        Raises TranscriptTampered when that line is not an event.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        try:
            _, last = tail_line(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        return self._seq_of(last)

    def _seq_of(self, last: bytes | None) -> int:
        event = None if last is None else parse_line(last)
        if last is not None and event is None:
            raise TranscriptTampered(
                f"{self.path}: the last complete line is not a transcript event",
                hint="Run 'kiwi threads show <id>' to see where the transcript changed.",
                details={"path": str(self.path)},
            )
        return 0 if event is None else int(event["seq"])

    def verify(self, check_signature: Callable[[bytes, str, str], bool]) -> Verification:
        """Check the whole chain in one pass, in constant memory (see ``Verification``).

        ``check_signature(hash_ascii, signature, key)`` says whether a checkpoint's
        signature is ``key``'s over its hash. No file is an empty, verified transcript.
        """
        return verify_lines(self._lines(settle=True), check_signature)

    def follow(
        self, after_seq: int, *, poll_s: float = 0.2, stop: Callable[[], bool]
    ) -> Iterator[dict[str, Any]]:
        """Yield each event with a seq above ``after_seq`` as it is appended (the file may
        not exist yet), polling every ``poll_s``, until ``stop()`` is true; what was appended
        before ``stop()`` turned true is still yielded."""
        seen, pos = after_seq, 0
        while True:
            done = stop()
            try:
                with self.path.open("rb") as handle:
                    if os.fstat(handle.fileno()).st_size < pos:
                        pos = 0  # rewritten under us: read again, the seq filter holds
                    handle.seek(pos)
                    for line, complete in split_lines(handle, settle=False):
                        if not complete:
                            break
                        pos += len(line) + 1
                        event = parse_line(line)
                        if event is not None and event["seq"] > seen:
                            seen = event["seq"]
                            yield event
            except FileNotFoundError:
                pass
            if done:
                return
            time.sleep(poll_s)

    def _lines(self, *, settle: bool) -> Iterator[tuple[bytes, bool]]:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from split_lines(handle, settle=settle)

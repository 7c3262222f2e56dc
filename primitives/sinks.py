"""Sinks: where streamed events go (SPEC §6.2).

An event is a JSON-ready ``dict`` (for SSE: ``{"event", "data", "id"}``). The kernel builds
the sinks a tool asks for and hands them to ``HttpClient.request``, which writes every event to
each of them in order and closes all of them when the request ends, however it ends.
``close`` is idempotent; writing to a closed sink raises ``ValueError``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from .errors import PrimitiveError

__all__ = ["EventCallback", "Fanout", "FileSink", "NullSink", "ReturnSink", "Sink"]

EventCallback = Callable[[dict[str, Any]], None]


@runtime_checkable
class Sink(Protocol):
    """A destination for streamed events."""

    def write(self, event: dict[str, Any]) -> None:
        """Take one event. May raise: the request then fails with ``EXECUTION_FAILED``."""

    def close(self) -> None:
        """Flush and release resources. Idempotent."""


class ReturnSink:
    """Keeps the first ``max_events`` events in memory and counts the ones it had to drop.

    The first events are kept rather than the last because the start of a stream (an LLM's
    ``message_start``, say) is what later events refer to.
    """

    def __init__(self, max_events: int = 10_000) -> None:
        if max_events < 0:
            raise ValueError(f"max_events must be ≥ 0, got {max_events}")
        self.max_events = max_events
        self.events: list[dict[str, Any]] = []
        self.dropped = 0
        self.closed = False

    def write(self, event: dict[str, Any]) -> None:
        if self.closed:
            raise ValueError("write to a closed ReturnSink")
        if len(self.events) < self.max_events:
            self.events.append(event)
        else:
            self.dropped += 1

    def close(self) -> None:
        self.closed = True

    def result(self) -> dict[str, Any]:
        """``{"events": [...], "dropped": n}`` — the ``data`` of a streamed run (SPEC §5.5)."""
        return {"events": list(self.events), "dropped": self.dropped}


class NullSink:
    """Discards events, counting them."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = False

    def write(self, event: dict[str, Any]) -> None:
        if self.closed:
            raise ValueError("write to a closed NullSink")
        self.count += 1

    def close(self) -> None:
        self.closed = True


class FileSink:
    """Appends each event as one JSON line to ``path``, making parent folders.

    Writes are buffered and flushed every ``flush_every`` events or ``flush_interval`` seconds,
    whichever comes first, and on ``close``; so a reader tailing the file sees events soon,
    and nothing is lost once ``close`` returns.

    Raises ``PrimitiveError("EXECUTION_FAILED")`` when the file cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        append: bool = False,
        flush_every: int = 1000,
        flush_interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.count = 0
        self._flush_every = max(1, flush_every)
        self._flush_interval = flush_interval
        self._unflushed = 0
        self._last_flush = time.monotonic()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = open(  # noqa: SIM115 — closed by close()
                self.path, "a" if append else "w", encoding="utf-8", buffering=1 << 16
            )
        except OSError as exc:
            raise PrimitiveError(
                "EXECUTION_FAILED",
                f"cannot open sink file {self.path}: {exc.strerror or exc}",
                details={"path": str(self.path)},
            ) from exc

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, event: dict[str, Any]) -> None:
        if self._file is None:
            raise ValueError(f"write to a closed FileSink ({self.path})")
        self._file.write(
            json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        )
        self.count += 1
        self._unflushed += 1
        if (
            self._unflushed >= self._flush_every
            or time.monotonic() - self._last_flush >= self._flush_interval
        ):
            self._flush()

    def _flush(self) -> None:
        assert self._file is not None
        self._file.flush()
        self._unflushed = 0
        self._last_flush = time.monotonic()

    def close(self) -> None:
        if self._file is None:
            return
        file, self._file = self._file, None
        file.close()


class Fanout:
    """Hands each event to every sink, in order, then to an optional callback.

    A sink that raises is reported as ``PrimitiveError("EXECUTION_FAILED")`` naming it; an
    exception from the callback passes through unchanged.
    """

    def __init__(self, sinks: Sequence[Sink], on_event: EventCallback | None) -> None:
        self._sinks = tuple(sinks)
        self._on_event = on_event
        # Bound methods, looked up once: this runs once per streamed event.
        self._targets: tuple[EventCallback, ...] = tuple(sink.write for sink in sinks)
        if on_event is not None:
            self._targets += (on_event,)

    def __call__(self, event: dict[str, Any]) -> None:
        target: EventCallback | None = None
        try:
            for target in self._targets:
                target(event)
        except Exception as exc:
            sink = getattr(target, "__self__", None)
            if target is self._on_event or sink is None:
                raise
            raise PrimitiveError(
                "EXECUTION_FAILED",
                f"sink {type(sink).__name__} failed: {type(exc).__name__}: {exc}",
            ) from exc

    def close(self, *, quiet: bool) -> None:
        """Close every sink; the first failure is raised afterwards unless ``quiet``."""
        failure: BaseException | None = None
        for sink in self._sinks:
            try:
                sink.close()
            except Exception as exc:
                failure = failure or exc
        if failure is not None and not quiet:
            raise PrimitiveError(
                "EXECUTION_FAILED",
                f"closing a sink failed: {type(failure).__name__}: {failure}",
            ) from failure

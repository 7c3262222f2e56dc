"""Live output of ``kiwi run`` on a terminal: the tool's latest lines and a spinner (stderr).

A ``LiveView`` draws a small region at the bottom of the terminal: the last few lines a
tool streamed (``{"event": "stdout", "data": line}`` and the HTTP client's events, through
``execute``'s ``on_event``) and one status line with a spinner and the elapsed time. The
region is redrawn in place and erased by ``close``, so what stays on the terminal is exactly
what ``kiwi run`` prints without it: the result is printed once, not twice. After a failure
the last lines are kept, since the error printed next does not repeat them.

Only ``live_view`` decides whether there is a view at all: never unless the stream is a
terminal (and ``TERM`` is not ``dumb``), so piped output carries not one byte more. Drawing
never raises: the hook runs inside the primitive, where an exception would stop the run; a
terminal that went away just ends the view.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TextIO

__all__ = ["LiveView", "live_view"]

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_ERASE = "\x1b[J"  # clear from the cursor to the end of the screen
_UNICODE_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_ASCII_FRAMES = "|/-\\"


def live_view(
    stream: TextIO, *, label: str, environ: Mapping[str, str] | None = None
) -> LiveView | None:
    """A view on ``stream`` when it is a terminal that can move its cursor, else ``None``."""
    env = os.environ if environ is None else environ
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):
        terminal = False
    if not terminal or env.get("TERM") == "dumb":
        return None
    return LiveView(stream, label=label)


class LiveView:
    """The live region of one run. Call ``on_event`` per event, ``tick`` now and then (or
    run ``spin``), and ``close`` once at the end."""

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str,
        clock: Callable[[], float] = time.monotonic,
        size: Callable[[], tuple[int, int]] | None = None,
        tail: int = 6,
        delay: float = 0.25,
        min_interval: float = 0.05,
    ) -> None:
        #: ``size`` gives (columns, rows), 0 when unknown; ``delay``: no spinner before it,
        #: so a quick run that streams nothing shows nothing; ``min_interval``: lines that
        #: arrive faster are drawn by the next tick (the first line always at once).
        self._stream = stream
        self._label = label
        self._clock = clock
        self._size = size or self._terminal_size
        self._lines: deque[str] = deque(maxlen=max(tail, 0))
        self._delay = delay
        self._min_interval = min_interval
        self._started = clock()
        self._last_draw: float | None = None
        self._rows = 0
        self._count = 0
        self._pending = False
        self._closed = False
        self._open_text = False  # the last line is an LLM text still being written
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self._frames = _UNICODE_FRAMES if encoding == "utf8" else _ASCII_FRAMES
        self._dot = " · " if encoding == "utf8" else " - "
        self._ellipsis = "…" if encoding == "utf8" else "~"

    def on_event(self, event: Mapping[str, Any]) -> None:
        """One streamed event (an ``EventHook``); never raises."""
        if self._closed:
            return
        try:
            first = self._count == 0
            name = str(event.get("event", ""))
            if name.startswith("llm."):
                self._llm(name, event.get("data"))
            else:
                for line in _event_text(event).split("\n"):
                    self._add_line(line)
                self._open_text = False
            now = self._clock()
            if first or self._last_draw is None or now - self._last_draw >= self._min_interval:
                self._draw(now)
            else:
                self._pending = True
        except Exception:  # a view must never stop the run it shows
            self._closed = True

    def _add_line(self, line: str) -> None:
        self._lines.append(line)
        self._count += 1

    def _llm(self, name: str, data: Any) -> None:
        """An LLM call's canonical event (SPEC §12.3): its text as it is written, one line
        per tool call it starts, a note when an attempt is discarded; nothing for the rest."""
        data = data if isinstance(data, Mapping) else {}
        if name in ("llm.text_delta", "llm.thinking_delta"):
            pieces = str(data.get("text", "")).split("\n")
            if self._open_text and self._lines:
                self._lines[-1] += pieces[0]
            else:
                self._add_line(pieces[0])
            for piece in pieces[1:]:
                self._add_line(piece)
            self._open_text = True
            return
        note = None
        if name == "llm.block_start" and data.get("kind") == "tool_call":
            note = f"-> tool call {data.get('name')}"
        elif name == "llm.discarded":
            note = (
                f"(attempt {data.get('attempt')} failed; its {data.get('events')} events are void)"
            )
        elif name == "llm.block_start":
            self._open_text = False
        if note is not None:
            self._add_line(note)
            self._open_text = False

    def tick(self) -> None:
        """Advance the spinner (after ``delay``) and draw lines that were held back."""
        if self._closed:
            return
        now = self._clock()
        if self._pending or now - self._started >= self._delay:
            self._draw(now)

    async def spin(self, interval: float = 0.1) -> None:
        """``tick`` every ``interval`` seconds until cancelled."""
        while not self._closed:
            await asyncio.sleep(interval)
            self.tick()

    def close(self, *, keep_lines: bool = False) -> None:
        """Erase the region; with ``keep_lines`` (a failed run) leave the last lines."""
        if self._closed:
            return
        self._closed = True
        if self._rows == 0:
            return
        text = self._home()
        if keep_lines and self._lines:
            width = self._width()
            earlier = self._count - len(self._lines)
            if earlier > 0:
                text += self._fit(f"{self._ellipsis} {earlier} earlier line(s)", width) + "\n"
            text += "".join(self._fit(line, width) + "\n" for line in self._lines)
        self._write(text)

    # --- drawing -------------------------------------------------------------------------

    def _draw(self, now: float) -> None:
        self._pending = False
        self._last_draw = now
        width = self._width()
        _, rows = self._size()
        lines = list(self._lines)
        if rows > 0:
            lines = lines[max(len(lines) - (rows - 2), 0) :] if rows > 2 else []
        shown = [self._fit(line, width) for line in lines]
        shown.append(self._fit(self._status(now), width))
        self._write(self._home() + "\n".join(shown))
        self._rows = len(shown)

    def _status(self, now: float) -> str:
        elapsed = max(now - self._started, 0.0)
        frame = self._frames[int(elapsed / 0.1) % len(self._frames)]
        text = f"{frame} {self._label}{self._dot}{_duration(elapsed)}"
        if self._count:
            text += f"{self._dot}{self._count} line{'s' if self._count != 1 else ''}"
        return text

    def _home(self) -> str:
        """Back to the first row of the region, which is cleared to the end of the screen."""
        if not self._rows:
            return ""
        up = f"\x1b[{self._rows - 1}A" if self._rows > 1 else ""
        return "\r" + up + _ERASE

    def _fit(self, text: str, width: int) -> str:
        """``text`` made safe for a terminal and cut to fewer than ``width`` columns, so no
        row wraps and the region's height stays known."""
        room = width - 1
        out: list[str] = []
        used = 0
        for char in _printable(text):
            cells = _cells(char)
            if used + cells > room:
                while out and used + 1 > room:
                    used -= _cells(out.pop())
                out.append(self._ellipsis)
                break
            out.append(char)
            used += cells
        return "".join(out)

    def _width(self) -> int:
        columns, _ = self._size()
        return columns if columns > 1 else 80

    def _terminal_size(self) -> tuple[int, int]:
        try:
            size = os.get_terminal_size(self._stream.fileno())
        except (AttributeError, ValueError, OSError):
            return 0, 0
        return size.columns, size.lines

    def _write(self, text: str) -> None:
        if not text:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing, keep running
            self._closed = True


def _event_text(event: Mapping[str, Any]) -> str:
    data = event.get("data")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    name = str(event.get("event", "event"))
    if name not in ("stdout", "message"):
        text = f"{name}: {text}"
    return text.rstrip("\n")


def _printable(text: str) -> str:
    """The text without escape sequences or control characters (a tool's output must not
    drive the terminal), tabs as spaces."""
    text = _ANSI.sub("", text)
    text = "".join(c for c in text if c == "\t" or unicodedata.category(c) not in ("Cc", "Cf"))
    return text.expandtabs(4)


def _cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"

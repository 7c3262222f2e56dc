"""The hostile pass's sandbox: a temp project and user space, the real ``kiwi`` CLI, and the
real ``kiwi serve`` on stdio and over HTTP, each child under a memory cap and every wait
under a timeout (a hang guard, never a timing assertion)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import resource
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from tests.hostile.gen_lines import parse_int

__all__ = [
    "KIWI",
    "CliResult",
    "HttpServe",
    "Sandbox",
    "StdioServe",
    "answer_problems",
    "leaks_in",
    "read_json",
]

KIWI: Final = str(Path(sys.executable).with_name("kiwi"))
PROTOCOL: Final = "2025-11-25"
INITIALIZE: Final = {
    "protocolVersion": PROTOCOL,
    "capabilities": {},
    "clientInfo": {"name": "kiwi-hostile-pass", "version": "1"},
}
#: Address-space cap of every child: a parser that expands an alias bomb fails, not the box.
MEMORY_CAP: Final = 3 * 1024**3
TRACEBACK_MARKS: Final = ("Traceback (most recent call last)", 'File "')

GOOD_TOOL: Final = '''"""A tool that always works (the hostile pass's control)."""

__version__ = "1.0.0"
__executor_id__ = "runtimes/python"
PARAMETERS = {"type": "object", "properties": {}, "additionalProperties": False}


def execute(params, context):
    return {"good": True}
'''


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def read_json(text: str | bytes) -> Any:
    """JSON as the pass reads it: integers too long for ``int()`` kept as text."""
    return json.loads(text, parse_int=parse_int)


@dataclass
class CliResult:
    args: tuple[str, ...]
    returncode: int | None  # None: killed by the hang guard
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    @property
    def json(self) -> Any:
        try:
            return read_json(self.stdout)
        except ValueError:
            return None


@dataclass
class Sandbox:
    """A project made by ``kiwi init`` (keys, default policy) plus the good tool, signed."""

    top: Path
    root: Path
    user: Path
    env: dict[str, str]

    @classmethod
    def create(cls, top: Path, name: str = "project") -> Sandbox:
        root = top / name
        root.mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(top),
            "KIWI_WARM": "0",  # in-process: tests/faces/cli/test_warm.py runs the warm process
            "KIWI_USER_SPACE": str(top / "user"),
            "KIWI_AUTH_BACKEND": "file",
            "LANG": "C.UTF-8",
        }
        box = cls(top=top, root=root, user=top / "user", env=env)
        done = box.cli("init", timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"kiwi init failed: {done.stderr or done.stdout}")
        box.write_tool("good/tool.py", GOOD_TOOL)
        box.sign("good/tool")
        return box

    def sign(self, pattern: str) -> CliResult:
        """The operator signs (``kiwi sign tool PATTERN``).

        Raises:
            RuntimeError: the CLI failed (the pass cannot run under ``signed`` without it).
        """
        done = self.cli("sign", "tool", pattern, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"kiwi sign tool {pattern!r} failed: {done.stderr or done.stdout}")
        return done

    @property
    def tools(self) -> Path:
        return self.root / ".ai" / "tools"

    def write_tool(self, rel: str, data: str | bytes) -> Path:
        path = self.tools / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def secrets(self) -> tuple[str, ...]:
        """Spellings of the sandbox's absolute path that must never reach a client."""
        return tuple({str(self.top), os.path.realpath(self.top)})

    def cli(
        self, *args: str, timeout: float = 20.0, env: Mapping[str, str] | None = None
    ) -> CliResult:
        argv = (KIWI, "--project", str(self.root), *args)
        try:
            done = subprocess.run(
                argv,
                cwd=self.root,
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                preexec_fn=_cap_memory,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout or b""
            text = out.decode(errors="replace") if isinstance(out, bytes) else out
            return CliResult(args, None, text, "")
        return CliResult(args, done.returncode, done.stdout, done.stderr)


def leaks_in(value: Any, secrets: Sequence[str], where: str = "") -> Iterator[str]:
    """Dotted paths of the strings in ``value`` holding one of ``secrets``."""
    if isinstance(value, str):
        if any(secret in value for secret in secrets):
            yield where or "."
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaks_in(item, secrets, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from leaks_in(item, secrets, f"{where}[{n}]")


def answer_problems(raw: str, message: Any, secrets: Sequence[str]) -> list[tuple[str, str]]:
    """(invariant, where) for what one answer must not hold: a traceback anywhere; the
    sandbox's path in an error (JSON-RPC or envelope) or in the envelope's ``meta``
    (SPEC §10: meta has no absolute paths). ``data`` may name files: it is not checked."""
    found = [("traceback", mark) for mark in TRACEBACK_MARKS if mark in raw]
    if not isinstance(message, Mapping):
        return found
    for where in leaks_in(message.get("error"), secrets, "error"):
        found.append(("path-in-error", where))
    result = message.get("result")
    envelope = result.get("structuredContent") if isinstance(result, Mapping) else None
    if isinstance(envelope, Mapping):
        for part, invariant in (("error", "path-in-error"), ("meta", "path-in-meta")):
            for where in leaks_in(envelope.get(part), secrets, f"structuredContent.{part}"):
                found.append((invariant, where))
    return found


class _Pump:
    """Lines of a child's pipe, read by a thread so the pass can wait with a timeout."""

    def __init__(self, pipe: IO[bytes], *, queued: bool = True) -> None:
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.tail: deque[bytes] = deque(maxlen=200)
        self._queued = queued
        threading.Thread(target=self._run, args=(pipe,), daemon=True).start()

    def _run(self, pipe: IO[bytes]) -> None:
        for line in iter(pipe.readline, b""):
            self.tail.append(line[:500])
            if self._queued:
                self.lines.put(line)
        self.lines.put(b"")


@dataclass
class StdioServe:
    """``kiwi serve`` on stdio; lines are written by a thread, answers read by another."""

    box: Sandbox
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] = field(init=False)
    closed: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [KIWI, "--project", str(self.box.root), "serve"],
            cwd=self.box.root,
            env={**self.box.env, **self.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_cap_memory,
        )
        assert self.process.stdout and self.process.stderr
        self._out = _Pump(self.process.stdout)
        self._err = _Pump(self.process.stderr, queued=False)
        self._writes: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._write, daemon=True).start()
        self._next = 0

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        while (data := self._writes.get()) is not None:
            try:
                stdin.write(data + b"\n")
                stdin.flush()
            except (BrokenPipeError, OSError):
                return

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr_tail(self) -> str:
        return b"".join(self._err.tail).decode(errors="replace")[-2000:]

    def send(self, data: bytes) -> None:
        self._writes.put(data)

    def answer(self, timeout: float) -> tuple[str, Any] | None:
        """The next stdout line (raw, parsed; parsed is ``...`` when not JSON); None on a
        timeout or when stdout closed."""
        try:
            line = self._out.lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if not line:
            self.closed = True
            self._out.lines.put(b"")  # stay closed for the next reader
            return None
        raw = line.decode(errors="replace")
        try:
            return raw, read_json(line)
        except ValueError:
            return raw, ...

    def request(self, method: str, params: Any = None, timeout: float = 20.0) -> Any:
        """One request; the answer with its id (other messages are dropped), None on timeout."""
        self._next += 1
        ident = f"req-{self._next}"
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(json.dumps(msg).encode())
        while (got := self.answer(timeout)) is not None:
            if isinstance(got[1], Mapping) and got[1].get("id") == ident:
                return got[1]
        return None

    def initialize(self) -> bool:
        answer = self.request("initialize", INITIALIZE, timeout=60)
        self.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
        return isinstance(answer, Mapping) and "result" in answer

    def call(self, tool: str, arguments: Mapping[str, Any], timeout: float = 20.0) -> Any:
        """``tools/call``: the envelope (structuredContent), the JSON-RPC error object, or
        None on a timeout."""
        answer = self.request("tools/call", {"name": tool, "arguments": arguments}, timeout)
        if not isinstance(answer, Mapping):
            return None
        result = answer.get("result")
        if isinstance(result, Mapping):
            return result.get("structuredContent")
        return {"jsonrpc_error": answer.get("error")}

    def close(self) -> None:
        self._writes.put(None)
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


@dataclass
class HttpAnswer:
    status: int | None  # None: no response (timeout, connection refused)
    text: str
    messages: list[Any]


@dataclass
class HttpServe:
    """``kiwi serve --http --port 0``; the URL is read from its stderr announcement."""

    box: Sandbox
    process: subprocess.Popen[bytes] = field(init=False)
    url: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            [KIWI, "--project", str(self.box.root), "serve", "--http", "--port", "0"],
            cwd=self.box.root,
            env=self.box.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_cap_memory,
        )
        assert self.process.stderr is not None
        self._err = _Pump(self.process.stderr)
        while not self.url:
            try:
                line = self._err.lines.get(timeout=60).decode(errors="replace")
            except queue.Empty:
                raise RuntimeError("kiwi serve --http announced no URL") from None
            if not line:
                raise RuntimeError("kiwi serve --http exited: " + self.stderr_tail())
            found = re.search(r"at (http://127\.0\.0\.1:(\d+)/mcp)$", line.strip())
            self.url = found.group(1) if found else ""
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stderr_tail(self) -> str:
        return b"".join(self._err.tail).decode(errors="replace")[-2000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)


def http_messages(content_type: str, text: str) -> list[Any]:
    """The JSON-RPC messages of an HTTP answer body (JSON, or SSE ``data:`` lines)."""
    found: list[Any] = []
    if "text/event-stream" in content_type:
        for event in re.split(r"\r?\n\r?\n", text):
            data = "\n".join(
                line[5:].lstrip(" ") for line in event.splitlines() if line.startswith("data:")
            )
            if data.strip():
                try:
                    found.append(read_json(data))
                except ValueError:
                    found.append(...)
    elif text.strip():
        try:
            parsed = read_json(text)
        except ValueError:
            return found
        found.extend(parsed if isinstance(parsed, list) else [parsed])
    return found

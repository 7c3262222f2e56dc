"""A real loopback HTTP server for tests (127.0.0.1, an ephemeral port, a background thread).

Usage::

    from tests.support.http_server import LoopbackServer, Pause, Response

    with LoopbackServer() as server:
        server.route("GET", "/weather", Response.json({"temp": 21}))
        server.route("POST", "/flaky", [Response.json({}, status=503), Response.json({"ok": 1})])
        server.route("GET", "/echo", lambda req: Response.json({"q": req.query}))
        server.route("GET", "/sse", Response.sse(["data: 1\\n\\n", Pause(0.1), "data: 2\\n\\n"]))
        ...                               # talk to server.url + "/weather"
        server.requests[0].json()         # what the client sent
        server.wait_for_requests(2, timeout=5.0)

Public API (small on purpose):

* ``LoopbackServer()`` — context manager; ``.url`` ("http://127.0.0.1:PORT"), ``.requests`` (a
  copy of the recorded requests, in arrival order), ``.route(method, path, handler)``,
  ``.wait_for_requests(n, timeout) -> bool``, ``.errors`` (exceptions raised by handlers).
  ``__exit__`` shuts down promptly even while a handler is mid-stream or paused.
* ``route`` handlers: a ``Response``; a sequence of ``Response`` (served in turn, the last one
  repeats); or a callable ``(RecordedRequest) -> Response``. Unknown routes answer 404 JSON.
  A handler that raises answers 500 JSON and is recorded in ``.errors``.
* ``RecordedRequest`` — ``method``, ``path`` (no query), ``query`` (first value per key),
  ``query_all`` (every value per key), ``headers`` (case-insensitive mapping), ``body`` (bytes),
  ``client_port`` (the same for requests sent over one kept-alive connection), ``.json()``,
  ``.text()``.
* ``Response(status=200, headers={}, body=b"", chunks=None, abort=False)`` — ``body`` is bytes,
  str or any JSON value (sent with ``Content-Length``). ``chunks`` is a sequence of bytes/str and
  ``Pause(seconds)`` items, sent with chunked transfer encoding, each write flushed at once.
  ``abort=True`` closes the connection abruptly: with no chunks and no body, before any response
  is sent; otherwise after the chunks, without the terminating chunk. Shortcuts:
  ``Response.json(value)``, ``Response.text(s)``, ``Response.sse(chunks)``.
* ``http_server`` — a pytest fixture yielding a running ``LoopbackServer``; import it into a
  ``conftest.py`` to use it.
"""

from __future__ import annotations

import contextlib
import json as _json
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

__all__ = [
    "Headers",
    "LoopbackServer",
    "Pause",
    "RecordedRequest",
    "Response",
    "http_server",
]


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive view of request headers (last value wins on repeats)."""

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._items = tuple(items)
        self._by_lower = {name.lower(): value for name, value in self._items}

    def __getitem__(self, name: str) -> str:
        return self._by_lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_lower)

    def __len__(self) -> int:
        return len(self._by_lower)

    def get_all(self, name: str) -> list[str]:
        """Every value sent for ``name``, in order."""
        return [value for key, value in self._items if key.lower() == name.lower()]

    def __repr__(self) -> str:
        return f"Headers({dict(self._by_lower)!r})"


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    query_all: dict[str, list[str]]
    headers: Headers
    body: bytes
    client_port: int

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return _json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Pause:
    """A delay between two chunks of a streamed response (cut short when the server stops)."""

    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Response:
    """What a route answers; see the module docstring."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = b""
    chunks: Sequence[bytes | str | Pause] | None = None
    abort: bool = False

    @classmethod
    def json(
        cls, value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return cls(
            status=status,
            headers={"Content-Type": "application/json", **(headers or {})},
            body=_json.dumps(value).encode(),
        )

    @classmethod
    def text(
        cls, value: str, *, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        return cls(
            status=status,
            headers={"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
            body=value.encode(),
        )

    @classmethod
    def sse(
        cls,
        chunks: Sequence[bytes | str | Pause],
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        abort: bool = False,
    ) -> Response:
        return cls(
            status=status,
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                **(headers or {}),
            },
            chunks=chunks,
            abort=abort,
        )

    def body_bytes(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return _json.dumps(self.body).encode()


Handler = Response | Sequence[Response] | Callable[[RecordedRequest], Response]


class _Route:
    """A handler plus, for a sequence of responses, how far along it is."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._served = 0
        self._lock = threading.Lock()

    def respond(self, request: RecordedRequest) -> Response:
        if isinstance(self._handler, Response):
            return self._handler
        if callable(self._handler):
            return self._handler(request)
        with self._lock:
            responses = self._handler
            index = min(self._served, len(responses) - 1)
            self._served += 1
        return responses[index]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (resets, broken pipes) are normal here; anything else is kept."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError) or exc is None:
            return
        self.owner._record_error(exc)
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients can keep connections alive (connection reuse is tested through this).
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, each small response would
    # wait ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the stdlib's per-request lines on stderr."""

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        owner = self.server.owner
        split = urlsplit(self.path)
        query_all = parse_qs(split.query, keep_blank_values=True)
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query={key: values[0] for key, values in query_all.items()},
            query_all=query_all,
            headers=Headers(list(self.headers.items())),
            body=self._read_body(),
            client_port=int(self.client_address[1]),
        )
        owner._record(request)
        route = owner._route_for(request.method, request.path)
        try:
            response = (
                route.respond(request)
                if route is not None
                else Response.json(
                    {"error": "not found", "method": request.method, "path": request.path},
                    status=404,
                )
            )
        except Exception as exc:  # a broken test handler must show up as a 500, not a hang
            owner._record_error(exc)
            response = Response.json({"error": repr(exc)}, status=500)
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _send(self, response: Response) -> None:
        stopping = self.server.owner._stopping
        if response.abort and response.chunks is None and not response.body_bytes():
            self._abort()
            return
        self.send_response(response.status)
        sent = {name.lower() for name in response.headers}
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.chunks is None:
            body = response.body_bytes()
            if "content-length" not in sent:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            if response.abort:
                self._abort()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in response.chunks:
            if isinstance(chunk, Pause):
                if stopping.wait(chunk.seconds):
                    self._abort()
                    return
                continue
            data = chunk.encode() if isinstance(chunk, str) else chunk
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        if response.abort:
            self._abort()
            return
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        """Drop the connection with a reset instead of an orderly close."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class LoopbackServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; see the module docstring."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], _Route] = {}
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        with self._cond:
            return list(self._errors)

    def route(self, method: str, path: str, handler: Handler) -> None:
        """Answer ``method path`` with ``handler`` (replacing any earlier route for it)."""
        if not isinstance(handler, Response) and not callable(handler) and not handler:
            raise ValueError("a sequence handler needs at least one Response")
        with self._cond:
            self._routes[(method.upper(), path)] = _Route(handler)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` requests arrived; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= count, timeout)

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="loopback-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection; returns promptly."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._cond:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _record_error(self, exc: BaseException) -> None:
        with self._cond:
            self._errors.append(exc)

    def _route_for(self, method: str, path: str) -> _Route | None:
        with self._cond:
            return self._routes.get((method, path))

    def _track(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._cond:
            self._connections.discard(conn)


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A running ``LoopbackServer``, stopped after the test."""
    with LoopbackServer() as server:
        yield server

"""The HTTP side of ``FakeLLM``: a threaded HTTP/1.1 server and its request handler.

Each POST is recorded, checked by its wire (``Wire.check``), then answered by the scenario or
script its ``model`` names. Streams go out with chunked transfer encoding, one chunk per SSE
record, each written to the socket as it is produced.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tests.support.fake_llm.anthropic import AnthropicWire
from tests.support.fake_llm.chat import ChatWire
from tests.support.fake_llm.responses import ResponsesWire
from tests.support.fake_llm.scenarios import SCENARIOS
from tests.support.fake_llm.turns import Context, Fault, Turn, Wire, compact

if TYPE_CHECKING:
    from tests.support.fake_llm.server import FakeLLM

__all__ = ["WIRES", "FakeRequest", "Handler", "Server"]

WIRES: dict[str, Wire] = {
    wire.path: wire for wire in (AnthropicWire(), ChatWire(), ResponsesWire())
}
_REASONS = {529: "Overloaded"}


@dataclass(frozen=True, kw_only=True, slots=True)
class FakeRequest:
    """One request as the fake received it; ``json`` is None when the body is not JSON."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLM

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up is normal here; anything else is the fake's own bug."""
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, ConnectionError | TimeoutError):
            return
        self.owner._record_error(exc)
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each record is a small write; with Nagle on, it would wait for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: Server
    # Once the status line is out, a failure can only cut the connection.
    _headers_sent = False

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request lines on stderr."""

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, open=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, open=False)

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self._read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = urlsplit(self.path).path
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        owner._record(FakeRequest(method="POST", path=path, headers=headers, body=raw, json=body))
        wire = WIRES.get(path)
        if wire is None:
            message = f"Unknown path {path}; the fake serves POST {', '.join(sorted(WIRES))}."
            error = {"message": message, "type": "invalid_request_error", "param": None}
            self._send_json(404, {"error": {**error, "code": "unknown_url"}}, {})
            return
        self._headers_sent = False
        request_id = f"req_{owner._next('request')}"
        try:
            self._serve(wire, headers, body, request_id)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # the fake's own bug: show it as a 500, never as a hang
            owner._record_error(exc)
            if self._headers_sent:
                self._abort()
            else:
                self._send_fault(wire, Fault(kind="server", message=repr(exc)), request_id)

    def do_GET(self) -> None:
        self._send_json(
            405, {"error": {"message": "use POST", "type": "invalid_request_error"}}, {}
        )

    def _serve(self, wire: Wire, headers: Mapping[str, str], body: Any, request_id: str) -> None:
        if not isinstance(body, dict):
            fault: Fault | None = Fault(kind="invalid", message="The body must be a JSON object.")
        else:
            fault = wire.check(headers, body)
        if fault is not None:
            self._send_fault(wire, fault, request_id)
            return
        model = body["model"]
        answer = self.server.owner._answer(model, wire.user_text(body))
        if answer is None:
            message = (
                f"model: {model!r} is not a fake-llm scenario or scripted model; use one of "
                f"{', '.join(SCENARIOS)}, or fake.script({model!r}, [...])"
            )
            answer = Fault(kind="not_found", message=message, param="model")
        if isinstance(answer, Fault):
            self._send_fault(wire, answer, request_id)
            return
        ctx = self.server.owner._context(model, answer)
        if body.get("stream") is True:
            self._send_stream(wire, answer, ctx, request_id)
        elif answer.ending == "cut":
            self._abort()
        elif answer.ending in ("error", "failed"):
            self._send_fault(wire, Fault(kind="server"), request_id)
        else:
            self._send_json(200, wire.body(answer, ctx), {wire.request_id_header: request_id})

    def _send_fault(self, wire: Wire, fault: Fault, request_id: str) -> None:
        status, payload = wire.error(fault, request_id)
        self._send_json(status, payload, {wire.request_id_header: request_id, **fault.headers})

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str]) -> None:
        data = compact(payload).encode()
        self.send_response(status, _REASONS.get(status))
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self._headers_sent = True
        self.wfile.write(data)

    def _send_stream(self, wire: Wire, turn: Turn, ctx: Context, request_id: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header(wire.request_id_header, request_id)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._headers_sent = True
        stopping = self.server.owner._stopping
        for count, record in enumerate(wire.stream(turn, ctx)):
            if count and turn.gap and stopping.wait(turn.gap):
                self._abort()
                return
            self._chunk(record)
            if turn.pings:
                for _ in range(1 if count else 3):
                    self._chunk(wire.ping)
        if turn.ending == "cut":
            self._abort()
            return
        self.wfile.write(b"0\r\n\r\n")
        if turn.ending in ("error", "failed"):
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        # wfile is unbuffered (wbufsize 0): each chunk reaches the socket at once.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _abort(self) -> None:
        """Drop the connection mid-body: a reset, not an orderly end."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)

"""``FakeLLM``: the three fake provider wires on one loopback port, and what it recorded."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Sequence
from typing import Any

from tests.support.fake_llm.handler import FakeRequest, Handler, Server
from tests.support.fake_llm.scenarios import SCENARIOS, Script, parse_script, resolve
from tests.support.fake_llm.turns import Context, Fault, Turn

__all__ = ["FakeLLM", "FakeRequest"]


class FakeLLM:
    """Fake Anthropic / OpenAI Chat / OpenAI Responses servers on one loopback port.

    ``with FakeLLM() as fake:`` starts it; ``fake.base_url`` is ``http://127.0.0.1:PORT``.
    Ids are numbered per instance from 1 (``toolu_1`` / ``call_1`` / ``fc_1``, ``msg_1``, …)
    and ``reset`` starts them again, with the recorded requests and the attempt counters.
    """

    def __init__(self, *, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._requests: list[FakeRequest] = []
        self._errors: list[BaseException] = []
        self._scripts: dict[str, Script] = {}
        self._attempts: dict[str, int] = {}
        self._counters = self._fresh_counters()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd = Server(("127.0.0.1", port), Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def requests(self) -> list[FakeRequest]:
        """The requests received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the fake itself raised while answering (a bug here, not in the client)."""
        with self._lock:
            return list(self._errors)

    def script(self, model: str, turns: Sequence[Any]) -> None:
        """Answer requests for ``model`` with ``turns``: the N-th request gets turn N, the last
        turn repeats. Raises ``ValueError`` naming the first malformed turn."""
        parsed = parse_script(model, turns)
        with self._lock:
            self._scripts[model] = parsed

    def reset(self) -> None:
        """Forget the recorded requests, the attempt counters and the id numbering."""
        with self._lock:
            self._requests.clear()
            self._attempts.clear()
            self._counters = self._fresh_counters()

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut the open connections (streams mid-way included)."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @staticmethod
    def _fresh_counters() -> dict[str, itertools.count[int]]:
        return {name: itertools.count(1) for name in ("request", "answer", "tool")}

    def _next(self, name: str) -> int:
        with self._lock:
            return next(self._counters[name])

    def _answer(self, model: str, user: str) -> Turn | Fault | None:
        with self._lock:
            script = self._scripts.get(model)
            if script is None and model not in SCENARIOS:
                return None
            attempt = self._attempts.get(model, 0)
            self._attempts[model] = attempt + 1
        if script is None:
            return resolve(model, attempt, user)
        turn = script[min(attempt, len(script) - 1)]
        return resolve(turn, 0, user) if isinstance(turn, str) else turn

    def _context(self, model: str, turn: Turn) -> Context:
        with self._lock:
            number = next(self._counters["answer"])
            tools = tuple(next(self._counters["tool"]) for _ in range(turn.tool_count))
        return Context(model=model, number=number, tool_numbers=tools)

    def _record(self, request: FakeRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)

    def _track(self, conn: socket.socket, *, open: bool) -> None:
        with self._lock:
            if open:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

"""The wire fuzz: malformed lines into ``kiwi serve`` on stdio, and the same lines as POST
bodies into ``kiwi serve --http`` (Host/Origin/header attacks are in ``guard_pass.py``).

stdio, per line: the line, then a ``ping`` with a fresh id (the sentinel), whose answer
must come (the server is up and still reads). An answer is matched to its line by the
canonical JSON of its id, wherever it arrives (ids are unique), so a slow ``tools/call``
answered after the sentinel still counts; an answer with id null is counted for the line in
whose window (before its sentinel's answer) it came, as such answers are written while the
server reads the line, before it reads the sentinel. Lines are judged at the end (or when
the server has to be restarted), after a last sentinel and a wait for ids still in flight;
the only waits are hang guards.

HTTP, per body: its own response, judged at once (no 5xx; the same kinds as stdio, where a
4xx without a JSON-RPC body counts as an answer with id null); a ``ping`` every 25 bodies.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final

import httpx

from tests.hostile.gen_lines import Line, id_key
from tests.hostile.hostile_report import Report, clip
from tests.hostile.hostile_sandbox import (
    INITIALIZE,
    PROTOCOL,
    HttpAnswer,
    HttpServe,
    Sandbox,
    StdioServe,
    answer_problems,
    http_messages,
)

__all__ = ["GUARD", "HEADERS", "http_pass", "post", "stdio_pass", "verdict"]

GUARD: Final = 20.0
HTTP_PING_EVERY: Final = 25


def _shown(line: Line) -> str:
    return clip(line.data.decode(errors="replace"), 160)


def _ids_of(message: Any) -> list[Any]:
    if isinstance(message, list):
        return [one.get("id") if isinstance(one, Mapping) else ... for one in message]
    return [message.get("id") if isinstance(message, Mapping) else ...]


def verdict(line: Line, keyed: int, nulls: int, inner: list[int]) -> str | None:
    """The invariant a line's answers break, or None (see ``gen_lines`` for each kind)."""
    total = keyed + nulls
    if any(count > 1 for count in inner):
        return "answered-more-than-once"
    if line.expect == "id":
        if keyed == 0:
            return "id-unanswered"
        return "answered-more-than-once" if total > 1 else None
    if line.expect == "null" and total != 1:
        return "unanswered" if total == 0 else "answered-more-than-once"
    if line.expect == "none" and total:
        return "notification-or-response-answered"
    if line.expect == "optional" and total > 1:
        return "answered-more-than-once"
    if line.expect == "batch" and total + sum(inner) == 0:
        return "batch-unanswered"
    return None


class _StdioRun:
    def __init__(self, box: Sandbox, report: Report) -> None:
        self.box, self.report = box, report
        self.secrets = box.secrets()
        self.sent: list[Line] = []  # since the last judgement
        self.nulls: list[int] = []  # id-null answers in each sent line's window
        self.owner: dict[str, int] = {}  # id key → index in ``sent``
        self.answers: Counter[str] = Counter()
        self.pings = 0
        self.server = self._start()

    def _start(self) -> StdioServe:
        server = StdioServe(self.box)
        if not server.initialize():
            raise RuntimeError("kiwi serve (stdio) did not initialize: " + server.stderr_tail())
        return server

    def _ping(self) -> str:
        self.pings += 1
        sentinel = f"ping-{self.pings}"
        self.server.send(json.dumps({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}).encode())
        return sentinel

    def _take(self, raw: str, message: Any) -> list[Any]:
        """Count one stdout line's answers; return the sentinel answers among them."""
        current = self.sent[-1] if self.sent else None
        if message is ...:
            cls = current.cls if current else "sentinel"
            self.report.violation("stdio", cls, "stdout-not-json", clip(raw))
            return []
        sentinels = []
        for one, ident in zip(
            message if isinstance(message, list) else [message], _ids_of(message), strict=True
        ):
            key = id_key(ident) if ident is not ... else "…"
            if isinstance(ident, str) and ident.startswith("ping-"):
                sentinels.append(one)
                continue
            owner = self.sent[self.owner[key]] if key in self.owner else current
            cls = owner.cls if owner else "sentinel"
            where = f" in answer to {_shown(owner)}" if owner else ""
            text = raw if not isinstance(message, list) else json.dumps(one, default=str)
            for invariant, spot in answer_problems(text, one, self.secrets):
                self.report.violation("stdio", cls, invariant, spot + where)
            if key is None:
                if self.nulls:
                    self.nulls[-1] += 1
            elif key in self.owner:
                self.answers[key] += 1
            else:
                self.report.violation("stdio", cls, "unknown-id-answer", f"{clip(raw)}{where}")
        return sentinels

    def _until(self, sentinel: str) -> bool:
        """Read answers until the sentinel's; False when none came (hang guard) or it failed."""
        while (got := self.server.answer(GUARD)) is not None:
            for answer in self._take(*got):
                if answer.get("id") == sentinel:
                    return answer.get("result") == {} or self._ping_failed(answer)
        return False

    def _ping_failed(self, answer: Any) -> bool:
        cls = self.sent[-1].cls if self.sent else "sentinel"
        self.report.violation("stdio", cls, "ping-failed", clip(answer))
        return True

    def line(self, line: Line) -> None:
        self.report.sent("stdio", line.cls)
        self.sent.append(line)
        self.nulls.append(0)
        for key in (line.key, *line.inner):
            if key is not None:
                self.owner[key] = len(self.sent) - 1
        self.server.send(line.data)
        if not self._until(self._ping()):
            died = not self.server.alive() or self.server.closed
            self.report.violation(
                "stdio",
                line.cls,
                "server-died" if died else "hang",
                f"after {_shown(line)}; stderr: {clip(self.server.stderr_tail(), 400)}",
            )
            self._judge()
            self.server.process.kill()
            self.server.close()
            self.server = self._start()

    def _judge(self) -> None:
        """After a last sentinel and a wait (hang guard) for ids still in flight, judge every
        line sent since the last judgement."""

        def missing() -> bool:
            return any(
                line.key is not None
                and self.answers[line.key] + self.nulls[n] == 0
                and line.expect in ("id", "null")
                for n, line in enumerate(self.sent)
            )

        if self.server.alive():
            sentinel = self._ping()
            seen = False
            while not seen or missing():
                got = self.server.answer(GUARD)
                if got is None:
                    break
                seen = any(a.get("id") == sentinel for a in self._take(*got)) or seen
        for n, line in enumerate(self.sent):
            keyed = self.answers[line.key] if line.key else 0
            inner = [self.answers[key] for key in line.inner]
            if keyed + self.nulls[n] + sum(inner):
                self.report.answered("stdio", line.cls)
            invariant = verdict(line, keyed, self.nulls[n], inner)
            if invariant:
                self.report.violation(
                    "stdio",
                    line.cls,
                    invariant,
                    f"{keyed} answers with its id, {self.nulls[n]} with id null: {_shown(line)}",
                )
        self.sent, self.nulls = [], []
        self.owner.clear()
        self.answers.clear()

    def finish(self) -> None:
        self._judge()
        if not self.server.alive():
            self.report.violation("stdio", "end", "server-died", self.server.stderr_tail())
        self.server.close()


def stdio_pass(box: Sandbox, lines: Sequence[Line], report: Report) -> None:
    run = _StdioRun(box, report)
    try:
        for line in lines:
            run.line(line)
    finally:
        run.finish()


# --- HTTP -----------------------------------------------------------------------------

HEADERS: Final = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def post(client: httpx.Client, url: str, body: bytes, headers: Mapping[str, str]) -> HttpAnswer:
    try:
        answer = client.post(url, content=body, headers=dict(headers))
    except httpx.HTTPError as exc:
        return HttpAnswer(None, f"{type(exc).__name__}: {exc}", [])
    text = answer.text
    return HttpAnswer(
        answer.status_code, text, http_messages(answer.headers.get("content-type", ""), text)
    )


class _HttpRun:
    def __init__(self, box: Sandbox, report: Report) -> None:
        self.box, self.report, self.secrets = box, report, box.secrets()
        self.client = httpx.Client(timeout=GUARD)
        self._start()

    def _start(self) -> None:
        self.server = HttpServe(self.box)
        init = {"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": INITIALIZE}
        answer = self.client.post(self.server.url, json=init, headers=HEADERS)
        session = answer.headers.get("mcp-session-id")
        self.headers = {**HEADERS, "mcp-protocol-version": PROTOCOL}
        if session:
            self.headers["mcp-session-id"] = session
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode()
        post(self.client, self.server.url, note, self.headers)

    def line(self, n: int, line: Line) -> None:
        report = self.report
        report.sent("http", line.cls)
        got = post(self.client, self.server.url, line.data, self.headers)
        if got.status is None:
            invariant = "server-died" if not self.server.alive() else "no-response"
            report.violation("http", line.cls, invariant, f"{got.text} after {_shown(line)}")
            self._restart()
            return
        if got.messages or got.status >= 400:
            report.answered("http", line.cls)
        if got.status >= 500:
            report.violation(
                "http", line.cls, "5xx", f"{got.status} {clip(got.text)} for {_shown(line)}"
            )
        for message in got.messages:
            for invariant, where in answer_problems(got.text, message, self.secrets):
                report.violation("http", line.cls, invariant, f"{where} for {_shown(line)}")
        keys = [id_key(i) if i is not ... else "…" for m in got.messages for i in _ids_of(m)]
        nulls = keys.count(None) + (1 if got.status >= 400 and not got.messages else 0)
        known = {line.key, *line.inner}
        if any(key is not None and key not in known for key in keys):
            report.violation(
                "http", line.cls, "unknown-id-answer", f"ids {clip(keys, 80)}: " + _shown(line)
            )
        inner = [keys.count(key) for key in line.inner]
        keyed = keys.count(line.key) if line.key else 0
        # Over HTTP every body gets a response: a notification's 202 or 4xx is not an answer.
        broken: str | None = None
        if line.expect not in ("none", "optional"):
            broken = verdict(line, keyed, nulls, inner)
        if broken:
            report.violation(
                "http",
                line.cls,
                broken,
                f"status {got.status}, ids {clip(keys, 80)}: {_shown(line)}",
            )
        if (n + 1) % HTTP_PING_EVERY == 0:
            self.ping(line)

    def ping(self, after: Line | None) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": "ping", "method": "ping"}).encode()
        got = post(self.client, self.server.url, body, self.headers)
        ok = got.status == 200 and any(
            isinstance(m, Mapping) and m.get("id") == "ping" and m.get("result") == {}
            for m in got.messages
        )
        if not ok:
            cls = after.cls if after else "end"
            shown = _shown(after) if after else "the last body"
            self.report.violation(
                "http", cls, "ping-failed", f"{got.status} {clip(got.text)} after {shown}"
            )
            if not self.server.alive():
                self._restart()

    def _restart(self) -> None:
        self.server.close()
        self._start()

    def finish(self) -> None:
        self.ping(None)
        self.server.close()
        self.client.close()


def http_pass(box: Sandbox, lines: Sequence[Line], report: Report) -> None:
    try:
        run = _HttpRun(box, report)
    except RuntimeError as exc:
        report.violation("http", "start", "server-failed-to-start", str(exc))
        return
    try:
        for n, line in enumerate(lines):
            run.line(n, line)
    finally:
        run.finish()

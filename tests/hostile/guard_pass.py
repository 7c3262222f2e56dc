"""Host, Origin and header attacks on ``kiwi serve --http``: each attack refused (4xx), each
legitimate control accepted (200), never a 5xx. SPEC §10: exact Origin/Host checks, parsed,
never matched by prefix."""

from __future__ import annotations

import json

import httpx

from tests.hostile.hostile_report import Report, clip
from tests.hostile.hostile_sandbox import INITIALIZE, HttpServe, Sandbox
from tests.hostile.wire_pass import GUARD, HEADERS, post

__all__ = ["http_guard"]


def _guard_cases(port: int) -> list[tuple[str, dict[str, str], bool]]:
    """(name, headers, allowed). Host and Origin are compared exactly, parsed (SPEC §10)."""
    here = f"127.0.0.1:{port}"
    return [
        ("host 127.0.0.1:PORT", {"Host": here}, True),
        ("host localhost:PORT", {"Host": f"localhost:{port}"}, True),
        ("origin http://127.0.0.1:PORT", {"Origin": f"http://{here}"}, True),
        ("origin http://localhost:PORT", {"Origin": f"http://localhost:{port}"}, True),
        ("host 127.0.0.1:PORT.evil.test", {"Host": f"{here}.evil.test"}, False),
        ("host 127.0.0.1:PORT@evil.test", {"Host": f"{here}@evil.test"}, False),
        ("host localhost.evil.test:PORT", {"Host": f"localhost.evil.test:{port}"}, False),
        ("host evil.test", {"Host": "evil.test"}, False),
        ("host wrong port", {"Host": f"127.0.0.1:{port + 1 if port < 65535 else 1}"}, False),
        ("host empty", {"Host": ""}, False),
        ("origin http://127.0.0.1:PORT.evil.test", {"Origin": f"http://{here}.evil.test"}, False),
        ("origin http://localhost.evil.test", {"Origin": "http://localhost.evil.test"}, False),
        (
            "origin userinfo http://127.0.0.1:PORT@evil.test",
            {"Origin": f"http://{here}@evil.test"},
            False,
        ),
        ("origin http://evil.test", {"Origin": "http://evil.test"}, False),
        (
            "origin wrong port",
            {"Origin": f"http://127.0.0.1:{port + 1 if port < 65535 else 1}"},
            False,
        ),
        ("origin null", {"Origin": "null"}, False),
        (
            "origin http://127.0.0.1.evil.test:PORT",
            {"Origin": f"http://127.0.0.1.evil.test:{port}"},
            False,
        ),
        ("accept missing", {"Accept": ""}, False),
        ("content-type text/plain", {"Content-Type": "text/plain"}, False),
    ]


def http_guard(box: Sandbox, report: Report) -> None:
    """Each attack must be refused (4xx) and each control accepted (200); never a 5xx."""
    try:
        server = HttpServe(box)
    except RuntimeError as exc:
        report.violation("http-guard", "start", "server-failed-to-start", str(exc))
        return
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE})
    try:
        with httpx.Client(timeout=GUARD) as client:
            for name, headers, allowed in _guard_cases(server.port):
                report.sent("http-guard", name)
                got = post(client, server.url, body.encode(), {**HEADERS, **headers})
                if got.status is not None:
                    report.answered("http-guard", name)
                refused = got.status is not None and 400 <= got.status < 500
                if allowed and got.status != 200:
                    report.violation(
                        "http-guard",
                        name,
                        "legitimate-request-refused",
                        f"{headers}: {got.status} {clip(got.text, 120)}",
                    )
                elif not allowed and not refused:
                    report.violation(
                        "http-guard",
                        name,
                        "attack-not-refused",
                        f"{headers}: {got.status} {clip(got.text, 120)}",
                    )
            for name, headers in (
                ("bogus session id", {"mcp-session-id": "not-a-session"}),
                ("no session id", {}),
            ):
                report.sent("http-guard", name)
                ping = b'{"jsonrpc":"2.0","id":2,"method":"ping"}'
                got = post(client, server.url, ping, {**HEADERS, **headers})
                report.answered("http-guard", name)
                if got.status is None or not 400 <= got.status < 500:
                    report.violation(
                        "http-guard",
                        name,
                        "attack-not-refused",
                        f"{got.status} {clip(got.text, 120)}",
                    )
        if not server.alive():
            report.violation("http-guard", "end", "server-died", server.stderr_tail())
    finally:
        server.close()

"""Kiwi's demo: real chains end to end, on embedded defaults, in a throwaway folder.

Runs the installed ``kiwi`` CLI (the one next to this interpreter) against a fresh project
and user space in a temp folder: ``kiwi init`` (keys + a signed example tool), a Python tool
through ``runtimes/python``, a YAML HTTP tool against a loopback server (params templated
into query, headers and JSON body), a bash tool, ``kiwi resolve``, a lockfile freeze and a
``--locked`` run, a tampered file refused, and the audit chain verified. Then the LLM runtime
against the bundled fake provider (``tests/support/fake_llm``: real HTTP and SSE on loopback,
Anthropic's wire format): a directive's process sent through ``llm/runtime``, streamed and
priced, and a turn that calls a tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

KIWI = str(Path(sys.executable).with_name("kiwi"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fake lives in tests/support

DIRECTIVE = """\
# Summarise

```xml
<directive name="summarise" version="1.0.0">
  <metadata><description>Summarise a text in one line</description></metadata>
  <inputs><input name="text" type="string" required="true">What to summarise</input></inputs>
</directive>
```

Summarise in one line: ${inputs.text}
"""

REAL_PROVIDER = """
To call Claude for real instead of the fake:
  kiwi auth signin anthropic            # paste the API key (typing is hidden)
  kiwi run llm/runtime -p tier=fast -p prompt="Say hi"
Tiers and defaults are yours to change in .ai/config/llm.yaml (tiers: {fast: {provider, model}}).
"""

WEATHER = """\
version: "1.0.0"
tool_type: http
executor_id: primitives/http_client
description: Ask the (loopback) weather service about a city
parameters:
  type: object
  properties:
    city: {type: string}
    units: {type: string, default: metric}
  required: [city]
  additionalProperties: false
config:
  method: POST
  url: "${WEATHER_URL}/v1/weather"
  query: {q: "${params.city}", units: "${params.units}"}
  headers: {X-City: "${params.city}"}
  json: {city: "${params.city}", units: "${params.units}"}
"""

COUNT = """\
#!/usr/bin/env bash
# kiwi:
# version: "1.0.0"
# executor_id: runtimes/bash
# description: Count the words of a text (a bash tool)
# parameters: {type: object, properties: {text: {type: string}}, required: [text]}
words=$(printf '%s' "$KIWI_PARAM_TEXT" | wc -w)
printf '{"words": %d}\\n' "$words"
"""


class _Weather(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {
            "city": body["city"],
            "units": body["units"],
            "path": self.path,
            "x_city": self.headers["X-City"],
            "forecast": "sunny",
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def step(title: str, *args: str, env: dict[str, str], cwd: Path, expect: int = 0) -> str:
    print(f"\n$ kiwi {' '.join(args)}    # {title}", flush=True)
    done = subprocess.run([KIWI, *args], env=env, cwd=cwd, capture_output=True, text=True)
    out = (done.stdout + done.stderr).rstrip()
    print(out)
    if done.returncode != expect:
        raise SystemExit(f"demo failed: exit {done.returncode}, wanted {expect}")
    return done.stdout


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Weather)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="kiwi-demo-") as tmp:
        root = Path(tmp)
        project = root / "project"
        project.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "KIWI_USER_SPACE": str(root / "user"),
        }
        step("scaffold .ai/, make a signing key, sign the example", "init", env=env, cwd=project)
        step(
            "a Python tool through runtimes/python",
            "run",
            "hello",
            "-p",
            "name=Kiwi",
            env=env,
            cwd=project,
        )
        tools = project / ".ai" / "tools"
        (tools / "weather.yaml").write_text(WEATHER)
        (tools / "count.sh").write_text(COUNT)
        (project / ".env").write_text(f"WEATHER_URL=http://127.0.0.1:{server.server_port}\n")
        step("sign the new tools", "sign", "tool", "*", env=env, cwd=project)
        out = step(
            "an HTTP tool: params into query, headers and JSON body",
            "--json",
            "run",
            "weather",
            "-p",
            "city=Oslo",
            env=env,
            cwd=project,
        )
        data = json.loads(out)["data"]
        assert data["x_city"] == "Oslo" and "q=Oslo" in data["path"], data
        step(
            "a bash tool reading its params",
            "run",
            "count",
            "-p",
            "text=one two three",
            env=env,
            cwd=project,
        )
        step(
            "the chain, spaces and final config",
            "resolve",
            "weather",
            "-p",
            "city=Oslo",
            env=env,
            cwd=project,
        )
        step("freeze the chain", "lockfile", "freeze", "weather", env=env, cwd=project)
        step(
            "a locked run", "run", "weather", "-p", "city=Bergen", "--locked", env=env, cwd=project
        )
        with (tools / "weather.yaml").open("a") as handle:
            handle.write("# an edit nobody signed\n")
        step(
            "a tampered tool never runs",
            "run",
            "weather",
            "-p",
            "city=Oslo",
            env=env,
            cwd=project,
            expect=1,
        )
        step("the audit log is an unbroken hash chain", "audit", "verify", env=env, cwd=project)
        llm_demo(project, env)
    server.shutdown()
    print("\ndemo ok")
    return 0


def llm_demo(project: Path, env: dict[str, str]) -> None:
    """The chain llm/runtime → llm/providers/anthropic → llm/protocols/anthropic_messages →
    primitives/http_client, against the fake on loopback (the key never leaves its header)."""
    from tests.support.fake_llm import FakeLLM

    with FakeLLM() as fake:
        with (project / ".env").open("a") as handle:
            handle.write(f"ANTHROPIC_BASE_URL={fake.base_url}\n")
        print("\n$ printf '%s' sk-demo | kiwi auth signin anthropic --token-stdin", flush=True)
        done = subprocess.run(
            [KIWI, "auth", "signin", "anthropic", "--token-stdin"],
            input="sk-demo-key",
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
        )
        print((done.stdout + done.stderr).rstrip())
        directives = project / ".ai" / "directives"
        directives.mkdir(parents=True, exist_ok=True)
        (directives / "summarise.md").write_text(DIRECTIVE)
        step("sign the directive", "sign", "directive", "summarise", env=env, cwd=project)
        process = "Summarise in one line: Kiwi is a small kernel for AI agents."
        out = step(
            "a directive's process through llm/runtime (tier balanced, the fake's model)",
            "--json",
            "run",
            "llm/runtime",
            "-p",
            "model=fake-text",
            "-p",
            f"prompt={process}",
            env=env,
            cwd=project,
        )
        data = json.loads(out)["data"]
        assert data["text"].startswith("You said: Summarise"), data
        step(
            "a turn that calls a tool: arguments assembled from streamed fragments",
            "--json",
            "run",
            "llm/providers/anthropic",
            "-p",
            "model=fake-tool",
            "-p",
            "prompt=Weather in Paris?",
            env=env,
            cwd=project,
        )
        sent = fake.requests[-1]
        assert sent.headers.get("x-api-key") == "sk-demo-key" and "sk-demo" not in out
        thread_demo(project, env, fake)
        print(REAL_PROVIDER)


THREAD_DIRECTIVE = """\
# Brief

```xml
<directive name="brief" version="1.0.0">
  <metadata>
    <description>Write a one-line brief, as a thread</description>
    <model provider="anthropic" id="demo-worker" max_tokens="200"/>
    <limits turns="3" duration="2m"/>
  </metadata>
</directive>
```

Write a one-line brief about Kiwi.
"""


def thread_demo(project: Path, env: dict[str, str], fake: object) -> None:
    """A directive run as a thread: its own process, a transcript, a record."""
    import time

    fake.script("demo-worker", [{"text": "Kiwi: a small kernel that runs agents safely."}])  # type: ignore[attr-defined]
    (project / ".ai" / "directives" / "brief.md").write_text(THREAD_DIRECTIVE)
    step("sign the thread's directive", "sign", "directive", "brief", env=env, cwd=project)
    out = step(
        "start it as a thread (returns at once)",
        "--json",
        "threads",
        "start",
        "brief",
        env=env,
        cwd=project,
    )
    thread_id = json.loads(out)["thread_id"]
    deadline = time.monotonic() + 60
    while True:
        done = subprocess.run(
            [KIWI, "--json", "threads", "show", thread_id],
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
        )
        record = json.loads(done.stdout)
        if record["status"] in ("completed", "failed", "cancelled", "limit_exceeded"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: thread {thread_id} is still {record['status']}")
        time.sleep(0.2)
    step("its transcript, one line per event", "threads", "tail", thread_id, env=env, cwd=project)
    assert record["status"] == "completed" and record["transcript"]["verified"], record
    print(f"thread {thread_id}: {record['status']}, transcript verified")


if __name__ == "__main__":
    sys.exit(main())

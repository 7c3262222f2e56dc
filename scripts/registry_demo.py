"""The registry, end to end through the real `kiwi` (for `make demo`; issue 20, SPEC §16).

A throwaway PostgreSQL (registry/localdb.py), one `kiwi registry serve`, and two people with
their own user space and key: alice publishes a signed tool, carol finds it, is refused until
she trusts alice, installs it (verified twice, pinned) and runs it. Prints each command and
its output; cleans everything up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kiwi_mcp.registry.localdb import start

KIWI = str(Path(sys.executable).with_name("kiwi"))
GREET = """version: "1.0.0"
tool_type: runtime
executor_id: primitives/subprocess
description: Greet someone by name
parameters:
  type: object
  properties:
    name: {type: string}
  required: [name]
config:
  command: echo
  args: ["hello", "${params.name}"]
"""


def kiwi(who: Path, *argv: str, ok: bool = True) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIWI_")}
    env.update(KIWI_USER_SPACE=str(who / "user"), KIWI_AUTH_BACKEND="file")
    print(f"[{who.name}] $ kiwi {' '.join(argv)}")
    done = subprocess.run(
        [KIWI, "--project", str(who / "project"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    text = (done.stdout + done.stderr).strip()
    print("  " + text.replace("\n", "\n  "))
    if ok and done.returncode != 0:
        raise SystemExit(f"demo: 'kiwi {' '.join(argv)}' failed")
    return done.stdout


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="kiwi-registry-demo-"))
    pg_folder = Path(tempfile.mkdtemp(prefix="kiwi-registry-demo-pg-"))
    pg = start(pg_folder)
    port = 18799
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [KIWI, "registry", "serve", "--database", pg.url, "--port", str(port)],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("demo: the registry server did not start")
            time.sleep(0.05)
        alice, carol = root / "alice", root / "carol"
        for who in (alice, carol):
            (who / "project" / ".ai").mkdir(parents=True)
            kiwi(who, "keys", "init")
        tool = alice / "project" / ".ai" / "tools" / "alice" / "greet.yaml"
        tool.parent.mkdir(parents=True)
        tool.write_text(GREET)
        kiwi(alice, "sign", "tool", "alice/greet")
        kiwi(alice, "registry", "login", url, "--name", "alice")
        kiwi(alice, "registry", "publish", "tool", "alice/greet", "--registry", url)
        kiwi(carol, "registry", "search", "greet", "--registry", url)
        kiwi(carol, "registry", "install", "tool", "alice/greet@1.0.0", "--registry", url, ok=False)
        kiwi(carol, "trust", "add", str(alice / "user" / "keys" / "signing_key.pub"))
        kiwi(carol, "registry", "install", "tool", "alice/greet@1.0.0", "--registry", url)
        kiwi(carol, "run", "alice/greet", "-p", "name=Carol")
        kiwi(carol, "lockfile", "freeze", "alice/greet")  # locks the registry pin too
        kiwi(carol, "lockfile", "validate", "alice/greet")
    finally:
        server.terminate()
        server.wait(timeout=30)
        pg.stop()
        shutil.rmtree(pg_folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""``python -m tests.support.fake_llm``: the fake LLM servers in the foreground.

``--script FILE.json`` holds ``{"model": [turn, ...], ...}``, as ``FakeLLM.script`` takes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from pathlib import Path

from tests.support.fake_llm.server import FakeLLM


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_llm")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--script", type=Path, action="append", default=[], metavar="FILE")
    args = parser.parse_args(argv)
    fake = FakeLLM(port=args.port)
    try:
        for path in args.script:
            scripts = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(scripts, dict):
                raise ValueError(f"{path}: expected an object of model -> turns")
            for model, turns in scripts.items():
                fake.script(model, turns)
    except (OSError, ValueError) as exc:
        fake.stop()
        print(f"fake-llm: {exc}", file=sys.stderr)
        return 2
    with fake:
        print(f"fake-llm: listening on {fake.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The hostile-input pass of issue #12, re-runnable by anyone.

    .venv/bin/python tests/hostile/hostile_pass.py [--lines N] [--items N] [--seed S] [--json]
        [--only stdio,http,guard,items,escapes] [--keep]

In a temp project and user space (``KIWI_USER_SPACE``), deterministic from the seed:

1. stdio: ``kiwi serve`` gets ``--lines`` malformed lines (``gen_lines.py``) after a proper
   ``initialize``; each line is followed by a ``ping``.
2. HTTP: ``kiwi serve --http --port 0`` gets the same lines as POST bodies in one session,
   then Host/Origin/header attacks (``wire_pass.py``, ``guard_pass.py``).
3. Items: at least ``--items`` malformed item files (default: the whole catalogue of
   ``gen_items.py``, 182 files), each dropped next to a good tool and tried through the CLI
   and the stdio server (``item_pass.py``).
4. Escape attempts, each expected (SPEC) against observed (``escape_pass.py``).

Where SPEC is silent the rule is issue #12's: a clear error naming what and where, nothing
lost, the server stays up. Prints a table (class → sent, answered, violations) and the
violations with their first examples; exits 1 when any invariant was violated, else 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

if __package__ in (None, ""):  # run as a script: make ``tests.hostile`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.hostile.gen_lines import generate
from tests.hostile.hostile_report import Report
from tests.hostile.hostile_sandbox import Sandbox

__all__ = ["DEFAULT_ITEMS", "DEFAULT_LINES", "SECTIONS", "main", "run_pass"]

DEFAULT_LINES: Final = 5_000
#: None: every file of the item catalogue (``gen_items.py``; 182 files, at least 100).
DEFAULT_ITEMS: Final = None
DEFAULT_SEED: Final = 12
SECTIONS: Final = ("stdio", "http", "guard", "items", "escapes")


def _unfreeze(top: Path) -> None:
    """Undo what the audit escape attempt froze, so the sandbox can be removed."""
    from tests.hostile.escape_pass import thaw

    thaw(top)


def run_pass(
    *,
    lines: int = DEFAULT_LINES,
    items: int | None = DEFAULT_ITEMS,
    seed: int = DEFAULT_SEED,
    only: Sequence[str] = SECTIONS,
    keep: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run the pass and return its report (``report.ok`` when nothing was violated)."""
    from tests.hostile.escape_pass import escape_pass
    from tests.hostile.guard_pass import http_guard
    from tests.hostile.item_pass import item_pass
    from tests.hostile.wire_pass import http_pass, stdio_pass

    say = progress or (lambda _: None)
    report = Report(seed=seed)
    top = Path(tempfile.mkdtemp(prefix="kiwi-hostile-"))
    try:
        made: list[Sandbox] = []

        def box() -> Sandbox:  # one sandbox for the three wire sections, made on first use
            if not made:
                made.append(Sandbox.create(top / "wire"))
            return made[0]

        fuzz = generate(seed, lines) if {"stdio", "http"} & set(only) else []
        steps: list[tuple[str, Callable[[], None]]] = [
            ("stdio", lambda: stdio_pass(box(), fuzz, report)),
            ("http", lambda: http_pass(box(), fuzz, report)),
            ("guard", lambda: http_guard(box(), report)),
            ("items", lambda: item_pass(top / "items", items, seed, report)),
            ("escapes", lambda: escape_pass(top / "escapes", report)),
        ]
        for name, step in steps:
            if name in only:
                say(f"{name}…")
                started = time.perf_counter()
                try:
                    step()
                except RuntimeError as exc:  # the harness could not set the section up
                    report.violation(name, "setup", "setup-failed", str(exc))
                report.seconds[name] = time.perf_counter() - started
                say(f"{name}: {report.seconds[name]:.1f}s, {report.total_violations} violations")
    finally:
        _unfreeze(top)
        if keep:
            say(f"kept {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="malformed lines (5000)")
    parser.add_argument(
        "--items",
        type=int,
        default=DEFAULT_ITEMS,
        help="malformed item files (default: the whole catalogue, 182)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    started = time.perf_counter()
    report = run_pass(
        lines=args.lines,
        items=args.items,
        seed=args.seed,
        only=only,
        keep=args.keep,
        progress=lambda text: print(text, file=sys.stderr, flush=True),
    )
    report.seconds["total"] = time.perf_counter() - started
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.render())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

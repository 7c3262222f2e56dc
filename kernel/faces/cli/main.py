"""``kiwi``: the command-line face (SPEC §11).

Thin: parse arguments, call the kernel, print. Only the standard library and the command
modules' ``add_parsers`` are imported before a command runs, so ``kiwi --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_USAGE, CliContext

__all__ = ["build_parser", "main", "serve_main"]

_COMMAND_MODULES = (
    "kiwi_mcp.kernel.faces.cli.item_cmds",
    "kiwi_mcp.kernel.faces.cli.lockfile_cmds",
    "kiwi_mcp.kernel.faces.cli.trust_cmds",
    "kiwi_mcp.kernel.faces.cli.auth_cmds",
    "kiwi_mcp.kernel.faces.cli.serve_cmds",
    "kiwi_mcp.kernel.faces.cli.mcp_cmds",
    "kiwi_mcp.kernel.faces.cli.doctor_cmds",
    "kiwi_mcp.kernel.faces.cli.completion_cmds",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"kiwi: error: {message}\n  hint: run '{self.prog} --help'", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``kiwi`` argument parser."""
    parser = _Parser(
        prog="kiwi",
        description="Kiwi: a small, data-driven kernel for AI agents.",
        epilog="Environment: KIWI_USER_SPACE, KIWI_VERIFY, KIWI_LOCKFILE, "
        "KIWI_AUTH_BACKEND, KIWI_LOG (log level), KIWI_LOG_FILE (also log there).",
    )
    parser.add_argument(
        "--project",
        metavar="DIR",
        action="append",
        help="project root (default: walk up to .ai/); 'serve' takes it more than once",
    )
    parser.add_argument("--json", action="store_true", help="print data as JSON")
    parser.add_argument("--version", action="version", version=f"kiwi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    from kiwi_mcp.kernel.faces.cli.help_texts import fill

    fill(parser)
    return parser


_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _configure_logging(log_file: str | None) -> str | None:
    """Logs to stderr at ``KIWI_LOG`` (default WARNING) and, with ``KIWI_LOG_FILE`` or
    ``serve --log-file``, also to that file at INFO or below (one line per call there).

    Returns the problem when ``KIWI_LOG`` is not a level or the file cannot be opened.
    """
    import logging

    given = os.environ.get("KIWI_LOG") or "WARNING"
    name = given.strip().upper()
    if name not in _LEVELS:
        return f"KIWI_LOG={given!r} is not a log level (use one of {', '.join(_LEVELS)})"
    level = getattr(logging, name)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(level)
    handlers: list[logging.Handler] = [stderr]
    path = log_file or os.environ.get("KIWI_LOG_FILE")
    if path:
        try:
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as err:
            return f"cannot open the log file {path}: {err.strerror or err}"
        handler.setLevel(min(level, logging.INFO))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(handler)
    stderr.setFormatter(logging.Formatter("kiwi %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=min(h.level for h in handlers), handlers=handlers, force=True)
    return None


def _hoist_globals(argv: list[str]) -> list[str]:
    """Let the global options stand anywhere before ``--`` (``kiwi run x --json``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        if token == "--json":
            front.append(token)
        elif token == "--project" and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        elif token.startswith("--project="):
            front.append(token)
        else:
            rest.append(token)
        i += 1
    return front + rest


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``kiwi`` command; returns the exit code (0 ok, 1 failed, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(_hoist_globals(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    problem = _configure_logging(getattr(args, "log_file", None))
    if problem is not None:
        print(f"kiwi: error: {problem}\n  hint: fix or unset the variable", file=sys.stderr)
        return EXIT_USAGE
    from pathlib import Path

    projects = tuple(Path(p) for p in args.project or ())
    for project in projects:
        if not project.expanduser().is_dir():
            print(
                f"kiwi: error: --project {project}: no such folder\n"
                "  hint: pass an existing project folder (the one holding .ai/), or run"
                " 'kiwi init' in a new folder",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if len(projects) > 1 and args.command != "serve":
        print(
            f"kiwi: error: --project given {len(projects)} times; only 'kiwi serve' serves"
            " several projects\n  hint: name one project",
            file=sys.stderr,
        )
        return EXIT_USAGE
    ctx = CliContext(project=projects[0] if projects else None, projects=projects, json=args.json)
    try:
        code: int = args.func(args, ctx)
    except KeyboardInterrupt:
        ctx.diag("kiwi: interrupted")
        return 130
    except Exception as exc:  # the face catches broadly; no traceback reaches a user
        from kiwi_mcp.kernel.errors import KiwiError

        if isinstance(exc, KiwiError):
            if ctx.json:  # SPEC §11: under --json an error is a JSON object on stdout too
                ctx.emit_json({"ok": False, "error": exc.to_dict()})
            ctx.diag(f"kiwi: {exc}")
            return EXIT_USAGE if exc.code == "USAGE_ERROR" else EXIT_FAILED
        import logging

        logging.getLogger("kiwi").debug("unexpected error", exc_info=True)
        hint = "rerun with KIWI_LOG=DEBUG for details, and report it"
        if ctx.json:
            ctx.emit_json(
                {
                    "ok": False,
                    "error": {
                        "code": "INTERNAL_ERROR",
                        "message": f"internal error: {type(exc).__name__}",
                        "hint": hint.capitalize() + ".",
                    },
                }
            )
        ctx.diag(f"kiwi: internal error: {type(exc).__name__}: {exc}\n  hint: {hint}")
        return EXIT_FAILED
    return code


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``kiwi-mcp [options]`` is ``kiwi serve [options]``: the command an MCP host runs."""
    return main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""``kiwi``: the command-line face (SPEC §11).

Thin: parse arguments, call the kernel, print. Only the standard library and the command
modules' ``add_parsers`` are imported before a command runs, so ``kiwi --help`` is fast.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence

from kiwi_mcp.kernel._version import __version__
from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_USAGE, CliContext

__all__ = ["build_parser", "main", "platform_problem", "serve_main"]

_COMMAND_MODULES = (
    "kiwi_mcp.kernel.faces.cli.item_cmds",
    "kiwi_mcp.kernel.faces.cli.lockfile_cmds",
    "kiwi_mcp.kernel.faces.cli.trust_cmds",
    "kiwi_mcp.kernel.faces.cli.auth_cmds",
    "kiwi_mcp.kernel.faces.cli.serve_cmds",
    "kiwi_mcp.kernel.faces.cli.mcp_cmds",
    "kiwi_mcp.kernel.faces.cli.doctor_cmds",
    "kiwi_mcp.kernel.faces.cli.completion_cmds",
    "kiwi_mcp.kernel.faces.cli.thread_cmds",
    "kiwi_mcp.kernel.faces.cli.approval_cmds",
    "kiwi_mcp.kernel.faces.cli.index_cmds",
    "kiwi_mcp.kernel.faces.cli.registry_cmds",
)


class _UsageExit(SystemExit):
    """An argument the parser refused; ``main`` prints it (as JSON too under ``--json``)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # raised, not printed: whether --json was given is main's to know, not this parser's
        raise _UsageExit(self, message)


def platform_problem(os_name: str) -> str | None:
    """Why ``kiwi`` cannot run where ``os.name`` is ``os_name``, or ``None`` (POSIX)."""
    if os_name == "posix":
        return None
    return (
        f"this platform is not supported (os.name is {os_name!r}): kiwi runs on POSIX systems"
        " only, as its process groups, file modes and signals are POSIX ones"
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole ``kiwi`` argument parser.

    Given the ``command`` about to run, the command modules are added in order only until one
    has added it (``kiwi run`` builds 6 subparsers, not 70); a name none adds gets them all,
    so argparse's refusal lists every command.
    """
    # Each ArgumentParser looks three of argparse's own texts up in the message catalogues
    # (a stat of a .mo file each time): ~20% of `kiwi --help` for 71 parsers. Within one
    # build the same text has the same translation, so the lookups are memoized meanwhile.
    lookup = argparse._  # type: ignore[attr-defined]
    argparse._ = functools.cache(lookup)  # type: ignore[attr-defined]
    try:
        return _build_parser(command)
    finally:
        argparse._ = lookup  # type: ignore[attr-defined]


def _build_parser(command: str | None) -> argparse.ArgumentParser:
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
        if command is not None and command in sub.choices:
            break
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


def _command_of(hoisted: list[str]) -> str | None:
    """The subcommand ``hoisted`` (``_hoist_globals``'s output) names, or None when an option
    comes before it (``--help``, ``--version``, an abbreviation): that needs the whole parser."""
    i = 0
    while i < len(hoisted):
        token = hoisted[i]
        if token == "--json" or token.startswith("--project="):
            i += 1
        elif token == "--project":
            i += 2
        else:
            return None if token.startswith("-") else token
    return None


def _usage_error(
    as_json: bool, message: str, hint: str, parser: argparse.ArgumentParser | None = None
) -> int:
    """Print a usage error (stderr; under ``--json`` also one JSON document on stdout)."""
    if as_json:
        from kiwi_mcp.kernel.errors import UsageError

        hint_sentence = hint[:1].upper() + hint[1:] + ("" if hint.endswith(".") else ".")
        error = UsageError(message, hint=hint_sentence)
        CliContext(project=None, json=True).emit_json({"ok": False, "error": error.to_dict()})
    if parser is not None:
        parser.print_usage(sys.stderr)
    print(f"kiwi: error: {message}\n  hint: {hint}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None, *, os_name: str | None = None) -> int:
    """Run one ``kiwi`` command; returns the exit code (0 ok, 1 failed, 2 usage).

    ``os_name`` stands for ``os.name``: a platform other than POSIX is refused at once.
    """
    hoisted = _hoist_globals(list(sys.argv[1:] if argv is None else argv))
    wants_json = "--json" in hoisted[: hoisted.index("--") if "--" in hoisted else None]
    unsupported = platform_problem(os.name if os_name is None else os_name)
    if unsupported is not None:
        return _usage_error(wants_json, unsupported, "run kiwi on Linux or macOS (or in WSL)")
    parser = build_parser(_command_of(hoisted))
    try:
        args = parser.parse_args(hoisted)
    except _UsageExit as refused:
        hint = f"run '{refused.parser.prog} --help'"
        return _usage_error(wants_json, refused.message, hint, refused.parser)
    if not getattr(args, "func", None):
        if args.json:
            return _usage_error(True, "no command given", "run 'kiwi --help'")
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    problem = _configure_logging(getattr(args, "log_file", None))
    if problem is not None:
        return _usage_error(args.json, problem, "fix or unset the variable")
    from pathlib import Path

    projects = tuple(Path(p) for p in args.project or ())
    for project in projects:
        if not project.expanduser().is_dir():
            return _usage_error(
                args.json,
                f"--project {project}: no such folder",
                "pass an existing project folder (the one holding .ai/), or run"
                " 'kiwi init' in a new folder",
            )
    if len(projects) > 1 and args.command != "serve":
        return _usage_error(
            args.json,
            f"--project given {len(projects)} times; only 'kiwi serve' serves several projects",
            "name one project",
        )
    ctx = CliContext(project=projects[0] if projects else None, projects=projects, json=args.json)
    try:
        code: int = args.func(args, ctx)
    except KeyboardInterrupt:
        ctx.diag("kiwi: interrupted")
        return 130
    except BrokenPipeError:  # the reader went away (`kiwi … | head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail
        return 141
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

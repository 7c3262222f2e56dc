"""``kiwi``: the command-line face (SPEC §11).

Thin: parse arguments, call the kernel, print. The parser (argparse) is built in ``parsers``
from the command modules' ``add_parsers``, which import nothing heavy; the top-level help of
``kiwi --help`` and a bare ``kiwi`` is printed from ``help_cache`` without building it.
"""

from __future__ import annotations

import os
import sys

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliContext

# `typing` is not imported: `kiwi --help` answered from the help cache imports neither it
# nor argparse (mypy reads this name as typing's)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

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
    "kiwi_mcp.kernel.faces.cli.warm_cmds",
)


def platform_problem(os_name: str) -> str | None:
    """Why ``kiwi`` cannot run where ``os.name`` is ``os_name``, or ``None`` (POSIX)."""
    if os_name == "posix":
        return None
    return (
        f"this platform is not supported (os.name is {os_name!r}): kiwi runs on POSIX systems"
        " only, as its process groups, file modes and signals are POSIX ones"
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole ``kiwi`` argument parser, or (given the ``command`` about to run) the part
    up to the command module that adds it: see ``parsers.build``."""
    from kiwi_mcp.kernel.faces.cli import parsers

    return parsers.build(_COMMAND_MODULES, command)


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
    given = list(sys.argv[1:] if argv is None else argv)
    hoisted = _hoist_globals(given)
    wants_json = "--json" in hoisted[: hoisted.index("--") if "--" in hoisted else None]
    unsupported = platform_problem(os.name if os_name is None else os_name)
    if unsupported is not None:
        return _usage_error(wants_json, unsupported, "run kiwi on Linux or macOS (or in WSL)")
    # the top-level help of a `kiwi` process, from the help cache while it is fresh; a call
    # with argv (a test, a script) keeps argparse's own way of ending (SystemExit on --help)
    help_only = argv is None and given in ([], ["--help"], ["-h"])
    if help_only:
        from kiwi_mcp.kernel.faces.cli import help_cache

        kept = help_cache.read()
        if kept is not None:
            return _print_help(kept, to_stderr=not given)
    if argv is None:  # a `kiwi` process: the warm process runs it, when one is there
        from kiwi_mcp.kernel.faces.cli import warm

        warm.hand_over(_command_of(hoisted))  # exits when it was taken there
    from kiwi_mcp.kernel.faces.cli.parsers import UsageExit

    parser = build_parser(_command_of(hoisted))
    if help_only:
        help_cache.store(parser.format_help())
    try:
        args = parser.parse_args(hoisted)
    except UsageExit as refused:
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


def _print_help(text: str, *, to_stderr: bool) -> int:
    """Print the top-level help as argparse would: to stdout for ``--help`` (exit 0), to
    stderr for a bare ``kiwi`` (exit 2); a closed stream is ignored, as argparse does."""
    try:  # noqa: SIM105 - contextlib would cost more of this start-up than the cache saves
        (sys.stderr if to_stderr else sys.stdout).write(text)
    except (AttributeError, OSError):
        pass
    return EXIT_USAGE if to_stderr else EXIT_OK


def serve_main(argv: Sequence[str] | None = None) -> int:
    """``kiwi-mcp [options]`` is ``kiwi serve [options]``: the command an MCP host runs."""
    return main(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""``kiwi serve [--http] [--host 127.0.0.1] [--port 8765] [--expose TOOL_ID]…``: the MCP server
(SPEC §10, §11; ``--expose`` is an addition, see ARCHITECTURE.md)."""

from __future__ import annotations

import argparse

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="serve MCP: stdio by default, Streamable HTTP with --http",
        description="Serve Kiwi over MCP. stdio (default): MCP on stdout, logs on stderr, "
        "exits when stdin closes. --http: Streamable HTTP at http://HOST:PORT/mcp. "
        "It serves the --project roots (repeat --project to serve several) and no other.",
        epilog="examples: kiwi --project ~/app serve | kiwi serve --project a --project b "
        "--http --port 0",
    )
    p.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port to bind (default 8765; 0: any)")
    p.add_argument(
        "--expose",
        action="append",
        default=[],
        metavar="TOOL_ID",
        help="also list this tool of the project as an MCP tool of its own, named by its id "
        "with '/' → '.' (a call runs it as execute does); repeatable",
    )
    p.add_argument(
        "--log-file",
        metavar="F",
        help="also log to this file: one INFO line per call (default: $KIWI_LOG_FILE)",
    )
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace, ctx: CliContext) -> int:
    import anyio

    from kiwi_mcp.kernel.faces.mcp.contexts import ProjectContexts
    from kiwi_mcp.kernel.faces.mcp.exposed import expose_tools

    # the roots this server serves: a client's project_path must name one (SPEC §9.4)
    contexts = ProjectContexts(ctx.projects or None)
    # Fail fast: a tool that cannot be exposed is a usage error before anything is served.
    exposed = expose_tools(contexts, args.expose)
    if not args.http:
        import sys

        from kiwi_mcp.kernel.faces.mcp.transports import serve_stdio

        if sys.stdin.isatty():  # a person ran it: say what it is waiting for (SPEC §10)
            ctx.diag(
                "kiwi: serving MCP on stdio; waiting for an MCP client on stdin (this is the"
                " command an MCP host runs; Ctrl-D or Ctrl-C to stop)"
            )

        anyio.run(serve_stdio, contexts, exposed)
        return EXIT_OK
    from kiwi_mcp.kernel.faces.mcp.transports import serve_http

    try:
        anyio.run(lambda: serve_http(contexts, host=args.host, port=args.port, exposed=exposed))
    except OSError as exc:
        ctx.diag(
            f"kiwi: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}\n"
            "  hint: pick another --port (0 picks a free one) or stop what uses it"
        )
        return EXIT_FAILED
    return EXIT_OK

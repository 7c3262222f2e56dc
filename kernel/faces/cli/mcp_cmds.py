"""``kiwi mcp config <host> [--write]``: the entry an MCP host needs (SPEC §11); and
``kiwi mcp add|list|tools|refresh|remove``: upstream MCP servers as items (SPEC §14), the
operator's acts (``ops/mcp_servers.py``)."""

from __future__ import annotations

import argparse
from typing import Any

from kiwi_mcp.kernel.faces.cli.base import EXIT_OK, CliContext

__all__ = ["add_parsers"]

_HOSTS = ("claude-code", "claude-desktop", "cursor", "vscode")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mcp",
        help="connect MCP hosts to Kiwi",
        description="Connect MCP hosts (Claude Code, Claude Desktop, Cursor, VS Code) to Kiwi.",
    )
    mcp = p.add_subparsers(dest="mcp_command", metavar="<subcommand>", required=True)
    c = mcp.add_parser(
        "config",
        help="print (or write) the host's entry for this project",
        description="Print the exact server entry a host needs to start Kiwi for this project:"
        " this kiwi's absolute path, --project, and the KIWI_* variables the host must pass."
        " --write merges it into the host's file, keeping its other servers.",
        epilog="examples: kiwi mcp config claude-desktop | kiwi --project . mcp config vscode"
        " --write",
    )
    c.add_argument("host", choices=_HOSTS)
    c.add_argument("--write", action="store_true", help="merge the entry into the host's file")
    c.set_defaults(func=_config)
    _add_upstream_parsers(mcp)


def _add_upstream_parsers(mcp: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = mcp.add_parser(
        "add",
        help="add an upstream MCP server and pin its tools",
        description="Write and sign mcp/servers/<server> (stdio: the command after --;"
        " Streamable HTTP: --url), connect, and write one signed item per upstream tool"
        " (mcp/<server>/<tool>) with its pin. The server gets only the allow-listed"
        " environment plus --env and the declared --secret values.",
        epilog="examples: kiwi mcp add time -- mcp-server-time | kiwi mcp add fs --"
        " npx -y @modelcontextprotocol/server-filesystem /tmp | kiwi mcp add docs --url"
        " http://127.0.0.1:3001/mcp --header 'Authorization=Bearer ${secrets.DOCS_TOKEN}'"
        " --secret DOCS_TOKEN",
    )
    a.add_argument("server", help="the server's name (one id segment)")
    a.add_argument("--url", help="a Streamable HTTP endpoint")
    a.add_argument("--env", action="append", default=[], metavar="K=V", help="child env")
    a.add_argument("--secret", action="append", default=[], metavar="NAME")
    a.add_argument("--header", action="append", default=[], metavar="K=V")
    a.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG…] (stdio)")
    a.set_defaults(func=_add)
    ls = mcp.add_parser(
        "list",
        help="list the upstream servers",
        description="List the mcp/servers/* items: transport, command or URL, tool count.",
        epilog="example: kiwi mcp list --json",
    )
    ls.set_defaults(func=_list)
    t = mcp.add_parser(
        "tools",
        help="list a server's pinned tools",
        description="List the mcp/<server>/* items: upstream name, pin, capability.",
        epilog="example: kiwi mcp tools time",
    )
    t.add_argument("server")
    t.set_defaults(func=_tools)
    r = mcp.add_parser(
        "refresh",
        help="re-list a server's tools, print the diff, re-pin and re-sign",
        description="Connect, compare every upstream tool with its pin, print what was"
        " added, changed (field by field) or removed; then write, re-pin and re-sign the"
        " items (--dry-run: only print).",
        epilog="examples: kiwi mcp refresh time --dry-run | kiwi mcp refresh time",
    )
    r.add_argument("server")
    r.add_argument("--dry-run", action="store_true", help="print the diff, change nothing")
    r.set_defaults(func=_refresh)
    rm = mcp.add_parser(
        "remove",
        help="remove a server and its tool items",
        description="Delete mcp/servers/<server> and mcp/<server>/* from the project.",
        epilog="example: kiwi mcp remove time",
    )
    rm.add_argument("server")
    rm.set_defaults(func=_remove)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    from kiwi_mcp.kernel.errors import UsageError

    out: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {value!r}: expected K=V", hint=f"e.g. {flag} NAME=value")
        out[key] = rest
    return out


_REPEATED = {"--env": "env", "--secret": "secret", "--header": "header"}


def _split_remainder(args: argparse.Namespace) -> list[str]:
    """The options given after the server name (argparse leaves them in the remainder, as
    they are followed by ``-- COMMAND``) into ``args``; returns the command after ``--``."""
    from kiwi_mcp.kernel.errors import UsageError

    tokens = list(args.command)
    if "--" in tokens:
        cut = tokens.index("--")
    else:  # argparse ate a '--' right after the server name: all of it is the command
        cut = len(tokens) if tokens and tokens[0].startswith("--") else -1
    options, command = (tokens[:cut], tokens[cut + 1 :]) if cut >= 0 else ([], tokens)
    i = 0
    while i < len(options):
        flag, sep, inline = options[i].partition("=")
        if flag not in (*_REPEATED, "--url"):
            raise UsageError(
                f"kiwi mcp add: unexpected {options[i]!r} before '--'",
                hint="Put the server's command after '--': kiwi mcp add time -- mcp-server-time",
            )
        if sep:
            value = inline
        elif i + 1 < len(options):
            i += 1
            value = options[i]
        else:
            raise UsageError(f"kiwi mcp add: {flag} needs a value", hint=f"e.g. {flag} NAME=value")
        if flag == "--url":
            args.url = value
        else:
            getattr(args, _REPEATED[flag]).append(value)
        i += 1
    return command


def _operator_kernel(ctx: CliContext) -> Any:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel

    # the operator's administrative act (SPEC §9.4): not gated by the agents' policy
    return open_kernel(ctx, as_operator=True, writes=True)


def _print_refresh(ctx: CliContext, report: dict[str, Any]) -> None:
    name = report["server"]
    for tool in report["added"]:
        state = "new upstream tool (not callable until refreshed)" if report["dry_run"] else "added"
        ctx.out(f"+ {tool}: {state}")
    for tool, changes in report["changed"].items():
        ctx.out(f"~ {tool}: changed")
        for change in changes:
            ctx.out(f"    {change['field']}:")
            ctx.out(f"      pinned: {change['pinned']}")
            ctx.out(f"      live:   {change['live']}")
    for tool in report["removed"]:
        ctx.out(f"- {tool}: no longer served upstream")
    verb = "would re-pin" if report["dry_run"] else "re-pinned and signed"
    touched = len(report["added"]) + len(report["changed"]) + len(report["removed"])
    ctx.out(f"{name}: {report['unchanged']} unchanged, {touched} {verb}")


def _add(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.ops.mcp_servers import add_server, refresh_server

    command = _split_remainder(args)
    kernel = _operator_kernel(ctx)
    added = add_server(
        kernel,
        args.server,
        command=command,
        url=args.url,
        env=_pairs(args.env, "--env"),
        secrets=args.secret,
        headers=_pairs(args.header, "--header"),
    )

    async def go() -> dict[str, Any]:
        try:
            return (await refresh_server(kernel, args.server)).to_dict()
        finally:
            await kernel.aclose()

    report = asyncio.run(go())
    if ctx.json:
        ctx.emit_json({**added, "refresh": report})
        return EXIT_OK
    ctx.out(f"wrote and signed {added['id']}")
    _print_refresh(ctx, report)
    return EXIT_OK


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.mcp_servers import list_servers

    servers = list_servers(_operator_kernel(ctx))
    if ctx.json:
        ctx.emit_json(servers)
        return EXIT_OK
    if not servers:
        ctx.out("no upstream MCP servers (add one: kiwi mcp add <server> -- COMMAND)")
    for entry in servers:
        ctx.out(
            f"{entry['server']}\t{entry['transport']}\t{entry['target']}\t"
            f"{entry['tools']} tools\t({entry['space']})"
        )
    return EXIT_OK


def _tools(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.ops.mcp_servers import server_tools

    tools = server_tools(_operator_kernel(ctx), args.server)
    if ctx.json:
        ctx.emit_json(tools)
        return EXIT_OK
    for entry in tools:
        ctx.out(f"{entry['id']}\t{entry['pin'][:12]}\t{entry['description']}")
    return EXIT_OK


def _refresh(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.ops.mcp_servers import refresh_server

    kernel = _operator_kernel(ctx)

    async def go() -> dict[str, Any]:
        try:
            return (await refresh_server(kernel, args.server, dry_run=args.dry_run)).to_dict()
        finally:
            await kernel.aclose()

    report = asyncio.run(go())
    if ctx.json:
        ctx.emit_json(report)
    else:
        _print_refresh(ctx, report)
    return EXIT_OK


def _remove(args: argparse.Namespace, ctx: CliContext) -> int:
    import asyncio

    from kiwi_mcp.kernel.ops.mcp_servers import remove_server

    kernel = _operator_kernel(ctx)

    async def go() -> dict[str, Any]:
        try:
            return await remove_server(kernel, args.server)
        finally:
            await kernel.aclose()

    removed = asyncio.run(go())
    if ctx.json:
        ctx.emit_json(removed)
    else:
        ctx.out(f"removed {', '.join(removed['removed'])}")
    return EXIT_OK


def _config(args: argparse.Namespace, ctx: CliContext) -> int:
    import json
    import os

    from kiwi_mcp.kernel.ops.host_config import host_entry, write_entry
    from kiwi_mcp.kernel.store.paths import find_project_root

    root = find_project_root(ctx.project).resolve()
    if not (root / ".ai").is_dir():
        ctx.diag(
            f"kiwi: note: {root} has no .ai/ folder yet; the entry serves it anyway"
            " (run 'kiwi init' there to make one)"
        )
    entry = host_entry(args.host, root, env=dict(os.environ))
    changed = write_entry(entry) if args.write else None
    if ctx.json:
        out = entry.to_dict()
        if changed is not None:
            out["written"] = changed
        ctx.emit_json(out)
        return EXIT_OK
    if entry.command_line:
        ctx.out(f"# run:\n{entry.command_line}\n# or put this in {entry.path}:")
    else:
        ctx.out(f"# {entry.path}:")
    ctx.out(json.dumps(entry.document(), indent=2))
    if changed is not None:
        ctx.diag(f"kiwi: {'wrote' if changed else 'already there:'} {entry.path}")
    return EXIT_OK

"""``kiwi mcp config <host> [--write]``: the entry an MCP host needs (SPEC §11)."""

from __future__ import annotations

import argparse

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

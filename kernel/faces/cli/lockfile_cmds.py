"""``kiwi lockfile freeze | validate | list | prune | refresh`` (SPEC §8.3)."""

from __future__ import annotations

import argparse

from kiwi_mcp.kernel.faces.cli.base import EXIT_FAILED, EXIT_OK, CliContext

__all__ = ["add_parsers"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lock = sub.add_parser("lockfile", help="freeze and check chains")
    verbs = lock.add_subparsers(dest="verb", metavar="<verb>", required=True)
    p = verbs.add_parser("freeze", help="write <id>@<version>.lock.json for a tool's chain")
    p.add_argument("tool_id")
    p.set_defaults(func=_freeze)
    p = verbs.add_parser("validate", help="compare a tool's chain with its lockfile")
    p.add_argument("tool_id")
    p.set_defaults(func=_validate)
    p = verbs.add_parser("list", help="list lockfiles (project first, then user)")
    p.set_defaults(func=_list)
    p = verbs.add_parser("prune", help="delete lockfiles frozen long ago")
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    p.set_defaults(func=_prune)
    p = verbs.add_parser("refresh", help="re-freeze every lockfile whose chain contains a tool")
    p.add_argument("tool_id")
    p.set_defaults(func=_refresh)


def _freeze(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.lockfiles import freeze

    frozen = freeze(open_kernel(ctx, writes=True), args.tool_id)
    if ctx.json:
        ctx.emit_json({"ok": True, "path": str(frozen.path), "chain": list(frozen.chain)})
    else:
        ctx.out(f"froze {' → '.join(frozen.chain)}\n  {frozen.path}")
    return EXIT_OK


def _validate(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.lockfiles import validate

    check = validate(open_kernel(ctx), args.tool_id)
    name = f"{check.id}@{check.version}"
    if not check.found:
        message = f"no lockfile for {name}"
        hint = f"Run 'kiwi lockfile freeze {check.id}'."
        if ctx.json:
            ctx.emit_json({"ok": False, "status": "absent", "message": message, "hint": hint})
        else:
            ctx.diag(f"kiwi: {message}\n  hint: {hint}")
        return EXIT_FAILED
    if ctx.json:
        ctx.emit_json(
            {
                "ok": check.ok,
                "status": check.status,
                "drifts": [drift.to_dict() for drift in check.drifts],
            }
        )
    elif check.drifts:
        ctx.out(f"{name}: the chain drifted from its lockfile")
        for drift in check.drifts:
            ctx.out(f"  {drift}")
        ctx.diag(f"  hint: review, then 'kiwi lockfile freeze {check.id}' to accept")
    else:
        ctx.out(f"{name}: matches its lockfile")
    return EXIT_OK if check.ok else EXIT_FAILED


def _list(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.lockfiles import list_lockfiles

    entries = list_lockfiles(open_kernel(ctx))
    if ctx.json:
        ctx.emit_json([entry.to_dict() for entry in entries])
        return EXIT_OK
    if not entries:
        ctx.out("no lockfiles")
    for entry in entries:
        shadow = "  (shadowed)" if entry.shadowed else ""
        ctx.out(
            f"{entry.id}@{entry.version}  frozen {entry.frozen_at or '?'}  {entry.path}{shadow}"
        )
    return EXIT_OK


def _prune(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.lockfiles import prune

    removed = prune(open_kernel(ctx), args.older_than)
    if ctx.json:
        ctx.emit_json({"removed": [str(path) for path in removed]})
    else:
        for path in removed:
            ctx.out(f"removed {path}")
        ctx.out(f"{len(removed)} lockfile(s) removed")
    return EXIT_OK


def _refresh(args: argparse.Namespace, ctx: CliContext) -> int:
    from kiwi_mcp.kernel.faces.cli.item_cmds import open_kernel
    from kiwi_mcp.kernel.ops.lockfiles import refresh

    done = refresh(open_kernel(ctx), args.tool_id)
    if ctx.json:
        ctx.emit_json({"refreshed": [entry.to_dict() for entry in done]})
    else:
        for entry in done:
            ctx.out(f"re-froze {entry.id}  {entry.path}")
        ctx.out(f"{len(done)} lockfile(s) refreshed")
    return EXIT_OK
